"""The bot's own cross-signing private keys (see bot/crosssigning.py).

Kept like the access token: in the database (mode 0600), never in the YAML or a log line, and
copied by ``natverk backup``. They are the bot's, not a person's: export and erasure do not
touch them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import clock
from storage.db import Database


@dataclass(frozen=True)
class StoredKeys:
    """The three Ed25519 seeds, unpadded base64."""

    master: str
    self_signing: str
    user_signing: str

    def __repr__(self) -> str:  # never print a private key
        return "StoredKeys(…)"


async def load(db: Database, user_id: str) -> StoredKeys | None:
    row = await db.fetchone(
        "SELECT master_seed, self_signing_seed, user_signing_seed FROM cross_signing_keys"
        " WHERE user_id = ?",
        (user_id,),
    )
    if row is None:
        return None
    return StoredKeys(row["master_seed"], row["self_signing_seed"], row["user_signing_seed"])


async def save(db: Database, user_id: str, keys: StoredKeys) -> None:
    """Store the keys of ``user_id``, replacing any it had."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO cross_signing_keys (user_id, master_seed, self_signing_seed,"
            " user_signing_seed, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET master_seed = excluded.master_seed,"
            " self_signing_seed = excluded.self_signing_seed,"
            " user_signing_seed = excluded.user_signing_seed, created_at = excluded.created_at",
            (user_id, keys.master, keys.self_signing, keys.user_signing, clock.now_ms()),
        )
