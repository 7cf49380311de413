"""A scripted Matrix user (matrix-nio), for the demo's conversation and the tests.

It syncs in the background, keeps every timeline event it sees, and can wait for one that
matches a condition. With ``store_path`` it has end-to-end encryption (a crypto store of its
own there), as an Element user has: it decrypts what it receives (``events`` then holds the
decrypted events) and encrypts what it sends in encrypted rooms. Like Element, an encrypted
person sets up cross-signing on first start (its master and self-signing keys, its device signed
by them). It shares room keys with every device of the room's members, or, with
``exclude_insecure``, as Element's "exclude insecure devices" does: only with devices that
their owner has cross-signed (checked from ``/keys/query`` with bot/trust.py's reading).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    RoomSendResponse,
    SyncResponse,
)
from nio.store import SqliteStore

from bot.crosssigning import CrossSigningKeys, cross_sign_own_device, query_keys, sign_own_device
from bot.trust import identity_from_query

Event = dict[str, Any]


class Person:
    def __init__(
        self,
        homeserver: str,
        user_id: str,
        access_token: str,
        device_id: str = "",
        store_path: str | None = None,
        *,
        password: str | None = None,
        cross_signing: bool = True,
        exclude_insecure: bool = False,
    ):
        self.user_id = user_id
        self.password = password
        self.cross_signing = cross_signing and store_path is not None
        self.exclude_insecure = exclude_insecure
        self.cross_signing_keys: CrossSigningKeys | None = None
        #: Every to-device event received (type and content), e.g. m.room_key.withheld.
        self.to_device: list[Event] = []
        if store_path is None:
            config = AsyncClientConfig(max_limit_exceeded=None, encryption_enabled=False)
        else:
            config = AsyncClientConfig(
                max_limit_exceeded=None, encryption_enabled=True, store=SqliteStore
            )
        self.client = AsyncClient(homeserver, user_id, store_path=store_path or "", config=config)
        self.client.restore_login(user_id, device_id, access_token)
        self.encrypted = store_path is not None
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
        if self.cross_signing and self.cross_signing_keys is None:
            await self.reset_cross_signing()
        self._task = asyncio.create_task(self._loop())

    async def reset_cross_signing(self) -> CrossSigningKeys:
        """Set up (or reset, as Element's "reset your identity") cross-signing: new master,
        self-signing and user-signing keys uploaded, this device signed with them."""
        c = self.client
        if c.should_upload_keys:
            await c.keys_upload()
        keys = CrossSigningKeys.generate()
        if not await cross_sign_own_device(c, keys, self.password):
            raise RuntimeError(f"{self.user_id}: the homeserver refused the cross-signing keys")
        self.cross_signing_keys = keys
        return keys

    async def sign_device(self, device_id: str) -> None:
        """Sign another device of this person's with its self-signing key (as verifying a new
        login from Element does)."""
        assert self.cross_signing_keys is not None, "cross-signing is set up at start"
        await sign_own_device(self.client, device_id, self.cross_signing_keys.self_signing)

    async def _leave_out_insecure(self, room_id: str) -> None:
        """Mark, in nio's store, the devices in the room cross-signed by their owner as
        verified and all others as blacklisted, as read from ``/keys/query`` now."""
        c = self.client
        assert c.olm is not None
        users = list(c.rooms[room_id].users)
        query = await query_keys(c, users)
        for user_id in users:
            identity = identity_from_query(query, user_id)
            signed = identity.devices if identity is not None else frozenset()
            for device in c.olm.device_store.active_user_devices(user_id):
                if (device.id, device.ed25519) in signed:
                    if c.olm.is_device_blacklisted(device):
                        c.unblacklist_device(device)
                    if not c.olm.is_device_verified(device):
                        c.verify_device(device)
                elif not c.olm.is_device_blacklisted(device):
                    c.blacklist_device(device)

    async def _crypto_upkeep(self) -> None:
        """What nio's sync_forever does after each sync (an encrypted person only)."""
        c = self.client
        if c.olm is None:
            return
        if c.outgoing_to_device_messages:
            await c.send_to_device_messages()
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())

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
        if self.client.olm is not None and self.client.should_upload_keys:
            await self.client.keys_upload()
        resp = await self.client.sync(timeout=timeout, since=self._token)
        if not isinstance(resp, SyncResponse):
            await asyncio.sleep(0.5)
            return
        self._token = resp.next_batch
        self.to_device.extend(
            {"type": e.source.get("type"), "content": e.source.get("content") or {}}
            for e in resp.to_device_events
            if isinstance(getattr(e, "source", None), dict)
        )
        await self._crypto_upkeep()
        async with self._changed:
            for room_id, info in resp.rooms.join.items():
                self.events.setdefault(room_id, []).extend(
                    # What arrived encrypted is marked, for tests (nio sets ``decrypted``).
                    {**e.source, "_decrypted": True} if getattr(e, "decrypted", False) else e.source
                    for e in info.timeline.events
                )
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
        c = self.client
        if c.olm is not None and c.should_query_keys:
            await c.keys_query()
        room = c.rooms.get(room_id)
        if self.exclude_insecure and room is not None and room.encrypted:
            if not room.members_synced:
                await c.joined_members(room_id)
            await self._leave_out_insecure(room_id)
        resp = await c.room_send(
            room_id,
            event_type,
            content,
            tx_id=uuid.uuid4().hex,
            # Excluding insecure devices: every device is verified or blacklisted by now, and
            # nio refuses to share a room key with a device that is neither.
            ignore_unverified_devices=not self.exclude_insecure,
        )
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

    async def open_direct_chat(
        self, other: str, timeout: float = 30, encrypted: bool = False
    ) -> str:
        """Create a direct chat with ``other`` and wait until they have joined it (encrypted
        from the start, as Element makes it, if ``encrypted``)."""
        state = [
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ]
        resp = await self.client.room_create(
            is_direct=True, invite=[other], initial_state=state if encrypted else ()
        )
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

    async def send_key_held_back(
        self, room_id: str, text: str, held_from: str
    ) -> tuple[str, dict[str, Any]]:
        """Send ``text`` encrypted with a new room key that every device in the room gets
        except ``held_from``'s (a user id): the key it misses is returned, as the to-device
        message, for :meth:`release_key` (a key that arrives late) or :meth:`withhold_key`.
        """
        c = self.client
        assert c.olm is not None, "an encrypted person only"
        if c.should_query_keys:
            await c.keys_query()
        room = c.rooms[room_id]
        if not room.members_synced:
            await c.joined_members(room_id)
        missing = c.get_missing_sessions(room_id)
        if missing:
            await c.keys_claim(missing)
        c.olm.create_outbound_group_session(room_id)
        held: dict[str, Any] = {}
        for _with, to_device in c.olm.share_group_session_parallel(
            room_id, list(room.users), ignore_unverified_devices=True
        ):
            messages = to_device["messages"]
            if held_from in messages:
                held = {held_from: messages.pop(held_from)}
            if messages:
                await self._raw_to_device("m.room.encrypted", to_device)
        session = c.olm.outbound_group_sessions[room_id]
        session.shared = True
        event_id = await self.say(room_id, text)
        # Later messages get a new room key, shared as usual.
        c.olm.outbound_group_sessions.pop(room_id, None)
        assert held, f"{held_from} has no device to hold a key back from"
        held["_session"] = {
            "room_id": room_id,
            "session_id": session.id,
            "sender_key": c.olm.account.identity_keys["curve25519"],
        }
        return event_id, held

    def new_room_key(self, room_id: str) -> None:
        """The next message in ``room_id`` gets a new room key (shared in the same sync as
        the message reaches the others, as when Element rotates its session)."""
        if self.client.olm is not None:
            self.client.olm.outbound_group_sessions.pop(room_id, None)

    async def release_key(self, held: dict[str, Any]) -> None:
        """Send the room key held back by :meth:`send_key_held_back`: it arrives late."""
        messages = {k: v for k, v in held.items() if k != "_session"}
        await self._raw_to_device("m.room.encrypted", {"messages": messages})

    async def withhold_key(self, held: dict[str, Any], code: str = "m.unverified") -> None:
        """Tell the devices the key was held from that it will not come (m.room_key.withheld)."""
        info = held["_session"]
        content = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "room_id": info["room_id"],
            "session_id": info["session_id"],
            "sender_key": info["sender_key"],
            "code": code,
            "reason": "Held back by the test",
            "from_device": self.client.device_id,
        }
        messages = {
            user: dict.fromkeys(devices, content)
            for user, devices in held.items()
            if user != "_session"
        }
        await self._raw_to_device("m.room_key.withheld", {"messages": messages})

    async def _raw_to_device(self, event_type: str, body: dict[str, Any]) -> None:
        path = f"/_matrix/client/v3/sendToDevice/{event_type}/{uuid.uuid4().hex}"
        resp = await self.client.send(
            "PUT",
            path,
            json.dumps(body),
            headers={"Authorization": f"Bearer {self.client.access_token}"},
        )
        if resp.status != 200:
            raise RuntimeError(f"{self.user_id}: sendToDevice failed: {await resp.text()}")

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
