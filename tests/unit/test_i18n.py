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
    assert i18n.t("en", "checkins.votes", count=1) == "1 vote"
    assert i18n.t("en", "checkins.votes", count=3) == "3 votes"
    assert i18n.t("sv", "checkins.votes", count=1) == "1 röst"
    assert i18n.t("sv", "checkins.votes", count=0) == "0 röster"
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
        i18n.t("en", "checkins.votes")


# 2026-12-02 16:55 in Stockholm (winter time, UTC+1).
MOMENT = 1_796_226_900_000


def test_dates_and_times_are_formatted_for_the_locale_in_the_cohorts_time_zone() -> None:
    assert i18n.format_datetime("sv", MOMENT, "Europe/Stockholm") == "2026-12-02 16:55"
    assert i18n.format_datetime("en", MOMENT, "Europe/Stockholm") == "2026-12-02, 16:55"
    assert i18n.format_datetime("sv", MOMENT, "UTC") == "2026-12-02 15:55"
    assert i18n.format_date("sv", MOMENT, "Asia/Tokyo") == "2026-12-03"  # already tomorrow there


def test_durations_use_the_largest_unit_with_at_least_two_and_plural_forms() -> None:
    minute, hour = 60_000, 3_600_000
    assert i18n.format_duration("sv", 1 * minute) == "1 minut"
    assert i18n.format_duration("sv", 90 * minute) == "90 minuter"
    assert i18n.format_duration("sv", 47 * hour) == "47 timmar"
    assert i18n.format_duration("sv", 49 * hour) == "2 dygn"
    assert i18n.format_duration("en", 1 * minute) == "1 minute"
    assert i18n.format_duration("en", 3 * hour) == "3 hours"
    assert i18n.format_duration("en", -5 * minute) == "0 minutes"  # a clock skew is not negative


def test_numbers_shares_changes_and_sizes() -> None:
    assert i18n.format_number("sv", 2.5) == "2,5"
    assert i18n.format_number("sv", 1234.0, 0) == "1\xa0234"
    assert i18n.format_number("sv", 3.0) == "3,0"
    assert i18n.format_signed("sv", -1, 0) == "\u22121"  # the Swedish minus sign
    assert i18n.format_signed("en", 2, 0) == "+2"
    assert i18n.format_signed("sv", 0.01) == "±0,0"
    assert i18n.format_signed("sv", 0, 0) == "±0"
    assert i18n.format_percent("sv", 0.905) == "90\xa0%"
    assert i18n.format_size("sv", 2_500_000) == "2,5 MB"
    assert i18n.format_size("en", 999) == "999 byte"
