"""Handler tests without a homeserver, as maubot's test bot does: the real App (its dispatcher,
registry, places and services), a temporary SQLite database, and the real outbox sender
writing to a recording client instead of a homeserver. Feed an event, then assert on what the
sender sent and on storage. Milliseconds per test.

What needs a homeserver (exactly-once over sync, back-fill, crashes, restarts, rate limits, each
feature once end to end) stays in ``tests/integration``.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import yaml
from nio import (
    MatrixRoom,
    RoomKickResponse,
    RoomRedactResponse,
    RoomSendResponse,
)
from nio.crypto import encrypt_attachment

from bot.app import App
from bot.context import AfterCommit
from bot.registry import REGISTRY, Registry
from bot.sender import Sender
from bot.session import Client
from bot.types import RoomEvent, RoomID, UserID
from config import load_config
from storage import Database
from storage import state as state_store
from tests.network import network_data

SERVER = "test"


@dataclass
class Sent:
    room_id: str
    type: str
    content: dict[str, Any]
    event_id: str

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))

    @property
    def relates_to(self) -> dict[str, Any]:
        rel = self.content.get("m.relates_to")
        return rel if isinstance(rel, dict) else {}


@dataclass
class RecordingClient:
    """What the sender calls on nio's AsyncClient, recorded; every call succeeds."""

    sent: list[Sent] = field(default_factory=list)
    rooms: dict[str, MatrixRoom] = field(default_factory=dict)  # as synced: display names
    uploads: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _record(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        event_id = f"$bot{next(self._ids)}"
        self.sent.append(Sent(room_id, event_type, content, event_id))
        return event_id

    async def room_send(
        self, room_id: str, event_type: str, content: dict[str, Any], tx_id: str
    ) -> RoomSendResponse:
        return RoomSendResponse(self._record(room_id, event_type, content), room_id)

    async def room_redact(
        self, room_id: str, event_id: str, reason: str | None = None, tx_id: str | None = None
    ) -> RoomRedactResponse:
        content = {"redacts": event_id, "reason": reason}
        return RoomRedactResponse(self._record(room_id, "m.room.redaction", content), room_id)

    async def room_redact_content(
        self, room_id: str, content: dict[str, Any], tx_id: str
    ) -> RoomRedactResponse:
        return RoomRedactResponse(self._record(room_id, "m.room.redaction", content), room_id)

    async def send_encrypted(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> RoomSendResponse:
        """A room marked encrypted (:meth:`Bot.encrypt`): recorded in clear, as sent."""
        return RoomSendResponse(self._record(room_id, event_type, content), room_id)

    async def upload(
        self,
        data: Any,
        content_type: str,
        filename: str | None,
        filesize: int,
        encrypt: bool = False,
    ) -> tuple[Any, dict[str, Any] | None]:
        """Media kept in ``uploads`` by its mxc URI (as the homeserver's media repository):
        with ``encrypt``, the ciphertext of nio's own attachment encryption, and its keys."""
        uri = f"mxc://test/{len(self.uploads) + 1}"
        raw, keys = data.read(), None
        if encrypt:
            raw, keys = encrypt_attachment(raw)
        self.uploads[uri] = (filename or "", content_type, raw)
        return SimpleNamespace(content_uri=uri), keys

    async def room_kick(
        self, room_id: str, user_id: str, reason: str | None = None
    ) -> RoomKickResponse:
        self._record(room_id, "kick", {"user_id": user_id, "reason": reason})
        return RoomKickResponse()


@dataclass
class People:
    bot: str
    admin: str
    advisers: list[str]
    facilitators: list[str]
    participants: list[list[str]]


class Bot:
    """One bot on a temporary database. ``say``/``event`` run one event through the real
    dispatcher in one transaction (as the syncer does) and then let the sender drain."""

    def __init__(self, app: App, db: Database, client: RecordingClient, people: People) -> None:
        self.app = app
        self.db = db
        self.client = client
        self.people = people
        self.sender = Sender(
            cast(Client, client),
            db,
            app.registry,
            self._open_direct,
            report=app._report_send_failure,
        )
        app.sender = self.sender
        # The bot reads room state (display names) from its client's rooms, as after a sync.
        app.client = cast(Client, client)
        self.after_commit: list[AfterCommit] = []
        self._ids = itertools.count(1)
        self._ts = itertools.count(1_800_000_000_000, 1_000)

    @classmethod
    async def start(
        cls,
        tmp_path: Path,
        *,
        cohorts: int = 1,
        participants: int = 2,
        advisers: int = 1,
        change: Any = None,
        registry: Registry = REGISTRY,
    ) -> Bot:
        tmp_path.mkdir(parents=True, exist_ok=True)
        people = People(
            bot=f"@bot:{SERVER}",
            admin=f"@admin:{SERVER}",
            advisers=[f"@adviser{i}:{SERVER}" for i in range(advisers)],
            facilitators=[f"@facilitator{c}:{SERVER}" for c in range(cohorts)],
            participants=[
                [f"@participant{c}_{i}:{SERVER}" for i in range(participants)]
                for c in range(cohorts)
            ],
        )
        data = network_data(
            homeserver="http://127.0.0.1:9",  # never contacted
            server_name=SERVER,
            prefix="h",
            bot=people.bot,
            admin=people.admin,
            advisers=people.advisers,
            facilitators=people.facilitators,
            participants=people.participants,
        )
        data["bot"]["database"] = str(tmp_path / "natverk.db")
        if change is not None:
            change(data)
        path = tmp_path / "natverk.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
        app = App(load_config(path), path, registry)
        db = await Database.open(tmp_path / "natverk.db")
        app.db = db
        app.managed = {"advisers": "!advisers:test"}
        for cat in app.config.advisers.categories:
            if cat.room is not None:
                app.managed[f"category:{cat.id}"] = f"!category-{cat.id}:test"
        for cohort in app.config.cohorts:
            app.managed[f"cohort:{cohort.id}"] = f"!{cohort.id}:test"
        for user in [people.admin]:
            app.direct[user] = f"!dm-{user.split(':')[0][1:]}:test"
        return cls(app, db, RecordingClient(), people)

    async def close(self) -> None:
        await self.db.close()

    # --- rooms and people -------------------------------------------------------------------
    def room(self, key: str) -> str:
        return self.app.managed[key]

    def dm(self, user: str) -> str:
        """The user's direct chat with the bot (made known to the bot if it is new)."""
        if user not in self.app.direct:
            self.app.direct[user] = f"!dm-{user.split(':')[0][1:]}:test"
        return self.app.direct[user]

    def encrypt(self, room_id: str) -> None:
        """The room is encrypted, as the bot's sync shows it."""
        room = self.client.rooms.setdefault(room_id, MatrixRoom(room_id, self.people.bot))
        room.encrypted = True

    async def _open_direct(self, user_id: UserID) -> RoomID | None:
        return RoomID(self.dm(user_id))

    def name(self, user: str, display_name: str) -> None:
        """Give ``user`` a display name in every room the bot knows, as its sync would."""
        for room_id in [*self.app.managed.values(), *self.app.direct.values()]:
            room = self.client.rooms.setdefault(room_id, MatrixRoom(room_id, self.people.bot))
            room.add_member(user, display_name, None)

    # --- feeding events ---------------------------------------------------------------------
    async def event(
        self,
        room_id: str,
        sender: str,
        content: dict[str, Any],
        event_type: str = "m.room.message",
        state_key: str | None = None,
    ) -> str:
        event_id = f"$ev{next(self._ids)}"
        source: dict[str, Any] = {
            "type": event_type,
            "event_id": event_id,
            "sender": sender,
            "origin_server_ts": next(self._ts),
            "content": content,
        }
        if state_key is not None:
            source["state_key"] = state_key
        event = RoomEvent.from_source(room_id, source)
        assert event is not None
        async with self.db.transaction() as tx:
            if await state_store.mark_processed(tx, event_id, room_id):
                self.after_commit.extend(await self.app.dispatcher.dispatch(tx, event))
        await self.sender.drain()
        return event_id

    async def say(self, room_id: str, sender: str, text: str, thread: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if thread is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": thread},
            }
        return await self.event(room_id, sender, content)

    async def react(self, room_id: str, sender: str, target: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}}
        return await self.event(room_id, sender, content, "m.reaction")

    async def edit(self, room_id: str, sender: str, original: str, text: str) -> str:
        new = {"msgtype": "m.text", "body": text}
        content = {
            "msgtype": "m.text",
            "body": f"* {text}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        }
        return await self.event(room_id, sender, content)

    async def redact(self, room_id: str, sender: str, target: str) -> str:
        return await self.event(room_id, sender, {"redacts": target}, "m.room.redaction")

    async def run_after_commit(self) -> None:
        """The network work the handlers left for after their commit (uploads, …), then the
        sender drains."""
        tasks, self.after_commit = self.after_commit, []
        for task in tasks:
            await task()
        await self.sender.drain()

    async def periodic(self, offset_ms: int = 0) -> None:
        """The bot's periodic pass with the clock ``offset_ms`` ahead, then the sender drains."""
        await self.app.run_periodic(offset_ms=offset_ms)
        while self.app._background:  # what the periodic work left for after its commit
            await asyncio.gather(*list(self.app._background))
        await self.sender.drain()

    # --- what left ------------------------------------------------------------------------------
    @property
    def sent(self) -> list[Sent]:
        return self.client.sent

    def sent_to(self, room_id: str) -> list[Sent]:
        return [s for s in self.client.sent if s.room_id == room_id]

    def replies_to(self, event_id: str) -> list[Sent]:
        """The bot's messages that answer ``event_id`` (a reply, in its thread or not)."""
        return [
            s
            for s in self.client.sent
            if (s.relates_to.get("m.in_reply_to") or {}).get("event_id") == event_id
        ]

    def reply_to(self, event_id: str) -> Sent:
        found = self.replies_to(event_id)
        assert found, f"no reply to {event_id}; sent: {[s.body for s in self.sent]}"
        return found[-1]
