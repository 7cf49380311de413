"""Self-assessment progress as pure code: one person's answers now against the previous round,
and a cohort's aggregate change between two rounds. No database, no Matrix.

Only scale and choice questions are compared; free-text answers are never shown here.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot import i18n
from commands.surveys.questionnaire import show_value
from config.model import Survey, SurveyQuestion

COMPARED = ("scale", "single", "multiple")


def compared_questions(survey: Survey) -> list[SurveyQuestion]:
    return [q for q in survey.questions if q.type in COMPARED]


# --- one person ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One person's answer to one question in the previous round and now (None: not answered)."""

    question: SurveyQuestion
    before: Any
    now: Any

    @property
    def delta(self) -> int | None:
        if self.question.type != "scale":
            return None
        if isinstance(self.before, int) and isinstance(self.now, int):
            return self.now - self.before
        return None


def personal_changes(survey: Survey, before: dict[str, Any], now: dict[str, Any]) -> list[Change]:
    """Per compared question, the answer in the previous round against the latest one."""
    return [Change(q, before.get(q.id), now.get(q.id)) for q in compared_questions(survey)]


def _shown(q: SurveyQuestion, value: Any) -> str:
    return "–" if value is None else show_value(q, value)


def render_change(change: Change, lang: str) -> str:
    """``Jag kan förklara NPF för kollegor: 2 → 4 (+2)``."""
    q = change.question
    line = f"{q.text}: {_shown(q, change.before)} → {_shown(q, change.now)}"
    if change.delta is not None:
        line += f" ({i18n.format_signed(lang, change.delta, 0)})"
    return line


def render_personal(
    survey: Survey, changes: Sequence[Change], lang: str, before_round: int, now_round: int
) -> str:
    lines = [
        i18n.t(
            lang, "progress.personal_title", title=survey.title, before=before_round, now=now_round
        ),
        *(render_change(c, lang) for c in changes),
    ]
    return "\n".join(lines)


# --- a cohort ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AggregateChange:
    """A cohort's answers to one question in two rounds: n each, the mean for a scale, the count
    per choice for a choice question."""

    question: SurveyQuestion
    n_before: int
    n_now: int
    mean_before: float | None = None
    mean_now: float | None = None
    counts: tuple[tuple[str, int, int], ...] = ()  # choice, before, now

    @property
    def mean_delta(self) -> float | None:
        if self.mean_before is None or self.mean_now is None:
            return None
        return self.mean_now - self.mean_before


def _values(q: SurveyQuestion, rows: Iterable[dict[str, Any]]) -> list[Any]:
    return [r[q.id] for r in rows if r.get(q.id) is not None]


def _mean(values: list[Any]) -> float | None:
    nums = [v for v in values if isinstance(v, int)]
    return statistics.fmean(nums) if nums else None


def _choice_counts(q: SurveyQuestion, values: list[Any]) -> list[int]:
    flat: list[int] = []
    for v in values:
        flat.extend(v if isinstance(v, list) else [v])
    return [flat.count(i + 1) for i in range(len(q.choices))]


def aggregate_changes(
    survey: Survey, before: Sequence[dict[str, Any]], now: Sequence[dict[str, Any]]
) -> list[AggregateChange]:
    """Per compared question, the cohort's previous round against its latest one."""
    out: list[AggregateChange] = []
    for q in compared_questions(survey):
        b, n = _values(q, before), _values(q, now)
        if q.type == "scale":
            out.append(AggregateChange(q, len(b), len(n), _mean(b), _mean(n)))
        else:
            counts = zip(q.choices, _choice_counts(q, b), _choice_counts(q, n), strict=True)
            out.append(AggregateChange(q, len(b), len(n), counts=tuple(counts)))
    return out


def render_aggregate(
    survey: Survey,
    changes: Sequence[AggregateChange],
    lang: str,
    cohort: str,
    before_round: int,
    now_round: int,
) -> str:
    lines = [
        i18n.t(
            lang,
            "progress.cohort_title",
            title=survey.title,
            cohort=cohort,
            before=before_round,
            now=now_round,
        )
    ]
    for c in changes:
        n = i18n.t(lang, "progress.n", before=c.n_before, now=c.n_now)
        if c.question.type == "scale":
            if c.mean_before is None or c.mean_now is None or c.mean_delta is None:
                lines.append(f"{c.question.text}: – ({n})")
                continue
            mean = i18n.t(
                lang,
                "progress.mean",
                before=i18n.format_number(lang, c.mean_before),
                now=i18n.format_number(lang, c.mean_now),
                delta=i18n.format_signed(lang, c.mean_delta),
            )
            lines.append(f"{c.question.text}: {mean} ({n})")
            continue
        lines.append(f"{c.question.text} ({n})")
        lines.extend(
            f"   {choice}: {b} → {a} ({i18n.format_signed(lang, a - b, 0)})"
            for choice, b, a in c.counts
        )
    return "\n".join(lines)
