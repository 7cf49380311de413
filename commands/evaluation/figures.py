"""Every figure of the evaluation report, computed from the recorded measures. Pure.

Definitions (also in the README):
- Members are the participants and facilitators the YAML lists for the reported cohorts
  (advisers and admins are not members); their count is always shown.
- A figure about what people did is null when 1 to ``min_group - 1`` people did it (no one is
  a number like any other: it exposes nobody). Shares are fractions from 0 to 1; times are
  hours with two decimals.
- Per-person figures (active members, the participation spread) count whole months: a person
  is active in a month they wrote at least one message in.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import i18n
from commands.surveys import progress as pg
from commands.surveys import questionnaire as qn
from config.model import Criterion, Survey, parse_duration

HOUR_MS = 3_600_000
BUCKETS = (("0-1h", 0, 1), ("1-4h", 1, 4), ("4-8h", 4, 8), ("8-24h", 8, 24), ("over 24h", 24, None))


@dataclass(frozen=True)
class Period:
    first_day: str  # YYYY-MM-DD, inclusive
    last_day: str
    from_ms: int
    to_ms: int
    timezone: str
    phase: str | None = None

    @property
    def months(self) -> list[str]:
        """Every month the period touches, YYYY-MM."""
        y, m = int(self.first_day[:4]), int(self.first_day[5:7])
        end = (int(self.last_day[:4]), int(self.last_day[5:7]))
        out = []
        while (y, m) <= end:
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out


@dataclass(frozen=True)
class SurveyRound:
    survey: Survey
    cohort_id: str
    opened_at: int
    invited: int
    answers: list[dict[str, Any]]  # one dict per response, no people


@dataclass
class Evidence:
    """What the report is computed from: configured counts and the stored measures."""

    period: Period
    min_group: int
    members: int
    cohort: str | None
    categories: dict[str, str]  # id -> name
    themes: dict[str, set[str]]  # theme name -> folded tags
    reminder_hours: float
    # A category's own service level, where it sets one (else reminder_hours).
    reminder_hours_of: dict[str, float] = field(default_factory=dict)
    activity: list[dict[str, Any]] = field(default_factory=list)
    member_months: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    materials: list[dict[str, Any]] = field(default_factory=list)
    search_days: list[dict[str, Any]] = field(default_factory=list)
    unmet_words: list[tuple[str, int]] = field(default_factory=list)
    checkin_runs: list[dict[str, Any]] = field(default_factory=list)
    checkin_repliers: int = 0  # distinct people who answered any check-in of the period
    rounds: list[SurveyRound] = field(default_factory=list)
    plans: dict[str, Any] = field(default_factory=lambda: {"changes": [], "asks": {}})
    criteria: Sequence[Criterion] = ()
    previous: Evidence | None = None  # the period before, as long: for the trend


class Hidden:
    """A figure hidden by ``min_group``: null in JSON, "fewer than 3" for people."""

    def __repr__(self) -> str:
        return "HIDDEN"


HIDDEN = Hidden()


def _hide(n: Any, people: int, min_group: int) -> Any:
    """``n`` unless 1 to min_group - 1 people are behind it (then :data:`HIDDEN`)."""
    if n is None:
        return None
    if 0 < people < min_group:
        return HIDDEN
    return n


def plain(value: Any) -> Any:
    """The report with hidden figures as None (what JSON shows)."""
    if isinstance(value, Hidden):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _hours(ms: float) -> float:
    return round(ms / HOUR_MS, 2)


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _buckets(hours: Sequence[float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, lo, hi in BUCKETS:
        n = sum(1 for h in hours if h >= lo and (hi is None or h < hi))
        out[name] = _share(n, len(hours))
    return out


# --- sections ------------------------------------------------------------------------------------


def _member_rows(ev: Evidence) -> list[dict[str, Any]]:
    """The monthly counts per person that fall in the period: of the months in which the
    period's own days hold messages (a period cut mid-month counts that month whole)."""
    months = {r["day"][:7] for r in ev.activity if r["messages"] > 0}
    return [r for r in ev.member_months if r["month"] in months and r["messages"] > 0]


