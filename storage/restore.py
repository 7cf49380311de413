"""Restoring a backup: the checks, the swap of the files, and what the restored bot recovers.

``natverk restore CONFIG BACKUP`` (bot/cli.py) checks the backup (:func:`inspect_backup`),
keeps the database it replaces aside and puts a marked copy of the backup in its place
(:func:`install`). At its next start the bot finds the mark (:func:`pending_restore`) and,
before it handles anything, records its own messages since the backup by their keys
(:func:`record_recovery`; bot/restore.py reads them from the homeserver).

While a bot runs on a database it holds :class:`RunLock` on the file next to it
(``<database>.lock``): the restore refuses to replace the database of a running bot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot import clock
from storage.db import Database, Tx
from storage.migrations import MIGRATIONS

PENDING = "restore.pending"  # kv: the mark `natverk restore` leaves (JSON, see install)
DONE = "restore.done"  # kv: the last restore recovered (JSON: the mark, and what was found)
TAKEN_AT = "backup.taken_at"  # kv in a backup written by `natverk backup`: when (ms)
# What the bot found since a backup and no row has used this long after the restore is not
# work it is about to redo (that is done at the first start): forgotten.
KEEP_RECOVERED_MS = 7 * 24 * 3600 * 1000
# The tables a natverk database has had since its first version.
NATVERK_TABLES = frozenset(
    {"schema_version", "credentials", "sync_state", "processed_events", "outbox", "kv"}
)


class RestoreError(RuntimeError):
    """The backup cannot be restored; the message says why."""


class BotRunningError(RuntimeError):
    """A bot runs on this database."""


class RunLock:
    """An exclusive lock on ``<database>.lock`` held while a bot runs on the database (the
    kernel releases it when the process ends, however it ends). Holds the process id."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(f"{db_path}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock; BotRunningError if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise BotRunningError(
                f"a natverk bot (pid {pid}) is running on this database"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.truncate(0)
            self._file.close()  # closing releases the lock
            self._file = None


@dataclass(frozen=True)
class BackupInfo:
    version: int
    taken_at_ms: int
    exact: bool  # the time was written by `natverk backup` (else: its newest activity)


def inspect_backup(path: Path) -> BackupInfo:
    """What the file at ``path`` is, if it is a natverk database this natverk can open;
    RestoreError saying why not otherwise."""
    path = Path(path)
    if not path.is_file():
        raise RestoreError(f"{path}: no such file")
    latest = MIGRATIONS[-1].version
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if not tables >= NATVERK_TABLES:
                raise RestoreError(f"{path} is an SQLite database, but not natverk's")
            version = int(
                conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            )
            if version > latest:
                raise RestoreError(
                    f"{path} has schema version {version}, but this natverk knows only up to "
                    f"{latest}: restore it with a natverk at least as new as the one that wrote it"
                )
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise RestoreError(f"{path} is damaged: {check}")
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (TAKEN_AT,)).fetchone()
            if row is not None:
                return BackupInfo(version, int(row[0]), exact=True)
            # A copy not written by `natverk backup`: the last thing it records.
            newest = conn.execute(
                "SELECT MAX(t) FROM (SELECT MAX(handled_at) AS t FROM processed_events"
                " UNION ALL SELECT MAX(created_at) FROM outbox"
                " UNION ALL SELECT MAX(sent_at) FROM outbox)"
            ).fetchone()[0]
            return BackupInfo(version, int(newest or 0), exact=False)
    except sqlite3.DatabaseError as err:
        raise RestoreError(f"{path} is not an SQLite database ({err})") from None


