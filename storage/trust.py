"""Members' cross-signing identities, pinned on first use (see bot/trust.py).

One row per person: the master key the bot trusts for them, when it was first pinned and when it
last changed. A public key, but it identifies a person's account: exported and erased with the
rest of what is kept about them.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database, Tx


@dataclass(frozen=True)
class Pin:
    user_id: str
    master_key: str
    pinned_at: int
    changed_at: int | None


async def load(db: Database) -> dict[str, str]:
    """Every pinned master key, by person."""
    rows = await db.fetchall("SELECT user_id, master_key FROM identity_pins")
    return {r["user_id"]: r["master_key"] for r in rows}


async def pin(tx: Tx, user_id: str, master_key: str, now_ms: int, *, changed: bool) -> None:
    """Pin ``master_key`` for ``user_id`` (a first pin, or a changed identity)."""
    await tx.execute(
        "INSERT INTO identity_pins (user_id, master_key, pinned_at, changed_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
        " master_key = excluded.master_key, changed_at = excluded.changed_at",
        (user_id, master_key, now_ms, now_ms if changed else None),
    )


async def export_user(db: Database, user_id: str) -> dict[str, object]:
    row = await db.fetchone(
        "SELECT master_key, pinned_at, changed_at FROM identity_pins WHERE user_id = ?",
        (user_id,),
    )
    if row is None:
        return {}
    return {
        "encryption_identity": {
            "master_key": row["master_key"],
            "pinned_at": row["pinned_at"],
            "changed_at": row["changed_at"],
        }
    }


async def erase_user(tx: Tx, user_id: str) -> int:
    return await tx.execute("DELETE FROM identity_pins WHERE user_id = ?", (user_id,))
