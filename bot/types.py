"""Typed identifiers and decoded events, so a room id is never passed as a user id."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NewType

RoomID = NewType("RoomID", str)
UserID = NewType("UserID", str)
EventID = NewType("EventID", str)

# A poll's end (MSC3381; Element sends the unstable name). The bot handles its own: a poll is
# tallied from the end event's server timestamp, as Element tallies it, which only its echo has.
POLL_END_TYPES = ("org.matrix.msc3381.poll.end", "m.poll.end")


class Place(StrEnum):
    """Where a message was written, as the bot sees it."""

    COHORT = "cohort"
    ADVISERS = "advisers"
    DIRECT = "direct"
    OTHER = "other"


@dataclass(frozen=True)
class RoomEvent:
    """A timeline event, decoded from its raw JSON (``source``) once."""

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

    @property
    def relates_to(self) -> dict[str, Any]:
        rel = self.content.get("m.relates_to")
        return rel if isinstance(rel, dict) else {}

    @property
    def thread_root(self) -> EventID | None:
        rel = self.relates_to
        if rel.get("rel_type") == "m.thread" and isinstance(rel.get("event_id"), str):
            return EventID(rel["event_id"])
        return None

    @property
    def replies_to(self) -> EventID | None:
        """The event this one really replies to; not the fallback reply a thread message
        carries for clients without threads (``is_falling_back``)."""
        if self.relates_to.get("is_falling_back") is True:
            return None
        reply = self.relates_to.get("m.in_reply_to")
        target = reply.get("event_id") if isinstance(reply, dict) else None
        return EventID(target) if isinstance(target, str) else None

    @property
    def body(self) -> str:
        """The plain body as the person wrote it: a reply's quoted fallback (``> `` lines,
        sent by clients before Matrix v1.13) is stripped, so it is never relayed, taken as a
        command or catalogued again."""
        body = self.content.get("body")
        if not isinstance(body, str):
            return ""
        return strip_reply_fallback(body) if self.replies_to is not None else body

    @property
    def is_text_message(self) -> bool:
        return self.type == "m.room.message" and self.content.get("msgtype") in (
            "m.text",
            "m.notice",
            "m.emote",
        )

    @property
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
