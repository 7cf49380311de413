"""Questionnaires as pure code: reading an answer, showing a question, summing up results."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import i18n, messages
from config.model import Survey, SurveyQuestion


class InvalidAnswerError(ValueError):
    """The text does not answer the question; the message says what would."""


def _choice_index(q: SurveyQuestion, word: str) -> int | None:
    word = word.strip().rstrip(".")
    if word.isdigit():
        n = int(word)
        return n - 1 if 1 <= n <= len(q.choices) else None
    folded = word.casefold()
    for i, choice in enumerate(q.choices):
        if choice.casefold() == folded:
            return i
    return None


def parse_answer(q: SurveyQuestion, text: str) -> Any:
    """The stored value of an answer: an int for a scale, a choice number (1-based) for a
    single choice, a sorted list of choice numbers for multiple choice, the text for free text.
    Raises InvalidAnswerError."""
    text = text.strip()
    if not text:
        raise InvalidAnswerError(text)
    if q.type == "text":
        return text
    if q.type == "scale":
        word = text.rstrip(".")
        if word.lstrip("-").isdigit() and q.min <= int(word) <= q.max:
            return int(word)
        if q.labels:
            folded = text.casefold()
            if folded == q.labels[0].casefold():
                return q.min
            if folded == q.labels[1].casefold():
                return q.max
        raise InvalidAnswerError(text)
    if q.type == "single":
        index = _choice_index(q, text)
        if index is None:
            raise InvalidAnswerError(text)
        return index + 1
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if any(not p.strip().rstrip(".").isdigit() for p in parts):
        parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    chosen: set[int] = set()
    for part in parts:
        index = _choice_index(q, part)
        if index is None:
            raise InvalidAnswerError(text)
        chosen.add(index + 1)
    if not chosen:
        raise InvalidAnswerError(text)
    return sorted(chosen)


def valid_choices(q: SurveyQuestion, lang: str) -> str:
    """What a valid answer looks like, for the reply to an invalid one."""
    if q.type == "scale":
        return i18n.t(lang, "surveys.valid_scale", low=q.min, high=q.max)
    if q.type == "single":
        return i18n.t(lang, "surveys.valid_single", count=len(q.choices))
    if q.type == "multiple":
        return i18n.t(lang, "surveys.valid_multiple", count=len(q.choices))
    return i18n.t(lang, "surveys.valid_text")


def render_question(q: SurveyQuestion, index: int, total: int, lang: str) -> str:
    lines = [i18n.t(lang, "surveys.question", number=index + 1, total=total, text=q.text)]
    if q.type == "scale":
        if q.labels:
            lines.append(
                i18n.t(
                    lang,
                    "surveys.scale_labelled",
                    low=q.min,
                    high=q.max,
                    low_label=q.labels[0],
                    high_label=q.labels[1],
                )
            )
        else:
            lines.append(i18n.t(lang, "surveys.scale", low=q.min, high=q.max))
    elif q.type in ("single", "multiple"):
        lines.extend(f"{i + 1}. {c}" for i, c in enumerate(q.choices))
        lines.append(i18n.t(lang, f"surveys.how_{q.type}"))
    else:
        lines.append(i18n.t(lang, "surveys.how_text"))
    lines.append(i18n.t(lang, "surveys.controls"))
    return "\n".join(lines)


def show_value(q: SurveyQuestion, value: Any) -> str:
    if q.type == "single" and isinstance(value, int) and 1 <= value <= len(q.choices):
        return q.choices[value - 1]
    if q.type == "multiple" and isinstance(value, list):
        return ", ".join(q.choices[v - 1] for v in value if 1 <= v <= len(q.choices))
    return str(value)


@dataclass
class QuestionSummary:
    question: SurveyQuestion
    answered: int = 0
    counts: list[tuple[str, int]] = field(default_factory=list)  # label, count (bars)
    mean: float | None = None
    stdev: float | None = None
    texts: list[str] = field(default_factory=list)


@dataclass
class Summary:
    survey: Survey
    invited: int
    responded: int
    questions: list[QuestionSummary]

    @property
    def rate(self) -> float:
        return self.responded / self.invited if self.invited else 0.0


def summarize(survey: Survey, invited: int, answers: Iterable[dict[str, Any]]) -> Summary:
    """Per-question counts, mean and spread for scales, free texts; no people."""
    rows = list(answers)
    out: list[QuestionSummary] = []
    for q in survey.questions:
        values = [r[q.id] for r in rows if q.id in r]
        qs = QuestionSummary(q, answered=len(values))
        if q.type == "scale":
            nums = [v for v in values if isinstance(v, int)]
            qs.counts = [(str(n), nums.count(n)) for n in range(q.min, q.max + 1)]
            if nums:
                qs.mean = statistics.fmean(nums)
                qs.stdev = statistics.pstdev(nums)
        elif q.type in ("single", "multiple"):
            flat: list[int] = []
            for v in values:
                flat.extend(v if isinstance(v, list) else [v])
            qs.counts = [(c, flat.count(i + 1)) for i, c in enumerate(q.choices)]
        else:
            qs.texts = sorted(str(v) for v in values)
        out.append(qs)
    return Summary(survey, invited, len(rows), out)


def render_summary(summary: Summary, lang: str, cohorts: Sequence[str]) -> str:
    s = summary.survey
    lines = [
        i18n.t(lang, "surveys.results_title", title=s.title, cohorts=", ".join(cohorts)),
        i18n.t(
            lang,
            "surveys.results_rate",
            responded=summary.responded,
            invited=summary.invited,
            percent=i18n.format_percent(lang, summary.rate),
        ),
    ]
    for i, qs in enumerate(summary.questions):
        lines.append(f"{i + 1}. {qs.question.text} ({qs.answered})")
        if qs.question.type == "scale" and qs.mean is not None and qs.stdev is not None:
            lines.append(
                "   "
                + i18n.t(
                    lang,
                    "surveys.results_mean",
                    mean=i18n.format_number(lang, qs.mean),
                    sd=i18n.format_number(lang, qs.stdev),
                )
            )
        lines.extend(f"   {label}: {n}" for label, n in qs.counts)
        lines.extend(f"   – {text}" for text in qs.texts)
    # Free texts are people's words, as long as they made them: the listing stops at the size
    # an event can carry (the chart goes separately).
    return "\n".join(messages.bounded_lines(lines, lambda n: i18n.t(lang, "lists.more", count=n)))


def iso_date(ms: int) -> str:
    """The UTC date of a time in ms (exports show dates, not exact times)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
