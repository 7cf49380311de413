"""Self-assessments: a person's answers against the previous round, a cohort's change, and a
self-assessment that cannot be anonymous."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from commands.surveys import progress as pg
from config import ConfigError, load_config
from config.model import Survey, SurveyQuestion

EXPLAIN = SurveyQuestion(id="forklara", type="scale", text="Jag kan förklara NPF för kollegor")
ADAPT = SurveyQuestion(
    id="anpassa", type="single", text="Jag anpassar undervisningen", choices=["Sällan", "Ofta"]
)
TOOLS = SurveyQuestion(id="verktyg", type="multiple", text="Verktyg", choices=["Bild", "Schema"])
FREE = SurveyQuestion(id="mer", type="text", text="Något mer?")
SURVEY = Survey(
    id="sjalv",
    title="Självskattning NPF",
    self_assessment=True,
    questions=[EXPLAIN, ADAPT, TOOLS, FREE],
)


def test_personal_change_shows_before_now_and_the_difference_for_a_scale() -> None:
    changes = pg.personal_changes(
        SURVEY,
        {"forklara": 2, "anpassa": 1, "verktyg": [1], "mer": "privat text"},
        {"forklara": 4, "anpassa": 2, "verktyg": [1, 2], "mer": "annan text"},
    )
    assert [pg.render_change(c, "sv") for c in changes] == [
        "Jag kan förklara NPF för kollegor: 2 → 4 (+2)",
        "Jag anpassar undervisningen: Sällan → Ofta",
        "Verktyg: Bild → Bild, Schema",
    ]  # free text is never compared


def test_personal_change_handles_a_drop_no_change_and_a_skipped_question() -> None:
    drop = pg.personal_changes(SURVEY, {"forklara": 4}, {"forklara": 3})[0]
    assert (drop.delta, pg.render_change(drop, "sv")) == (
        -1,
        "Jag kan förklara NPF för kollegor: 4 → 3 (−1)",  # the Swedish minus sign
    )
    same = pg.personal_changes(SURVEY, {"forklara": 3}, {"forklara": 3})[0]
    assert pg.render_change(same, "sv").endswith("3 → 3 (±0)")
    skipped = pg.personal_changes(SURVEY, {}, {"forklara": 5, "anpassa": 2})
    assert skipped[0].delta is None
    assert pg.render_change(skipped[0], "sv") == "Jag kan förklara NPF för kollegor: – → 5"
    assert pg.render_change(skipped[1], "sv") == "Jag anpassar undervisningen: – → Ofta"


def test_personal_text_has_a_title_with_the_rounds_in_both_languages() -> None:
    changes = pg.personal_changes(SURVEY, {"forklara": 2}, {"forklara": 4})
    sv = pg.render_personal(SURVEY, changes, "sv", 1, 2)
    assert sv.splitlines()[0] == "Din utveckling: Självskattning NPF (omgång 1 → 2)"
    assert "Jag kan förklara NPF för kollegor: 2 → 4 (+2)" in sv
    assert pg.render_personal(SURVEY, changes, "en", 1, 2).startswith("Your progress:")


def test_aggregate_change_is_the_mean_and_n_of_each_round_with_counts_for_choices() -> None:
    before: list[dict[str, Any]] = [
        {"forklara": 2, "anpassa": 1, "verktyg": [1]},
        {"forklara": 3, "anpassa": 1},
    ]
    now: list[dict[str, Any]] = [
        {"forklara": 4, "anpassa": 2, "verktyg": [1, 2]},
        {"forklara": 5, "anpassa": 1, "verktyg": [2]},
        {"anpassa": 2},
    ]
    changes = pg.aggregate_changes(SURVEY, before, now)
    scale = changes[0]
    assert (scale.n_before, scale.n_now, scale.mean_before, scale.mean_now) == (2, 2, 2.5, 4.5)
    assert scale.mean_delta == pytest.approx(2.0)
    assert changes[1].counts == (("Sällan", 2, 1), ("Ofta", 0, 2))
    assert (changes[2].n_before, changes[2].n_now) == (1, 2)
    assert changes[2].counts == (("Bild", 1, 1), ("Schema", 0, 2))
    text = pg.render_aggregate(SURVEY, changes, "sv", "Kohort 0", 1, 2)
    assert text.splitlines() == [
        "Gruppens utveckling: Självskattning NPF, Kohort 0 (omgång 1 → 2)",
        "Jag kan förklara NPF för kollegor: medelvärde 2,5 → 4,5 (+2,0) (n 2 → 2)",
        "Jag anpassar undervisningen (n 2 → 3)",
        "   Sällan: 2 → 1 (−1)",
        "   Ofta: 0 → 2 (+2)",
        "Verktyg (n 1 → 2)",
        "   Bild: 1 → 1 (±0)",
        "   Schema: 0 → 2 (+2)",
    ]


def test_aggregate_of_a_question_nobody_answered_says_so() -> None:
    changes = pg.aggregate_changes(SURVEY, [{}], [{"forklara": 3}])
    assert changes[0].mean_delta is None
    assert "Jag kan förklara NPF för kollegor: – (n 0 → 1)" in pg.render_aggregate(
        SURVEY, changes, "sv", "K", 1, 2
    )


def _problems(tmp_path: Path, survey: dict[str, Any]) -> list[tuple[str, str]]:
    data = {
        "homeserver": "https://matrix.example.org",
        "bot": {"user_id": "@natverk:example.org"},
        "advisers": {"room": "#adv:example.org", "members": ["@adv:example.org"]},
        "surveys": [survey],
    }
    path = tmp_path / "n.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    try:
        load_config(path)
    except ConfigError as err:
        return [(p.path, p.message) for p in err.problems]
    return []


def test_a_self_assessment_cannot_be_anonymous_and_the_error_says_why(tmp_path: Path) -> None:
    survey: dict[str, Any] = {
        "id": "sjalv",
        "title": "Självskattning",
        "self_assessment": True,
        "anonymous": True,
        "questions": [{"id": "a", "type": "scale", "text": "A"}],
    }
    [(path, message)] = _problems(tmp_path, survey)
    assert path == "surveys[0].anonymous"
    assert "cannot be anonymous" in message and "across rounds" in message
    survey["anonymous"] = False
    assert _problems(tmp_path, survey) == []


def test_a_self_assessment_needs_something_to_compare(tmp_path: Path) -> None:
    survey = {
        "id": "sjalv",
        "title": "Självskattning",
        "self_assessment": True,
        "questions": [{"id": "a", "type": "text", "text": "A"}],
    }
    [(path, message)] = _problems(tmp_path, survey)
    assert path == "surveys[0].questions" and "scale or choice" in message
