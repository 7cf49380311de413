"""!queue: what is waiting for the advisers, per category, oldest first, and its filters.
Pure (no storage, no Matrix): the command in advisers.py reads the questions and renders."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from commands.questions.status import Status
from config import Category
from storage.questions import Question

# The filter words, in both languages (the first of each is what the usage line shows).
MINE = ("mine", "mina", "min")
OVERDUE = ("overdue", "försenade", "försenad", "sena")
STATUSES = {
    Status.OPEN: ("open", "new", "nya", "ny", "öppna"),
    Status.CLAIMED: ("claimed", "tagna", "tagen"),
}


@dataclass(frozen=True)
class Filter:
    kind: str  # "all", "mine", "overdue", "status" or "category"
    value: str = ""


ALL = Filter("all")


def parse_filter(word: str | None, categories: Iterable[Category]) -> Filter | None:
    """``!queue WORD``: a filter, or None if the word names none."""
    if not word:
        return ALL
    folded = word.casefold().strip()
    if folded in MINE:
        return Filter("mine")
    if folded in OVERDUE:
        return Filter("overdue")
    for status, words in STATUSES.items():
        if folded in words:
            return Filter("status", status)
    for category in categories:
        if folded in (category.id.casefold(), category.name.casefold()):
            return Filter("category", category.id)
    return None


def select(
    questions: Iterable[Question],
    what: Filter,
    *,
    adviser: str,
    overdue: Callable[[Question], bool],
) -> list[Question]:
    """The questions ``what`` lets through, in the order given (oldest first)."""
    if what.kind == "mine":
        return [q for q in questions if q.claimed_by == adviser]
    if what.kind == "overdue":
        return [q for q in questions if overdue(q)]
    if what.kind == "status":
        return [q for q in questions if q.status == what.value]
    if what.kind == "category":
        return [q for q in questions if q.category == what.value]
    return list(questions)


def by_category(
    questions: Iterable[Question], categories: Iterable[Category]
) -> list[tuple[str, list[Question]]]:
    """The questions grouped by category id, categories in their configured order (unknown
    ones, from an older configuration, last), each group oldest first."""
    order = {c.id: i for i, c in enumerate(categories)}
    groups: dict[str, list[Question]] = {}
    for q in sorted(questions, key=lambda q: (q.created_at, q.id)):
        groups.setdefault(q.category, []).append(q)
    return sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
