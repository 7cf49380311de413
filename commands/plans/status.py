"""A plan item's status, the words people use for it, and the follow-up's answers. Pure.

planned ──▶ started ──▶ done
   │           │
   └───────────┴──▶ dropped        (done and dropped can be taken up again: ──▶ started)
"""

from __future__ import annotations

from enum import StrEnum

from commands.materials.parse import fold


class Status(StrEnum):
    PLANNED = "planned"
    STARTED = "started"
    DONE = "done"
    DROPPED = "dropped"


OPEN = frozenset({Status.PLANNED, Status.STARTED})

# Which status may follow which: anything open may go anywhere; a closed item may be taken up
# again (started) but not be "planned" afresh.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.PLANNED: frozenset({Status.STARTED, Status.DONE, Status.DROPPED}),
    Status.STARTED: frozenset({Status.PLANNED, Status.DONE, Status.DROPPED}),
    Status.DONE: frozenset({Status.STARTED}),
    Status.DROPPED: frozenset({Status.STARTED}),
}

# What people write (folded: no case, no diacritics), in both languages.
WORDS: dict[str, Status] = {
    "planned": Status.PLANNED,
    "planerad": Status.PLANNED,
    "started": Status.STARTED,
    "startad": Status.STARTED,
    "paborjad": Status.STARTED,
    "done": Status.DONE,
    "klar": Status.DONE,
    "dropped": Status.DROPPED,
    "stoppad": Status.DROPPED,
    "struken": Status.DROPPED,
    "avbruten": Status.DROPPED,
}


def parse(word: str) -> Status | None:
    return WORDS.get(fold(word.strip()))


def may_move(now: str, to: Status) -> bool:
    return to in ALLOWED[Status(now)]


# The follow-up asks per item: done / started / not started / dropped, by number or word.
ANSWERS: tuple[tuple[str, Status], ...] = (
    ("done", Status.DONE),
    ("started", Status.STARTED),
    ("not_started", Status.PLANNED),
    ("dropped", Status.DROPPED),
)
ANSWER_WORDS: dict[str, Status] = {
    **WORDS,
    "not started": Status.PLANNED,
    "inte startad": Status.PLANNED,
    "inte paborjad": Status.PLANNED,
    "ej paborjad": Status.PLANNED,
}


def follow_up_answer(text: str) -> Status | None:
    """``1``-``4`` or a word (``klar``, ``started``, ``inte påbörjad``…); None if neither."""
    word = " ".join(fold(text).split())
    if word.isdigit() and 1 <= int(word) <= len(ANSWERS):
        return ANSWERS[int(word) - 1][1]
    return ANSWER_WORDS.get(word)
