"""Whom the bot encrypts for (bot/trust.py): a member's devices as a ``/keys/query`` answer
shows them, real Ed25519 signatures made with bot/crosssigning.py's keys; pins on first use;
what is written and told when an identity changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio import AsyncClientConfig, MatrixRoom
from nio.crypto import OlmDevice

from bot import crosssigning as cs
from bot import trust
from bot.crypto import CryptoClient
from storage import Database, Tx, privacy
from storage import trust as trust_store

BOT = "@natverk:example.org"
ANNA = "@anna:example.org"


@dataclass
class Account:
    """A person's account: cross-signing keys and devices, as the homeserver would list them."""

    user_id: str
    keys: cs.CrossSigningKeys
    devices: dict[str, tuple[cs.SigningKey, dict[str, Any]]]

    @classmethod
    def new(cls, user_id: str) -> Account:
        return cls(user_id, cs.CrossSigningKeys.generate(), {})

    def add_device(self, device_id: str, *, signed: bool = True) -> str:
        key = cs.SigningKey.generate()
        obj = {
            "user_id": self.user_id,
            "device_id": device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {f"ed25519:{device_id}": key.public, f"curve25519:{device_id}": "c" * 43},
        }
        obj = cs.sign_json(obj, self.user_id, f"ed25519:{device_id}", key)  # self-signed
        if signed:
            ssk = self.keys.self_signing
            obj = cs.sign_json(obj, self.user_id, cs.key_id(ssk), ssk)
        self.devices[device_id] = (key, obj)
        return key.public

    def query(self) -> dict[str, Any]:
        """This account's entries of a ``/keys/query`` answer."""
        body = cs.device_signing_upload(self.user_id, self.keys)
        return {
            "device_keys": {self.user_id: {d: obj for d, (_k, obj) in self.devices.items()}},
            "master_keys": {self.user_id: body["master_key"]},
            "self_signing_keys": {self.user_id: body["self_signing_key"]},
        }


@dataclass
class Device:
    """What nio's OlmDevice offers the policy."""

    user_id: str
    id: str
    ed25519: str


def merged(*queries: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"device_keys": {}, "master_keys": {}, "self_signing_keys": {}}
    for q in queries:
        for part in out:
            out[part].update(q.get(part, {}))
    return out


def test_only_devices_signed_by_a_self_signing_key_the_master_key_signed_count() -> None:
    anna = Account.new(ANNA)
    laptop = anna.add_device("LAPTOP")
    anna.add_device("PHONE", signed=False)
    identity = trust.identity_from_query(anna.query(), ANNA)
    assert identity == trust.Identity(anna.keys.master.public, frozenset({("LAPTOP", laptop)}))


def test_a_self_signing_key_not_signed_by_the_master_key_signs_nothing() -> None:
    anna = Account.new(ANNA)
    anna.add_device("LAPTOP")
    query = anna.query()
    ssk_obj = query["self_signing_keys"][ANNA]
    forger = cs.SigningKey.generate()  # signs in the master key's name, with another key
    ssk_obj["signatures"][ANNA] = {
        cs.key_id(anna.keys.master): forger.sign(cs.signed_part(ssk_obj))
    }
    identity = trust.identity_from_query(query, ANNA)
    assert identity is not None and identity.devices == frozenset()


def test_a_device_signed_by_another_key_or_not_its_own_is_left_out() -> None:
    anna = Account.new(ANNA)
    anna.add_device("LAPTOP")
    query = anna.query()
    device = query["device_keys"][ANNA]["LAPTOP"]
    # Another account's self-signing key signed it under Anna's key id: not valid.
    other = cs.SigningKey.generate()
    device["signatures"][ANNA][cs.key_id(anna.keys.self_signing)] = other.sign(
        cs.signed_part(device)
    )
    assert trust.identity_from_query(query, ANNA).devices == frozenset()  # type: ignore[union-attr]
    # A validly signed object listed under another device id is not that device.
    anna2 = Account.new(ANNA)
    anna2.add_device("LAPTOP")
    q2 = anna2.query()
    q2["device_keys"][ANNA] = {"PHONE": q2["device_keys"][ANNA]["LAPTOP"]}
    assert trust.identity_from_query(q2, ANNA).devices == frozenset()  # type: ignore[union-attr]


