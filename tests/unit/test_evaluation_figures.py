"""The report's survey figures: rates per round, distributions pooled per survey over its
rounds (one table and chart per survey, however many rounds), min_group on the pool."""

from __future__ import annotations

from commands.evaluation import document
from commands.evaluation.figures import HIDDEN, Evidence, Period, SurveyRound, surveys
from config.model import Survey

SURVEY = Survey.model_validate(
    {
        "id": "k",
        "title": "Kvalitet",
        "anonymous": True,
        "questions": [
            {"id": "n", "type": "scale", "text": "Hur nöjd?", "min": 1, "max": 3},
            {"id": "f", "type": "text", "text": "Något mer?"},
        ],
    }
)
PERIOD = Period("2027-01-01", "2027-12-31", 0, 2**40, "Europe/Stockholm")


def evidence(*answers: list[dict[str, object]]) -> Evidence:
    ev = Evidence(PERIOD, 3, 10, None, {}, {}, 24.0)
    ev.rounds = [
        SurveyRound(SURVEY, f"c{i}", 1_800_000_000_000 + i, 5, list(a))
        for i, a in enumerate(answers)
    ]
    return ev


def test_distributions_are_pooled_per_survey_with_min_group_on_the_pool() -> None:
    two = [{"n": 1, "f": "bra"}, {"n": 3}]
    got = surveys(evidence(two, [{"n": 3}], [{"n": 2}]))
    assert [r["responded"] for r in got["by_round"]] == [HIDDEN, HIDDEN, HIDDEN]
    (pooled,) = got["by_survey"]
    assert (pooled["rounds"], pooled["responded"]) == (3, 4)
    assert pooled["questions"][0] == {"question": "Hur nöjd?", "counts": {"1": 1, "2": 1, "3": 2},
                                      "mean": 2.25}  # fmt: skip
    assert pooled["questions"][1] == {"question": "Något mer?", "answers": None}
    assert surveys(evidence(two), with_free_text=True)["by_survey"][0]["questions"] is None
    free = surveys(evidence(two, [{"n": 3, "f": "mer"}]), with_free_text=True)
    assert free["by_survey"][0]["questions"][1]["answers"] == ["bra", "mer"]


def test_many_rounds_make_one_chart_per_survey() -> None:
    rounds = [[{"n": 1 + i % 3} for _ in range(3)] for i in range(40)]
    report = {"surveys": surveys(evidence(*rounds))}
    section = document.Section("x")
    document._details(document.Writer("sv", 3), "surveys", report["surveys"], section, True)
    assert len(section.charts) == 1 and len(section.tables[0].rows) == 40


def test_answered_within_the_reminder_time_uses_each_category_s_own_service_level() -> None:
    from commands.evaluation.figures import questions

    hour = 3_600_000
    ev = Evidence(PERIOD, 1, 10, None, {}, {}, 24.0, reminder_hours_of={"teknik": 2.0})

    def q(i: int, category: str, hours: float) -> dict[str, object]:
        return {
            "id": i, "cohort_id": "c", "category": category, "private": 0,
            "asker_role": "participant", "status": "answered", "created_at": 0,
            "claimed_at": None, "first_response_at": int(hours * hour),
            "answered_at": int(hours * hour), "closed_at": None, "reopened": 0, "asker": i,
        }  # fmt: skip

    # Three hours is late for teknik (2 h) but in time for the rest (24 h).
    ev.questions = [q(1, "teknik", 3), q(2, "teknik", 1), q(3, "allmant", 3), q(4, "allmant", 30)]
    assert questions(ev)["answered_within_reminder_share"] == 0.5
