"""What a command or listener gets: the event, who sent it, where, and ways to answer.

Handlers never call the Matrix client: they write through the open transaction and the outbox.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot import i18n, messages
from bot.types import EventID, Place, RoomEvent, RoomID, UserID
from storage import Database, Tx
from storage import outbox as outbox_store
from storage.causes import Cause

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.registry import CommandSpec, Registry
    from config import Cohort, Config, Role


class Services(Protocol):
    """The parts of the running bot that handlers may use."""

    @property
    def config(self) -> Config: ...

    @property
    def config_path(self) -> Path: ...

    @property
    def user_id(self) -> UserID: ...

    @property
    def registry(self) -> Registry: ...

    def local(self, kind: type[T]) -> T:
        """This bot's own instance of ``kind``, made with ``kind()`` on first use: a feature's
        state that lives as long as the running bot (never a module global: two bots in one
        process, as in the tests, each have their own)."""
        ...

    def direct_room_of(self, user_id: UserID) -> RoomID | None: ...

    def forget_person(self, user_id: UserID) -> None:
        """Drop what is remembered in memory of a person whose data was erased (their direct
        chat, their pinned encryption identity)."""
        ...

    @property
    def database(self) -> Database:
        """For work after a handler's transaction (a person's export, an erasure): the
        storage functions that open their own transactions."""
        ...

    def display_name(self, room_id: str, user_id: str) -> str: ...

    def room_of(self, key: str) -> RoomID | None: ...

    async def apply_config(self, new: Config) -> None: ...

    async def download(self, mxc: str, max_bytes: int) -> bytes | None:
        """A file from the homeserver's media repository; None if over ``max_bytes``."""
        ...

    async def upload(
        self, data: bytes, mime: str, filename: str, *, encrypted: bool = False
    ) -> messages.MediaRef | None:
        """Media for the rooms' messages: see :func:`bot.uploads.upload_for`."""
        ...

    def room_encrypted(self, room_id: RoomID) -> bool: ...

    async def open_direct(self, user_id: UserID) -> RoomID | None: ...

    async def in_transaction(self, work: Callable[[BaseContext], Awaitable[None]]) -> None: ...


AfterCommit = Callable[[], Awaitable[None]]
T = TypeVar("T")


@dataclass(kw_only=True)
class BaseContext:
    """A unit of work inside one open transaction."""

    services: Services
    tx: Tx
    lang: str
    after_commit_tasks: list[AfterCommit] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.services.config

    def t(self, key: str, **params: Any) -> str:
        return i18n.t(self.lang, key, **params)

    async def send(
        self,
        room_id: RoomID | str,
        content: dict[str, Any],
        *,
        event_type: str = "m.room.message",
        purpose: str | None = None,
        ref: str | None = None,
        owner: UserID | str | None = None,
    ) -> int:
        """Queue an event; it is sent after this transaction commits. Returns the outbox id.

        Every message passes the size guard here: one the homeserver would refuse (64 KiB) is
        shortened so that it is sent at all. Handlers that build from user text check
        :func:`messages.fits` first and tell the person instead."""
        fitted = messages.fit(content)
        if fitted is not content:
            log.warning(
                "Shortened an outgoing %s to %s (%d bytes over the budget)",
                event_type,
                room_id,
                messages.size(content) - messages.MAX_CONTENT_BYTES,
            )
            content = fitted
        return await outbox_store.enqueue(
            self.tx, room_id, content, event_type=event_type, purpose=purpose, ref=ref, owner=owner
        )

    @contextlib.contextmanager
    def about(self, subject: str) -> Iterator[None]:
        """Key what is queued inside by ``subject`` (storage/outbox.py): for periodic work
        whose message changes with the time it runs (a reminder saying how long a question
        has waited), so that a restored bot doing it again recognises it as already sent.
        ``subject`` must name the thing done once, e.g. ``reminder:<the question's event>``."""
        saved = self.tx.cause
        self.tx.cause = Cause(subject)
        try:
            yield
        finally:
            self.tx.cause = saved

    async def redact(self, room_id: RoomID | str, event_ref: str, reason: str = "") -> int:
        """Queue a redaction of ``event_ref`` (an event id or ``$outbox:<id>``)."""
        content: dict[str, Any] = {"redacts": event_ref}
        if reason:
            content["reason"] = reason
        return await self.send(room_id, content, event_type="m.room.redaction")

    async def kick(self, room_id: RoomID | str, user_id: UserID | str, reason: str) -> int:
        """Queue removing ``user_id`` from the room (only ever from the advisers' rooms)."""
        return await self.send(
            room_id, {"user_id": user_id, "reason": reason}, event_type=outbox_store.KICK
        )

    async def notify_admins(self, body: str) -> None:
        """A notice in each admin's direct chat with the bot (those that exist)."""
        for admin in self.config.admins:
            room = self.services.direct_room_of(UserID(admin))
            if room is not None:
                await self.send(room, messages.notice(body))

    def after_commit(self, task: AfterCommit) -> None:
        """Run network work (room changes, reloads) once the transaction is committed."""
        self.after_commit_tasks.append(task)


@dataclass(kw_only=True)
class EventContext(BaseContext):
    event: RoomEvent
    place: Place
    cohort: Cohort | None
    roles: frozenset[Role]

    async def reply(
        self,
        body: str,
        *,
        html_body: str | None = None,
        mentions: Iterable[UserID] = (),
    ) -> int:
        """Answer the event where it was written: in its thread if it was in one."""
        root = self.event.thread_root
        return await self.send(
            self.event.room_id,
            messages.notice(
                body,
                html_body=html_body,
                reply_to=self.event.event_id,
                thread_root=root,
                mentions=mentions,
            ),
        )

    async def react(self, key: str, event_id: EventID | None = None) -> int:
        return await self.send(
            self.event.room_id,
            messages.reaction(event_id or self.event.event_id, key),
            event_type="m.reaction",
        )


@dataclass(kw_only=True)
class CommandContext(EventContext):
    spec: CommandSpec | None = None
