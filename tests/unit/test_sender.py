"""The sender with a fake homeserver client: what it sends, in which order, and when."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from nio import ErrorResponse, RoomSendError, RoomSendResponse

from bot import sender as sender_module
from bot.crypto import CryptoClient
from bot.registry import Registry
from bot.sender import Sender
from bot.session import Client
from storage import Database
from storage import outbox as outbox_store


class FakeClient:
    """Records every send; fails the sends whose body is in ``fail``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []  # (room, body, txn id)
        self.fail: set[str] = set()
        self.too_large: set[str] = set()
        self.changed = asyncio.Event()
        self.rooms: dict[str, Any] = {}  # as synced: none known, so none encrypted

    async def room_send(
        self, room_id: str, event_type: str, content: dict[str, Any], tx_id: str
    ) -> Any:
        body = str(content.get("body"))
        if body in self.fail:
            return ErrorResponse("busy", "M_UNKNOWN")
        if body in self.too_large:
            return ErrorResponse("event too large", "M_TOO_LARGE")
        self.sent.append((room_id, body, tx_id))
        self.changed.set()
        return RoomSendResponse(f"$e{len(self.sent)}", room_id)


async def _until(client: FakeClient, n: int) -> None:
    async with asyncio.timeout(5):
        while len(client.sent) < n:
            client.changed.clear()
            await client.changed.wait()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, client: FakeClient) -> Any:
    db = await Database.open(tmp_path / "n.db")
    sender = Sender(cast(Client, client), db, Registry())
    task = asyncio.create_task(sender.run())
    try:
        yield db, sender
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.close()


async def test_committed_rows_go_out_once_in_order_and_rolled_back_ones_never(
    tmp_path: Path,
) -> None:
    client = FakeClient()
    async with running(tmp_path, client) as (db, _):
        async with db.transaction() as tx:
            await outbox_store.enqueue(tx, "!a:x", {"body": "1"})
            with pytest.raises(ValueError):
                async with tx.savepoint():
                    await outbox_store.enqueue(tx, "!a:x", {"body": "undone"})
                    raise ValueError
            await outbox_store.enqueue(tx, "!b:x", {"body": "2"})
        async with db.transaction() as tx:
            await outbox_store.enqueue(tx, "!a:x", {"body": "3"})
        await _until(client, 3)
        await asyncio.sleep(0.05)
        assert [(room, body) for room, body, _ in client.sent] == [
            ("!a:x", "1"),
            ("!b:x", "2"),
            ("!a:x", "3"),
        ]
        rows = {p.txn_id for p in await outbox_store.pending(db)}
        assert rows == set()
        assert await outbox_store.counts(db) == {"sent": 3}


async def test_rows_written_by_another_process_are_sent_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. the redactions `natverk user erase` queues while the bot runs.
    monkeypatch.setattr(sender_module, "REREAD_AFTER", 0.2)
    client = FakeClient()
    async with running(tmp_path, client) as (db, sender):
        async with db.transaction() as tx:
            await outbox_store.enqueue(tx, "!a:x", {"body": "from the bot"})
        await _until(client, 1)

        def other_process() -> None:
            with sqlite3.connect(db.path, timeout=5) as other:
                other.execute(
                    "INSERT INTO outbox (txn_id, room_id, event_type, content, created_at)"
                    " VALUES ('cli.1', '!a:x', 'm.room.message', '{\"body\": \"from the cli\"}', 0)"
                )

        await asyncio.to_thread(other_process)  # not on the loop: the bot may hold the lock
        # A busy bot: its own rows keep coming, and the other process's row still goes out.
        for n in range(6):
            async with db.transaction() as tx:
                await outbox_store.enqueue(tx, "!b:x", {"body": f"busy {n}"})
            sender.wake()
            await asyncio.sleep(0.05)
        await _until(client, 8)
        bodies = [body for _, body, _ in client.sent]
        assert "from the cli" in bodies
        assert ("!a:x", "from the cli", "cli.1") in client.sent


async def test_a_failed_send_keeps_its_room_in_order_and_is_retried(tmp_path: Path) -> None:
    client = FakeClient()
    client.fail.add("first")
    async with running(tmp_path, client) as (db, _):
        async with db.transaction() as tx:
            await outbox_store.enqueue(tx, "!a:x", {"body": "first"})
            await outbox_store.enqueue(tx, "!a:x", {"body": "second"})
            await outbox_store.enqueue(tx, "!b:x", {"body": "other room"})
        await _until(client, 1)
        await asyncio.sleep(0.1)
        assert [body for _, body, _ in client.sent] == ["other room"]
        client.fail.clear()
        await _until(client, 3)
        assert [body for _, body, _ in client.sent] == ["other room", "first", "second"]
        first = await db.fetchone("SELECT attempts FROM outbox ORDER BY id LIMIT 1")
        assert first is not None and first["attempts"] >= 2


