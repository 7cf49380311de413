"""The first start after ``natverk restore``: what the bot had already done since the backup.

Before it handles anything, the bot reads its own events since the backup was taken in every
room it is in (``/joined_rooms``, then ``/messages`` backwards until before the backup, with a
margin for clock skew), and records each one's key (``se.natverk.key``, storage/outbox.py)
with its event id. Then it syncs from the backup's checkpoint as after any stop: the events
since the backup are handled again, which rebuilds the database's state; every row queued
again whose key was found is marked sent as the message found instead of being sent (so later
edits, redactions and thread replies point at it). Direct chats opened since the backup (not
in the restored database) are found by the ``is_direct`` invitation between the bot and a
person, so the person's direct chat is theirs again rather than a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nio import AsyncClient, JoinedRoomsResponse, MessageDirection, RoomMessagesResponse

from bot.rooms import only_between
from storage import Database
from storage import outbox as outbox_store
from storage import restore as restore_store

log = logging.getLogger(__name__)

SKEW_MS = 10 * 60 * 1000  # read this much before the backup: clocks differ
PAGE = 100
MAX_PAGES = 500  # per room: 50,000 events since the backup


@dataclass
class Recovery:
    found: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (event, room)
    directs: dict[str, str] = field(default_factory=dict)  # person -> room
    theirs: set[str] = field(default_factory=set)  # the direct chats the person opened
    managed: dict[str, str] = field(default_factory=dict)  # managed-room key -> room
    joins: dict[str, int] = field(default_factory=dict)  # room -> the bot's join seen since
    rooms: int = 0
    incomplete: list[str] = field(default_factory=list)  # rooms not read back to the backup


async def recover(
    client: AsyncClient,
    db: Database,
    user_id: str,
    known_rooms: set[str],
    known_people: set[str],
    unknown_managed: dict[str, str] | None = None,
) -> Recovery | None:
    """If a restore is pending: read what the bot sent since the backup and record it (see the
    module docstring). ``known_rooms`` are the rooms the restored database knows (managed and
    direct), ``known_people`` those who have a direct chat in it; ``unknown_managed`` the
    rooms the configuration wants that it does not know (key -> alias or room id): those the
    bot has joined since the backup are recorded as managed again (before anything is
    handled in them). None if no restore is pending; an exception (the homeserver
    unreachable) leaves it pending for the next start."""
    pending = await restore_store.pending_restore(db)
    if pending is None:
        return None
    since = pending.backup_taken_at - SKEW_MS
    joined = await client.joined_rooms()
    if not isinstance(joined, JoinedRoomsResponse):
        raise RuntimeError(f"cannot list the joined rooms: {getattr(joined, 'message', joined)}")
    recovery = Recovery(rooms=len(joined.rooms))
    for key, target in (unknown_managed or {}).items():
        room_id = target
        if target.startswith("#"):
            resolved = await client.room_resolve_alias(target)
            room_id = getattr(resolved, "room_id", "") or ""
        if room_id in joined.rooms:
            recovery.managed[key] = room_id
    known_rooms = known_rooms | set(recovery.managed.values())
    for room_id in joined.rooms:
        await _read_room(client, room_id, user_id, since, room_id not in known_rooms, recovery)
    for person in known_people & set(recovery.directs):
        # A direct chat the person opened since the backup took over from the one the
        # database knows (as it does when they open one: App._on_invite), unless others are
        # in it; one the bot opened cannot be (it opens one only when it knows none).
        room_id = recovery.directs[person]
        if room_id not in recovery.theirs or not await only_between(
            client, room_id, {user_id, person}
        ):
            del recovery.directs[person]
    # The rooms found again are known from the bot's join, as if the backup had seen it: a
    # long timeline there since is back-filled like any other.
    found_rooms = {*recovery.directs.values(), *recovery.managed.values()}
    joins = {r: ts for r, ts in recovery.joins.items() if r in found_rooms}
    async with db.transaction() as tx:
        await restore_store.record_recovery(
            tx, pending, recovery.found, recovery.directs, recovery.managed, joins
        )
    log.info(
        "Restored from a backup taken at %s: %d of the bot's events since then found in %d "
        "rooms, %d direct chats and %d managed rooms made since",
        datetime.fromtimestamp(pending.backup_taken_at / 1000, UTC).isoformat(timespec="seconds"),
        len(recovery.found),
        recovery.rooms,
        len(recovery.directs),
        len(recovery.managed),
    )
    for room_id in recovery.incomplete:
        log.warning("%s was not read back to the backup (over %d pages)", room_id, MAX_PAGES)
    return recovery


async def _read_room(
    client: AsyncClient, room_id: str, user_id: str, since: int, unknown: bool, into: Recovery
) -> None:
    # In a room the database knows, only the bot's own events matter; in another one, the
    # invitation that made it a direct chat too.
    only_own = None if unknown else {"senders": [user_id], "lazy_load_members": True}
    token: str | None = None
    for _ in range(MAX_PAGES):
        resp = await client.room_messages(
            room_id,
            start=token,
            direction=MessageDirection.back,
            limit=PAGE,
            message_filter=only_own,
        )
        if not isinstance(resp, RoomMessagesResponse):
            raise RuntimeError(f"reading {room_id} failed: {getattr(resp, 'message', resp)}")
        for raw in resp.chunk:
            source: dict[str, Any] = getattr(raw, "source", {}) or {}
            if int(source.get("origin_server_ts", 0)) < since:
                return
            _note(source, room_id, user_id, unknown, into)
        if not resp.chunk or not resp.end:
            return
        token = resp.end
    into.incomplete.append(room_id)


def _note(
    source: dict[str, Any], room_id: str, user_id: str, unknown: bool, into: Recovery
) -> None:
    content = source.get("content")
    if not isinstance(content, dict):
        return
    sender, event_id = source.get("sender"), source.get("event_id")
    if sender == user_id and isinstance(event_id, str):
        key = content.get(outbox_store.KEY_FIELD)
        if isinstance(key, str):
            into.found.setdefault(key, (event_id, room_id))
        redacted = content.get(outbox_store.REDACTS_KEY_FIELD)
        target = content.get("redacts") or source.get("redacts")
        if isinstance(redacted, str) and isinstance(target, str):
            # A message sent and redacted since the backup: its content (and key) is gone.
            into.found.setdefault(redacted, (target, room_id))
    if (
        source.get("type") == "m.room.member"
        and source.get("state_key") == user_id
        and sender == user_id
        and content.get("membership") == "join"
    ):
        ts = int(source.get("origin_server_ts", 0))
        into.joins[room_id] = min(ts, into.joins.get(room_id, ts))  # the first, read last
    if (
        unknown
        and source.get("type") == "m.room.member"
        and content.get("membership") == "invite"
        and content.get("is_direct") is True
    ):
        invited = source.get("state_key")
        if invited == user_id and isinstance(sender, str):
            if into.directs.setdefault(sender, room_id) == room_id:  # they opened it
                into.theirs.add(room_id)
        elif sender == user_id and isinstance(invited, str):
            into.directs.setdefault(invited, room_id)  # the bot opened it


async def settle_pending(db: Database) -> int:
    """Rows pending in the backup that were sent before the restore: marked sent as the
    events found (before the first sync, so the events since the backup find them sent)."""
    recovered = db.recovered
    if not recovered:
        return 0
    settled = 0
    for item in await outbox_store.pending(db, limit=1_000_000):
        if item.key is not None and item.key in recovered:
            async with db.transaction() as tx:
                await outbox_store.mark_recovered(tx, item, recovered[item.key])
            settled += 1
    return settled
