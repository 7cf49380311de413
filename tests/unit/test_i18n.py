from __future__ import annotations

import pytest

from bot import i18n
from bot.registry import REGISTRY, load_command_modules


def test_swedish_and_english_catalogues_have_the_same_messages_and_placeholders() -> None:
    sv, en = i18n.catalogue("sv"), i18n.catalogue("en")
    assert sorted(sv) == sorted(en)
    for key in sv:
        assert i18n.placeholders(sv[key]) == i18n.placeholders(en[key]), key


def test_every_command_has_help_in_both_languages() -> None:
    load_command_modules()
    assert REGISTRY.commands
    for spec in REGISTRY.commands.values():
        for lang in i18n.LANGUAGES:
            assert spec.help_key in i18n.catalogue(lang), (lang, spec.name)


def test_translation_fills_placeholders() -> None:
    assert i18n.t("sv", "errors.internal", ref="AB12") == (
        "Något gick fel. Uppge referens AB12 om du kontaktar en administratör."
    )
    assert "AB12" in i18n.t("en", "errors.internal", ref="AB12")


def test_plural_messages_take_the_form_for_the_count_in_each_language() -> None:
    # Defect: "1 days", "… and 1 more errors" (issue 9, item 9).
    assert i18n.t("en", "questions.age.days", count=1) == "1 day"
    assert i18n.t("en", "questions.age.days", count=3) == "3 days"
    assert i18n.t("sv", "questions.age.days", count=1) == "1 dag"
    assert i18n.t("sv", "questions.age.days", count=0) == "0 dagar"
    assert i18n.t("en", "commands.reload.more", count=1) == "… and 1 more error."
    assert i18n.t("en", "counts.cohorts", count=1) == "1 cohort"
    assert i18n.t("sv", "counts.cohorts", count=2) == "2 grupper"


def test_babel_plural_rules_are_used_not_count_equals_one() -> None:
    # CLDR: "1.5" is "other" in English and Swedish; an integer 1 is "one".
    assert i18n.plural_form("en", 1) == "one"
    assert i18n.plural_form("en", 1.5) == "other"
    assert i18n.plural_form("sv", 21) == "other"


def test_every_plural_message_has_an_other_form_and_the_same_placeholders_in_each_form() -> None:
    for lang in i18n.LANGUAGES:
        forms = i18n.plurals(lang)
        assert forms, lang  # the check is not vacuous
        for key, by_form in forms.items():
            assert "other" in by_form, (lang, key)
            expected = i18n.placeholders(by_form["other"]) - {"count"}
            for text in by_form.values():
                assert i18n.placeholders(text) - {"count"} == expected, (lang, key)
    assert sorted(i18n.plurals("sv")) == sorted(i18n.plurals("en"))


def test_a_plural_message_without_a_count_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        i18n.t("en", "questions.age.days")
