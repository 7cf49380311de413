"""Encrypted events the bot could not decrypt yet, and room keys their senders withheld.

An undecryptable event is kept here instead of being marked processed; it is handled (and
deleted) when its key arrives, or given up once its sender has been told it could not be read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.db import Database, Tx

WITHHELD_KEEP_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Undecrypted:
    event_id: str
    room_id: str
    sender: str
    session_id: str
    origin_server_ts: int
    source: dict[str, Any]
    received_at: int
    withheld: str | None


def _undecrypted(row: Any) -> Undecrypted:
    return Undecrypted(
        event_id=row["event_id"],
        room_id=row["room_id"],
        sender=row["sender"],
        session_id=row["session_id"],
        origin_server_ts=int(row["origin_server_ts"]),
        source=json.loads(row["source"]),
        received_at=int(row["received_at"]),
        withheld=row["withheld"],
    )


async def keep(
    tx: Tx,
    *,
    event_id: str,
    room_id: str,
    sender: str,
    session_id: str,
    origin_server_ts: int,
    source: dict[str, Any],
    now_ms: int,
) -> bool:
    """Keep an event that could not be decrypted; False if it is already kept or was handled
    (a re-sync or a back-fill delivers it again)."""
    inserted = await tx.changes(
        "INSERT OR IGNORE INTO undecrypted (event_id, room_id, sender, session_id,"
        " origin_server_ts, source, received_at, withheld)"
        " SELECT ?, ?, ?, ?, ?, ?, ?, (SELECT code FROM withheld_sessions WHERE session_id = ?)"
        " WHERE NOT EXISTS (SELECT 1 FROM processed_events WHERE event_id = ?)",
        (
            event_id,
            room_id,
            sender,
            session_id,
            origin_server_ts,
            json.dumps(source, ensure_ascii=False),
            now_ms,
            session_id,
            event_id,
        ),
    )
    return inserted == 1


async def waiting(db: Database | Tx) -> list[Undecrypted]:
    """Every kept event, oldest first (the order they are handled in when keys arrive)."""
    rows = await db.fetchall("SELECT * FROM undecrypted ORDER BY origin_server_ts, event_id")
    return [_undecrypted(r) for r in rows]


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM undecrypted")
    return int(row["n"]) if row else 0


async def forget(tx: Tx, event_id: str) -> None:
    """The event was decrypted and handled, or given up on."""
    await tx.execute("DELETE FROM undecrypted WHERE event_id = ?", (event_id,))


async def withhold(tx: Tx, session_id: str, code: str, now_ms: int) -> None:
    """The sender's device will not share this session's key (m.room_key.withheld)."""
    await tx.execute(
        "INSERT INTO withheld_sessions (session_id, code, received_at) VALUES (?, ?, ?)"
        " ON CONFLICT (session_id) DO UPDATE SET code = excluded.code",
        (session_id, code, now_ms),
    )
    await tx.execute("UPDATE undecrypted SET withheld = ? WHERE session_id = ?", (code, session_id))
    await tx.execute(
        "DELETE FROM withheld_sessions WHERE received_at < ?", (now_ms - WITHHELD_KEEP_MS,)
    )


async def forget_sender(tx: Tx, user_id: str) -> int:
    """A person's kept events (erasure)."""
    return await tx.execute("DELETE FROM undecrypted WHERE sender = ?", (user_id,))
