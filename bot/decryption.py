"""Encrypted events that cannot be decrypted yet: kept, retried when keys arrive, told about.

matrix-nio decrypts a sync response's timeline while it parses the response, after it has
stored the room keys the same response carried as to-device events (see bot/syncer.py). An
event it still cannot decrypt reaches the syncer as ``m.room.encrypted``: its room key has not
arrived (the sender's app shares it as a to-device message, which can come later), or never
will. Such an event is not handled and not marked processed; it is kept (storage/encryption.py)
and decrypted again after every sync that brought room keys and in every periodic pass. Once
decrypted it is handled, once, like any other event. If the sender's device withholds the key
(``m.room_key.withheld``), or the key has not come within ``bot.undecryptable_after``, the
sender is told once, in the room, as a reply, that the bot could not read the message and to
send it again; the event is then given up (marked processed), so a later key cannot make the
bot handle it a second time next to the copy the person sent again.

Asking for the key: the bot sends a room-key request, but matrix-nio accepts a forwarded key
only from the bot's own verified devices, so the request rarely helps; what normally unlocks
an event is the sender's app sending the room key late (e.g. once it has fetched the bot's
device keys).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nio import (
    AsyncClient,
    EncryptionError,
    ForwardedRoomKeyEvent,
    LocalProtocolError,
    MegolmEvent,
    RoomKeyEvent,
    SyncResponse,
    UnknownToDeviceEvent,
)

from bot import i18n, messages
from bot.types import EventID, RoomEvent, UserID
from storage import Tx
from storage import encryption as store
from storage import outbox as outbox_store

log = logging.getLogger(__name__)

ENCRYPTED = "m.room.encrypted"
WITHHELD_TYPES = frozenset({"m.room_key.withheld", "org.matrix.room_key.withheld"})

# (room id) -> (language, time zone) of the room, and (room id, user id) -> display name.
LanguageOf = Callable[[str], tuple[str, str]]
NameOf = Callable[[str, str], str]


def withheld_sessions(resp: SyncResponse) -> list[tuple[str, str]]:
    """(session id, code) of every m.room_key.withheld in the response's to-device events."""
    found: list[tuple[str, str]] = []
    for ev in resp.to_device_events:
        if not isinstance(ev, UnknownToDeviceEvent) or ev.type not in WITHHELD_TYPES:
            continue
        content = ev.source.get("content") if isinstance(ev.source, dict) else None
        if not isinstance(content, dict):
            continue
        session, code = content.get("session_id"), content.get("code")
        if isinstance(session, str) and session:
            found.append((session, code if isinstance(code, str) else "m.unavailable"))
    return found


def room_key_sessions(resp: SyncResponse) -> set[str]:
    """The sessions whose room keys nio stored while parsing ``resp`` (it replaces each
    decrypted to-device event in the response by what it held: a room key, a forwarded one)."""
    return {
        ev.session_id
        for ev in resp.to_device_events
        if isinstance(ev, RoomKeyEvent | ForwardedRoomKeyEvent)
    }


def brought_room_keys(resp: SyncResponse) -> bool:
    return bool(room_key_sessions(resp))


