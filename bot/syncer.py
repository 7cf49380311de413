"""Turns sync responses into handled events, exactly once.

For every sync response: back-fill limited timelines with /messages, then, in ONE transaction,
handle each new event (deduplicated by event id, skipping the bot's own and those older than
the bot's join) and store the next sync token (a response with nothing to handle stores its
token at most every IDLE_CHECKPOINT_MS, without a write transaction of its own). A crash
anywhere re-syncs from the old token, and the dedup table makes the repeat harmless.

Encryption. Room keys and device-list changes arrive in the same sync response as the
timeline they unlock. matrix-nio handles them inside ``AsyncClient.sync()``, before it returns
the response to the bot: ``receive_response`` -> ``_handle_sync`` -> ``_handle_to_device``
decrypts the to-device events and stores each room key in its crypto store (SQLite, committed
at once), then ``_handle_joined_rooms`` decrypts the timeline with them. Only then does
:meth:`Syncer.process` run, and only its transaction stores the sync token: a crash at any
point re-syncs from the old token, and the homeserver delivers the to-device events again
(it deletes them only when a later request names the new token). Device-list changes nio
keeps in memory until its key query; after a restart the first (full-state) sync makes it
query every member of every encrypted room again, so a crash loses none of them either.

An event nio could not decrypt (``m.room.encrypted`` here) is neither handled nor marked
processed: bot/decryption.py keeps it and decrypts it again after every sync that brought room
keys (before that sync's own events) and in the periodic pass, then handles it once. Order: an
event whose key comes in the same response as the event (the usual case) is handled in its
place in the timeline; one whose key comes later is handled when it comes, after the events of
its room that could be read meanwhile, and late ones among themselves oldest first.
"""

from __future__ import annotations

import heapq
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from nio import AsyncClient, MessageDirection, RoomMessagesResponse, SyncResponse

from bot import clock
from bot.context import AfterCommit
from bot.decryption import ENCRYPTED, Decryptor, room_key_sessions, withheld_sessions
from bot.types import POLL_END_TYPES, RoomEvent, RoomID
from storage import Database, Tx
from storage import state as state_store

log = logging.getLogger(__name__)

BACKFILL_PAGE = 100
BACKFILL_MAX_PAGES = 50
# A sync with nothing to handle (e.g. only the bot's own echoes) does not open a write
# transaction; its token is stored at the latest this much later. Re-syncing from an older
# token is harmless: handled events are deduplicated, the bot's own are skipped.
IDLE_CHECKPOINT_MS = 30_000
# The bot's own events are skipped, except these: a poll's end is tallied from the end event's
# own server timestamp, as Element tallies it, which only its echo carries.
OWN_HANDLED = frozenset(POLL_END_TYPES)

Dispatch = Callable[[Tx, RoomEvent], Awaitable[list[AfterCommit]]]


def _own_join_ts(events: list[Any], user_id: str) -> int | None:
    for ev in events:
        src = getattr(ev, "source", ev)
        if (
            isinstance(src, dict)
            and src.get("type") == "m.room.member"
            and src.get("state_key") == user_id
            and (src.get("content") or {}).get("membership") == "join"
        ):
            return int(src.get("origin_server_ts", 0))
    return None


def _timestamp(event: RoomEvent) -> int:
    return event.origin_server_ts


