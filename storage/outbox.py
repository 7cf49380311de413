"""The persistent outbox: every message the bot sends is a row here first.

A row is written in the same transaction as the effects that decided to send it, with a
transaction id that never changes, so a crash before or after the HTTP request neither loses
nor duplicates the message (the homeserver deduplicates a repeated transaction id).

Every row also has a deterministic **key**, sent in its content as :data:`KEY_FIELD`: the same
when the same event is handled again from the same state. The homeserver forgets transaction
ids after about a day; a bot restored from an older backup reads its own messages since the
backup, and a row whose key it finds there is marked sent as that event instead of being sent
again (``natverk restore``, ``bot/restore.py``). A key is made from the row's :class:`Cause`:

- the event being handled (the dispatcher sets it): ``<event id>/<n>``, the n-th row queued
  while handling it;
- work after the event's transaction (``ctx.after_commit``): ``<event id>+<i>/<n>``;
- a named subject (``ctx.about("reminder:…")``, e.g. a reminder of one question):
  ``<subject>/<n>``;
- anything else (a periodic task, the bot's own reports): the task's name and a hash of the
  room, type and content (``$outbox:<id>`` references hashed as the referred row's key).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from bot import clock
from storage.causes import CAUSE, Cause
from storage.db import Database, Tx

__all__ = ["CAUSE", "KEY_FIELD", "KICK", "TOPIC", "Cause", "OutboxItem", "enqueue"]

TOPIC = "outbox"  # what Tx.publish calls a committed new row (an OutboxItem)


# Not an event type: a row of this type removes ``content["user_id"]`` from the room.
KICK = "natverk.kick"

# The content key that carries a row's key (reverse-DNS namespaced, as the spec asks of
# custom keys; homeservers keep unknown content keys, and so do edits, reactions and
# redactions). A redaction of a row also names the redacted row's key (REDACTS_KEY_FIELD),
# so a restored bot knows a message it had sent and redacted since the backup.
KEY_FIELD = "se.natverk.key"
REDACTS_KEY_FIELD = "se.natverk.redacts_key"


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
    key: str | None = None  # the deterministic key (None: a row from before migration 14)

    def sent_content(self, content: dict[str, Any]) -> dict[str, Any]:
        """``content`` (resolved) as sent: with the row's key."""
        if self.key is None or self.event_type == KICK:
            return content
        return {**content, KEY_FIELD: self.key}


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
    :data:`TOPIC`, so the sender can start at once without reading it back.

    After a restore, a row whose key the bot finds among its own messages since the backup is
    written as sent (as that event) and not published: see :func:`apply_recovered`."""
    txn_id = f"natverk.{uuid.uuid4().hex}"
    cause = tx.cause
    if cause is None:
        cause = tx.cause = Cause("other", hashed=True)
    if cause.hashed:
        key = cause.hashed_key(room_id, event_type, await _with_keys(tx, content))
    else:
        key = cause.next_key()
    if event_type == "m.room.redaction":
        content = await _naming_redacted(tx, content)
    serialized = json.dumps(content, ensure_ascii=False)
    recovered = tx.recovered.get(key) if tx.recovered else None
    now = clock.now_ms()
    item_id = await tx.execute(
        "INSERT INTO outbox (txn_id, room_id, event_type, content, purpose, ref, owner,"
        " created_at, key, state, event_id, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            txn_id,
            room_id,
            event_type,
            "{}" if recovered else serialized,
            purpose,
            ref,
            owner,
            now,
            key,
            "sent" if recovered else "pending",
            recovered,
            now if recovered else None,
        ),
    )
    # The stored text, not the caller's dict (which the caller could still change).
    item = OutboxItem(
        item_id, txn_id, room_id, event_type, json.loads(serialized), purpose, ref, 0, owner, key
    )
    if recovered:
        await _use_recovered(tx, item, recovered)
    else:
        tx.publish(TOPIC, item)
    return item_id


async def _naming_redacted(tx: Tx, content: dict[str, Any]) -> dict[str, Any]:
    """A redaction of one of the bot's messages names that message's key: a restored bot then
    knows the message was sent (its own content, with the key, is gone)."""
    target = content.get("redacts")
    if not isinstance(target, str):
        return content
    if target.startswith("$outbox:"):
        row = await tx.fetchone("SELECT key FROM outbox WHERE id = ?", (int(target[8:]),))
    else:
        row = await tx.fetchone("SELECT key FROM outbox WHERE event_id = ?", (target,))
    if row is None or row["key"] is None:
        return content
    return {**content, REDACTS_KEY_FIELD: row["key"]}


async def _with_keys(tx: Tx, value: Any) -> Any:
    """``value`` with each ``$outbox:<id>`` replaced by that row's key (for a hashed key: the
    row's id is not the same when a restored bot queues it again)."""
    if isinstance(value, str) and value.startswith("$outbox:"):
        row = await tx.fetchone("SELECT key FROM outbox WHERE id = ?", (int(value[8:]),))
        return f"$outbox-key:{row['key'] if row is not None else value}"
    if isinstance(value, dict):
        return {k: await _with_keys(tx, v) for k, v in value.items()}
    if isinstance(value, list):
        return [await _with_keys(tx, v) for v in value]
    return value


async def _use_recovered(tx: Tx, item: OutboxItem, event_id: str) -> None:
    """``item`` was sent before the restore as ``event_id``: the entry is used up (in the
    transaction; forgotten in memory once it commits), and the row's sent hook is due
    (:func:`apply_recovered`)."""
    assert item.key is not None
    await tx.execute("DELETE FROM restored_events WHERE key = ?", (item.key,))
    tx.recovered_rows.append((item, event_id))
    recovered, key = tx.recovered, item.key
    if recovered is not None:

        def forget() -> None:
            recovered.pop(key, None)

        tx.after_commit.append(forget)


async def apply_recovered(tx: Tx) -> None:
    """Run the sent hooks (``@on_sent``) of the rows that :func:`enqueue` marked sent as a
    recovered event, in this transaction: the dispatcher calls it after each handler, so the
    next event of the same sync response already finds, e.g., the question's thread root."""
    hook = tx.on_recovered
    while tx.recovered_rows:
        item, event_id = tx.recovered_rows.pop(0)
        if hook is not None:
            await hook(tx, item, event_id)


async def mark_recovered(tx: Tx, item: OutboxItem, event_id: str) -> None:
    """A pending row (e.g. from the backup) that was sent before the restore, as ``event_id``."""
    await mark_sent(tx, item.id, event_id)
    await _use_recovered(tx, item, event_id)
    await apply_recovered(tx)


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
        key=row["key"],
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
