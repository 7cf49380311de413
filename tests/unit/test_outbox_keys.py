"""The keys of outbox rows (storage/outbox.py): deterministic, distinct, cheap."""

from __future__ import annotations

from pathlib import Path

from storage import Database
from storage import outbox as outbox_store
from storage.outbox import CAUSE, Cause


async def _keys(db: Database) -> list[str]:
    return [str(r["key"]) for r in await db.fetchall("SELECT key FROM outbox ORDER BY id")]


def test_an_events_rows_are_numbered_in_the_order_they_are_queued() -> None:
    cause = Cause("$event")
    assert [cause.next_key() for _ in range(3)] == ["$event/0", "$event/1", "$event/2"]


def test_a_periodic_key_is_the_task_and_the_message() -> None:
    a, b = Cause("periodic:x", hashed=True), Cause("periodic:x", hashed=True)
    assert a.hashed_key("!r", "m.room.message", {"body": "hej"}) == b.hashed_key(
        "!r", "m.room.message", {"body": "hej"}
    )
    assert a.hashed_key("!r", "m.room.message", {"body": "hej"}) != b.hashed_key(
        "!r", "m.room.message", {"body": "hej då"}
    )
    # The same message twice in one run: two keys.
    twice = Cause("periodic:x", hashed=True)
    first = twice.hashed_key("!r", "m.room.message", {"body": "hej"})
    assert twice.hashed_key("!r", "m.room.message", {"body": "hej"}) == f"{first}/1"


async def test_a_reference_to_another_row_is_hashed_as_that_rows_key(tmp_path: Path) -> None:
    """A restored bot may give the same row another id: the key must not depend on it."""
    keys = []
    for name, filler in (("a", 0), ("b", 3)):
        db = await Database.open(tmp_path / f"{name}.db")
        try:
            async with db.transaction() as tx:
                tx.cause = Cause("$other")
                for _ in range(filler):
                    await outbox_store.enqueue(tx, "!r", {"body": "something else"})
            token = CAUSE.set(Cause("periodic:checkins", hashed=True))
            try:
                async with db.transaction() as tx:
                    root = await outbox_store.enqueue(tx, "!r", {"body": "root"})
                    await outbox_store.enqueue(
                        tx, "!r", {"m.relates_to": {"event_id": f"$outbox:{root}"}}
                    )
            finally:
                CAUSE.reset(token)
            keys.append((await _keys(db))[-2:])
        finally:
            await db.close()
    assert keys[0] == keys[1]


async def test_a_redaction_names_the_key_of_what_it_redacts(tmp_path: Path) -> None:
    """So a message sent and redacted since a backup (its content gone) is known too."""
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            tx.cause = Cause("$e")
            copy = await outbox_store.enqueue(tx, "!r", {"body": "a copy"})
            await outbox_store.enqueue(
                tx, "!r", {"redacts": f"$outbox:{copy}"}, event_type="m.room.redaction"
            )
        (redaction,) = [i for i in await outbox_store.pending(db) if i.id != copy]
        assert redaction.content[outbox_store.REDACTS_KEY_FIELD] == "$e/0"
        assert redaction.sent_content({"redacts": "$x"})[outbox_store.KEY_FIELD] == "$e/1"
    finally:
        await db.close()


async def test_a_transaction_takes_the_cause_of_the_work_it_is_opened_in(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        token = CAUSE.set(Cause("$event+0"))
        try:
            for _ in range(2):  # one cause across the transactions of one piece of work
                async with db.transaction() as tx:
                    await outbox_store.enqueue(tx, "!r", {"body": "after the commit"})
        finally:
            CAUSE.reset(token)
        assert await _keys(db) == ["$event+0/0", "$event+0/1"]
    finally:
        await db.close()


async def test_a_redaction_by_event_id_names_the_key_too(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            tx.cause = Cause("$e")
            copy = await outbox_store.enqueue(tx, "!r", {"body": "a copy"})
            await outbox_store.mark_sent(tx, copy, "$sent")
            await outbox_store.enqueue(
                tx, "!r", {"redacts": "$sent"}, event_type="m.room.redaction"
            )
        (redaction,) = await outbox_store.pending(db)
        assert redaction.content[outbox_store.REDACTS_KEY_FIELD] == "$e/0"
    finally:
        await db.close()
