"""Every message-catalogue key that the sample configurations name exists, in both languages:
a check-in with an unknown ``message:`` key would otherwise post the bare key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot import i18n

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SAMPLES = ("example.yaml", "demo.yaml")
# ``message: key`` also in commented-out examples (config/example.yaml shows them that way).
MESSAGE_KEY = re.compile(r"^[#\s]*(?:-\s*)?message:\s*([A-Za-z0-9_-]+)\s*(?:#.*)?$", re.MULTILINE)


def message_keys(text: str) -> set[str]:
    """Keys named by ``message:`` in a configuration: in the YAML and in its comments."""
    keys = set(MESSAGE_KEY.findall(text))
    data = yaml.safe_load(text) or {}
    for cohort in data.get("cohorts") or []:
        for schedule in cohort.get("schedules") or []:
            if schedule.get("message"):
                keys.add(str(schedule["message"]))
    return keys


def missing(keys: set[str]) -> list[tuple[str, str]]:
    return sorted(
        (lang, f"checkins.messages.{key}")
        for key in keys
        for lang in i18n.LANGUAGES
        if f"checkins.messages.{key}" not in i18n.catalogue(lang)
    )


@pytest.mark.parametrize("name", SAMPLES)
def test_every_message_key_in_the_sample_configs_is_in_both_catalogues(name: str) -> None:
    keys = message_keys((CONFIG_DIR / name).read_text("utf-8"))
    assert missing(keys) == []


def test_the_sample_configs_do_name_message_keys() -> None:
    found = set().union(*(message_keys((CONFIG_DIR / n).read_text("utf-8")) for n in SAMPLES))
    assert "weekly" in found  # the check above is not vacuous


def test_an_unknown_key_is_caught_in_yaml_and_in_comments() -> None:
    text = """\
cohorts:
  - id: a
    schedules:
      - {id: s, cron: "0 9 * * MON", message: weekly}
      - id: t
        cron: "0 9 * * TUE"
        message: no_such_text
#      - id: u
#        message: nor_this   # a comment after it
"""
    assert message_keys(text) == {"weekly", "no_such_text", "nor_this"}
    assert missing(message_keys(text)) == [
        (lang, f"checkins.messages.{key}")
        for lang in sorted(i18n.LANGUAGES)
        for key in ("no_such_text", "nor_this")
    ]
