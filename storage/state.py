"""Bot state: credentials, sync checkpoint, processed events, managed and direct rooms."""

from __future__ import annotations

from dataclasses import dataclass

from bot import clock
from storage.db import Database, Tx

PROCESSED_EVENTS_KEEP_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Credentials:
    user_id: str
    homeserver: str
    device_id: str
    access_token: str

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(user_id={self.user_id!r}, device_id={self.device_id!r})"


async def load_credentials(db: Database, user_id: str) -> Credentials | None:
    row = await db.fetchone("SELECT * FROM credentials WHERE user_id = ?", (user_id,))
    if row is None:
        return None
    return Credentials(row["user_id"], row["homeserver"], row["device_id"], row["access_token"])


async def save_credentials(db: Database, creds: Credentials) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO credentials (user_id, homeserver, device_id, access_token)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
            " homeserver = excluded.homeserver, device_id = excluded.device_id,"
            " access_token = excluded.access_token",
            (creds.user_id, creds.homeserver, creds.device_id, creds.access_token),
        )


async def forget_credentials(db: Database, user_id: str) -> None:
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM credentials WHERE user_id = ?", (user_id,))


async def sync_token(db: Database) -> str | None:
    row = await db.fetchone("SELECT next_batch FROM sync_state WHERE id = 1")
    return str(row["next_batch"]) if row else None


async def set_sync_token(tx: Tx, token: str) -> None:
    await tx.execute(
        "INSERT INTO sync_state (id, next_batch) VALUES (1, ?)"
        " ON CONFLICT (id) DO UPDATE SET next_batch = excluded.next_batch",
        (token,),
    )


async def mark_processed(tx: Tx, event_id: str, room_id: str) -> bool:
    """Record an event as handled; False if it already was (the dedup check in one step)."""
    inserted = await tx.changes(
        "INSERT OR IGNORE INTO processed_events (event_id, room_id, handled_at) VALUES (?, ?, ?)",
        (event_id, room_id, clock.now_ms()),
    )
    return inserted == 1


async def prune_processed(tx: Tx, now_ms: int) -> int:
    return await tx.execute(
        "DELETE FROM processed_events WHERE handled_at < ?", (now_ms - PROCESSED_EVENTS_KEEP_MS,)
    )


async def managed_rooms(db: Database) -> dict[str, str]:
    """Map of managed-room key (e.g. 'cohort:npf-ht26') to room id."""
    rows = await db.fetchall("SELECT key, room_id FROM managed_rooms")
    return {r["key"]: r["room_id"] for r in rows}


async def set_managed_room(db: Database, key: str, room_id: str, alias: str | None) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO managed_rooms (key, room_id, alias) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET room_id = excluded.room_id, alias = excluded.alias",
            (key, room_id, alias),
        )


async def joined_rooms(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT room_id, joined_ts FROM joined_rooms")
    return {r["room_id"]: int(r["joined_ts"]) for r in rows}


async def record_join(tx: Tx, room_id: str, joined_ts: int) -> None:
    """Remember the first time the bot joined a room (a later re-join keeps the first)."""
    await tx.execute(
        "INSERT OR IGNORE INTO joined_rooms (room_id, joined_ts) VALUES (?, ?)",
        (room_id, joined_ts),
    )


async def forget_room(tx: Tx, room_id: str) -> None:
    await tx.execute("DELETE FROM joined_rooms WHERE room_id = ?", (room_id,))
    await tx.execute("DELETE FROM direct_rooms WHERE room_id = ?", (room_id,))


async def direct_rooms(db: Database) -> dict[str, str]:
    """Map of user id to the direct chat room the bot shares with them."""
    rows = await db.fetchall("SELECT user_id, room_id FROM direct_rooms")
    return {r["user_id"]: r["room_id"] for r in rows}


async def set_direct_room(tx: Tx, user_id: str, room_id: str) -> None:
    await tx.execute(
        "INSERT INTO direct_rooms (user_id, room_id) VALUES (?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id",
        (user_id, room_id),
    )


async def get_value(db: Database, key: str) -> str | None:
    row = await db.fetchone("SELECT value FROM kv WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


async def set_value(tx: Tx, key: str, value: str) -> None:
    await tx.execute(
        "INSERT INTO kv (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


async def was_processed(db: Database, event_id: str) -> bool:
    """Outside a transaction (e.g. while back-filling): has this event been handled?"""
    row = await db.fetchone("SELECT 1 FROM processed_events WHERE event_id = ?", (event_id,))
    return row is not None


async def get_value_tx(tx: Tx, key: str) -> str | None:
    row = await tx.fetchone("SELECT value FROM kv WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


async def delete_value(tx: Tx, key: str) -> None:
    await tx.execute("DELETE FROM kv WHERE key = ?", (key,))


async def values_with_prefix(tx: Tx, prefix: str) -> dict[str, str]:
    """The key-value rows whose key starts with ``prefix`` (e.g. pending jobs of one kind)."""
    rows = await tx.fetchall(
        "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key",
        (len(prefix), prefix),
    )
    return {str(r["key"]): str(r["value"]) for r in rows}