async def test_a_refused_message_is_reported_once_and_holds_up_nothing_after_it(
    tmp_path: Path,
) -> None:
    # Issue 9, item 1: a copy over the size limit was given up silently, and a detail that
    # referred to it was retried for a minute, holding up the next question in its room.
    client = FakeClient()
    client.too_large.add("huge question")
    reports: list[tuple[int, str | None, str]] = []

    async def report(tx: Any, item: outbox_store.OutboxItem, error: str) -> None:
        reports.append((item.id, item.owner, error))
        await outbox_store.enqueue(
            tx, "@admin:x", {"body": f"failed #{item.id}"}, purpose=sender_module.REPORT_PURPOSE
        )

    db = await Database.open(tmp_path / "n.db")
    sender = Sender(cast(Client, client), db, Registry(), report=report)
    task = asyncio.create_task(sender.run())
    try:
        async with db.transaction() as tx:
            huge = await outbox_store.enqueue(tx, "!adv:x", {"body": "huge question"}, owner="@a:x")
            detail = await outbox_store.enqueue(
                tx,
                "!adv:x",
                {"body": "detail", "m.relates_to": {"event_id": f"$outbox:{huge}"}},
                owner="@a:x",
            )
            await outbox_store.enqueue(tx, "!adv:x", {"body": "next question"})
        await _until(client, 3)  # "next question" and the two reports, in seconds
        assert sorted(body for _, body, _ in client.sent) == sorted(
            [f"failed #{huge}", f"failed #{detail}", "next question"]
        )
        assert [(i, o) for i, o, _ in reports] == [(huge, "@a:x"), (detail, "@a:x")]
        assert "M_TOO_LARGE" in reports[0][2]
        assert await outbox_store.state_of(db, huge) == "failed"
        assert await outbox_store.state_of(db, detail) == "failed"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.close()


async def test_after_a_restore_a_pending_row_found_sent_is_marked_sent_not_sent_again(
    tmp_path: Path,
) -> None:
    """A row pending in the backup that the bot had sent before the restore (found by its key
    among the bot's events): the sender marks it sent as that event; others go out."""
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            tx.cause = outbox_store.Cause("$asked")
            done = await outbox_store.enqueue(tx, "!a:x", {"body": "sent before the restore"})
            await outbox_store.enqueue(tx, "!a:x", {"body": "never sent"})
            await tx.execute(
                "INSERT INTO restored_events (key, event_id, room_id) VALUES (?, ?, ?)",
                ("$asked/0", "$found", "!a:x"),
            )
        db.recovered = {"$asked/0": "$found"}
        client = FakeClient()
        await Sender(cast(Client, client), db, Registry()).drain()
        assert [body for _, body, _ in client.sent] == ["never sent"]
        assert await outbox_store.sent_event_id(db, done) == "$found"
        assert db.recovered == {}
        assert await db.fetchone("SELECT * FROM restored_events") is None
    finally:
        await db.close()


async def test_every_message_carries_its_key(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            tx.cause = outbox_store.Cause("$e")
            await outbox_store.enqueue(tx, "!a:x", {"body": "one"})
            await outbox_store.enqueue(tx, "!a:x", {"body": "two"})
        seen: list[dict[str, Any]] = []

        class Keeping(FakeClient):
            async def room_send(
                self, room_id: str, event_type: str, content: dict[str, Any], tx_id: str
            ) -> Any:
                seen.append(content)
                return await super().room_send(room_id, event_type, content, tx_id)

        await Sender(cast(Client, Keeping()), db, Registry()).drain()
        assert [c[outbox_store.KEY_FIELD] for c in seen] == ["$e/0", "$e/1"]
    finally:
        await db.close()


async def test_a_row_for_a_room_the_client_does_not_know_yet_waits_for_the_sync_unpenalised(
    tmp_path: Path,
) -> None:
    """With encryption on, matrix-nio must know a room to tell whether to encrypt: a direct
    chat just created is known after the next sync. Meanwhile its rows wait without a failed
    attempt or a back-off, and the rest of the outbox goes on."""
    client = FakeClient()
    client.olm = object()  # type: ignore[attr-defined]  # encryption on
    plain = SimpleNamespace(encrypted=False)
    client.rooms = {"!known:x": plain}
    db = await Database.open(tmp_path / "n.db")
    sender = Sender(cast(Client, client), db, Registry())
    try:
        async with db.transaction() as tx:
            await outbox_store.enqueue(tx, "!new:x", {"body": "to the new chat"})
            await outbox_store.enqueue(tx, "!known:x", {"body": "elsewhere"})
        assert await sender.drain() is False  # nothing failed
        assert [body for _, body, _ in client.sent] == ["elsewhere"]
        row = await db.fetchone("SELECT attempts, state FROM outbox WHERE room_id = '!new:x'")
        assert (row["attempts"], row["state"]) == (0, "pending")
        client.rooms["!new:x"] = plain  # the next sync
        assert await sender.drain() is False
        assert [body for _, body, _ in client.sent] == ["elsewhere", "to the new chat"]
    finally:
        await db.close()


async def test_an_encrypted_room_never_gets_clear_text(tmp_path: Path) -> None:
    """A room the sync shows encrypted goes through the client's ``send_encrypted``, never
    ``room_send``; without the crypto machinery (a store that failed to load) that is an
    error, not a message in clear."""
    client = FakeClient()
    client.olm = object()  # type: ignore[attr-defined]
    client.rooms = {"!secret:x": SimpleNamespace(encrypted=True)}
    encrypted: list[str] = []

    async def send_encrypted(room_id: str, event_type: str, content: Any, txn_id: str) -> Any:
        encrypted.append(str(content["body"]))
        return RoomSendResponse("$enc", room_id)

    client.send_encrypted = send_encrypted  # type: ignore[attr-defined]
    db = await Database.open(tmp_path / "e.db")
    try:
        async with db.transaction() as tx:
            await outbox_store.enqueue(tx, "!secret:x", {"body": "om eleven"})
        await Sender(cast(Client, client), db, Registry()).drain()
        assert encrypted == ["om eleven"] and client.sent == []
    finally:
        await db.close()

    bare = CryptoClient("http://127.0.0.1:9", "@natverk:x")  # no store: no olm
    resp = await bare.send_encrypted("!secret:x", "m.room.message", {"body": "om eleven"}, "t1")
    assert isinstance(resp, RoomSendError) and "not available" in resp.message
    await bare.close()
