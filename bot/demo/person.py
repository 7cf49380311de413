"""A scripted Matrix user (matrix-nio), for the demo's conversation and the tests.

It syncs in the background, keeps every timeline event it sees, and can wait for one that
matches a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from nio import AsyncClient, AsyncClientConfig, JoinResponse, RoomSendResponse, SyncResponse

Event = dict[str, Any]


class Person:
    def __init__(self, homeserver: str, user_id: str, access_token: str, device_id: str = ""):
        self.user_id = user_id
        self.client = AsyncClient(
            homeserver, user_id, config=AsyncClientConfig(max_limit_exceeded=None)
        )
        self.client.restore_login(user_id, device_id, access_token)
        self.events: dict[str, list[Event]] = {}
        self.invites: set[str] = set()
        # Per room: (notifications, highlights) unread, as the homeserver counts them from
        # push rules (this client never sends a read receipt): what would ping the person.
        self.unread: dict[str, tuple[int, int]] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._token: str | None = None

    @property
    def localpart(self) -> str:
        return self.user_id[1:].partition(":")[0]

    async def start(self) -> None:
        await self._sync(timeout=0)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def _loop(self) -> None:
        while True:
            try:
                await self._sync(timeout=30_000)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)

    async def _sync(self, timeout: int) -> None:
        resp = await self.client.sync(timeout=timeout, since=self._token)
        if not isinstance(resp, SyncResponse):
            await asyncio.sleep(0.5)
            return
        self._token = resp.next_batch
        async with self._changed:
            for room_id, info in resp.rooms.join.items():
                self.events.setdefault(room_id, []).extend(e.source for e in info.timeline.events)
                self.invites.discard(room_id)
                counts = info.unread_notifications
                if counts is not None and counts.notification_count is not None:
                    self.unread[room_id] = (
                        int(counts.notification_count),
                        int(counts.highlight_count or 0),
                    )
            self.invites.update(resp.rooms.invite)
            self._changed.notify_all()

    async def wait_until(self, check: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.user_id}: condition not met in {timeout} s")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._changed.wait()

    async def wait_for_event(
        self, room_id: str, match: Callable[[Event], bool], timeout: float = 30, after: int = 0
    ) -> Event:
        """The first event in ``room_id`` (from index ``after``) that matches."""
        found: list[Event] = []

        def check() -> bool:
            for ev in self.events.get(room_id, [])[after:]:
                if match(ev):
                    found.append(ev)
                    return True
            return False

        await self.wait_until(check, timeout)
        return found[0]

    async def join(self, room_id: str, timeout: float = 30) -> None:
        await self.wait_until(lambda: room_id in self.invites or room_id in self.events, timeout)
        resp = await self.client.join(room_id)
        if not isinstance(resp, JoinResponse):
            raise RuntimeError(f"{self.user_id} cannot join {room_id}: {resp}")
        await self.wait_until(lambda: room_id in self.events, timeout)

    async def send(
        self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message"
    ) -> str:
        resp = await self.client.room_send(room_id, event_type, content, tx_id=uuid.uuid4().hex)
        if not isinstance(resp, RoomSendResponse):
            raise RuntimeError(f"{self.user_id} cannot send to {room_id}: {resp}")
        return str(resp.event_id)

    async def say(self, room_id: str, text: str, thread_root: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if thread_root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": thread_root},
            }
        return await self.send(room_id, content)

    def messages_from(self, room_id: str, sender: str) -> list[Event]:
        return [
            e
            for e in self.events.get(room_id, [])
            if e.get("sender") == sender and e.get("type") == "m.room.message"
        ]

    async def reply_to(
        self, room_id: str, event_id: str, sender: str, timeout: float = 30
    ) -> Event:
        """Wait for a message from ``sender`` that replies to ``event_id``."""

        def match(ev: Event) -> bool:
            rel = (ev.get("content") or {}).get("m.relates_to") or {}
            return (
                ev.get("sender") == sender
                and (rel.get("m.in_reply_to") or {}).get("event_id") == event_id
            )

        return await self.wait_for_event(room_id, match, timeout)

    async def open_direct_chat(self, other: str, timeout: float = 30) -> str:
        """Create a direct chat with ``other`` and wait until they have joined it."""
        resp = await self.client.room_create(is_direct=True, invite=[other])
        room_id = str(getattr(resp, "room_id", ""))
        if not room_id:
            raise RuntimeError(f"{self.user_id} cannot create a direct chat: {resp}")

        def joined(ev: Event) -> bool:
            return (
                ev.get("type") == "m.room.member"
                and ev.get("state_key") == other
                and (ev.get("content") or {}).get("membership") == "join"
            )

        await self.wait_for_event(room_id, joined, timeout)
        return room_id

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        return await self.send(
            room_id,
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
            "m.reaction",
        )

    async def edit(self, room_id: str, event_id: str, text: str) -> str:
        return await self.send(
            room_id,
            {
                "msgtype": "m.text",
                "body": f"* {text}",
                "m.new_content": {"msgtype": "m.text", "body": text},
                "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
            },
        )

    async def redact(self, room_id: str, event_id: str) -> None:
        resp = await self.client.room_redact(room_id, event_id)
        if not hasattr(resp, "event_id"):
            raise RuntimeError(f"{self.user_id} cannot redact {event_id}: {resp}")

    async def history(self, room_id: str, page: int = 100) -> list[Event]:
        """The room's whole timeline from the server (/messages), oldest first; unlike
        ``events`` it cannot miss anything a limited sync skipped."""
        token = self._token
        out: list[Event] = []
        while True:
            resp = await self.client.room_messages(room_id, start=token, limit=page)
            chunk = getattr(resp, "chunk", None)
            if not chunk:
                break
            out.extend(e.source for e in chunk)
            token = getattr(resp, "end", None)
            if not token:
                break
        out.reverse()
        return out
