"""Staged requests (a tailored intervention: received, planning meeting, proposal, …): where a
request is, what is due next and by when. Pure: the handlers in requests.py read the history
from storage and pass it here.

A request starts in its category's first stage when it is asked (nothing is stored for that);
each ``!stage`` adds an entry. A stage's ``within`` is the time allowed to reach it from the
moment the request entered the stage before it, so the deadline that counts is always the next
stage's. The last stage is the end: the request is closed there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot import i18n
from config import Category, Stage
from storage.questions import Question, StageEntry


@dataclass(frozen=True)
class Position:
    stage: Stage
    index: int  # 0-based, in the category's stages
    entered_at: int
    entry_id: int | None  # None: the implied first stage
    reminded: bool  # the overdue reminder for the next stage is sent
    next: Stage | None
    due: int | None  # when the next stage is due, if it has ``within``

    @property
    def is_last(self) -> bool:
        return self.next is None

    def overdue(self, now_ms: int) -> bool:
        return self.due is not None and self.due <= now_ms


def position(
    category: Category, question: Question, history: Sequence[StageEntry]
) -> Position | None:
    """Where the request stands; None if its category has no stages. An entry naming a stage
    the configuration no longer has is skipped (the one before it counts)."""
    if not category.stages:
        return None
    ids = [s.id for s in category.stages]
    index, entered, entry_id, reminded = (
        0,
        question.created_at,
        None,
        bool(question.stage_reminded_at),
    )
    for entry in history:
        if entry.stage in ids:
            index, entered = ids.index(entry.stage), entry.entered_at
            entry_id, reminded = entry.id, entry.reminded_at is not None
    stage = category.stages[index]
    following = category.stages[index + 1] if index + 1 < len(category.stages) else None
    within = following.within_seconds if following is not None else None
    return Position(
        stage=stage,
        index=index,
        entered_at=entered,
        entry_id=entry_id,
        reminded=reminded,
        next=following,
        due=None if within is None else entered + within * 1000,
    )


def timeline(
    category: Category, question: Question, history: Sequence[StageEntry]
) -> list[tuple[str, int]]:
    """(stage name, entered at) for the first stage and every move, oldest first."""
    names = {s.id: s.name for s in category.stages}
    if not category.stages:
        return []
    out = [(category.stages[0].name, question.created_at)]
    out += [(names.get(e.stage, e.stage), e.entered_at) for e in history]
    return out


def describe(lang: str, category: Category, pos: Position, timezone: str) -> str:
    """``Steg 2 av 6: Planeringsmöte · nästa: Förslag skickat senast 2027-03-24 14:00``."""
    text = i18n.t(
        lang,
        "stages.where",
        number=pos.index + 1,
        count=len(category.stages),
        stage=pos.stage.name,
    )
    if pos.next is not None:
        if pos.due is None:
            text += " · " + i18n.t(lang, "stages.next", stage=pos.next.name)
        else:
            when = i18n.format_datetime(lang, pos.due, timezone)
            text += " · " + i18n.t(lang, "stages.next_due", stage=pos.next.name, when=when)
    return text
