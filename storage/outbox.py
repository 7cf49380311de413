"""The persistent outbox: every message the bot sends is a row here first.

A row is written in the same transaction as the effects that decided to send it, with a
transaction id that never changes, so a crash before or after the HTTP request neither loses
nor duplicates the message (the homeserver deduplicates a repeated transaction id).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from bot import clock
from storage.db import Database, Tx

TOPIC = "outbox"  # what Tx.publish calls a committed new row (an OutboxItem)


# Not an event type: a row of this type removes ``content["user_id"]`` from the room.
KICK = "natverk.kick"


@dataclass(frozen=True)
class OutboxItem:
    id: int
    txn_id: str
    room_id: str
    event_type: str
    content: dict[str, Any]
    purpose: str | None
    ref: str | None
    attempts: int
    owner: str | None = None  # whose words it carries: told if it is given up


async def enqueue(
    tx: Tx,
    room_id: str,
    content: dict[str, Any],
    *,
    event_type: str = "m.room.message",
    purpose: str | None = None,
    ref: str | None = None,
    owner: str | None = None,
) -> int:
    """Add a message to send; once the transaction commits, the row is also published as
    :data:`TOPIC`, so the sender can start at once without reading it back."""
    txn_id = f"natverk.{uuid.uuid4().hex}"
    serialized = json.dumps(content, ensure_ascii=False)
    item_id = await tx.execute(
        "INSERT INTO outbox (txn_id, room_id, event_type, content, purpose, ref, owner,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            txn_id,
            room_id,
            event_type,
            serialized,
            purpose,
            ref,
            owner,
            clock.now_ms(),
        ),
    )
    # The stored text, not the caller's dict (which the caller could still change).
    item = OutboxItem(
        item_id, txn_id, room_id, event_type, json.loads(serialized), purpose, ref, 0, owner
    )
    tx.publish(TOPIC, item)
    return item_id


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        txn_id=row["txn_id"],
        room_id=row["room_id"],
        event_type=row["event_type"],
        content=json.loads(row["content"]),
        purpose=row["purpose"],
        ref=row["ref"],
        attempts=row["attempts"],
        owner=row["owner"],
    )


async def pending(db: Database, limit: int = 100) -> list[OutboxItem]:
    rows = await db.fetchall(
        "SELECT * FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?", (limit,)
    )
    return [_item(r) for r in rows]


async def mark_sent(tx: Tx, item_id: int, event_id: str) -> None:
    """Record the event id; the content is dropped (store the least we need: the message
    lives in the room, and only its event id is needed to edit or redact it later)."""
    await tx.execute(
        "UPDATE outbox SET state = 'sent', event_id = ?, sent_at = ?, attempts = attempts + 1,"
        " content = '{}' WHERE id = ?",
        (event_id, clock.now_ms(), item_id),
    )


async def mark_failed_attempt(db: Database, item_id: int, error: str, give_up: bool) -> None:
    async with db.transaction() as tx:
        await record_failed_attempt(tx, item_id, error, give_up)


async def record_failed_attempt(tx: Tx, item_id: int, error: str, give_up: bool) -> None:
    """Count a failed attempt; ``give_up`` marks the row failed (in the caller's transaction,
    so a report of it is queued atomically with it)."""
    await tx.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?,"
        " state = CASE WHEN ? THEN 'failed' ELSE state END WHERE id = ?",
        (error[:500], give_up, item_id),
    )


async def sent_event_id(db: Database, item_id: int) -> str | None:
    row = await db.fetchone("SELECT event_id FROM outbox WHERE id = ?", (item_id,))
    return None if row is None or row["event_id"] is None else str(row["event_id"])


async def state_of(db: Database, item_id: int) -> str | None:
    row = await db.fetchone("SELECT state FROM outbox WHERE id = ?", (item_id,))
    return None if row is None else str(row["state"])


async def counts(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
    return {r["state"]: int(r["n"]) for r in rows}


async def pending_count(tx: Tx) -> int:
    """How many messages wait to be sent (in the caller's transaction)."""
    row = await tx.fetchone("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'")
    return 0 if row is None else int(row["n"])
