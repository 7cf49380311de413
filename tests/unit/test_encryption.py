"""Encryption without a homeserver: the kept undecryptable events, withheld keys, the settings,
the rooms the YAML encrypts, the crypto store's folder and backup, and what it keeps in memory."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from nio import RoomKeyEvent, SyncResponse, UnknownToDeviceEvent
from nio.crypto import OlmAccount, OlmDevice
from nio.store import SqliteStore

from bot.cli import encrypted_rooms
from bot.cli import main as natverk
from bot.crypto import CryptoStore, crypto_store
from bot.decryption import brought_room_keys, room_key_sessions, withheld_sessions
from bot.rooms import ENCRYPTION_STATE, wanted_rooms
from bot.sender import carries_file_key
from config import load_config
from storage import Database
from storage import encryption as store
from storage import state as state_store

EXAMPLE = Path(__file__).parents[2] / "config" / "example.yaml"

ENCRYPTED: dict[str, Any] = {
    "type": "m.room.encrypted",
    "event_id": "$e1",
    "sender": "@anna:example.org",
    "origin_server_ts": 1000,
    "content": {
        "algorithm": "m.megolm.v1.aes-sha2",
        "sender_key": "curve",
        "ciphertext": "AwgA",
        "session_id": "S1",
        "device_id": "ANNA",
    },
}


async def _keep(tx: Any, event_id: str = "$e1", session: str = "S1", now: int = 5000) -> bool:
    return await store.keep(
        tx,
        event_id=event_id,
        room_id="!r:example.org",
        sender="@anna:example.org",
        session_id=session,
        origin_server_ts=1000,
        source={**ENCRYPTED, "event_id": event_id},
        now_ms=now,
    )


async def test_an_undecryptable_event_is_kept_once_and_never_after_it_was_handled(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            assert await _keep(tx)
            assert not await _keep(tx)  # delivered again (re-sync, back-fill): kept once
            await state_store.mark_processed(tx, "$handled", "!r:example.org")
            assert not await _keep(tx, "$handled")  # handled before: never kept again
        [kept] = await store.waiting(db)
        assert (kept.event_id, kept.session_id, kept.withheld) == ("$e1", "S1", None)
        assert kept.source == ENCRYPTED and kept.received_at == 5000
        assert await store.count(db) == 1
        async with db.transaction() as tx:
            await store.forget(tx, "$e1")
        assert await store.count(db) == 0
    finally:
        await db.close()


async def test_a_withheld_key_marks_the_events_kept_and_those_that_come_after(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            await _keep(tx, "$before", "S1")
            await _keep(tx, "$other", "S2")
            await store.withhold(tx, "S1", "m.unverified", now_ms=6000)
            await _keep(tx, "$after", "S1")  # the event came after its withheld notice
        withheld = {k.event_id: k.withheld for k in await store.waiting(db)}
        assert withheld == {"$before": "m.unverified", "$after": "m.unverified", "$other": None}
    finally:
        await db.close()


async def test_a_person_s_kept_events_are_erased_with_them(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            await _keep(tx)
            assert await store.forget_sender(tx, "@anna:example.org") == 1
        assert await store.count(db) == 0
    finally:
        await db.close()


def _sync_with(to_device: list[Any]) -> SyncResponse:
    resp = SyncResponse.from_dict({"next_batch": "s1", "rooms": {}, "to_device": {"events": []}})
    assert isinstance(resp, SyncResponse)
    resp.to_device_events = to_device
    return resp


def test_withheld_notices_and_room_keys_are_found_in_a_sync_response() -> None:
    withheld = UnknownToDeviceEvent.from_dict(
        {
            "type": "m.room_key.withheld",
            "sender": "@anna:example.org",
            "content": {"session_id": "S1", "code": "m.unverified", "room_id": "!r"},
        }
    )
    odd = UnknownToDeviceEvent.from_dict(
        {"type": "m.room_key.withheld", "sender": "@x:y", "content": {"session_id": 7}}
    )
    key = RoomKeyEvent({}, "@anna:example.org", "curve", "!r", "S2", "m.megolm.v1.aes-sha2")
    assert withheld_sessions(_sync_with([withheld, odd, key])) == [("S1", "m.unverified")]
    assert brought_room_keys(_sync_with([withheld, key]))
    assert not brought_room_keys(_sync_with([withheld]))
    assert room_key_sessions(_sync_with([withheld, key])) == {"S2"}


def test_crypto_store_defaults_beside_the_database_and_waits_five_minutes(
    tmp_path: Path,
) -> None:
    config = tmp_path / "natverk.yaml"
    shutil.copy(EXAMPLE, config)
    bot = load_config(config).bot
    assert bot.crypto_store_path == tmp_path / "natverk.db.crypto"
    assert bot.undecryptable_after_ms == 5 * 60_000
    text = config.read_text("utf-8").replace(
        "  undecryptable_after: 5m", "  undecryptable_after: 1h\n  crypto_store: keys/store"
    )
    config.write_text(text, "utf-8")
    bot = load_config(config).bot
    assert bot.crypto_store_path == tmp_path / "keys" / "store"
    assert bot.undecryptable_after_ms == 3600_000


def test_the_yaml_says_which_rooms_are_encrypted_and_check_says_it_is_for_good(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = load_config(EXAMPLE)
    wanted = {w.key: w.encryption for w in wanted_rooms(config)}
    assert wanted == {
        "advisers": True,
        "category:teknik": True,
        "cohort:npf-ht26": True,
        "cohort:reading-vt27": False,
    }
    assert encrypted_rooms(config) == [
        "#npf-ht26:example.org",
        "#radgivning:example.org",
        "#teknik:example.org",
    ]
    assert natverk(["check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "can never be switched off" in out
    assert "only to devices their owner has cross-signed" in out
    assert ENCRYPTION_STATE["content"] == {"algorithm": "m.megolm.v1.aes-sha2"}


def test_the_crypto_store_folder_is_private(tmp_path: Path) -> None:
    folder = crypto_store(tmp_path / "a" / "natverk.db.crypto")
    assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_backup_copies_the_crypto_store_beside_the_database_copy(tmp_path: Path) -> None:
    config = tmp_path / "natverk.yaml"
    shutil.copy(EXAMPLE, config)
    store_dir = crypto_store(tmp_path / "natverk.db.crypto")
    with sqlite3.connect(store_dir / "@natverk:example.org_DEV.db") as conn:
        conn.execute("CREATE TABLE keys (k TEXT)")
        conn.execute("INSERT INTO keys VALUES ('secret')")
    conn.close()
    dest = tmp_path / "backup" / "copy.db"
    dest.parent.mkdir()
    assert natverk(["backup", str(config), str(dest)]) == 0
    copied = tmp_path / "backup" / "copy.db.crypto" / "@natverk:example.org_DEV.db"
    assert stat.S_IMODE(copied.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600
    with sqlite3.connect(copied) as conn:
        assert conn.execute("SELECT k FROM keys").fetchall() == [("secret",)]
    conn.close()
    assert natverk(["backup", str(config), str(dest)]) == 1  # never overwritten


def test_an_encrypted_file_s_key_is_found_in_a_message_and_in_an_edit() -> None:
    media = {"url": "mxc://x/y", "key": {"k": "secret"}, "iv": "i", "hashes": {}, "v": "v2"}
    assert carries_file_key({"msgtype": "m.file", "file": media})
    assert carries_file_key({"m.new_content": {"msgtype": "m.image", "file": media}})
    assert not carries_file_key({"msgtype": "m.file", "url": "mxc://x/y"})
    assert not carries_file_key({"msgtype": "m.file", "file": "mxc://x/y"})


def _crypto_store(folder: Path) -> Any:
    kept = CryptoStore("@natverk:example.org", "BOTDEVICE", str(folder))
    kept.save_account(OlmAccount())
    return kept


def _device(user: str, device: str) -> Any:
    return OlmDevice(user, device, {"ed25519": f"ed-{device}", "curve25519": f"cu-{device}"})


def test_the_crypto_store_keeps_trust_in_memory_and_every_change_reaches_the_database(
    tmp_path: Path,
) -> None:
    kept = _crypto_store(tmp_path)
    anna = _device("@anna:example.org", "ANNA")
    kept.save_device_keys({anna.user_id: {anna.id: anna}})
    assert not kept.is_device_verified(anna)  # read once, then from memory
    assert kept.verify_device(anna)
    assert kept.is_device_verified(anna)
    assert kept.blacklist_device(anna)
    assert kept.is_device_blacklisted(anna) and not kept.is_device_verified(anna)
    assert kept.unblacklist_device(anna)
    kept.ignore_devices([anna])
    assert kept.is_device_ignored(anna) and not kept.is_device_blacklisted(anna)
    assert kept.verify_device(anna)
    # What the database holds is what the memory said: a fresh store reads the same.
    fresh = CryptoStore("@natverk:example.org", "BOTDEVICE", str(tmp_path))
    assert fresh.is_device_verified(anna)
    assert not fresh.is_device_ignored(anna) and not fresh.is_device_blacklisted(anna)


def test_the_crypto_store_writes_an_encrypted_room_once_and_forgets_after_a_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = _crypto_store(tmp_path)
    writes: list[set[str]] = []
    original = SqliteStore.save_encrypted_rooms

    def counted(self: Any, rooms: Any) -> None:
        writes.append(set(rooms))
        original(self, rooms)

    monkeypatch.setattr(SqliteStore, "save_encrypted_rooms", counted)
    kept.save_encrypted_rooms({"!a:x"})
    kept.save_encrypted_rooms({"!a:x"})
    kept.save_encrypted_rooms(set())
    kept.save_encrypted_rooms({"!a:x", "!b:x"})
    assert writes == [{"!a:x"}, {"!b:x"}]
    # A sync's work rolled back (bot/crypto.py's CryptoClient): what memory held is read again.
    with pytest.raises(RuntimeError), kept.database.atomic():
        kept.save_encrypted_rooms({"!c:x"})
        raise RuntimeError("rolled back")
    kept.forget_cached()
    assert kept.load_encrypted_rooms() == {"!a:x", "!b:x"}
    kept.save_encrypted_rooms({"!c:x", "!a:x"})
    assert writes[-1] == {"!c:x"}
