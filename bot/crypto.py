"""The bot's matrix-nio client with end-to-end encryption, and its crypto store's folder.

matrix-nio stores what a sync response carries for encryption while it parses the response
(inside ``AsyncClient.sync()``): the Olm session that decrypted a to-device message, then the
room key that message held, each in a commit of its own in the crypto store. A crash between
the two commits would keep the advanced Olm session without the room key: the homeserver
delivers the to-device message again after the restart, but the Olm session can no longer
decrypt it, and every message of that room key is lost. :class:`CryptoClient` makes the whole
response's crypto work one transaction of the crypto store: all of it is stored, or none and
the message decrypts again when it is delivered again.

:class:`CryptoStore` is matrix-nio's ``SqliteStore`` (everything in the one SQLite file that
``natverk backup`` copies) without the two reads it makes for every message: the sender
device's trust state, looked up in the database for each decrypted event (three queries), and
the set of encrypted rooms, written in a transaction of its own after every sync with rooms in
it, although it changes only when a room turns encrypted. Both are kept in memory; every
change still goes to the database.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    Api,
    AsyncClient,
    EncryptionError,
    KeysQueryError,
    KeysQueryResponse,
    LocalProtocolError,
    Response,
    RoomSendError,
    RoomSendResponse,
    ShareGroupSessionResponse,
    SyncResponse,
)
from nio.exceptions import GroupEncryptionError, OlmTrustError
from nio.store import SqliteStore

from bot import trust as trust_mod
from bot.crosssigning import query_keys
from bot.session import Client

log = logging.getLogger(__name__)


@dataclass
class CrossSigningKeysQuery(KeysQueryResponse):  # type: ignore[misc]  # nio: no type information
    """nio's ``/keys/query`` answer with what nio drops: the whole answer, cross-signing keys
    included, for :class:`bot.trust.Trust`."""

    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, parsed_dict: dict[Any, Any]) -> Any:
        resp = super().from_dict(parsed_dict)
        if isinstance(resp, CrossSigningKeysQuery):
            resp.raw = parsed_dict
        return resp


class CryptoClient(Client):
    """The bot's client: one crypto-store transaction per sync (see the module's docstring),
    and the trust policy of :mod:`bot.trust` applied to every ``/keys/query`` answer."""

    #: Set by the app: whom room keys go to. None: nio's own behaviour.
    trust: trust_mod.Trust | None = None
    #: Called after each ``/keys/query`` answer was taken (writes the pins).
    after_keys_query: Callable[[], Awaitable[None]] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Rooms whose room key changed meaning while it was being shared (see
        #: :meth:`invalidate_outbound_session`).
        self._stale: set[str] = set()

    async def keys_query(self) -> KeysQueryResponse | KeysQueryError:
        """nio's ``keys_query``, answered as :class:`CrossSigningKeysQuery`."""
        users = self.users_for_key_query
        if not users:
            raise LocalProtocolError("No key query required.")
        method, path, data = Api.keys_query(self.access_token, users)
        resp = await self._send(CrossSigningKeysQuery, method, path, data)
        if isinstance(resp, CrossSigningKeysQuery) and self.after_keys_query is not None:
            try:
                await self.after_keys_query()
            except Exception:  # the pins are kept in memory and written next time
                log.exception("Recording the members' identities failed")
        return resp

    def _trust_taken(self, response: CrossSigningKeysQuery) -> None:
        """Members whose cross-signed devices changed get a new room key in their rooms."""
        if self.trust is None:
            return
        changed = self.trust.take(response.raw)
        if not changed or self.olm is None:
            return
        for room_id in list(self.olm.outbound_group_sessions):  # rooms with a room key
            room = self.rooms.get(room_id)
            if room is not None and not changed.isdisjoint(room.users):
                self.invalidate_outbound_session(room_id)

    async def send_encrypted(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> RoomSendResponse | RoomSendError:
        """Send in an encrypted room: what matrix-nio's room_send does there, with three
        differences. Reactions are encrypted too (nio sends them in clear; Element encrypts
        them). The relation (thread, reply, edit, reaction) is also put in the clear part of
        the event, as Element sends it, so the homeserver aggregates threads, edits and
        reactions. And the room key goes only to the devices the trust policy allows
        (bot/trust.py: by default those their owner cross-signed); the others are told it is
        withheld. A retry keeps the transaction id, so the homeserver returns the first event
        although the retry's ciphertext differs. Never sends in clear: without the crypto
        machinery (a store that failed to load) the answer is an error."""
        if self.olm is None:
            return RoomSendError("the room is encrypted and encryption is not available")
        try:
            await self._share_room_key(room_id)
            encrypted_type, encrypted = self.encrypt(room_id, event_type, content)
        except (LocalProtocolError, EncryptionError, GroupEncryptionError, OlmTrustError) as err:
            return RoomSendError(f"encryption failed: {err}")
        relation = content.get("m.relates_to")
        if isinstance(relation, dict):
            encrypted["m.relates_to"] = relation
        method, path, data = Api.room_send(
            self.access_token, room_id, encrypted_type, encrypted, txn_id
        )
        resp: RoomSendResponse | RoomSendError = await self._send(
            RoomSendResponse, method, path, data, (room_id,)
        )
        return resp

    async def _share_room_key(self, room_id: str) -> None:
        """Share a new room key for the room if it needs one (none yet, or replaced).

        What matrix-nio's ``share_group_session`` does, with the trust policy applied where
        nothing can change it: the devices left out are decided right before nio walks the
        room's devices, with no await in between (a key query or a member joining while
        one-time keys are claimed would otherwise add a device nobody checked). One-time keys
        are claimed only for the devices the key goes to. A change while the key is being
        sent (a member, a device's trust) replaces the key once it is out, so the next
        message reaches exactly the devices trusted then."""
        assert self.olm is not None
        room = self.rooms[room_id]
        if not room.members_synced:
            await self.joined_members(room_id)
        if not self.users_for_key_query.isdisjoint(room.users):
            # A member's new devices (and their owner's signatures) must be known first.
            await self.keys_query()
        if not self.olm.should_share_group_session(room_id):
            return
        sharing = self.sharing_session.get(room_id)
        if sharing is not None:
            await sharing.wait()
            return
        self.sharing_session[room_id] = asyncio.Event()
        left_out: list[Any] = []
        session_id = ""
        try:
            # nio skips a device it has no Olm session with (one-time key not claimed) and
            # still marks the key shared: claim first, and say so when a device stays without.
            missing = self._missing_sessions(room_id)
            if missing:
                await self.keys_claim(missing)
                missing = self._missing_sessions(room_id)
                if missing:
                    log.warning(
                        "No Olm session with %s in %s: they miss this room key",
                        sorted(missing),
                        room_id,
                    )
            # From here until every to-device request is made: no await.
            session_id, left_out = trust_mod.leave_out_insecure(self, self.trust, room_id)
            requests = [
                self._send(
                    ShareGroupSessionResponse,
                    *Api.to_device(self.access_token, "m.room.encrypted", body, uuid.uuid4()),
                    response_data=(room_id, shared_with),
                )
                for shared_with, body in self.olm.share_group_session_parallel(
                    room_id, list(room.users), ignore_unverified_devices=True
                )
            ]
            await asyncio.gather(*requests, return_exceptions=True)
            self.olm.outbound_group_sessions[room_id].shared = True
        finally:
            self.sharing_session.pop(room_id).set()
        if room_id in self._stale:
            self._stale.discard(room_id)
            self.invalidate_outbound_session(room_id)  # shared now: the next message gets a new one
        if left_out:
            log.info(
                "Room key for %s withheld from %d devices not cross-signed by their owner",
                room_id,
                len(left_out),
            )
            await self.send_withheld(room_id, session_id, left_out)

    def _missing_sessions(self, room_id: str) -> dict[str, list[str]]:
        """nio's devices without an Olm session, less those the policy leaves out."""
        assert self.olm is not None
        missing = self.get_missing_sessions(room_id)
        if self.trust is None:
            return dict(missing)
        out: dict[str, list[str]] = {}
        for user_id, device_ids in missing.items():
            devices = self.olm.device_store.active_user_devices(user_id)
            keys = {d.id: d.ed25519 for d in devices}
            kept = [d for d in device_ids if d in keys and self.trust.trusts(user_id, d, keys[d])]
            if kept:
                out[user_id] = kept
        return out

    def invalidate_outbound_session(self, room_id: str) -> None:
        """nio's: drop the room's key if it was shared (an unshared one is kept). A key being
        shared right now is dropped once it is out (see :meth:`_share_room_key`)."""
        if room_id in self.sharing_session:
            self._stale.add(room_id)
        super().invalidate_outbound_session(room_id)

    async def send_withheld(self, room_id: str, session_id: str, devices: list[Any]) -> None:
        """Tell the devices left out of a room key why (``m.room_key.withheld``). A failure is
        logged: their clients then only wait for the key."""
        assert self.olm is not None
        sender_key = self.olm.account.identity_keys["curve25519"]
        for body in trust_mod.withheld_messages(room_id, session_id, sender_key, devices):
            method, path, data = Api.to_device(
                self.access_token, "m.room_key.withheld", body, uuid.uuid4()
            )
            try:
                resp = await self.send(
                    method, path, data, headers={"Content-Type": "application/json"}
                )
                resp.release()
                status: object = resp.status
            except Exception as err:  # never keeps the message itself from going out
                status = err
            if status != 200:
                log.warning("Telling devices a room key is withheld failed: %s", status)

    async def receive_response(self, response: Response) -> None:
        store = self.store
        if isinstance(response, CrossSigningKeysQuery):
            await super().receive_response(response)
            self._trust_taken(response)
            return
        if not isinstance(response, SyncResponse) or store is None:
            await super().receive_response(response)
            return
        # Nothing in nio's sync handling waits on I/O (the bot registers no callbacks), so no
        # other task writes to the crypto store inside this transaction.
        try:
            with store.database.atomic():
                await super().receive_response(response)
        except BaseException:
            if isinstance(store, CryptoStore):
                store.forget_cached()  # what it read or wrote inside was rolled back
            raise


_TRUST_CHANGES = (
    "verify_device",
    "unverify_device",
    "blacklist_device",
    "unblacklist_device",
    "ignore_device",
    "unignore_device",
    "ignore_devices",
    "save_device_keys",
)


class CryptoStore(SqliteStore):  # type: ignore[misc]  # nio has no type information
    """nio's SqliteStore with the trust state of devices and the set of encrypted rooms
    read once and kept in memory (see the module's docstring). Only this process writes the
    store, so the copies stay true: a trust change empties the trust copy (nio's own methods
    for it all come here), and a room is written the first time it is seen encrypted."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._trust: dict[tuple[str, str, str], bool] = {}
        self._rooms_stored: set[str] = set()

    def forget_cached(self) -> None:
        self._trust.clear()
        self._rooms_stored.clear()

    def _cached_trust(self, kind: str, device: Any) -> bool:
        key = (kind, str(device.user_id), str(device.id))
        found = self._trust.get(key)
        if found is None:
            found = self._trust[key] = bool(getattr(super(), f"is_device_{kind}")(device))
        return found

    def is_device_verified(self, device: Any) -> bool:
        return self._cached_trust("verified", device)

    def is_device_blacklisted(self, device: Any) -> bool:
        return self._cached_trust("blacklisted", device)

    def is_device_ignored(self, device: Any) -> bool:
        return self._cached_trust("ignored", device)

    def load_encrypted_rooms(self) -> set[str]:
        rooms: set[str] = super().load_encrypted_rooms()
        self._rooms_stored |= rooms
        return rooms

    def save_encrypted_rooms(self, rooms: Any) -> None:
        new = set(rooms) - self._rooms_stored
        if new:
            super().save_encrypted_rooms(new)
            self._rooms_stored |= new


def _trust_change(name: str) -> Any:
    original = getattr(SqliteStore, name)

    def change(self: CryptoStore, *args: Any, **kwargs: Any) -> Any:
        self._trust.clear()
        try:
            return original(self, *args, **kwargs)
        finally:
            self._trust.clear()  # read (and cached) by the change itself before it wrote

    change.__name__ = name
    change.__doc__ = original.__doc__
    return change


for _name in _TRUST_CHANGES:
    setattr(CryptoStore, _name, _trust_change(_name))


def crypto_store(path: Path) -> Path:
    """The crypto store's folder, created readable by the bot's user only (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


async def store_lost(client: AsyncClient) -> bool:
    """The stored device's crypto store is gone: the store is new (its keys were never
    uploaded) while the homeserver holds keys for the device. A device made before encryption
    was on has no keys there: its new store simply uploads them."""
    olm = client.olm
    if olm is None or olm.account.shared:
        return False
    body = await query_keys(client, [str(client.user_id)])  # CrossSigningError if it fails
    devices = (body.get("device_keys") or {}).get(client.user_id) or {}
    return client.device_id in devices
