"""A question's status and the moves between them: the one place that says what may happen.

    open ──claim──▶ claimed ──answer──▶ answered ──close──▶ closed ──reopen──▶ (as before)
      ▲               │unclaim             │claim
      └───────────────┘                    ▼
                                        claimed
    any status ──withdraw──▶ withdrawn (the asker redacted the question; nothing follows)

An answer is relayed in any status but withdrawn; it moves only a waiting question (open or
claimed) to answered. Unclaiming goes back to answered if the question has an answer, else to
open; reopening goes back to claimed if someone holds it, else the same way.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Move(StrEnum):
    CLAIM = "claim"
    UNCLAIM = "unclaim"
    ANSWER = "answer"
    CLOSE = "close"
    REOPEN = "reopen"
    WITHDRAW = "withdraw"


# Waiting for the advisers: listed by !queue, reminded about.
WAITING = frozenset({Status.OPEN, Status.CLAIMED})


def after(
    move: Move, status: str, *, claimed: bool = False, answered: bool = False
) -> Status | None:
    """The status after ``move`` from ``status``; None if the move is not allowed from there.

    ``claimed``: someone holds the question (after the move, for a claim; before, for a
    reopen). ``answered``: an adviser's answer has been relayed.
    """
    now = Status(status)
    if move is Move.WITHDRAW:
        return Status.WITHDRAWN
    if now is Status.WITHDRAWN:
        return None
    if move is Move.CLAIM:
        return None if now is Status.CLOSED else Status.CLAIMED
    if move is Move.UNCLAIM:
        if now is not Status.CLAIMED:
            return None
        return Status.ANSWERED if answered else Status.OPEN
    if move is Move.ANSWER:
        return Status.ANSWERED if now in WAITING else now
    if move is Move.CLOSE:
        return None if now is Status.CLOSED else Status.CLOSED
    if move is Move.REOPEN:
        if now is not Status.CLOSED:
            return None
        if claimed:
            return Status.CLAIMED
        return Status.ANSWERED if answered else Status.OPEN
    raise AssertionError(move)


def unclaimed(status: str, answered: bool) -> str:
    """The status of a question whose holder lets it go (or is erased): as after an unclaim,
    or unchanged if it was not claimed."""
    return after(Move.UNCLAIM, status, answered=answered) or status
