"""``privacy.notice``: texts in both languages, one language standing in for the other, an
over-long or empty text refused at load with its file and line."""

from __future__ import annotations

from pathlib import Path

from commands.privacy_notice import notice_text
from config.model import NOTICE_MAX_BYTES
from tests.unit.test_config import BASE, _load, _problems


def test_the_built_in_notice_in_each_language_names_this_networks_figures(
    tmp_path: Path,
) -> None:
    config = _load(tmp_path, BASE + "retention:\n  closed_questions: 30d\n")

    sv, en = notice_text(config, "sv"), notice_text(config, "en")

    assert sv.startswith("Integritet:") and "!integritet exportera" in sv
    assert en.startswith("Privacy:") and "!privacy erase" in en
    assert "after 30 days" in en and "efter 30 dagar" in sv
    assert "at least 3 people" in en


def test_a_network_text_in_both_languages_is_used_as_written(tmp_path: Path) -> None:
    text = BASE + "privacy:\n  notice:\n    sv: Vår text.\n    en: |\n      Our text.\n"
    config = _load(tmp_path, text)

    assert notice_text(config, "sv") == "Vår text."
    assert notice_text(config, "en") == "Our text."
    assert config.privacy.notice.per_pass == 20


def test_a_network_text_in_one_language_stands_in_for_the_other(tmp_path: Path) -> None:
    """The network's own words (its practice) rather than the built-in text, which might
    describe another."""
    config = _load(tmp_path, BASE + "privacy:\n  notice:\n    sv: Bara svenska.\n")

    assert notice_text(config, "en") == "Bara svenska."


def test_an_over_long_notice_is_refused_with_its_line(tmp_path: Path) -> None:
    long = "å" * (NOTICE_MAX_BYTES // 2 + 1)  # two bytes each in UTF-8
    text = BASE + f"privacy:          # 22\n  notice:         # 23\n    en: ok\n    sv: {long}\n"

    ((line, path, message),) = _problems(tmp_path, text)

    assert (line, path) == (25, "privacy.notice.sv")
    assert f"at most {NOTICE_MAX_BYTES} fit in one message" in message


def test_an_empty_notice_and_a_pass_of_none_are_refused(tmp_path: Path) -> None:
    text = BASE + 'privacy:\n  notice:\n    en: "  "\n    per_pass: 0\n'

    found = _problems(tmp_path, text)

    assert [(line, path) for line, path, _ in found] == [
        (24, "privacy.notice.en"),
        (25, "privacy.notice.per_pass"),
    ]
    assert "the notice is empty" in found[0][2]


def test_a_network_may_turn_the_notice_off(tmp_path: Path) -> None:
    assert _load(tmp_path, BASE + "privacy:\n  notice: false\n").privacy.notice is None
    assert _load(tmp_path, BASE + "privacy:\n  notice:\n").privacy.notice is not None
    ((line, path, _),) = _problems(tmp_path, BASE + "privacy:\n  notice: ja\n")
    assert (line, path) == (23, "privacy.notice")
