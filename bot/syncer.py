"""Turns sync responses into handled events, exactly once.

For every sync response: back-fill limited timelines with /messages, then, in ONE transaction,
handle each new event (deduplicated by event id, skipping the bot's own and those older than
the bot's join) and store the next sync token (a response with nothing to handle stores its
token at most every IDLE_CHECKPOINT_MS, without a write transaction of its own). A crash
anywhere re-syncs from the old token, and the dedup table makes the repeat harmless.
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
    def __init__(self, client: AsyncClient, db: Database, user_id: str, dispatch: Dispatch):
        self.client = client
        self.db = db
        self.user_id = user_id
        self.dispatch = dispatch
        self.joined: dict[str, int] = {}
        self.events_handled = 0
        self.backfilled = 0
        self._checkpoint_ms = 0
        self.backfill_max_pages = BACKFILL_MAX_PAGES
        # Ids of the latest timeline events seen, the bot's own included (for tests/benches).
        self.recent: deque[str] = deque(maxlen=1000)

    async def load(self) -> None:
        self.joined = await state_store.joined_rooms(self.db)

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
        idle = not resp.rooms.leave and all(
            not events and join is None for _, events, join in batches
        )
        if idle and now - self._checkpoint_ms < IDLE_CHECKPOINT_MS:
            return after
        self._checkpoint_ms = now
        async with self.db.transaction() as tx:
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
                if not await state_store.mark_processed(tx, event.event_id, event.room_id):
                    continue  # handled before (a re-sync from an older token)
                after.extend(await self.dispatch(tx, event))
                self.events_handled += 1
            for room_id in resp.rooms.leave:
                await state_store.forget_room(tx, room_id)
            await state_store.set_sync_token(tx, resp.next_batch)
        for room_id, _, new_join_ts in batches:
            if new_join_ts is not None:
                self.joined[room_id] = new_join_ts
        for room_id in resp.rooms.leave:
            self.joined.pop(room_id, None)
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
