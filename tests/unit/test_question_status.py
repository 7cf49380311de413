"""A question's statuses and moves: every pair, as the advisers and askers live them."""

from __future__ import annotations

import pytest

from commands.questions.status import WAITING, Move, Status, after, unclaimed

S = Status


@pytest.mark.parametrize(
    ("move", "status", "claimed", "answered", "expected"),
    [
        # claiming: anything but a closed or withdrawn question
        (Move.CLAIM, S.OPEN, True, False, S.CLAIMED),
        (Move.CLAIM, S.CLAIMED, True, False, S.CLAIMED),  # another adviser takes it over
        (Move.CLAIM, S.ANSWERED, True, True, S.CLAIMED),
        (Move.CLAIM, S.CLOSED, True, True, None),
        (Move.CLAIM, S.WITHDRAWN, True, False, None),
        # letting go: back to where it was before the claim
        (Move.UNCLAIM, S.CLAIMED, False, False, S.OPEN),
        (Move.UNCLAIM, S.CLAIMED, False, True, S.ANSWERED),
        (Move.UNCLAIM, S.OPEN, False, False, None),
        (Move.UNCLAIM, S.CLOSED, False, True, None),
        # an answer moves only a waiting question
        (Move.ANSWER, S.OPEN, False, False, S.ANSWERED),
        (Move.ANSWER, S.CLAIMED, True, False, S.ANSWERED),
        (Move.ANSWER, S.ANSWERED, False, True, S.ANSWERED),
        (Move.ANSWER, S.CLOSED, False, True, S.CLOSED),
        (Move.ANSWER, S.WITHDRAWN, False, False, None),
        # closing and reopening
        (Move.CLOSE, S.OPEN, False, False, S.CLOSED),
        (Move.CLOSE, S.ANSWERED, False, True, S.CLOSED),
        (Move.CLOSE, S.CLOSED, False, True, None),
        (Move.CLOSE, S.WITHDRAWN, False, False, None),
        (Move.REOPEN, S.CLOSED, True, True, S.CLAIMED),
        (Move.REOPEN, S.CLOSED, False, True, S.ANSWERED),
        (Move.REOPEN, S.CLOSED, False, False, S.OPEN),
        (Move.REOPEN, S.OPEN, False, False, None),
        (Move.REOPEN, S.WITHDRAWN, False, False, None),
        # the asker withdraws from anywhere
        *[(Move.WITHDRAW, s, False, False, S.WITHDRAWN) for s in Status],
    ],
)
def test_moves(
    move: Move, status: Status, claimed: bool, answered: bool, expected: Status | None
) -> None:
    assert after(move, status, claimed=claimed, answered=answered) == expected


def test_every_move_from_every_status_is_decided() -> None:
    for move in Move:
        for status in Status:
            result = after(move, status.value)
            assert result is None or isinstance(result, Status)


def test_waiting_and_unclaimed() -> None:
    assert {S.OPEN, S.CLAIMED} == WAITING
    assert unclaimed("claimed", True) == "answered"
    assert unclaimed("claimed", False) == "open"
    assert unclaimed("closed", True) == "closed"  # not held: unchanged
    with pytest.raises(ValueError):
        after(Move.CLOSE, "ticket")
