"""The bot's device, cross-signed by its owner, as another user's client sees it (issue 14).

A matrix-nio client with encryption, logged in as the bot's account, uploads its device keys;
``ensure_cross_signing`` runs for it on a temporary database; another user then asks the real
Synapse (``/keys/query``) and checks the chain as a client does (the device's keys signed by the
self-signing key, which is signed by the master key), every signature with an Ed25519 verifier
that shares no code with the bot's (signedjson, Synapse's own, on libsodium).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import signedjson.key
import signedjson.sign
import yaml
from nio import AsyncClient, AsyncClientConfig

from bot import crosssigning as cs
from bot import i18n
from bot.app import App
from bot.demo.homeserver import EmbeddedSynapse, RegisteredUser
from bot.session import ENV_PASSWORD
from config import load_config
from storage import Database, Tx
from storage import crosssigning as store
from storage import outbox as outbox_store
from tests.network import network_data


class Admins:
    """Records what the bot would tell its admins (the notify callback, in its transaction)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, tx: Tx, key: str, params: dict[str, str]) -> None:
        self.told.append((key, params))


class Uploads:
    """Counts the cross-signing uploads the bot's client sends (a spy on the real client)."""

    def __init__(self, client: AsyncClient) -> None:
        self.paths: list[str] = []
        real = client.send

        async def send(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            if method == "POST" and path.endswith(("/device_signing/upload", "/signatures/upload")):
                self.paths.append(path.rsplit("/keys/", 1)[1])
            return await real(method, path, *args, **kwargs)

        client.send = send  # type: ignore[method-assign]


async def _bot_client(
    synapse: EmbeddedSynapse, bot: RegisteredUser, store_dir: Path, *, upload: bool = True
) -> AsyncClient:
    """The bot's device with encryption on, its device keys uploaded (unless not ``upload``)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    client = AsyncClient(
        synapse.base_url,
        bot.user_id,
        store_path=str(store_dir),
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
    )
    client.restore_login(bot.user_id, bot.device_id, bot.access_token)
    assert client.olm is not None and client.should_upload_keys
    if upload:
        await client.keys_upload()
    return client


@pytest.fixture
async def bot_client(
    synapse: EmbeddedSynapse, make_user: Callable[..., RegisteredUser], tmp_path: Path
) -> AsyncIterator[tuple[RegisteredUser, AsyncClient]]:
    bot = make_user("bot")
    client = await _bot_client(synapse, bot, tmp_path / "store")
    try:
        yield bot, client
    finally:
        await client.close()


async def _query(synapse: EmbeddedSynapse, viewer: RegisteredUser, user_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(
        synapse.request,
        "POST",
        "/_matrix/client/v3/keys/query",
        viewer.access_token,
        {"device_keys": {user_id: []}},
    )


def _verify(obj: dict[str, Any], user_id: str, public: str) -> None:
    """signedjson's check of ``obj``'s signature by ``user_id`` under ``ed25519:<public>``."""
    key = signedjson.key.decode_verify_key_base64("ed25519", public, public)
    signedjson.sign.verify_signed_json(obj, user_id, key)


def _chain(query: dict[str, Any], user_id: str, device_id: str) -> str:
    """Check the device is cross-signed by its owner, as a client does; the master key."""
    master_obj = query["master_keys"][user_id]
    ssk_obj = query["self_signing_keys"][user_id]
    device = query["device_keys"][user_id][device_id]
    assert master_obj["usage"] == ["master"] and master_obj["user_id"] == user_id
    assert ssk_obj["usage"] == ["self_signing"] and ssk_obj["user_id"] == user_id
    ((master_id, master),) = master_obj["keys"].items()
    ((ssk_id, ssk),) = ssk_obj["keys"].items()
    assert master_id == f"ed25519:{master}" and ssk_id == f"ed25519:{ssk}"
    _verify(ssk_obj, user_id, master)  # the self-signing key is the master key's
    _verify(device, user_id, ssk)  # the device is the self-signing key's
    own = device["keys"][f"ed25519:{device_id}"]
    signedjson.sign.verify_signed_json(  # and the device keys are the device's own
        device, user_id, signedjson.key.decode_verify_key_base64("ed25519", device_id, own)
    )
    assert cs.device_cross_signed_by_owner(query, user_id, device_id)
    return str(master)


async def test_the_bots_device_is_cross_signed_by_its_owner_for_another_user(
    synapse: EmbeddedSynapse,
    make_user: Callable[..., RegisteredUser],
    bot_client: tuple[RegisteredUser, AsyncClient],
    tmp_path: Path,
) -> None:
    bot, client = bot_client
    friend = make_user("friend")
    before = await _query(synapse, friend, bot.user_id)
    assert bot.user_id not in before.get("master_keys", {})
    assert not cs.device_cross_signed_by_owner(before, bot.user_id, bot.device_id)

    db = await Database.open(tmp_path / "bot.db")
    admins = Admins()
    try:
        result = await cs.ensure_cross_signing(client, db, password=None, notify=admins)
        # Synapse lets an account upload its first cross-signing keys without a password.
        assert result.outcome is cs.Outcome.CREATED
        stored = await store.load(db, bot.user_id)
        assert stored is not None
        keys = cs.CrossSigningKeys.from_stored(stored)
        assert result.master_key == keys.master.public

        after = await _query(synapse, friend, bot.user_id)
        assert _chain(after, bot.user_id, bot.device_id) == keys.master.public
        device = after["device_keys"][bot.user_id][bot.device_id]
        assert client.olm is not None
        assert (
            device["keys"][f"ed25519:{bot.device_id}"]
            == (client.olm.account.identity_keys["ed25519"])
        )
        # The user-signing key is the bot's own business: only the bot sees it.
        own = await _query(synapse, bot, bot.user_id)
        _verify(own["user_signing_keys"][bot.user_id], bot.user_id, keys.master.public)
        assert bot.user_id not in after.get("user_signing_keys", {})

        # A second start: nothing uploaded, the same identity.
        uploads = Uploads(client)
        again = await cs.ensure_cross_signing(client, db, notify=admins)
        assert again.outcome is cs.Outcome.UNCHANGED
        assert again.master_key == keys.master.public
        assert uploads.paths == []
        assert admins.told == []
        assert _chain(await _query(synapse, friend, bot.user_id), bot.user_id, bot.device_id)
    finally:
        await db.close()


async def test_a_new_device_of_the_bot_is_signed_with_the_keys_it_kept(
    synapse: EmbeddedSynapse,
    make_user: Callable[..., RegisteredUser],
    bot_client: tuple[RegisteredUser, AsyncClient],
    tmp_path: Path,
) -> None:
    """The crypto store lost, the database kept (restored from a backup): a new device, signed
    by the same identity, so clients that trusted the bot still trust it."""
    bot, client = bot_client
    friend = make_user("friend")
    db = await Database.open(tmp_path / "bot.db")
    try:
        first = await cs.ensure_cross_signing(client, db)
        assert first.outcome is cs.Outcome.CREATED

        # A new login without device keys: nothing to sign yet, nothing done.
        new_login = await asyncio.to_thread(synapse.login, bot.localpart, bot.password)
        bare = AsyncClient(synapse.base_url, bot.user_id)
        bare.restore_login(bot.user_id, new_login.device_id, new_login.access_token)
        try:
            idle = await cs.ensure_cross_signing(bare, db)
            assert idle.outcome is cs.Outcome.NO_DEVICE_KEYS
        finally:
            await bare.close()

        new_client = await _bot_client(synapse, new_login, tmp_path / "store2")
        try:
            uploads = Uploads(new_client)
            second = await cs.ensure_cross_signing(new_client, db)
        finally:
            await new_client.close()
        assert second.outcome is cs.Outcome.DEVICE_SIGNED
        assert second.master_key == first.master_key
        assert uploads.paths == ["signatures/upload"]  # the keys were not uploaded again
        query = await _query(synapse, friend, bot.user_id)
        assert _chain(query, bot.user_id, new_login.device_id) == first.master_key
        assert _chain(query, bot.user_id, bot.device_id) == first.master_key
    finally:
        await db.close()


async def test_lost_keys_never_overwrite_the_identity_unless_the_admins_name_it(
    synapse: EmbeddedSynapse,
    make_user: Callable[..., RegisteredUser],
    bot_client: tuple[RegisteredUser, AsyncClient],
    tmp_path: Path,
) -> None:
    bot, client = bot_client
    friend = make_user("friend")
    old_db = await Database.open(tmp_path / "old.db")
    db = await Database.open(tmp_path / "fresh.db")  # the database lost, no backup
    admins = Admins()
    try:
        old = await cs.ensure_cross_signing(client, old_db)
        assert old.outcome is cs.Outcome.CREATED and old.master_key is not None

        # The fresh database finds another master key on the server: left alone, told once.
        uploads = Uploads(client)
        for _ in range(2):
            found = await cs.ensure_cross_signing(client, db, password=bot.password, notify=admins)
            assert found.outcome is cs.Outcome.FOREIGN_MASTER
            assert found.master_key == old.master_key
        assert admins.told == [("foreign_master", {"master": old.master_key})]
        assert uploads.paths == []
        assert await store.load(db, bot.user_id) is None
        assert _chain(await _query(synapse, friend, bot.user_id), bot.user_id, bot.device_id) == (
            old.master_key
        )
        # A replacement that names another key changes nothing either.
        other = cs.SigningKey.generate().public
        found = await cs.ensure_cross_signing(
            client, db, password=bot.password, replace_master_key=other, notify=admins
        )
        assert found.outcome is cs.Outcome.FOREIGN_MASTER and uploads.paths == []

        # Named, but the server wants the password and the bot has none: not fatal, told.
        admins.told.clear()
        waiting = await cs.ensure_cross_signing(
            client, db, password=None, replace_master_key=old.master_key, notify=admins
        )
        assert waiting.outcome is cs.Outcome.NEEDS_AUTH
        assert [key for key, _ in admins.told] == ["needs_auth"]
        assert uploads.paths == ["device_signing/upload"]  # asked, answered 401
        query = await _query(synapse, friend, bot.user_id)
        assert query["master_keys"][bot.user_id]["keys"] == {
            f"ed25519:{old.master_key}": old.master_key
        }

        # Named, with the password (user-interactive auth): replaced, and the admins told.
        admins.told.clear()
        replaced = await cs.ensure_cross_signing(
            client, db, password=bot.password, replace_master_key=old.master_key, notify=admins
        )
        assert replaced.outcome is cs.Outcome.REPLACED
        assert replaced.master_key not in (None, old.master_key)
        assert admins.told == [
            ("replaced", {"old": old.master_key, "new": str(replaced.master_key)})
        ]
        query = await _query(synapse, friend, bot.user_id)
        assert _chain(query, bot.user_id, bot.device_id) == replaced.master_key

        # Now the old database is the one that finds a stranger's key: it leaves it alone.
        stale = await cs.ensure_cross_signing(client, old_db, password=bot.password)
        assert stale.outcome is cs.Outcome.FOREIGN_MASTER
        assert stale.master_key == replaced.master_key
        # And the new identity's next start is quiet.
        admins.told.clear()
        quiet = await cs.ensure_cross_signing(
            client, db, password=bot.password, replace_master_key=old.master_key, notify=admins
        )
        assert quiet.outcome is cs.Outcome.UNCHANGED and admins.told == []
    finally:
        await db.close()
        await old_db.close()


async def test_the_app_signs_its_device_at_start_only_with_encryption_and_tells_the_admins(
    synapse: EmbeddedSynapse,
    make_user: Callable[..., RegisteredUser],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one place in App.start (``_ensure_cross_signing``) with the bot's real objects: the
    database, the configuration, the admins' direct chats through the outbox."""
    bot, admin, friend = make_user("bot"), make_user("admin"), make_user("friend")
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    data = network_data(
        homeserver=synapse.base_url,
        server_name="localhost",
        prefix="xs",
        bot=bot.user_id,
        admin=admin.user_id,
        advisers=[friend.user_id],
        facilitators=[],
        participants=[],
    )
    data["bot"]["database"] = str(tmp_path / "natverk.db")
    path = tmp_path / "natverk.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    app = App(load_config(path), path)
    app.db = await Database.open(tmp_path / "natverk.db")
    app.direct = {admin.user_id: "!admin-dm:localhost"}
    plain = AsyncClient(synapse.base_url, bot.user_id)
    plain.restore_login(bot.user_id, bot.device_id, bot.access_token)
    try:
        # Encryption off: nothing happens, nothing is uploaded.
        app.client = plain
        await app._ensure_cross_signing()
        assert bot.user_id not in (await _query(synapse, friend, bot.user_id)).get(
            "master_keys", {}
        )

        # Encryption on: the device keys go up first, then the device is cross-signed.
        encrypted = await _bot_client(synapse, bot, tmp_path / "store", upload=False)
        app.client = encrypted
        try:
            await app._ensure_cross_signing()
            query = await _query(synapse, friend, bot.user_id)
            stored = await store.load(app.db, bot.user_id)
            assert stored is not None
            master = cs.CrossSigningKeys.from_stored(stored).master.public
            assert _chain(query, bot.user_id, bot.device_id) == master

            # Another identity put on the server behind the bot's back: the admins are told
            # in their direct chat, in the bot's language, once; nothing is overwritten.
            other_db = await Database.open(tmp_path / "other.db")
            try:
                intruder = await cs.ensure_cross_signing(
                    encrypted, other_db, password=bot.password, replace_master_key=master
                )
            finally:
                await other_db.close()
            assert intruder.outcome is cs.Outcome.REPLACED
            for _ in range(2):
                await app._ensure_cross_signing()
            pending = await outbox_store.pending(app.db)
            expected = i18n.t("sv", "crosssigning.foreign_master", master=intruder.master_key)
            assert [(item.room_id, item.content["body"]) for item in pending] == [
                ("!admin-dm:localhost", expected)
            ]
            query = await _query(synapse, friend, bot.user_id)
            assert _chain(query, bot.user_id, bot.device_id) == intruder.master_key
        finally:
            await encrypted.close()
    finally:
        await plain.close()
        await app.db.close()
