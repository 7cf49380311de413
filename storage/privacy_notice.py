"""The privacy notice: which rooms have had it and which people were sent it.

People are kept by a SHA-256 of their user id, never the id itself: the bot only needs to ask
"has this person had it?", and the table names nobody (anyone holding an id can check it,
nobody can read an id out of it). Erasure drops the date and keeps the hash (writes it if the
person had not had the notice), so a person erased but still in the YAML is not sent it
afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from storage.db import Database, Tx


def person_key(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


async def rooms_with_notice(tx: Tx) -> set[str]:
    rows = await tx.fetchall("SELECT room_id FROM privacy_notice_rooms")
    return {str(r["room_id"]) for r in rows}


async def record_room(tx: Tx, room_id: str, now_ms: int) -> None:
    await tx.execute(
        "INSERT INTO privacy_notice_rooms (room_id, queued_at) VALUES (?, ?)", (room_id, now_ms)
    )


async def people_without_notice(tx: Tx, users: Iterable[str]) -> list[str]:
    """Those of ``users`` (in their order) who have not had the notice."""
    rows = await tx.fetchall("SELECT person FROM privacy_notice_people")
    had = {str(r["person"]) for r in rows}
    return [u for u in users if person_key(u) not in had]


async def record_person(tx: Tx, user_id: str, now_ms: int) -> None:
    await tx.execute(
        "INSERT INTO privacy_notice_people (person, queued_at) VALUES (?, ?)",
        (person_key(user_id), now_ms),
    )


async def export_user(db: Database, user_id: str) -> dict[str, int | None]:
    row = await db.fetchone(
        "SELECT queued_at FROM privacy_notice_people WHERE person = ?", (person_key(user_id),)
    )
    return {"privacy_notice_queued_at": None if row is None else row["queued_at"]}


async def erase_user(tx: Tx, user_id: str) -> int:
    """The date goes; the hash stays, or is written if the person had not had the notice yet:
    someone who has just erased their data with !privacy knows what the notice says, and is
    not sent it afterwards (see the module's docstring)."""
    return await tx.changes(
        "INSERT INTO privacy_notice_people (person, queued_at) VALUES (?, NULL)"
        " ON CONFLICT (person) DO UPDATE SET queued_at = NULL",
        (person_key(user_id),),
    )
