"""Drains the outbox in order, with each row's stable transaction id.

Rate limits (429) are waited out by matrix-nio; other failures are retried with backoff and
keep the order within a room. Content may refer to the event id of an earlier outbox row as
the string ``"$outbox:<id>"`` (e.g. a thread reply whose root is not sent yet). A row whose
room is a user id (``@anna:example.org``) goes to that person's direct chat, opened on demand:
so a message to someone the bot has never talked to is as durable as any other.

Each message carries its row's key (``se.natverk.key``, see storage/outbox.py). After a
restore, a pending row whose key the bot found among its own messages since the backup is
marked sent as that message instead of being sent again (only then is the key looked up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nio import (
    RoomKickResponse,
    RoomRedactResponse,
    RoomSendError,
    RoomSendResponse,
)

from bot.crypto import CryptoClient
from bot.metrics import Metrics
from bot.registry import Registry
from bot.session import Client
from bot.types import RoomID, UserID
from storage import Database, Tx
from storage import outbox as outbox_store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 100
REREAD_AFTER = 10.0  # seconds
# A row waits this long (seconds) for matrix-nio to learn of its room before each further try
# counts as a failed attempt (and after MAX_ATTEMPTS it is given up and reported).
UNSYNCED_GRACE = 120.0
REPORT_PURPOSE = "send_failed"  # reports of failed rows are not reported again
# Not the homeserver's: an encrypted attachment's key that would go out in clear (below).
CLEAR_KEY = "NATVERK_CLEAR_KEY"
PERMANENT_ERRORS = {"M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE", "M_INVALID_PARAM", CLEAR_KEY}


class UnresolvedReferenceError(LookupError):
    pass


async def _resolve(db: Database, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("$outbox:"):
        event_id = await outbox_store.sent_event_id(db, int(value.removeprefix("$outbox:")))
        if event_id is None:
            raise UnresolvedReferenceError(value)
        return event_id
    if isinstance(value, dict):
        return {k: await _resolve(db, v) for k, v in value.items()}
    if isinstance(value, list):
        return [await _resolve(db, v) for v in value]
    return value


class Sender:
    def __init__(
        self,
        client: Client,
        db: Database,
        registry: Registry,
        open_direct: Callable[[UserID], Awaitable[RoomID | None]] | None = None,
        report: Callable[[Tx, outbox_store.OutboxItem, str], Awaitable[None]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.db = db
        self.registry = registry
        self.open_direct = open_direct
        self.report = report  # told of every row given up on (to tell the admins and owner)
        self._wake = asyncio.Event()
        self._backoff = 0.5
        self.idle = asyncio.Event()
        # Rows committed by this process and not sent yet, as published by the outbox. While
        # ``_complete`` is true they are every pending row there is, and the sender starts on
        # them without reading them back. It reads the table at start, after a failure, and
        # at least every REREAD_AFTER seconds: other processes (`natverk user erase`) add rows.
        self._fresh: dict[int, outbox_store.OutboxItem] = {}
        # Rows (by their room or person) waiting for the next sync: matrix-nio does not know
        # their room yet (a direct chat just created), so it cannot tell whether to encrypt.
        # Not a failure: no attempt counted, no back-off; the next sync wakes the sender.
        self._unsynced: set[str] = set()
        self._unsynced_since: dict[int, float] = {}  # row id -> when it first waited
        self._complete = False
        self._read_at = 0.0
        db.subscribe(outbox_store.TOPIC, self._offer)

    def wake(self) -> None:
        self._wake.set()

    def _offer(self, item: outbox_store.OutboxItem) -> None:
        self._fresh[item.id] = item
        self._wake.set()

    async def run(self) -> None:
        while True:
            self.idle.clear()
            failed = await self.drain()
            if failed:  # (rows only waiting for the next sync are not failures)
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, 60.0)
                continue
            self._backoff = 0.5
            self.idle.set()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives just as the event is set, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REREAD_AFTER):
                    await self._wake.wait()
            self._wake.clear()

    async def drain(self) -> bool:
        """Send everything pending; return True if something failed and must be retried."""
        blocked: set[str] = set()
        self._unsynced.clear()
        while True:
            items = [i for i in await self._pending() if i.room_id not in blocked]
            if not items:
                return bool(blocked - self._unsynced)
            for item in items:
                if item.room_id in blocked:
                    continue
                if not await self._send(item):
                    blocked.add(item.room_id)

    async def _pending(self) -> list[outbox_store.OutboxItem]:
        if not self._complete or time.monotonic() - self._read_at > REREAD_AFTER:
            self._fresh.clear()
            self._complete = True  # rows published from now on are kept, even during the read
            self._read_at = time.monotonic()
            rows = await outbox_store.pending(self.db, BATCH)
            self._fresh.update((i.id, i) for i in rows)
            self._complete = len(rows) < BATCH
        return sorted(self._fresh.values(), key=lambda i: i.id)[:BATCH]

    async def _send(self, item: outbox_store.OutboxItem) -> bool:
        started = time.monotonic()
        ok = await self._send_one(item)
        if self.metrics is not None:
            if ok:
                self.metrics.send_seconds.observe(time.monotonic() - started)
            elif item.room_id not in self._unsynced:
                self.metrics.send_failures.inc()
        return ok

    async def _send_one(self, item: outbox_store.OutboxItem) -> bool:
        recovered = self.db.recovered
        if recovered and item.key is not None and item.key in recovered:
            # Sent before a restore (e.g. a row pending in the backup): not again.
            async with self.db.transaction() as tx:
                await outbox_store.mark_recovered(tx, item, recovered[item.key])
            self._fresh.pop(item.id, None)
            return True
        try:
            content = item.sent_content(await _resolve(self.db, item.content))
        except UnresolvedReferenceError as err:
            # Waiting makes sense only while the row it refers to may still be sent.
            state = await outbox_store.state_of(self.db, int(str(err).removeprefix("$outbox:")))
            return await self._failed(
                item, f"refers to unsent {err}", permanent=state in (None, "failed")
            )
        room_id: str | None = item.room_id
        if item.room_id.startswith("@") and self.open_direct is not None:
            # Addressed to a person: their direct chat, opened now if there is none yet.
            room_id = await self.open_direct(UserID(item.room_id))
            if room_id is None:
                return await self._failed(item, "cannot open a direct chat", permanent=False)
        assert room_id is not None
        resp: Any
        if item.event_type == "m.room.redaction":
            resp = await self.client.room_redact_content(room_id, content, item.txn_id)
        elif item.event_type == outbox_store.KICK:
            resp = await self.client.room_kick(room_id, content["user_id"], content.get("reason"))
            if isinstance(resp, RoomKickResponse) or not self._still_in(
                room_id, content["user_id"]
            ):
                resp = RoomSendResponse("", room_id)  # done (a kick is the same when repeated)
        else:
            resp = await self._room_send(room_id, item.event_type, content, item.txn_id)
            if resp is None:
                since = self._unsynced_since.setdefault(item.id, time.monotonic())
                if time.monotonic() - since > UNSYNCED_GRACE:  # a room nio never learns of
                    return await self._failed(item, "room not synced yet", permanent=False)
                log.debug("Outbox #%d waits for the next sync to know %s", item.id, room_id)
                self._unsynced.add(item.room_id)
                return False
            self._unsynced_since.pop(item.id, None)
        if isinstance(resp, RoomSendResponse | RoomRedactResponse):
            async with self.db.transaction() as tx:
                await outbox_store.mark_sent(tx, item.id, resp.event_id)
                hook = self.registry.sent_hooks.get(item.purpose or "")
                if hook is not None:
                    await hook(tx, item, resp.event_id)
            self._fresh.pop(item.id, None)
            return True
        code = str(getattr(resp, "status_code", "") or "")
        return await self._failed(
            item, f"{code} {getattr(resp, 'message', '')}", permanent=code in PERMANENT_ERRORS
        )

    async def _room_send(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> Any:
        """Send, encrypted in an encrypted room (redactions never are: they go above).

        None: matrix-nio does not know the room yet (e.g. a direct chat just created), so it
        cannot tell whether to encrypt; the row is tried again after the next sync.
        """
        client = self.client
        room = client.rooms.get(room_id)
        if room is None and (
            isinstance(client, CryptoClient) or getattr(client, "olm", None) is not None
        ):
            return None  # never in clear before the sync shows whether the room is encrypted
        if room is not None and room.encrypted:
            # CryptoClient.send_encrypted (bot/crypto.py); a test's recording client records.
            return await client.send_encrypted(room_id, event_type, content, txn_id)
        if carries_file_key(content):
            # A file from an encrypted room (its key in the content) relayed into a plain
            # one would give its key to anyone who reads that room's events, the
            # homeserver included: not sent, and reported as any refused message.
            return RoomSendError(
                "an encrypted file's key would go out unencrypted", status_code=CLEAR_KEY
            )
        return await client.room_send(room_id, event_type, content, tx_id=txn_id)

    def _still_in(self, room_id: str, user_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return room is None or user_id in room.users or user_id in room.invited_users

    async def _failed(self, item: outbox_store.OutboxItem, error: str, permanent: bool) -> bool:
        give_up = permanent or item.attempts + 1 >= MAX_ATTEMPTS
        if give_up:
            self._unsynced_since.pop(item.id, None)
        self._complete = False  # the row's attempts changed: read the table again
        log.warning(
            "Sending outbox #%d to %s failed (attempt %d%s): %s",
            item.id,
            item.room_id,
            item.attempts + 1,
            ", giving up" if give_up else "",
            error,
        )
        async with self.db.transaction() as tx:
            await outbox_store.record_failed_attempt(tx, item.id, error, give_up)
            if give_up and self.report is not None and item.purpose != REPORT_PURPOSE:
                # In the same transaction: a crash neither loses the report nor repeats it.
                try:
                    async with tx.savepoint():
                        await self.report(tx, item, error)
                except Exception:  # a report must never stop the sender
                    log.exception("Reporting the failed outbox #%d failed", item.id)
        return give_up  # a row given up on no longer blocks its room


def carries_file_key(content: dict[str, Any]) -> bool:
    """Does the content hold an encrypted attachment (``file`` with its key), also as an
    edit's new content?"""
    for part in (content, content.get("m.new_content")):
        if isinstance(part, dict):
            media = part.get("file")
            if isinstance(media, dict) and "key" in media:
                return True
    return False
