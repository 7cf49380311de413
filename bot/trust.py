"""Whom the bot encrypts for: by default, as Element's "exclude insecure devices" (MSC4153).

A room key goes only to devices their owner has cross-signed: the device's keys carry a valid
signature by the owner's self-signing key, which carries a valid signature by the owner's master
key (the same chain as bot/crosssigning.py checks for the bot's own device). Everything is read
from the homeserver's ``/keys/query`` answers, which matrix-nio parses for the device keys only;
:class:`bot.crypto.CryptoClient` hands the whole answer to :meth:`Trust.take`.

Each member's master key is pinned the first time the bot sees it (trust on first use). A
different master key later is a changed identity: someone reset their cross-signing (after
losing their recovery key, say), or took over the account. The bot cannot ask the person, so it
does what Element does for a person nobody has verified: it tells the admins, once per new key,
and encrypts for the devices of the new identity (which it pins). The admins check with the
person.

A device left out gets ``m.room_key.withheld`` with code ``m.unverified``, so its client says
why it cannot read the bot's messages instead of waiting for a key. When a member's set of
trusted devices changes (a new device signed, an identity reset), the room keys of their rooms
are replaced, so the next message reaches exactly the devices trusted then.

``bot.encrypt_for: all-devices`` sends room keys to every device of every member, for
homeservers whose people have not set up cross-signing.

The pure core (everything above :class:`Trust`'s ``record``) needs no homeserver.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.crosssigning import device_ed25519, has_valid_signature, key_id, single_key
from storage import Database, Tx
from storage import trust as trust_store

log = logging.getLogger(__name__)

WITHHELD_CODE = "m.unverified"
WITHHELD_REASON = "The sender disabled encrypting to unverified devices."
MEGOLM = "m.megolm.v1.aes-sha2"
TO_DEVICE_CHUNK = 100  # devices per to-device request


class EncryptFor(enum.StrEnum):
    """``bot.encrypt_for``: which devices of the members get room keys."""

    CROSS_SIGNED = "cross-signed"
    ALL_DEVICES = "all-devices"


@dataclass(frozen=True)
class Identity:
    """A member's cross-signing identity as a ``/keys/query`` answer shows it."""

    master: str
    #: (device id, device Ed25519 key) of every device signed by a valid self-signing key.
    devices: frozenset[tuple[str, str]]


def identity_from_query(query: Mapping[str, Any], user_id: str) -> Identity | None:
    """``user_id``'s identity in a ``/keys/query`` answer; None if they have no master key.
    A self-signing key not signed by the master key signs nothing."""
    master = single_key((query.get("master_keys") or {}).get(user_id), user_id, "master")
    if master is None:
        return None
    ssk_obj = (query.get("self_signing_keys") or {}).get(user_id)
    ssk = single_key(ssk_obj, user_id, "self_signing")
    if (
        ssk is None
        or not isinstance(ssk_obj, Mapping)
        or not has_valid_signature(ssk_obj, user_id, key_id(master), master)
    ):
        return Identity(master, frozenset())
    devices: set[tuple[str, str]] = set()
    for device_id, device in ((query.get("device_keys") or {}).get(user_id) or {}).items():
        if not isinstance(device, Mapping):
            continue
        ed25519 = device_ed25519(device, user_id, str(device_id))
        if ed25519 is not None and has_valid_signature(device, user_id, key_id(ssk), ssk):
            devices.add((str(device_id), ed25519))
    return Identity(master, frozenset(devices))


@dataclass(frozen=True)
class IdentitySeen:
    """A master key pinned: a first one (``previous`` None) or a changed identity."""

    user_id: str
    master: str
    previous: str | None


# Tells the admins of a changed identity, in the transaction that pins it.
Notify = Callable[[Tx, IdentitySeen], Awaitable[None]]