class Decryptor:
    """The syncer's helper for encrypted events it cannot read yet."""

    def __init__(
        self,
        client: AsyncClient,
        wait_ms: Callable[[], int],
        language_of: LanguageOf,
        name_of: NameOf,
    ) -> None:
        self.client = client
        self.wait_ms = wait_ms
        self.language_of = language_of
        self.name_of = name_of
        self.kept = 0  # events waiting (as far as this process knows; read at start)
        self.decrypted_late = 0
        self.told = 0
        self._to_request: list[dict[str, Any]] = []

    async def load(self, db: Any) -> None:
        self.kept = await store.count(db)

    async def keep(self, tx: Tx, event: RoomEvent, now_ms: int) -> None:
        """Keep an event that could not be decrypted (not marked processed)."""
        session = event.content.get("session_id")
        if not isinstance(session, str) or not session:
            log.warning("Encrypted event %s has no session id; ignored", event.event_id)
            return
        if await store.keep(
            tx,
            event_id=event.event_id,
            room_id=event.room_id,
            sender=event.sender,
            session_id=session,
            origin_server_ts=event.origin_server_ts,
            source=event.source,
            now_ms=now_ms,
        ):
            self.kept += 1
            self._to_request.append({**event.source, "room_id": event.room_id})
            log.info("Event %s in %s waits for its room key", event.event_id, event.room_id)

    async def withheld(self, tx: Tx, resp: SyncResponse, now_ms: int) -> bool:
        found = withheld_sessions(resp)
        for session, code in found:
            log.info("Room key of session %s withheld (%s)", session, code)
            await store.withhold(tx, session, code, now_ms)
        return bool(found)

    async def retry(
        self,
        tx: Tx,
        now_ms: int,
        handle: Callable[[Tx, RoomEvent], Any],
        sessions: set[str] | None = None,
    ) -> None:
        """Decrypt what waits (of ``sessions`` only, if given: those whose keys or withheld
        notices just came), oldest first; handle what can be read (``handle`` dedups and
        dispatches), tell the senders of what will not be. In the caller's transaction."""
        if not self.kept:
            return
        wait = self.wait_ms()
        for item in await store.waiting(tx):
            if sessions is not None and item.session_id not in sessions:
                continue
            event = self._decrypt(item.room_id, item.source)
            if event is not None:
                await store.forget(tx, item.event_id)
                self.kept -= 1
                self.decrypted_late += 1
                log.info("Event %s decrypted after its key arrived", item.event_id)
                await handle(tx, event)
            elif item.withheld is not None or now_ms - item.received_at >= wait:
                await self._tell_sender(tx, item)
                await store.forget(tx, item.event_id)
                self.kept -= 1

    def _decrypt(self, room_id: str, source: dict[str, Any]) -> RoomEvent | None:
        if self.client.olm is None:
            return None
        parsed = MegolmEvent.from_dict(source)
        if not isinstance(parsed, MegolmEvent):
            return None
        parsed.room_id = room_id
        try:
            decrypted = self.client.decrypt_event(parsed)
        except (EncryptionError, LocalProtocolError):
            return None
        src = getattr(decrypted, "source", None)
        return RoomEvent.from_source(room_id, src) if isinstance(src, dict) else None

    async def _tell_sender(self, tx: Tx, item: store.Undecrypted) -> None:
        from storage import state as state_store

        # Given up: a key arriving later must not make the bot handle it beside the copy the
        # person sends again.
        await state_store.mark_processed(tx, item.event_id, item.room_id)
        lang, timezone = self.language_of(item.room_id)
        name = self.name_of(item.room_id, item.sender)
        when = i18n.format_datetime(lang, item.origin_server_ts, timezone)
        body = i18n.t(lang, "errors.undecryptable", name=name, when=when)
        marker = "\x00"  # where the name goes in the HTML: a pill, the rest escaped
        html_body = messages.escape(
            i18n.t(lang, "errors.undecryptable", name=marker, when=when)
        ).replace(marker, messages.pill(item.sender, name), 1)
        content = item.source.get("content")
        rel = content.get("m.relates_to") if isinstance(content, dict) else None
        root = rel.get("event_id") if isinstance(rel, dict) else None
        thread = root if isinstance(rel, dict) and rel.get("rel_type") == "m.thread" else None
        await outbox_store.enqueue(
            tx,
            item.room_id,
            # m.text with the mention: the person must notice (an m.notice never notifies).
            messages.text(
                body,
                html_body=html_body,
                reply_to=EventID(item.event_id),
                thread_root=EventID(thread) if isinstance(thread, str) else None,
                mentions=[UserID(item.sender)],
            ),
        )
        self.told += 1
        log.info(
            "Told %s that event %s could not be decrypted (%s)",
            item.sender,
            item.event_id,
            f"withheld: {item.withheld}" if item.withheld else "no key in time",
        )

    async def request_keys(self) -> None:
        """Ask for the keys of the events kept since the last call (outside any transaction)."""
        pending, self._to_request = self._to_request, []
        if self.client.olm is None:
            return
        for source in pending:
            parsed = MegolmEvent.from_dict(source)
            if not isinstance(parsed, MegolmEvent):
                continue
            parsed.room_id = source["room_id"]
            if parsed.session_id in self.client.outgoing_key_requests:
                continue
            try:
                await self.client.request_room_key(parsed)
            except LocalProtocolError:
                continue
            except Exception:
                log.warning("Requesting the room key of %s failed", parsed.event_id)
