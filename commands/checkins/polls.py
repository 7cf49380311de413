"""Native Matrix polls (MSC3381): the events the bot sends and Element's tally, as pure code.

Element Web and matrix-js-sdk send the unstable names (``org.matrix.msc3381.*``); the stable
ones (``m.poll.*``) are accepted too. The tally follows matrix-js-sdk / matrix-events-sdk:
only responses on or before the (first valid) end count; per user the latest response by
origin_server_ts wins; a response that is empty, not a list, or names an unknown answer id is
spoiled (it replaces the user's earlier vote and counts for nothing); selections are truncated
to max_selections; an end counts only from the poll's sender or a user allowed to redact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.types import POLL_END_TYPES

START_TYPES = ("org.matrix.msc3381.poll.start", "m.poll.start")
RESPONSE_TYPES = ("org.matrix.msc3381.poll.response", "m.poll.response")
END_TYPES = POLL_END_TYPES
TEXT = "org.matrix.msc1767.text"
DISCLOSED = "org.matrix.msc3381.poll.disclosed"
UNDISCLOSED = "org.matrix.msc3381.poll.undisclosed"


@dataclass(frozen=True)
class Answer:
    id: str
    text: str


@dataclass(frozen=True)
class PollStart:
    question: str
    answers: tuple[Answer, ...]
    max_selections: int = 1
    disclosed: bool = True

    @property
    def answer_ids(self) -> frozenset[str]:
        return frozenset(a.id for a in self.answers)


def answer_id(index: int) -> str:
    return f"a{index + 1}"


def start_content(
    question: str, answers: Sequence[str], *, disclosed: bool = True
) -> dict[str, Any]:
    """An ``org.matrix.msc3381.poll.start`` content with a text fallback, as Element sends."""
    fallback = "\n".join([question, *(f"{i + 1}. {a}" for i, a in enumerate(answers))])
    return {
        TEXT: fallback,
        "body": fallback,
        "org.matrix.msc3381.poll.start": {
            "question": {TEXT: question, "body": question},
            "kind": DISCLOSED if disclosed else UNDISCLOSED,
            "max_selections": 1,
            "answers": [{"id": answer_id(i), TEXT: a} for i, a in enumerate(answers)],
        },
    }


def end_content(start_event: str, fallback: str) -> dict[str, Any]:
    """An ``org.matrix.msc3381.poll.end`` referencing the poll, with a text fallback."""
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": start_event},
        "org.matrix.msc3381.poll.end": {},
        TEXT: fallback,
        "body": fallback,
    }


def _text(node: Any) -> str:
    if isinstance(node, dict):
        for key in (TEXT, "body"):
            if isinstance(node.get(key), str):
                return str(node[key])
        stable = node.get("m.text")
        if isinstance(stable, list) and stable and isinstance(stable[0], dict):
            return str(stable[0].get("body", ""))
    return ""


def parse_start(content: dict[str, Any]) -> PollStart | None:
    """The poll in a start event's content (unstable or stable names), or None."""
    body = content.get("org.matrix.msc3381.poll.start") or content.get("m.poll")
    if not isinstance(body, dict):
        return None
    answers = tuple(
        Answer(str(a["id"]), _text(a))
        for a in body.get("answers") or []
        if isinstance(a, dict) and isinstance(a.get("id"), str)
    )
    raw_max = body.get("max_selections", 1)
    max_selections = max(1, raw_max) if isinstance(raw_max, int) else 1
    kind = body.get("kind")
    return PollStart(
        question=_text(body.get("question")),
        answers=answers,
        max_selections=max_selections,
        disclosed=kind in (DISCLOSED, "m.disclosed", "m.poll.disclosed"),
    )


def response_selections(content: dict[str, Any]) -> Any:
    """The raw selections of a response (unstable ``answers`` or stable ``m.selections``);
    whatever is there, valid or not. None if the event carries no response at all."""
    for key, inner in (
        ("org.matrix.msc3381.poll.response", "answers"),
        ("m.poll.response", "m.selections"),
    ):
        body = content.get(key)
        if isinstance(body, dict):
            return body.get(inner)
    if "m.selections" in content:
        return content["m.selections"]
    return None


def referenced_event(content: dict[str, Any]) -> str | None:
    rel = content.get("m.relates_to")
    if isinstance(rel, dict) and rel.get("rel_type") == "m.reference":
        target = rel.get("event_id")
        return target if isinstance(target, str) else None
    return None


@dataclass(frozen=True)
class Response:
    sender: str
    ts: int
    selections: Any  # as received: validated by the tally


@dataclass(frozen=True)
class End:
    sender: str
    ts: int


@dataclass
class Tally:
    counts: dict[str, int]
    voters: int  # users whose latest response counts
    spoiled: int  # users whose latest response is spoiled
    end_ts: int | None
    by_user: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def total_votes(self) -> int:
        return sum(self.counts.values())

    def winners(self) -> list[str]:
        top = max(self.counts.values(), default=0)
        return [a for a, n in self.counts.items() if top and n == top]


def valid_selections(poll: PollStart, selections: Any) -> tuple[str, ...] | None:
    """The answer ids a response selects, or None if it is spoiled."""
    if not isinstance(selections, list) or not selections:
        return None
    if any(not isinstance(s, str) for s in selections):
        return None
    if any(s not in poll.answer_ids for s in selections):
        return None
    return tuple(selections[: poll.max_selections])


def end_time(
    poll_sender: str, ends: Iterable[End], may_redact: Callable[[str], bool]
) -> int | None:
    """When the poll ended: the first end from its sender or someone allowed to redact."""
    valid = [e.ts for e in ends if e.sender == poll_sender or may_redact(e.sender)]
    return min(valid) if valid else None


def tally(poll: PollStart, responses: Iterable[Response], end_ts: int | None = None) -> Tally:
    """Count a poll as Element does (see the module docstring)."""
    latest: dict[str, Response] = {}
    for r in responses:
        if end_ts is not None and r.ts > end_ts:
            continue
        known = latest.get(r.sender)
        if known is None or known.ts < r.ts:
            latest[r.sender] = r
    counts = {a.id: 0 for a in poll.answers}
    voters = spoiled = 0
    by_user: dict[str, tuple[str, ...]] = {}
    for sender, r in latest.items():
        chosen = valid_selections(poll, r.selections)
        if chosen is None:
            spoiled += 1
            continue
        voters += 1
        by_user[sender] = chosen
        for answer in chosen:
            counts[answer] += 1
    return Tally(counts=counts, voters=voters, spoiled=spoiled, end_ts=end_ts, by_user=by_user)


def result_lines(poll: PollStart, result: Tally) -> list[str]:
    """``'A: 2'`` lines in the poll's answer order (for the end event's text fallback)."""
    return [f"{a.text}: {result.counts.get(a.id, 0)}" for a in poll.answers]