@dataclass
class Trust:
    """The devices the bot encrypts for, from the ``/keys/query`` answers it has read."""

    policy: EncryptFor
    own_user_id: str
    pins: dict[str, str] = field(default_factory=dict)
    #: Per member: the (device id, Ed25519 key) pairs cross-signed by them, as last queried.
    signed: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    #: Pins taken in memory and not yet in the database (see :meth:`record`).
    pending: list[IdentitySeen] = field(default_factory=list)

    def take(self, query: Mapping[str, Any]) -> set[str]:
        """Read a ``/keys/query`` answer: pin new identities, note changed ones; return the
        members whose set of cross-signed devices changed (their rooms need a new room key)."""
        changed: set[str] = set()
        for queried in query.get("device_keys") or {}:
            user_id = str(queried)
            identity = identity_from_query(query, user_id)
            if identity is not None and user_id != self.own_user_id:
                previous = self.pins.get(user_id)
                if previous != identity.master:
                    self.pins[user_id] = identity.master
                    self.pending.append(IdentitySeen(user_id, identity.master, previous))
                    if previous is not None:
                        log.warning(
                            "The cross-signing identity of %s changed (%s, now %s)",
                            user_id,
                            previous,
                            identity.master,
                        )
            devices = identity.devices if identity is not None else frozenset()
            if self.signed.get(user_id) != devices:
                if not devices and self.policy is EncryptFor.CROSS_SIGNED:
                    log.info(
                        "%s has no device cross-signed by them: they get no room keys from "
                        "the bot (bot.encrypt_for: cross-signed)",
                        user_id,
                    )
                self.signed[user_id] = devices
                changed.add(user_id)
        return changed

    def trusts(self, user_id: str, device_id: str, ed25519: str) -> bool:
        """May this device get the bot's room keys under the policy?"""
        if self.policy is EncryptFor.ALL_DEVICES:
            return True
        return (device_id, ed25519) in self.signed.get(user_id, frozenset())

    def excluded(self, devices: Iterable[Any]) -> list[Any]:
        """The devices (nio's ``OlmDevice``) that get no room key under the policy."""
        return [d for d in devices if not self.trusts(d.user_id, d.id, d.ed25519)]

    async def record(self, db: Database, now_ms: int, notify: Notify | None) -> None:
        """Write the pins taken since the last call, and tell the admins of each changed
        identity, all in one transaction: a crash before it leaves the old pins, so the next
        start sees the change again and tells it once."""
        if not self.pending:
            return
        # Taken out before the first await: a second call meanwhile (the sync loop's and the
        # sender's key queries can end together) finds only what came after.
        seen, self.pending = self.pending, []
        try:
            async with db.transaction() as tx:
                for item in seen:
                    changed = item.previous is not None
                    await trust_store.pin(tx, item.user_id, item.master, now_ms, changed=changed)
                    if changed and notify is not None:
                        await notify(tx, item)
        except BaseException:
            self.pending[:0] = seen  # rolled back: written (and told) next time
            raise

    def without_signed_device(self) -> int:
        """How many people the policy leaves out entirely (none with ``all-devices``)."""
        if self.policy is EncryptFor.ALL_DEVICES:
            return 0
        return sum(
            1 for user, devices in self.signed.items() if not devices and user != self.own_user_id
        )

    def forget(self, user_id: str) -> None:
        """A person erased: their pin goes from memory too (a later query pins them anew)."""
        self.pins.pop(user_id, None)
        self.pending = [p for p in self.pending if p.user_id != user_id]


# --- the outbound room key ----------------------------------------------------------------
def leave_out_insecure(client: Any, trust: Trust | None, room_id: str) -> tuple[str, list[Any]]:
    """Right before matrix-nio shares a room key (with no await between this and nio walking
    the room's devices): start a new outbound session for the room (the one to share; an
    unshared one left by a failed share is dropped, so no device stays left out of it after
    it became trusted) and mark the devices the policy leaves out as ignored for it, so nio's
    sharing skips them. Returns the session's id and the devices left out."""
    olm = client.olm
    olm.create_outbound_group_session(room_id)
    session = olm.outbound_group_sessions[room_id]
    if trust is None:
        return session.id, []
    room = client.rooms[room_id]
    left_out = [
        device
        for user_id in room.users
        for device in trust.excluded(olm.device_store.active_user_devices(user_id))
        if (device.user_id, device.id) != (client.user_id, client.device_id)
    ]
    session.users_ignored.update((d.user_id, d.id) for d in left_out)
    return session.id, left_out


def withheld_messages(
    room_id: str, session_id: str, sender_key: str, devices: list[Any]
) -> list[dict[str, Any]]:
    """The ``m.room_key.withheld`` to-device bodies (``{"messages": ...}``) that tell the
    devices left out why, in chunks of :data:`TO_DEVICE_CHUNK` devices."""
    content = {
        "algorithm": MEGOLM,
        "room_id": room_id,
        "session_id": session_id,
        "sender_key": sender_key,
        "code": WITHHELD_CODE,
        "reason": WITHHELD_REASON,
    }
    bodies: list[dict[str, Any]] = []
    for start in range(0, len(devices), TO_DEVICE_CHUNK):
        messages: dict[str, dict[str, Any]] = {}
        for device in devices[start : start + TO_DEVICE_CHUNK]:
            messages.setdefault(device.user_id, {})[device.id] = content
        bodies.append({"messages": messages})
    return bodies
