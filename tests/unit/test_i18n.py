from __future__ import annotations

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
