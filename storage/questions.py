"""Adviser questions: tickets and the links between a person's event and the bot's copy."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from storage.db import Tx

OPEN_STATES = ("open", "claimed")


@dataclass(frozen=True)
class Ticket:
    id: int
    asker: str
    cohort_id: str | None
    private: bool
    category: str
    origin_room: str
    origin_event: str
    adviser_room: str
    root_outbox: int
    question: str
    created_at: int
    root_event: str | None = None
    status: str = "open"
    claimed_by: str | None = None
    published: bool = False
    answered_at: int | None = None
    reminded_at: int | None = None

    @property
    def root_ref(self) -> str:
        """The adviser-side thread root: its event id, or a reference the sender resolves."""
        return self.root_event or f"$outbox:{self.root_outbox}"


@dataclass(frozen=True)
class Link:
    source_event: str
    ticket_id: int
    kind: str
    author: str
    target_room: str | None
    target_outbox: int | None


def _ticket(row: Any) -> Ticket:
    return Ticket(
        **{k: row[k] for k in row.keys() if k not in ("private", "published")},  # noqa: SIM118
        private=bool(row["private"]),
        published=bool(row["published"]),
    )


def now_ms() -> int:
    return int(time.time() * 1000)


async def next_id(tx: Tx) -> int:
    row = await tx.fetchone("SELECT seq FROM sqlite_sequence WHERE name = 'tickets'")
    return (int(row["seq"]) if row else 0) + 1


async def create(tx: Tx, t: Ticket) -> int:
    return await tx.execute(
        "INSERT INTO tickets (id, asker, cohort_id, private, category, origin_room, origin_event,"
        " adviser_room, root_outbox, question, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            t.id,
            t.asker,
            t.cohort_id,
            int(t.private),
            t.category,
            t.origin_room,
            t.origin_event,
            t.adviser_room,
            t.root_outbox,
            t.question,
            t.created_at,
        ),
    )


async def get(tx: Tx, ticket_id: int) -> Ticket | None:
    row = await tx.fetchone("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    return None if row is None else _ticket(row)


async def by_origin(tx: Tx, origin_event: str) -> Ticket | None:
    row = await tx.fetchone("SELECT * FROM tickets WHERE origin_event = ?", (origin_event,))
    return None if row is None else _ticket(row)


async def by_root(tx: Tx, room_id: str, root_event: str) -> Ticket | None:
    row = await tx.fetchone(
        "SELECT * FROM tickets WHERE adviser_room = ? AND root_event = ?", (room_id, root_event)
    )
    return None if row is None else _ticket(row)


async def set_root_event(tx: Tx, ticket_id: int, event_id: str) -> None:
    await tx.execute("UPDATE tickets SET root_event = ? WHERE id = ?", (event_id, ticket_id))


async def update(tx: Tx, ticket_id: int, **fields: Any) -> None:
    allowed = {"status", "claimed_by", "question", "published", "answered_at", "reminded_at"}
    if not fields or set(fields) - allowed:
        raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    await tx.execute(
        f"UPDATE tickets SET {assignments} WHERE id = ?",  # noqa: S608 - names are whitelisted
        (*fields.values(), ticket_id),
    )


async def of_asker(tx: Tx, asker: str) -> list[Ticket]:
    rows = await tx.fetchall("SELECT * FROM tickets WHERE asker = ? ORDER BY id", (asker,))
    return [_ticket(r) for r in rows]


async def open_tickets(tx: Tx, adviser_rooms: list[str]) -> list[Ticket]:
    marks = ",".join("?" * len(adviser_rooms))
    rows = await tx.fetchall(
        f"SELECT * FROM tickets WHERE status IN ('open', 'claimed')"  # noqa: S608
        f" AND adviser_room IN ({marks}) ORDER BY created_at",
        adviser_rooms,
    )
    return [_ticket(r) for r in rows]


async def due_reminders(tx: Tx, older_than_ms: int) -> list[Ticket]:
    rows = await tx.fetchall(
        "SELECT * FROM tickets WHERE status IN ('open', 'claimed') AND answered_at IS NULL"
        " AND reminded_at IS NULL AND created_at <= ? ORDER BY id",
        (older_than_ms,),
    )
    return [_ticket(r) for r in rows]


async def add_link(
    tx: Tx,
    source_event: str,
    ticket_id: int,
    kind: str,
    author: str,
    target_room: str | None = None,
    target_outbox: int | None = None,
) -> None:
    await tx.execute(
        "INSERT OR IGNORE INTO ticket_links (source_event, ticket_id, kind, author, target_room,"
        " target_outbox) VALUES (?, ?, ?, ?, ?, ?)",
        (source_event, ticket_id, kind, author, target_room, target_outbox),
    )


async def link(tx: Tx, source_event: str) -> Link | None:
    row = await tx.fetchone("SELECT * FROM ticket_links WHERE source_event = ?", (source_event,))
    return None if row is None else Link(**{k: row[k] for k in row.keys()})  # noqa: SIM118


async def remove_link(tx: Tx, source_event: str) -> None:
    await tx.execute("DELETE FROM ticket_links WHERE source_event = ?", (source_event,))
