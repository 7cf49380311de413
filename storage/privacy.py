"""What the bot keeps about a person, for export and erasure.

Erasing keeps the bookkeeping that others depend on (question numbers, statuses) but removes
the person's id and words, and queues redactions of the bot's copies of their words.
"""

from __future__ import annotations

import json
from typing import Any

from storage.db import Database, Tx
from storage.outbox import enqueue

ERASED = "[erased]"


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in r.keys()} for r in rows]  # noqa: SIM118 - sqlite3.Row


async def export_user(db: Database, user_id: str) -> dict[str, Any]:
    """Everything stored about ``user_id``, as plain JSON-able data."""
    tickets = await db.fetchall("SELECT * FROM tickets WHERE asker = ? ORDER BY id", (user_id,))
    links = await db.fetchall(
        "SELECT source_event, ticket_id, kind, target_room FROM ticket_links WHERE author = ?",
        (user_id,),
    )
    claimed = await db.fetchall(
        "SELECT id, status FROM tickets WHERE claimed_by = ? ORDER BY id", (user_id,)
    )
    direct = await db.fetchall("SELECT room_id FROM direct_rooms WHERE user_id = ?", (user_id,))
    notes = await db.fetchall("SELECT key FROM kv WHERE key LIKE ?", (f"%{user_id}%",))
    return {
        "user_id": user_id,
        "questions": _rows(tickets),
        "messages_relayed": _rows(links),
        "questions_claimed": _rows(claimed),
        "direct_chat": [r["room_id"] for r in direct],
        "notes": [r["key"] for r in notes],
    }


async def erase_user(db: Database, user_id: str) -> dict[str, int]:
    """Remove ``user_id`` and their words; queue redactions of the bot's copies."""
    async with db.transaction() as tx:
        counts = {
            "questions": await _erase_questions(tx, user_id),
            "relayed": await _erase_links(tx, user_id),
        }
        counts["claims"] = await tx.execute(
            "UPDATE tickets SET claimed_by = NULL,"
            " status = CASE status WHEN 'claimed' THEN"
            "  CASE WHEN answered_at IS NULL THEN 'open' ELSE 'answered' END ELSE status END"
            " WHERE claimed_by = ?",
            (user_id,),
        )
        counts["direct_chat"] = await tx.execute(
            "DELETE FROM direct_rooms WHERE user_id = ?", (user_id,)
        )
        counts["notes"] = await tx.execute("DELETE FROM kv WHERE key LIKE ?", (f"%{user_id}%",))
    return counts


async def _erase_questions(tx: Tx, user_id: str) -> int:
    rows = await tx.fetchall(
        "SELECT id, adviser_room, root_event, root_outbox FROM tickets WHERE asker = ?",
        (user_id,),
    )
    for r in rows:
        root = r["root_event"] or f"$outbox:{r['root_outbox']}"
        await enqueue(tx, r["adviser_room"], {"redacts": root}, event_type="m.room.redaction")
    await tx.execute(
        "UPDATE tickets SET asker = ?, question = '', status = 'withdrawn' WHERE asker = ?",
        (ERASED, user_id),
    )
    return len(rows)


async def _erase_links(tx: Tx, user_id: str) -> int:
    rows = await tx.fetchall(
        "SELECT source_event, target_room, target_outbox FROM ticket_links WHERE author = ?",
        (user_id,),
    )
    for r in rows:
        if r["target_room"] and r["target_outbox"]:
            await enqueue(
                tx,
                r["target_room"],
                {"redacts": f"$outbox:{r['target_outbox']}"},
                event_type="m.room.redaction",
            )
    await tx.execute("DELETE FROM ticket_links WHERE author = ?", (user_id,))
    return len(rows)


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
