"""Typed identifiers and decoded events, so a room id is never passed as a user id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, NewType, TypeVar, overload

RoomID = NewType("RoomID", str)
UserID = NewType("UserID", str)
EventID = NewType("EventID", str)

# A poll's end (MSC3381; Element sends the unstable name). The bot handles its own: a poll is
# tallied from the end event's server timestamp, as Element tallies it, which only its echo has.
POLL_END_TYPES = ("org.matrix.msc3381.poll.end", "m.poll.end")


T = TypeVar("T")


class derived(Generic[T]):
    """``@property`` computed once per instance and kept in its ``__dict__`` (later reads
    never reach the descriptor). ``functools.cached_property`` would do, but takes a lock on
    every first read before Python 3.12, and an event's fields are first read on every
    message."""

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> derived[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> T | derived[T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


class Place(StrEnum):
    """Where a message was written, as the bot sees it."""

    COHORT = "cohort"
    ADVISERS = "advisers"
    DIRECT = "direct"
    OTHER = "other"


@dataclass(frozen=True)
class RoomEvent:
    """A timeline event, decoded from its raw JSON (``source``) once.

    The derived fields (relation, reply target, thread, plain body) are worked out on first
    use and kept: the dispatcher and every listener read them for every message. ``content``
    is not changed after decoding."""

    room_id: RoomID
    event_id: EventID
    sender: UserID
    type: str
    origin_server_ts: int
    content: dict[str, Any]
    source: dict[str, Any] = field(repr=False)
    state_key: str | None = None

    @classmethod
    def from_source(cls, room_id: str, source: dict[str, Any]) -> RoomEvent | None:
        try:
            content = source.get("content")
            return cls(
                room_id=RoomID(room_id),
                event_id=EventID(str(source["event_id"])),
                sender=UserID(str(source["sender"])),
                type=str(source["type"]),
                origin_server_ts=int(source.get("origin_server_ts", 0)),
                content=content if isinstance(content, dict) else {},
                source=source,
                state_key=source.get("state_key"),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @derived
    def relates_to(self) -> dict[str, Any]:
        rel = self.content.get("m.relates_to")
        return rel if isinstance(rel, dict) else {}

    @derived
    def thread_root(self) -> EventID | None:
        rel = self.relates_to
        if rel.get("rel_type") == "m.thread" and isinstance(rel.get("event_id"), str):
            return EventID(rel["event_id"])
        return None

    @derived
    def replies_to(self) -> EventID | None:
        """The event this one really replies to; not the fallback reply a thread message
        carries for clients without threads (``is_falling_back``)."""
        if self.relates_to.get("is_falling_back") is True:
            return None
        reply = self.relates_to.get("m.in_reply_to")
        target = reply.get("event_id") if isinstance(reply, dict) else None
        return EventID(target) if isinstance(target, str) else None

    @derived
    def body(self) -> str:
        """The plain body as the person wrote it: a reply's quoted fallback (``> `` lines,
        sent by clients before Matrix v1.13) is stripped, so it is never relayed, taken as a
        command or catalogued again."""
        body = self.content.get("body")
        if not isinstance(body, str):
            return ""
        return strip_reply_fallback(body) if self.replies_to is not None else body

    @derived
    def is_text_message(self) -> bool:
        return self.type == "m.room.message" and self.content.get("msgtype") in (
            "m.text",
            "m.notice",
            "m.emote",
        )

    @derived
    def is_edit(self) -> bool:
        return self.relates_to.get("rel_type") == "m.replace"


def strip_reply_fallback(body: str) -> str:
    """``'> <@a:x> quoted\n> more\n\nreply'`` -> ``'reply'`` (spec: "Fallbacks for rich
    replies"). Only the leading block of ``>`` lines and the blank line after it go."""
    lines = body.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    if i == 0:
        return body
    if i < len(lines) and lines[i].strip() == "":
        i += 1
    return "\n".join(lines[i:])


def redacted_event_id(event: RoomEvent) -> EventID | None:
    """What an m.room.redaction removes: in ``content`` from room v11, at the top before."""
    target = event.content.get("redacts") or event.source.get("redacts")
    return EventID(target) if isinstance(target, str) else None
