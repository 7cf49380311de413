"""Check-in schedules and surveys in the YAML: what is accepted, and problems with key paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_config

BASE = """\
homeserver: https://matrix.example.org
bot:
  user_id: "@natverk:example.org"
advisers:
  room: "#radgivning:example.org"
  members: ["@radgivare:example.org"]
cohorts:
  - id: npf-ht26
    name: NPF
    room: "#npf-ht26:example.org"
    timezone: Europe/Stockholm
    facilitators: ["@anna:example.org"]
    participants: ["@bertil:example.org"]
    schedules:
{schedules}
surveys:
  - id: kvalitet
    title: Kvalitet
    anonymous: true
    questions:
      - id: nojd
        type: scale
        text: Hur nöjd?
        labels: [inte alls, mycket]
{questions}
"""

GOOD = """\
      - id: weekly
        cron: "0 9 * * MON"
        message: weekly
        remind_after: 2d
        quiet_dates: [2027-12-24]
      - id: halfyear
        every: 6 months
        start: 2027-03-01 09:00
        survey: kvalitet
        missed: skip
      - id: once
        at: 2027-01-15 09:00
        text: Välkomna!
        poll:
          question: Hur gick det?
          answers: [Bra, Sådär]
          close_after: 1d
"""


def _load(tmp_path: Path, schedules: str, questions: str = "") -> object:
    path = tmp_path / "n.yaml"
    path.write_text(BASE.format(schedules=schedules.rstrip("\n"), questions=questions), "utf-8")
    return load_config(path)


def _problems(tmp_path: Path, schedules: str, questions: str = "") -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, schedules, questions)
    return [(p.path, p.message) for p in caught.value.problems]


def test_schedules_and_surveys_are_read(tmp_path: Path) -> None:
    config = _load(tmp_path, GOOD)
    cohort = config.cohorts[0]  # type: ignore[attr-defined]
    assert [s.kind for s in cohort.schedules] == ["cron", "every", "at"]
    assert cohort.schedules[2].poll.answers == ["Bra", "Sådär"]
    assert config.survey("kvalitet").anonymous  # type: ignore[attr-defined]
    assert config.cohort_timezone(cohort) == "Europe/Stockholm"  # type: ignore[attr-defined]


def test_bad_cron_is_reported_at_its_key(tmp_path: Path) -> None:
    found = _problems(tmp_path, '      - id: x\n        cron: "0 25 * * MON"\n        text: t\n')
    assert found[0][0] == "cohorts[0].schedules[0].cron"
    assert "not a cron expression" in found[0][1]


def test_schedule_needs_exactly_one_trigger_and_known_survey(tmp_path: Path) -> None:
    found = _problems(
        tmp_path,
        '      - id: x\n        cron: "0 9 * * *"\n        at: 2027-01-01 09:00\n'
        "        survey: nosuch\n"
        "      - id: x\n        every: 2 weeks\n        text: t\n",
    )
    paths = dict(found)
    assert "exactly one of cron" in paths["cohorts[0].schedules[0]"]
    assert "no survey 'nosuch'" in paths["cohorts[0].schedules[0].survey"]
    assert "duplicate schedule id" in paths["cohorts[0].schedules[1].id"]
    assert any("needs a 'start'" in m for p, m in found if p == "cohorts[0].schedules[1]")


def test_bad_interval_duration_and_timezone(tmp_path: Path) -> None:
    found = dict(
        _problems(
            tmp_path,
            "      - id: x\n        every: 3 fortnights\n        start: 2027-01-01 09:00\n"
            "        text: t\n        grace: soon\n        timezone: Mars/Olympus\n",
        )
    )
    assert "calendar interval" in found["cohorts[0].schedules[0].every"]
    assert "duration" in found["cohorts[0].schedules[0].grace"]
    assert "time zone" in found["cohorts[0].schedules[0].timezone"]


def test_survey_questions_are_checked(tmp_path: Path) -> None:
    found = dict(
        _problems(
            tmp_path,
            GOOD,
            "      - id: val\n        type: single\n        text: Vilken?\n        choices: [A]\n"
            "      - id: nojd\n        type: text\n        text: Mer?\n",
        )
    )
    assert "at least 2 choices" in found["surveys[0].questions[1].choices"]
    assert "duplicate question id" in found["surveys[0].questions[2].id"]


def test_demo_config_schedules_a_weekly_check_in_and_a_survey() -> None:
    config = load_config(Path(__file__).parents[2] / "config" / "demo.yaml")
    npf = config.cohorts[0]
    assert [s.id for s in npf.schedules] == ["weekly", "kvalitet"]
    survey = config.survey("kvalitet")
    assert survey is not None and survey.anonymous