def participation(ev: Evidence) -> dict[str, Any]:
    mg = ev.min_group
    per_person: Counter[int] = Counter()
    active_in: dict[str, set[int]] = defaultdict(set)
    for row in _member_rows(ev):
        if row["messages"] > 0:
            per_person[row["person"]] += row["messages"]
            active_in[row["month"]].add(row["person"])
    active = len(per_person)
    messages = sum(r["messages"] for r in ev.activity)
    by_month_messages: Counter[str] = Counter()
    for r in ev.activity:
        by_month_messages[r["day"][:7]] += r["messages"]
    tenth = math.ceil(ev.members / 10) if ev.members else 0
    top = sum(sorted(per_person.values(), reverse=True)[:tenth])
    return {
        "members": ev.members,
        "active": _hide(active, active, mg),
        "messages": _hide(messages, active, mg),
        "active_share": _hide(_share(active, ev.members), active, mg),
        "wrote_at_least_once_share": _hide(_share(active, ev.members), active, mg),
        "top_tenth_share": _hide(_share(top, messages), min(tenth, active), mg),
        "by_month": [
            {
                "month": month,
                "active": _hide(len(active_in[month]), len(active_in[month]), mg),
                "messages": _hide(by_month_messages[month], len(active_in[month]), mg),
            }
            for month in ev.period.months
        ],
    }


def exchange(ev: Evidence, active: int) -> dict[str, Any]:
    mg = ev.min_group
    total = {
        k: sum(r[k] for r in ev.activity) for k in ("threads", "peer_replies", "files", "links")
    }
    messages = sum(r["messages"] for r in ev.activity)
    shared = [m for m in ev.materials if m["shared"]]
    uploaders = len({m["uploader"] for m in ev.materials})
    return {
        "threads": _hide(total["threads"], active, mg),
        "peer_replies": _hide(total["peer_replies"], active, mg),
        "peer_reply_share": _hide(_share(total["peer_replies"], messages), active, mg),
        "files": _hide(total["files"], active, mg),
        "links": _hide(total["links"], active, mg),
        "materials_shared_with_network": _hide(
            len(shared), len({m["uploader"] for m in shared}), mg
        ),
        "materials_items": _hide(len(ev.materials), uploaders, mg),
    }