def install(backup: Path, db_path: Path, info: BackupInfo, now_ms: int) -> Path | None:
    """Put a copy of ``backup`` (checked: ``info``) at ``db_path`` (mode 0600), marked for the
    next start; the database it replaces (with its WAL) is renamed, never deleted, to
    ``<database>.replaced-<UTC time>``, which is returned (None if there was none). The
    caller holds the :class:`RunLock`."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staged = db_path.with_name(f"{db_path.name}.restoring")
    shutil.copyfile(backup, staged)
    os.chmod(staged, 0o600)
    mark = {
        "backup": str(backup),
        "backup_taken_at": info.taken_at_ms,
        "exact": info.exact,
        "restored_at": now_ms,
    }
    with contextlib.closing(sqlite3.connect(staged)) as conn, conn:
        conn.execute(
            "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (PENDING, json.dumps(mark))
        )
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'restored_events'").fetchone():
            conn.execute("DELETE FROM restored_events")  # an earlier restore's leftovers
    aside: Path | None = None
    if db_path.exists():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
        aside = db_path.with_name(f"{db_path.name}.replaced-{stamp}")
        n = 1
        while any(Path(f"{aside}{s}").exists() for s in ("", "-wal", "-shm")):
            n += 1  # two restores in one second: never overwrite the first one's
            aside = db_path.with_name(f"{db_path.name}.replaced-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{db_path}{suffix}")
            if part.exists():
                part.rename(Path(f"{aside}{suffix}"))
    os.replace(staged, db_path)
    return aside


@dataclass(frozen=True)
class PendingRestore:
    backup_taken_at: int
    restored_at: int
    mark: dict[str, Any]


async def pending_restore(db: Database) -> PendingRestore | None:
    """The mark of a restore not yet recovered from (the bot's first start after it)."""
    row = await db.fetchone("SELECT value FROM kv WHERE key = ?", (PENDING,))
    if row is None:
        return None
    mark = json.loads(row["value"])
    return PendingRestore(int(mark["backup_taken_at"]), int(mark["restored_at"]), mark)


async def record_recovery(
    tx: Tx,
    pending: PendingRestore,
    found: dict[str, tuple[str, str]],
    directs: dict[str, str],
    managed: dict[str, str] | None = None,
    joins: dict[str, int] | None = None,
) -> None:
    """What the bot found since the backup: its events by key (``key -> (event id, room)``),
    direct chats opened since (``user -> room``: a person's own replaces the known one) and the
    managed rooms made since (``key -> room``), with when the bot joined them (``joins``).
    The mark goes in the same transaction: a crash before it recovers again at the next
    start."""
    await tx.executemany(
        "INSERT OR IGNORE INTO joined_rooms (room_id, joined_ts) VALUES (?, ?)",
        list((joins or {}).items()),
    )
    await tx.executemany(
        "INSERT OR IGNORE INTO managed_rooms (key, room_id) VALUES (?, ?)",
        list((managed or {}).items()),
    )
    await tx.executemany(
        "INSERT OR REPLACE INTO restored_events (key, event_id, room_id) VALUES (?, ?, ?)",
        [(key, event_id, room_id) for key, (event_id, room_id) in found.items()],
    )
    await tx.executemany(  # a direct chat the person opened since replaces the known one
        "INSERT INTO direct_rooms (user_id, room_id) VALUES (?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id",
        list(directs.items()),
    )
    await tx.execute("DELETE FROM kv WHERE key = ?", (PENDING,))
    done = {
        **pending.mark,
        "recovered_at": clock.now_ms(),
        "events_found": len(found),
        "direct_chats_found": len(directs),
        "managed_rooms_found": len(managed or {}),
    }
    await tx.execute(
        "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (DONE, json.dumps(done))
    )


async def recovered_events(db: Database) -> dict[str, str]:
    """The recovered events not used yet: key -> event id."""
    rows = await db.fetchall("SELECT key, event_id FROM restored_events")
    return {str(r["key"]): str(r["event_id"]) for r in rows}


async def forget_stale_recovered(db: Database, now_ms: int) -> int:
    """Drop the recovered events no row has used :data:`KEEP_RECOVERED_MS` after the restore
    (how many): from then on nothing is looked up before a send."""
    row = await db.fetchone("SELECT value FROM kv WHERE key = ?", (DONE,))
    if row is None:
        return 0
    recovered_at = json.loads(row["value"]).get("recovered_at")
    if not isinstance(recovered_at, int) or now_ms - recovered_at < KEEP_RECOVERED_MS:
        return 0
    async with db.transaction() as tx:
        return await tx.changes("DELETE FROM restored_events")