def test_a_person_without_cross_signing_has_no_identity() -> None:
    query = {"device_keys": {ANNA: {}}, "master_keys": {}, "self_signing_keys": {}}
    assert trust.identity_from_query(query, ANNA) is None
    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT)
    assert book.take(query) == {ANNA}  # now known: no trusted device
    assert book.excluded([Device(ANNA, "OLD", "e" * 43)]) == [Device(ANNA, "OLD", "e" * 43)]
    assert book.pending == []


def test_first_sight_pins_the_identity_and_a_new_master_key_is_a_change() -> None:
    anna = Account.new(ANNA)
    laptop = anna.add_device("LAPTOP")
    phone = anna.add_device("PHONE", signed=False)
    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT)

    assert book.take(anna.query()) == {ANNA}
    assert book.pending == [trust.IdentitySeen(ANNA, anna.keys.master.public, None)]
    assert book.excluded([Device(ANNA, "LAPTOP", laptop), Device(ANNA, "PHONE", phone)]) == [
        Device(ANNA, "PHONE", phone)
    ]
    # A device whose key changed under the same id is not the signed one.
    assert book.excluded([Device(ANNA, "LAPTOP", phone)]) == [Device(ANNA, "LAPTOP", phone)]
    book.pending.clear()

    # The same answer again: nothing changed, nothing to pin.
    assert book.take(anna.query()) == set()
    assert book.pending == []

    # Anna verifies her phone: her trusted devices changed (her rooms need a new room key).
    _key, phone_obj = anna.devices["PHONE"]
    ssk = anna.keys.self_signing
    anna.devices["PHONE"] = (_key, cs.sign_json(phone_obj, ANNA, cs.key_id(ssk), ssk))
    assert book.take(anna.query()) == {ANNA}
    assert book.excluded([Device(ANNA, "PHONE", phone)]) == []

    # Anna resets her identity: a changed pin, and her devices are out until re-signed.
    old = anna.keys.master.public
    anna.keys = cs.CrossSigningKeys.generate()
    assert book.take(anna.query()) == {ANNA}
    assert book.pending == [trust.IdentitySeen(ANNA, anna.keys.master.public, old)]
    assert book.pins[ANNA] == anna.keys.master.public
    assert len(book.excluded([Device(ANNA, "LAPTOP", laptop), Device(ANNA, "PHONE", phone)])) == 2


def test_the_bots_own_identity_is_not_pinned_here() -> None:
    bot = Account.new(BOT)
    bot.add_device("BOTDEVICE")
    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT)
    book.take(bot.query())
    assert book.pins == {} and book.pending == []


def test_all_devices_excludes_nobody() -> None:
    anna = Account.new(ANNA)
    anna.add_device("PHONE", signed=False)
    book = trust.Trust(trust.EncryptFor.ALL_DEVICES, BOT)
    book.take(anna.query())
    assert book.excluded([Device(ANNA, "PHONE", "x"), Device("@new:example.org", "D", "y")]) == []


def test_withheld_messages_name_the_session_and_come_in_chunks() -> None:
    devices = [Device(f"@p{i}:example.org", f"D{i}", "e") for i in range(trust.TO_DEVICE_CHUNK + 1)]
    bodies = trust.withheld_messages("!r:example.org", "SESSION", "SENDERKEY", devices)
    assert [sum(len(d) for d in b["messages"].values()) for b in bodies] == [
        trust.TO_DEVICE_CHUNK,
        1,
    ]
    content = bodies[1]["messages"][devices[-1].user_id][devices[-1].id]
    assert content == {
        "algorithm": "m.megolm.v1.aes-sha2",
        "room_id": "!r:example.org",
        "session_id": "SESSION",
        "sender_key": "SENDERKEY",
        "code": "m.unverified",
        "reason": trust.WITHHELD_REASON,
    }


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "t.db")
    try:
        yield database
    finally:
        await database.close()