class Syncer:
    def __init__(
        self,
        client: AsyncClient,
        db: Database,
        user_id: str,
        dispatch: Dispatch,
        decryptor: Decryptor | None = None,
    ):
        self.client = client
        self.db = db
        self.user_id = user_id
        self.dispatch = dispatch
        self.decryptor = decryptor
        self.joined: dict[str, int] = {}
        self.events_handled = 0
        self.backfilled = 0
        self._checkpoint_ms = 0
        self.backfill_max_pages = BACKFILL_MAX_PAGES
        # Ids of the latest timeline events seen, the bot's own included (for tests/benches).
        self.recent: deque[str] = deque(maxlen=1000)

    async def load(self) -> None:
        self.joined = await state_store.joined_rooms(self.db)
        if self.decryptor is not None:
            await self.decryptor.load(self.db)

    async def process(self, resp: SyncResponse, had_token: bool) -> list[AfterCommit]:
        batches: list[tuple[str, list[RoomEvent], int | None]] = []
        for room_id, info in resp.rooms.join.items():
            self.recent.extend(getattr(e, "event_id", "") for e in info.timeline.events)
            events = [
                ev
                for ev in (RoomEvent.from_source(room_id, e.source) for e in info.timeline.events)
                if ev is not None and (ev.sender != self.user_id or ev.type in OWN_HANDLED)
            ]
            join_ts = self.joined.get(room_id)
            new_join_ts: int | None = None
            if join_ts is None:
                # First sight of this room. On the very first sync everything already there is
                # history; later, our own join event dates the room.
                if had_token:
                    own = _own_join_ts(info.timeline.events, self.user_id)
                    if own is None:
                        own = _own_join_ts(info.state, self.user_id)
                    new_join_ts = own if own is not None else clock.now_ms()
                elif events:
                    new_join_ts = max(e.origin_server_ts for e in events) + 1
                else:
                    new_join_ts = clock.now_ms()
            elif info.timeline.limited and had_token and info.timeline.prev_batch:
                events = await self._backfill(room_id, info.timeline.prev_batch, join_ts) + events
            batches.append((room_id, events, new_join_ts))

        after: list[AfterCommit] = []
        now = clock.now_ms()
        decryptor = self.decryptor
        # Sessions whose room keys (or withheld notices) this response brought.
        sessions: set[str] = set()
        if decryptor is not None:
            sessions = {session for session, _code in withheld_sessions(resp)}
            if decryptor.kept > 0:
                sessions |= room_key_sessions(resp)
        keys_came = bool(sessions)
        idle = (
            not resp.rooms.leave
            and not keys_came
            and all(not events and join is None for _, events, join in batches)
        )
        if idle and now - self._checkpoint_ms < IDLE_CHECKPOINT_MS:
            return after
        self._checkpoint_ms = now
        async with self.db.transaction() as tx:
            if decryptor is not None and keys_came:
                await decryptor.withheld(tx, resp, now)
                # Events that waited for these keys come before this response's own events.
                await decryptor.retry(
                    tx, now, lambda t, e: self._handle(t, e, after), sessions=sessions
                )
            streams: list[list[RoomEvent]] = []
            for room_id, events, new_join_ts in batches:
                if new_join_ts is not None:
                    await state_store.record_join(tx, room_id, new_join_ts)
                join_ts = new_join_ts if new_join_ts is not None else self.joined[room_id]
                streams.append([e for e in events if e.origin_server_ts >= join_ts])
            # Across rooms in the order they happened (each room's own order kept): after a
            # downtime or a restore, the questions of two rooms get their numbers in the
            # order they were asked, as the bot numbered them the first time.
            ordered = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_timestamp)
            for event in ordered:
                if decryptor is not None and event.type == ENCRYPTED:
                    await decryptor.keep(tx, event, now)  # not processed: kept for its key
                    continue
                await self._handle(tx, event, after)
            for room_id in resp.rooms.leave:
                await state_store.forget_room(tx, room_id)
            await state_store.set_sync_token(tx, resp.next_batch)
        for room_id, _, new_join_ts in batches:
            if new_join_ts is not None:
                self.joined[room_id] = new_join_ts
        for room_id in resp.rooms.leave:
            self.joined.pop(room_id, None)
        return after

    async def _handle(self, tx: Tx, event: RoomEvent, after: list[AfterCommit]) -> None:
        if not await state_store.mark_processed(tx, event.event_id, event.room_id):
            return  # handled before (a re-sync from an older token)
        after.extend(await self.dispatch(tx, event))
        self.events_handled += 1

    async def retry_undecrypted(self, now_ms: int) -> list[AfterCommit]:
        """The periodic pass: decrypt and handle kept events whose keys came, tell the senders
        of those that waited too long (bot/decryption.py)."""
        after: list[AfterCommit] = []
        if self.decryptor is None:
            return after
        await self.decryptor.load(self.db)
        if not self.decryptor.kept:
            return after
        async with self.db.transaction() as tx:
            await self.decryptor.retry(tx, now_ms, lambda t, e: self._handle(t, e, after))
        return after

    async def _backfill(self, room_id: str, prev_batch: str, join_ts: int) -> list[RoomEvent]:
        """Fetch what a limited timeline left out, back to the last handled event."""
        older: list[RoomEvent] = []
        token = prev_batch
        for _ in range(self.backfill_max_pages):
            resp = await self.client.room_messages(
                room_id, start=token, direction=MessageDirection.back, limit=BACKFILL_PAGE
            )
            if not isinstance(resp, RoomMessagesResponse):
                log.warning("Back-filling %s failed: %s", room_id, getattr(resp, "message", resp))
                break
            done = not resp.chunk or not resp.end
            for raw in resp.chunk:
                event = RoomEvent.from_source(RoomID(room_id), raw.source)
                if event is None or event.sender == self.user_id:
                    continue
                if event.origin_server_ts < join_ts or await state_store.was_processed(
                    self.db, event.event_id
                ):
                    done = True
                    break
                older.append(event)
            if done:
                break
            token = resp.end
        else:
            log.warning("Back-fill of %s stopped after %d pages", room_id, self.backfill_max_pages)
        if older:
            log.info("Back-filled %d events in %s", len(older), room_id)
            self.backfilled += len(older)
        older.reverse()
        return older
