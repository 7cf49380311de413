"""`natverk restore CONFIG BACKUP`: what it refuses, and what it leaves in place."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from pathlib import Path

import pytest
import yaml

from bot.cli import main as natverk
from storage import Database
from storage import restore as restore_store
from storage.migrations import MIGRATIONS
from tests.network import network_data


@pytest.fixture
def network(tmp_path: Path) -> Path:
    """A configuration whose database exists (as after the bot's first start)."""
    data = network_data(
        homeserver="http://127.0.0.1:9",
        server_name="test",
        prefix="r",
        bot="@bot:test",
        admin="@admin:test",
        advisers=["@adviser:test"],
        facilitators=["@facilitator:test"],
        participants=[["@anna:test"]],
    )
    config = tmp_path / "natverk.yaml"
    config.write_text(yaml.safe_dump(data), "utf-8")
    _write(tmp_path / "natverk.db", "before the backup")
    return config


def _write(path: Path, value: str) -> None:
    async def write() -> None:
        db = await Database.open(path)
        try:
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT OR REPLACE INTO kv (key, value) VALUES ('test.state', ?)", (value,)
                )
        finally:
            await db.close()

    asyncio.run(write())


def _state(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, value FROM kv").fetchall())


def test_restore_keeps_the_replaced_database_and_marks_the_backup_for_the_next_start(
    network: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = network.parent / "natverk.db"
    backup = network.parent / "backup.db"
    assert natverk(["backup", str(network), str(backup)]) == 0
    taken_at = int(_state(backup)[restore_store.TAKEN_AT])
    _write(db_path, "after the backup")

    assert natverk(["restore", str(network), str(backup)]) == 0
    out = capsys.readouterr().out
    assert "Restored" in out and "kept as" in out
    state = _state(db_path)
    assert state["test.state"] == "before the backup"
    mark = json.loads(state[restore_store.PENDING])
    assert mark["backup_taken_at"] == taken_at and mark["exact"] is True
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    (kept,) = network.parent.glob("natverk.db.replaced-*[0-9Z]")
    assert _state(kept)["test.state"] == "after the backup"  # never destroyed
    assert _state(backup)["test.state"] == "before the backup"  # the backup is untouched
    assert restore_store.PENDING not in _state(backup)


def test_restore_refuses_while_the_bot_runs(
    network: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = network.parent / "backup.db"
    assert natverk(["backup", str(network), str(backup)]) == 0
    running = restore_store.RunLock(network.parent / "natverk.db")
    running.acquire()  # as `natverk run` holds it
    try:
        assert natverk(["restore", str(network), str(backup)]) == 1
        assert "is running on this database; stop it first" in capsys.readouterr().err
    finally:
        running.release()
    assert restore_store.PENDING not in _state(network.parent / "natverk.db")
    assert natverk(["restore", str(network), str(backup)]) == 0


def test_restore_refuses_a_file_that_is_not_a_natverk_database(
    network: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = network.parent / "notes.txt"
    text.write_text("not a database\n" * 100)
    assert natverk(["restore", str(network), str(text)]) == 1
    assert "not an SQLite database" in capsys.readouterr().err
    other = network.parent / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert natverk(["restore", str(network), str(other)]) == 1
    assert "not natverk's" in capsys.readouterr().err
    assert natverk(["restore", str(network), str(network.parent / "missing.db")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert _state(network.parent / "natverk.db")["test.state"] == "before the backup"
    assert not list(network.parent.glob("natverk.db.replaced-*"))


def test_restore_refuses_a_backup_from_a_newer_natverk(
    network: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = network.parent / "backup.db"
    assert natverk(["backup", str(network), str(backup)]) == 0
    newer = MIGRATIONS[-1].version + 1
    with sqlite3.connect(backup) as conn:
        conn.execute(
            "INSERT INTO schema_version (version, description) VALUES (?, 'future')", (newer,)
        )
    assert natverk(["restore", str(network), str(backup)]) == 1
    assert f"schema version {newer}" in capsys.readouterr().err


def test_a_copy_not_written_by_natverk_backup_is_dated_by_its_last_activity(
    network: Path,
) -> None:
    copy = network.parent / "copy.db"
    with sqlite3.connect(network.parent / "natverk.db") as conn:
        conn.execute(
            "INSERT INTO processed_events (event_id, room_id, handled_at) VALUES ('$e', '!r', 5)"
        )
    with sqlite3.connect(network.parent / "natverk.db") as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    info = restore_store.inspect_backup(copy)
    assert info.taken_at_ms == 5 and not info.exact


def test_a_second_bot_on_the_same_database_does_not_start(
    network: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NATVERK_ACCESS_TOKEN", "unused")
    running = restore_store.RunLock(network.parent / "natverk.db")
    running.acquire()
    try:
        assert natverk(["run", str(network)]) == 1
    finally:
        running.release()
    err = capsys.readouterr().err
    assert "did not start" in err and "is running on this database" in err


def test_two_restores_in_one_second_keep_both_replaced_databases(network: Path) -> None:
    db_path = network.parent / "natverk.db"
    backup = network.parent / "backup.db"
    assert natverk(["backup", str(network), str(backup)]) == 0
    info = restore_store.inspect_backup(backup)
    for value in ("first", "second"):
        _write(db_path, value)
        restore_store.install(backup, db_path, info, now_ms=1_700_000_000_000)
    kept = sorted(network.parent.glob("natverk.db.replaced-*[0-9Z]"))
    assert sorted(_state(k)["test.state"] for k in kept) == ["first", "second"]