def _asked(qs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions that count as asked (a withdrawn one does not)."""
    return [q for q in qs if q["status"] != "withdrawn"]


def _recorded(ev: Evidence) -> bool:
    """Whether anything at all was recorded in the period (else there is no trend to show)."""
    return bool(ev.activity or ev.questions or ev.checkin_runs or ev.rounds or ev.materials)


def questions(ev: Evidence) -> dict[str, Any]:
    mg = ev.min_group
    qs = ev.questions
    askers = len({q["asker"] for q in qs})
    first = [_hours(q["first_response_at"] - q["created_at"]) for q in qs if q["first_response_at"]]
    answer = [_hours(q["answered_at"] - q["created_at"]) for q in qs if q["answered_at"]]
    within = sum(
        1
        for q in qs
        if q["answered_at"]
        and _hours(q["answered_at"] - q["created_at"])
        <= ev.reminder_hours_of.get(q["category"], ev.reminder_hours)
    )
    end = ev.period.to_ms
    backlog = sum(
        1
        for q in qs
        if q["status"] != "withdrawn"
        and (q["answered_at"] is None or q["answered_at"] > end)
        and (q["closed_at"] is None or q["closed_at"] > end)
    )

    def counted(key: str, names: dict[str, str] | None = None) -> dict[str, Any]:
        groups: dict[str, set[int]] = defaultdict(set)
        counts: Counter[str] = Counter()
        for q in qs:
            value = str(q[key]) if q[key] is not None else "unknown"
            label = names.get(value, value) if names else value
            counts[label] += 1
            groups[label].add(q["asker"])
        return {k: _hide(counts[k], len(groups[k]), mg) for k in sorted(counts)}

    by_month: dict[str, set[int]] = defaultdict(set)
    month_counts: Counter[str] = Counter()
    for q in qs:
        month = _month_of(ev, q["created_at"])
        by_month[month].add(q["asker"])
        month_counts[month] += 1

    def hide(value: Any) -> Any:
        return _hide(value, askers, mg)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "asked": hide(len(qs)),
        "answered": hide(len(answer)),
        "private": hide(sum(1 for q in qs if q["private"])),
        "by_asker_role": counted("asker_role"),
        "by_category": counted("category", ev.categories),
        "by_month": [
            {"month": m, "asked": _hide(month_counts[m], len(by_month[m]), mg)}
            for m in ev.period.months
        ],
        "first_response_median_hours": hide(rounded(_quantile(first, 0.5))),
        "first_response_p90_hours": hide(rounded(_quantile(first, 0.9))),
        "first_response_buckets": {k: hide(v) for k, v in _buckets(first).items()},
        "answer_median_hours": hide(rounded(_quantile(answer, 0.5))),
        "answer_p90_hours": hide(rounded(_quantile(answer, 0.9))),
        "answer_buckets": {k: hide(v) for k, v in _buckets(answer).items()},
        "answered_within_reminder_share": hide(_share(within, len(_asked(qs)))),
        "reminder_hours": ev.reminder_hours,
        "backlog_at_end": hide(backlog),
        "reopened": hide(sum(q["reopened"] for q in qs)),
    }


def _month_of(ev: Evidence, ms: int) -> str:
    """The local month (YYYY-MM) of a time."""
    return i18n.format_iso_day(ms, ev.period.timezone)[:7]


def materials(ev: Evidence) -> dict[str, Any]:
    mg = ev.min_group
    items = ev.materials
    uploaders = len({m["uploader"] for m in items})
    by_type: dict[str, set[int]] = defaultdict(set)
    type_counts: Counter[str] = Counter()
    for m in items:
        type_counts[m["kind"]] += 1
        by_type[m["kind"]].add(m["uploader"])
    by_theme: dict[str, Any] = {}
    for name, tags in sorted(ev.themes.items()):
        found = [m for m in items if tags & set(str(m["tag_keys"] or "").split())]
        by_theme[name] = _hide(len(found), len({m["uploader"] for m in found}), mg)
    searches = sum(r["searches"] for r in ev.search_days)
    empty = sum(r["empty"] for r in ev.search_days)
    # Searches carry no person: shown when the reported cohorts have min_group members.
    open_words = ev.members >= mg
    return {
        "items": _hide(len(items), uploaders, mg),
        "by_type": {k: _hide(type_counts[k], len(by_type[k]), mg) for k in sorted(type_counts)},
        "by_theme": by_theme,
        "searches": searches if open_words else None,
        "searches_without_hits": empty if open_words else None,
        "unmet_words": ([{"word": w, "count": n} for w, n in ev.unmet_words] if open_words else []),
    }


def checkins(ev: Evidence) -> dict[str, Any]:
    mg = ev.min_group
    runs = ev.checkin_runs
    expected = sum(r["asked"] for r in runs)
    replies = sum(r["replies"] for r in runs)
    by_month: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        by_month[_month_of(ev, r["due_at"])].append(r)
    return {
        "runs": len(runs),
        "reply_rate": _hide(_share(replies, expected), ev.checkin_repliers, mg),
        "by_month": [
            {
                "month": m,
                "runs": len(by_month[m]),
                "reply_rate": _hide(
                    _share(
                        sum(r["replies"] for r in by_month[m]), sum(r["asked"] for r in by_month[m])
                    ),
                    max((r["replies"] for r in by_month[m]), default=0),
                    mg,
                ),
            }
            for m in ev.period.months
        ],
    }


def _distributions(
    survey: Survey, answers: list[dict[str, Any]], mg: int, with_free_text: bool
) -> list[dict[str, Any]] | None:
    """Per question: the count per choice and the mean (null with fewer than min_group
    responses); free texts of anonymous surveys only when asked for."""
    n = len(answers)
    if 0 < n < mg:
        return None
    out: list[dict[str, Any]] = []
    for qs in qn.summarize(survey, n, answers).questions:
        if qs.question.type == "text":
            shown = with_free_text and survey.anonymous
            out.append({"question": qs.question.text, "answers": qs.texts if shown else None})
            continue
        out.append(
            {
                "question": qs.question.text,
                "counts": dict(qs.counts),
                "mean": None if qs.mean is None else round(qs.mean, 2),
            }
        )
    return out


def surveys(ev: Evidence, with_free_text: bool = False) -> dict[str, Any]:
    """Response rates per round; the distributions pooled per survey (over its rounds in the
    period: one table and chart per survey, however many cohorts and rounds)."""
    mg = ev.min_group
    invited = sum(r.invited for r in ev.rounds)
    responded = sum(len(r.answers) for r in ev.rounds)
    rounds = [
        {
            "survey": r.survey.title,
            "cohort": r.cohort_id,
            "opened": i18n.format_iso_day(r.opened_at, ev.period.timezone),
            "invited": r.invited,
            "responded": _hide(len(r.answers), len(r.answers), mg),
            "response_rate": _hide(_share(len(r.answers), r.invited), len(r.answers), mg),
        }
        for r in ev.rounds
    ]
    pooled: dict[str, list[SurveyRound]] = defaultdict(list)
    for r in ev.rounds:
        pooled[r.survey.id].append(r)
    by_survey = []
    for group in pooled.values():
        survey = group[0].survey
        answers = [a for r in group for a in r.answers]
        by_survey.append(
            {
                "survey": survey.title,
                "rounds": len(group),
                "invited": sum(r.invited for r in group),
                "responded": _hide(len(answers), len(answers), mg),
                "questions": _distributions(survey, answers, mg, with_free_text),
            }
        )
    return {
        "rounds": len(ev.rounds),
        "response_rate": _hide(_share(responded, invited), responded, mg),
        "by_round": rounds,
        "by_survey": by_survey,
        "self_assessment_change": self_assessment_change(ev),
    }


def practice(ev: Evidence) -> dict[str, Any]:
    """Applied in practice: action plan items made, done and dropped; the follow-ups' answers."""
    mg = ev.min_group

    def count(change: str, status: str | None = None) -> Any:
        rows = [
            r
            for r in ev.plans["changes"]
            if r["change"] == change and (status is None or r["status"] == status)
        ]
        return _hide(sum(r["n"] for r in rows), max((r["people"] for r in rows), default=0), mg)

    asks = ev.plans["asks"]
    asked = sum(asks.values())
    answered = asks.get("done", 0)
    return {
        "items_made": count("added"),
        "items_done": count("status", "done"),
        "items_dropped": count("status", "dropped"),
        "follow_up_asked": asked,
        "follow_up_response_rate": _hide(_share(answered, asked), answered, mg),
    }


def self_assessment_change(ev: Evidence) -> float | None:
    """The mean change of the scale questions' means between the last two rounds of each
    self-assessment and cohort, where both rounds have at least min_group answers."""
    by_key: dict[tuple[str, str], list[SurveyRound]] = defaultdict(list)
    for r in ev.rounds:
        if r.survey.self_assessment:
            by_key[(r.survey.id, r.cohort_id)].append(r)
    deltas: list[float] = []
    for rounds in by_key.values():
        if len(rounds) < 2:
            continue
        before, now = sorted(rounds, key=lambda r: r.opened_at)[-2:]
        if len(before.answers) < ev.min_group or len(now.answers) < ev.min_group:
            continue
        for change in pg.aggregate_changes(now.survey, before.answers, now.answers):
            if change.mean_delta is not None:
                deltas.append(change.mean_delta)
    return round(statistics.fmean(deltas), 2) if deltas else None


# --- criteria ----------------------------------------------------------------------------------


def indicator(ev: Evidence, report: dict[str, Any], crit: Criterion) -> float | None:
    value = _indicator(ev, report, crit)
    return None if value is None or isinstance(value, Hidden) else float(value)


def _indicator(ev: Evidence, report: dict[str, Any], crit: Criterion) -> Any:
    p, x, q = report["participation"], report["exchange"], report["questions"]
    match crit.indicator:
        case "active_share":
            return p["active_share"]
        case "answered_within":
            assert crit.within is not None
            limit = parse_duration(crit.within) / 3600
            answered = [
                (qq["answered_at"] - qq["created_at"]) / HOUR_MS
                for qq in ev.questions
                if qq["answered_at"]
            ]
            if not isinstance(q["asked"], int):
                return None
            return _share(sum(1 for h in answered if h <= limit), len(_asked(ev.questions)))
        case "first_response_median":
            return q["first_response_median_hours"]
        case "checkin_reply_rate":
            return report["checkins"]["reply_rate"]
        case "survey_response_rate":
            return report["surveys"]["response_rate"]
        case "peer_reply_share":
            return x["peer_reply_share"]
        case "materials_per_active_member":
            items, active = x["materials_items"], p["active"]
            if not isinstance(items, int) or not isinstance(active, int) or not active:
                return None
            return round(items / active, 2)
        case "self_assessment_change":
            return report["surveys"]["self_assessment_change"]
    raise AssertionError(crit.indicator)


def criteria(ev: Evidence, report: dict[str, Any], before: dict[str, Any] | None) -> list[Any]:
    out = []
    for crit in ev.criteria:
        value = indicator(ev, report, crit)
        direction, threshold = crit.bound()
        met = (
            None
            if value is None
            else (value >= threshold if direction == "at_least" else value <= threshold)
        )
        trend = None
        previous = ev.previous
        if (
            before is not None
            and previous is not None
            and value is not None
            and _recorded(previous)
        ):
            old = indicator(previous, before, crit)
            if old is not None:
                trend = "same" if abs(value - old) < 1e-9 else ("up" if value > old else "down")
        out.append(
            {
                "id": crit.id,
                "name": crit.name,
                "indicator": crit.indicator,
                "value": value,
                "direction": direction,
                "threshold": threshold,
                "met": met,
                "trend": trend,
            }
        )
    return out


def compute(ev: Evidence, with_free_text: bool = False) -> dict[str, Any]:
    """The whole report as nested, JSON-able figures."""
    report = _sections(ev, with_free_text)
    before = _sections(ev.previous, False) if ev.previous is not None else None
    return {
        "period": {
            "from": ev.period.first_day,
            "to": ev.period.last_day,
            "phase": ev.period.phase,
            "cohort": ev.cohort,
        },
        "min_group": ev.min_group,
        "criteria": criteria(ev, report, before),
        **report,
    }


def _sections(ev: Evidence, with_free_text: bool) -> dict[str, Any]:
    part = participation(ev)
    active = len({r["person"] for r in _member_rows(ev)})
    return {
        "participation": part,
        "exchange": exchange(ev, active),
        "questions": questions(ev),
        "materials": materials(ev),
        "checkins": checkins(ev),
        "surveys": surveys(ev, with_free_text),
        "practice": practice(ev),
    }


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(plain(report), ensure_ascii=False, indent=2) + "\n"


def flatten(report: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """``("participation.members", 12), ...``: every leaf, for tests and the README's list."""
    for key, value in report.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from flatten(value, path)
        else:
            yield path, value
