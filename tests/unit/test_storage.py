from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from commands.questions.status import unclaimed
from storage import Database, DatabaseTooNewError, questions
from storage import outbox as outbox_store
from storage import state as state_store
from storage.migrations import MIGRATIONS, Migration


async def test_new_database_is_migrated_and_private(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        assert await db.schema_version() == MIGRATIONS[-1].version
        row = await db.fetchone("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
    finally:
        await db.close()
    assert stat.S_IMODE((tmp_path / "n.db").stat().st_mode) == 0o600


async def test_bot_refuses_a_database_from_a_newer_version(tmp_path: Path) -> None:
    newer = [*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "future", ("SELECT 1",))]
    db = await Database.open(tmp_path / "n.db", newer)
    await db.close()
    with pytest.raises(DatabaseTooNewError, match="upgrade natverk"):
        await Database.open(tmp_path / "n.db")


async def test_a_failed_migration_step_leaves_the_previous_version(tmp_path: Path) -> None:
    broken = [*MIGRATIONS, Migration(99, "broken", ("CREATE TABLE t (x)", "SELEC oops"))]
    with pytest.raises(sqlite3.OperationalError):
        await Database.open(tmp_path / "n.db", broken)
    db = await Database.open(tmp_path / "n.db")
    try:
        assert await db.schema_version() == MIGRATIONS[-1].version
        assert await db.fetchone("SELECT name FROM sqlite_master WHERE name = 't'") is None
    finally:
        await db.close()


async def test_transaction_rolls_back_on_error_and_savepoint_undoes_only_its_part(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await state_store.set_value(tx, "a", "1")
                raise RuntimeError("boom")
        assert await state_store.get_value(db, "a") is None

        async with db.transaction() as tx:
            await state_store.set_value(tx, "kept", "1")
            with pytest.raises(ValueError):
                async with tx.savepoint():
                    await state_store.set_value(tx, "undone", "1")
                    raise ValueError
        assert await state_store.get_value(db, "kept") == "1"
        assert await state_store.get_value(db, "undone") is None
    finally:
        await db.close()


async def test_nested_savepoints_undo_exactly_their_own_writes(tmp_path: Path) -> None:
    # Savepoints are only opened at their first write; the undo must still be exact.
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            async with tx.savepoint():  # outer: no write before the inner unit
                with pytest.raises(ValueError):
                    async with tx.savepoint():
                        await state_store.set_value(tx, "inner", "1")
                        raise ValueError
                await state_store.set_value(tx, "outer", "1")
            with pytest.raises(KeyError):
                async with tx.savepoint():  # reads only, then fails: nothing to undo
                    assert await state_store.get_value_tx(tx, "outer") == "1"
                    raise KeyError
            with pytest.raises(ValueError):
                async with tx.savepoint():
                    await state_store.set_value(tx, "outer", "changed")
                    async with tx.savepoint():
                        await state_store.set_value(tx, "deep", "1")
                    raise ValueError
            await state_store.set_value(tx, "after", "1")
        keys = ("inner", "outer", "deep", "after")
        values = {k: await state_store.get_value(db, k) for k in keys}
        assert values == {"inner": None, "outer": "1", "deep": None, "after": "1"}
    finally:
        await db.close()


async def test_outbox_rows_are_published_only_when_committed(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    seen: list[outbox_store.OutboxItem] = []
    db.subscribe(outbox_store.TOPIC, seen.append)
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await outbox_store.enqueue(tx, "!r:x", {"body": "rolled back"})
                raise RuntimeError
        async with db.transaction() as tx:
            with pytest.raises(ValueError):
                async with tx.savepoint():
                    await outbox_store.enqueue(tx, "!r:x", {"body": "undone"})
                    raise ValueError
            content = {"body": "kept"}
            kept = await outbox_store.enqueue(tx, "!r:x", content)
            content["body"] = "changed by the caller afterwards"
            assert seen == []  # not before the commit
        assert [(i.id, i.content["body"]) for i in seen] == [(kept, "kept")]
        assert [(p.id, p.txn_id) for p in await outbox_store.pending(db)] == [
            (seen[0].id, seen[0].txn_id)
        ]
    finally:
        await db.close()


async def test_outbox_keeps_order_and_stable_transaction_ids(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            first = await outbox_store.enqueue(tx, "!r:x", {"body": "ett"})
            second = await outbox_store.enqueue(tx, "!r:x", {"body": "två"})
        pending = await outbox_store.pending(db)
        assert [p.id for p in pending] == [first, second]
        assert [p.content["body"] for p in pending] == ["ett", "två"]
        again = await outbox_store.pending(db)
        assert [p.txn_id for p in again] == [p.txn_id for p in pending]
        async with db.transaction() as tx:
            await outbox_store.mark_sent(tx, first, "$e1")
        assert [p.id for p in await outbox_store.pending(db)] == [second]
        assert await outbox_store.sent_event_id(db, first) == "$e1"
        await outbox_store.mark_failed_attempt(db, second, "M_FORBIDDEN", give_up=True)
        assert await outbox_store.counts(db) == {"sent": 1, "failed": 1}
    finally:
        await db.close()


async def test_processed_events_deduplicate(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            assert await state_store.mark_processed(tx, "$a", "!r:x")
            assert not await state_store.mark_processed(tx, "$a", "!r:x")
        assert await state_store.was_processed(db, "$a")
        assert not await state_store.was_processed(db, "$b")
    finally:
        await db.close()


async def test_credentials_never_show_the_token(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        creds = state_store.Credentials("@b:x", "http://h", "DEV", "syt_secret")
        await state_store.save_credentials(db, creds)
        loaded = await state_store.load_credentials(db, "@b:x")
        assert loaded == creds
        assert "syt_secret" not in repr(loaded)
    finally:
        await db.close()


async def test_online_backup_is_a_readable_copy(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            await state_store.set_value(tx, "k", "v")
        await db.backup(tmp_path / "copy.db")
        with pytest.raises(FileExistsError):
            await db.backup(tmp_path / "copy.db")
    finally:
        await db.close()
    copy = await Database.open(tmp_path / "copy.db")
    try:
        assert await state_store.get_value(copy, "k") == "v"
    finally:
        await copy.close()


async def test_processed_event_ids_are_forgotten_after_thirty_days(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            await state_store.mark_processed(tx, "$old", "!r:x")
        row = await db.fetchone("SELECT handled_at FROM processed_events")
        assert row is not None
        async with db.transaction() as tx:
            kept = await state_store.prune_processed(tx, row["handled_at"] + 1000)
            gone = await state_store.prune_processed(
                tx, row["handled_at"] + state_store.PROCESSED_EVENTS_KEEP_MS + 1
            )
        assert (kept, gone) == (0, 1)
    finally:
        await db.close()


async def test_export_and_erase_cover_checkins_polls_and_surveys(tmp_path: Path) -> None:
    from storage import privacy

    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            run = await tx.execute(
                "INSERT INTO checkin_runs (cohort_id, schedule_id, due_at, status, handled_at)"
                " VALUES ('c', 's', 1, 'posted', 1)"
            )
            await tx.execute(
                "INSERT INTO checkin_replies (run_id, user_id) VALUES (?, '@anna:x')", (run,)
            )
            rnd = await tx.execute(
                "INSERT INTO survey_rounds (survey_id, cohort_id, anonymous, opened_at, closes_at)"
                " VALUES ('s', 'c', 0, 1, 2)"
            )
            await tx.execute(
                "INSERT INTO survey_invites (round_id, user_id, draft) VALUES (?, '@anna:x', 'x')",
                (rnd,),
            )
            await tx.execute(
                "INSERT INTO survey_responses (response_id, round_id, user_id)"
                " VALUES ('r1', ?, '@anna:x')",
                (rnd,),
            )
            await tx.execute(
                "INSERT INTO survey_answers (response_id, question_id, value)"
                " VALUES ('r1', 'q1', '4')"
            )
        data = await privacy.export_user(db, "@anna:x")
        assert data["checkins_answered"] == [run]
        assert data["survey_answers"] == [{"round_id": rnd, "question_id": "q1", "value": "4"}]
        counts = await privacy.erase_user(db, "@anna:x", unclaimed=unclaimed)
        assert counts["checkins"] == 1 and counts["survey_answers"] == 1
        left = await privacy.export_user(db, "@anna:x")
        assert not left["checkins_answered"] and not left["survey_answers"]
        assert not left["surveys_invited"]
        assert await db.fetchall("SELECT * FROM survey_answers") == []
        assert "materials" in data and counts["materials"] == 0
    finally:
        await db.close()


async def test_tickets_become_questions_keeping_numbers_links_and_queued_roots(
    tmp_path: Path,
) -> None:
    """Migration 7 on a database of the release before it: nothing is lost, numbering goes on."""
    path = tmp_path / "old.db"
    db = await Database.open(path, MIGRATIONS[:6])
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO tickets (asker, private, category, origin_room, origin_event,"
            " adviser_room, root_outbox, question, created_at)"
            " VALUES ('@a:x', 0, 'allmant', '!c:x', '$q', '!adv:x', 1, 'Hur?', 1)"
        )
        await tx.execute(
            "INSERT INTO ticket_links (source_event, ticket_id, kind, author)"
            " VALUES ('$d', 1, 'detail', '@a:x')"
        )
        await tx.execute(
            "INSERT INTO outbox (txn_id, room_id, event_type, content, purpose, ref, created_at)"
            " VALUES ('t1', '!adv:x', 'm.room.message', '{}', 'ticket_root', '1', 1)"
        )
    await db.close()

    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            row = await tx.fetchone("SELECT id, text, status FROM questions")
            assert row is not None and tuple(row) == (1, "Hur?", "open")
            link = await tx.fetchone("SELECT question_id, kind FROM question_links")
            assert link is not None and tuple(link) == (1, "detail")
            purpose = await tx.fetchone("SELECT purpose FROM outbox")
            assert purpose is not None and purpose["purpose"] == "question_root"
            assert await questions.next_id(tx) == 2
    finally:
        await db.close()


async def test_writes_at_commit_are_in_the_transaction_and_a_failing_one_undoes_it(
    tmp_path: Path,
) -> None:
    """``write_at_commit``: the statements run last, in the transaction, with the COMMIT; one
    that fails rolls back everything the transaction wrote, and the database goes on."""
    db = await Database.open(tmp_path / "w.db")
    try:
        async with db.transaction() as tx:
            await state_store.set_value(tx, "a", "1")
            tx.write_at_commit("INSERT INTO kv (key, value) VALUES (?, ?)", ("b", "2"))
            assert await state_store.get_value_tx(tx, "b") is None  # not yet
        assert await state_store.get_value(db, "b") == "2"

        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as tx:
                await state_store.set_value(tx, "c", "3")
                tx.write_at_commit("INSERT INTO kv (key, value) VALUES (?, ?)", ("d", "4"))
                tx.write_at_commit("INSERT INTO kv (key, value) VALUES (?, ?)", ("b", "again"))
        for key in ("c", "d"):
            assert await state_store.get_value(db, key) is None
        assert await state_store.get_value(db, "b") == "2"

        # A COMMIT that fails (here a foreign key checked only then) rolls back as well.
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as tx:
                await tx.execute("PRAGMA defer_foreign_keys = ON")
                await state_store.set_value(tx, "f", "6")
                tx.write_at_commit(
                    "INSERT INTO question_stages (question_id, stage, entered_at, moved_by)"
                    " VALUES (?, ?, ?, ?)",
                    (999, "x", 1, "@a:x"),
                )
        assert await state_store.get_value(db, "f") is None

        async with db.transaction() as tx:  # the writer is usable after the rollbacks
            await state_store.set_value(tx, "e", "5")
        assert await state_store.get_value(db, "e") == "5"
    finally:
        await db.close()