async def test_pins_are_written_with_the_admins_notice_in_one_transaction(db: Database) -> None:
    anna, bo = Account.new(ANNA), Account.new("@bo:example.org")
    anna.add_device("LAPTOP")
    bo.add_device("PC")
    told: list[trust.IdentitySeen] = []

    async def notify(tx: Tx, seen: trust.IdentitySeen) -> None:
        told.append(seen)

    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT)
    book.take(merged(anna.query(), bo.query()))
    await book.record(db, 1000, notify)
    assert told == []  # first sight is not a change
    assert await trust_store.load(db) == {
        ANNA: anna.keys.master.public,
        "@bo:example.org": bo.keys.master.public,
    }

    # A restart loads the pins: Anna's reset seen after it is a change, told once.
    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT, await trust_store.load(db))
    old = anna.keys.master.public
    anna.keys = cs.CrossSigningKeys.generate()
    book.take(merged(anna.query(), bo.query()))

    async def failing(tx: Tx, seen: trust.IdentitySeen) -> None:
        raise RuntimeError("the admins' notice could not be queued")

    with pytest.raises(RuntimeError):
        await book.record(db, 2000, failing)
    assert (await trust_store.load(db))[ANNA] == old  # rolled back with the notice
    await book.record(db, 3000, notify)
    assert told == [trust.IdentitySeen(ANNA, anna.keys.master.public, old)]
    assert book.pending == []
    await book.record(db, 4000, notify)  # nothing left: nothing told again
    assert len(told) == 1

    exported = await privacy.export_user(db, ANNA)
    assert exported["encryption_identity"] == {
        "master_key": anna.keys.master.public,
        "pinned_at": 1000,
        "changed_at": 3000,
    }
    counts = await privacy.erase_user(db, ANNA, unclaimed=lambda status, answered: status)
    assert counts["identity_pin"] == 1
    assert ANNA not in await trust_store.load(db)
    assert "encryption_identity" not in await privacy.export_user(db, ANNA)


def offline_client(tmp_path: Path) -> tuple[CryptoClient, str]:
    """The bot's client with its own crypto store and no homeserver, in an encrypted room
    with Anna (its members known, as after a sync)."""
    client = CryptoClient(
        "http://127.0.0.1:9",
        BOT,
        store_path=str(tmp_path),
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
    )
    client.restore_login(BOT, "BOTDEVICE", "token")
    assert client.olm is not None
    room_id = "!cohort:example.org"
    room = MatrixRoom(room_id, BOT, encrypted=True)
    for user in (BOT, ANNA):
        room.add_member(user, None, None)
    room.members_synced = True
    client.rooms[room_id] = room
    return client, room_id


async def test_the_room_key_about_to_be_shared_leaves_out_the_insecure_devices(
    tmp_path: Path,
) -> None:
    """On a real matrix-nio client (offline, its own crypto store): the devices the policy
    excludes are ignored by the fresh, unshared outbound session nio is about to share."""
    client, room_id = offline_client(tmp_path)

    anna = Account.new(ANNA)
    laptop = anna.add_device("LAPTOP")
    phone = anna.add_device("PHONE", signed=False)
    for device_id, ed in (("LAPTOP", laptop), ("PHONE", phone)):
        client.olm.device_store.add(
            OlmDevice(ANNA, device_id, {"ed25519": ed, "curve25519": "c" * 43})
        )
    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT)
    book.take(anna.query())

    session_id, left_out = trust.leave_out_insecure(client, book, room_id)
    session = client.olm.outbound_group_sessions[room_id]
    assert session.id == session_id and not session.shared
    assert [(d.user_id, d.id) for d in left_out] == [(ANNA, "PHONE")]
    assert (ANNA, "PHONE") in session.users_ignored
    assert (ANNA, "LAPTOP") not in session.users_ignored

    # A shared session is never reused for a new share: a fresh one, with the policy applied
    # again (Anna's phone now signed, so nothing is left out).
    session.shared = True
    _key, obj = anna.devices["PHONE"]
    ssk = anna.keys.self_signing
    anna.devices["PHONE"] = (_key, cs.sign_json(obj, ANNA, cs.key_id(ssk), ssk))
    book.take(anna.query())
    new_id, left_out = trust.leave_out_insecure(client, book, room_id)
    assert new_id != session_id and left_out == []
    assert client.olm.outbound_group_sessions[room_id].users_ignored == set()
    await client.close()


async def test_two_records_at_once_write_and_tell_each_change_once(db: Database) -> None:
    """The sync loop's key query and the sender's can end together: each change is written
    and told once, and a pin taken while the first write runs is not lost."""
    anna, bo = Account.new(ANNA), Account.new("@bo:example.org")
    anna.add_device("LAPTOP")
    bo.add_device("PC")
    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT, {ANNA: "old" + "A" * 40})
    told: list[str] = []

    async def notify(tx: Tx, seen: trust.IdentitySeen) -> None:
        told.append(seen.user_id)
        book.take(bo.query())  # Bo's first pin arrives while this transaction runs

    book.take(anna.query())
    await asyncio.gather(book.record(db, 1, notify), book.record(db, 1, notify))
    assert told == [ANNA]
    await book.record(db, 2, notify)
    assert set(await trust_store.load(db)) == {ANNA, "@bo:example.org"}
    assert told == [ANNA]

    book.forget(ANNA)  # erased: gone from memory too
    assert ANNA not in book.pins


def test_people_left_out_entirely_are_counted_under_the_default_only() -> None:
    anna, bo = Account.new(ANNA), Account.new("@bo:example.org")
    anna.add_device("LAPTOP")
    bo.add_device("PC", signed=False)
    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT)
    book.take(merged(anna.query(), bo.query(), {"device_keys": {"@cy:example.org": {}}}))
    assert book.without_signed_device() == 2  # Bo (unsigned) and Cy (no cross-signing)
    book.policy = trust.EncryptFor.ALL_DEVICES
    assert book.without_signed_device() == 0


async def test_a_device_that_appears_while_keys_are_claimed_is_still_left_out(
    tmp_path: Path,
) -> None:
    """The bot's CryptoClient decides who is left out right before nio walks the devices:
    a device added to nio's store during the one-time-key claim (a key query ending then) is
    left out too; the claim asked only for trusted devices; a key change during the share
    replaces the key once it is out; the devices left out are told the key is withheld."""
    client, room_id = offline_client(tmp_path)
    assert client.olm is not None
    anna = Account.new(ANNA)
    laptop = anna.add_device("LAPTOP")
    phone = anna.add_device("PHONE", signed=False)
    tablet = anna.add_device("TABLET", signed=False)
    for device_id, ed in (("LAPTOP", laptop), ("PHONE", phone)):
        client.olm.device_store.add(OlmDevice(ANNA, device_id, {"ed25519": ed, "curve25519": "c"}))
    client.trust = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT)
    client.trust.take(anna.query())

    claimed: list[dict[str, list[str]]] = []

    async def keys_claim(users: dict[str, list[str]]) -> None:
        claimed.append(users)
        # A key query ends meanwhile: Anna's tablet (unsigned) is new.
        client.olm.device_store.add(
            OlmDevice(ANNA, "TABLET", {"ed25519": tablet, "curve25519": "t"})
        )

    ignored_when_shared: list[set[tuple[str, str]]] = []
    real_parallel = client.olm.share_group_session_parallel

    def parallel(room: str, users: list[str], ignore_unverified_devices: bool = False) -> Any:
        ignored_when_shared.append(set(client.olm.outbound_group_sessions[room].users_ignored))
        client.invalidate_outbound_session(room)  # a member's trust changed during the share
        return real_parallel(room, users, ignore_unverified_devices)

    withheld: list[dict[str, Any]] = []

    async def send(method: str, path: str, data: str, headers: Any = None) -> Any:
        withheld.append(json.loads(data))
        return SimpleNamespace(status=200, release=lambda: None)

    client.keys_claim = keys_claim  # type: ignore[method-assign]
    client.olm.share_group_session_parallel = parallel  # type: ignore[method-assign]
    client.send = send  # type: ignore[method-assign]
    await client._share_room_key(room_id)

    assert claimed == [{ANNA: ["LAPTOP"]}]  # never a one-time key for a device left out
    assert ignored_when_shared == [{(ANNA, "PHONE"), (ANNA, "TABLET")}]
    assert room_id not in client.olm.outbound_group_sessions  # replaced once it was out
    (body,) = withheld
    assert set(body["messages"][ANNA]) == {"PHONE", "TABLET"}
    assert body["messages"][ANNA]["PHONE"]["code"] == "m.unverified"
    await client.close()
