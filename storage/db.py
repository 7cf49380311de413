"""SQLite access: one writer connection, one reader connection, numbered migrations.

Everything that writes goes through :meth:`Database.transaction`, which serialises writers
with an asyncio lock and opens the transaction with ``BEGIN IMMEDIATE`` (see
shared/MATRIX_NOTES.md: two tasks sharing one aiosqlite connection share its transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from storage.causes import CAUSE, Cause
from storage.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)
T = TypeVar("T")

Row = sqlite3.Row
Params = Sequence[Any] | dict[str, Any]
# Runs the sent hook of an outbox row marked sent as an event recovered after a restore.
RecoveredHook = Callable[["Tx", Any, str], Awaitable[None]]


class DatabaseTooNewError(RuntimeError):
    """The database was written by a newer natverk than this one."""


class Tx:
    """An open write transaction. Only storage modules call its methods."""

    def __init__(self, conn: aiosqlite.Connection, db: Database | None = None) -> None:
        self._conn = conn
        self._db = db
        self._savepoints = 0
        self._unopened: list[str] = []  # savepoints entered but not yet needed (no write yet)
        self.after_commit: list[Callable[[], None]] = []
        self._pending: dict[str, Any] = {}
        # The database's memo of slow-changing values (kept across transactions).
        self.memo: dict[str, Any] = db.memo if db is not None else {}
        self.before_commit: list[Callable[[], Awaitable[None]]] = []
        # The cause of the rows queued now (their keys: storage/outbox.py).
        self.cause: Cause | None = None
        # After a restore: the bot's events found since the backup (key -> event id), and the
        # rows of this transaction marked sent as one of them, whose sent hooks are due.
        self.recovered: dict[str, str] | None = db.recovered if db is not None else None
        self.on_recovered: RecoveredHook | None = db.on_recovered if db is not None else None
        self.recovered_rows: list[tuple[Any, str]] = []
        self.at_commit: list[tuple[str, Params]] = []  # see write_at_commit

    # Each call below is one hop to aiosqlite's thread: on the hot path (every event of every
    # sync) the hops, not SQLite, are what costs.

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return lastrowid (for INSERT) or the number of rows changed."""
        if sql.lstrip()[:6].upper() == "INSERT":
            await self._open_savepoints()
            row = await self._conn.execute_insert(sql, params)
            return int(row[0]) if row else 0
        return await self.changes(sql, params)

    async def changes(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return how many rows it inserted, changed or deleted."""
        await self._open_savepoints()
        before = self._conn.total_changes
        await self._conn.execute_fetchall(sql, params)
        return int(self._conn.total_changes - before)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._open_savepoints()
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return next(iter(await self.fetchall(sql, params)), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        if sql.lstrip()[:6].upper() != "SELECT":
            await self._open_savepoints()  # e.g. INSERT ... RETURNING
        return list(await self._conn.execute_fetchall(sql, params))

    def publish(self, topic: str, value: Any) -> None:
        """Hand ``value`` to the database's subscribers to ``topic`` once this transaction has
        committed; never if it (or the savepoint it was published in) is rolled back."""
        if self._db is not None:
            self.after_commit.append(partial(self._db.publish, topic, value))

    def pending(
        self, key: str, make: Callable[[], T], flush: Callable[[Tx, T], Awaitable[None]]
    ) -> T:
        """A buffer of writes for this transaction (made by ``make`` on first use), written by
        ``flush`` once, just before the transaction commits (in it: a failure rolls all back).
        For counts on the hot path: many events, a few statements per transaction. Writes
        buffered inside a savepoint are not undone if the savepoint is."""
        if key not in self._pending:
            buffer = self._pending[key] = make()
            self.before_commit.append(partial(flush, self, buffer))
        return cast(T, self._pending[key])

    def write_at_commit(self, sql: str, params: Params = ()) -> None:
        """Run ``sql`` as this transaction's last statement, in the same round trip to the
        writer's thread as the COMMIT (for a flush of :meth:`pending`: the hot path saves a
        hop). A failure rolls the whole transaction back, like any statement's."""
        self.at_commit.append((sql, params))

    def savepoint(self) -> _Savepoint:
        """A nested unit of work (``async with tx.savepoint():``): an exception inside undoes
        only this part.

        The SAVEPOINT statement is only sent before the first write inside, so a unit that
        writes nothing (most listeners, for most events) costs no round trip at all."""
        self._savepoints += 1
        return _Savepoint(self, f"sp{self._savepoints}")

    async def _open_savepoints(self) -> None:
        while self._unopened:
            await self._conn.execute_fetchall(f"SAVEPOINT {self._unopened.pop(0)}")


class _Savepoint:
    """:meth:`Tx.savepoint`; a plain class, not a generator: one is entered for every
    listener on every event."""

    __slots__ = ("_callbacks", "_name", "_recovered", "_tx")

    def __init__(self, tx: Tx, name: str) -> None:
        self._tx, self._name = tx, name
        self._callbacks = 0
        self._recovered = 0

    async def __aenter__(self) -> None:
        self._tx._unopened.append(self._name)
        self._callbacks = len(self._tx.after_commit)
        self._recovered = len(self._tx.recovered_rows)

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        tx, name = self._tx, self._name
        if kind is not None:
            del tx.after_commit[self._callbacks :]
            del tx.recovered_rows[self._recovered :]
        if name in tx._unopened:
            tx._unopened.remove(name)
        elif kind is not None:
            await tx._conn.execute_fetchall(f"ROLLBACK TO {name}")
            await tx._conn.execute_fetchall(f"RELEASE {name}")
        else:
            await tx._conn.execute_fetchall(f"RELEASE {name}")


def _write_and_commit(writer: aiosqlite.Connection, statements: list[tuple[str, Params]]) -> None:
    """In the writer's thread (see :meth:`Database._write_and_commit`)."""
    conn: sqlite3.Connection = writer._conn
    try:
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA busy_timeout=5000")
    await conn.execute("PRAGMA synchronous=FULL")
    await conn.execute("PRAGMA cache_size=-32768")  # 32 MiB: the full-text index writes in bulk
    return conn


class Database:
    """The bot's SQLite database."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self._subscribers: dict[str, list[Callable[[Any], None]]] = {}
        self.memo: dict[str, Any] = {}  # see Tx.memo
        # After a restore (bot/restore.py): see Tx.recovered and Tx.on_recovered.
        self.recovered: dict[str, str] | None = None
        self.on_recovered: RecoveredHook | None = None

    @classmethod
    async def open(cls, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> Database:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not path.exists()
        writer = await _connect(path)
        if new_file:
            # The database holds the bot's access token and personal data.
            os.chmod(path, 0o600)
        reader = await _connect(path)
        db = cls(path, writer, reader)
        try:
            await db._upgrade(migrations)
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self._writer.execute_fetchall("BEGIN IMMEDIATE")
            tx = Tx(self._writer, self)
            tx.cause = CAUSE.get()
            try:
                yield tx
            except BaseException:
                await self._writer.execute_fetchall("ROLLBACK")
                raise
            else:
                try:
                    while tx.recovered_rows and tx.on_recovered is not None:
                        await tx.on_recovered(tx, *tx.recovered_rows.pop(0))
                    for flush in tx.before_commit:
                        await flush()
                except BaseException:
                    await self._writer.execute_fetchall("ROLLBACK")
                    raise
                if tx.at_commit:
                    await self._write_and_commit(tx.at_commit)
                else:
                    await self._writer.execute_fetchall("COMMIT")
        for callback in tx.after_commit:
            callback()

    async def _write_and_commit(self, statements: list[tuple[str, Params]]) -> None:
        """The statements, then COMMIT, in one call in the writer's thread (aiosqlite's
        ``_execute``: it has no public way to run two statements in one round trip; without
        it, one call each). A failing statement (or COMMIT) rolls the transaction back."""
        writer = self._writer
        run_in_thread = getattr(writer, "_execute", None)
        if run_in_thread is None:  # pragma: no cover - an aiosqlite without it
            try:
                for sql, params in statements:
                    await writer.execute_fetchall(sql, params)
                await writer.execute_fetchall("COMMIT")
            except BaseException:
                if writer.in_transaction:
                    await writer.execute_fetchall("ROLLBACK")
                raise
            return
        await run_in_thread(_write_and_commit, writer, statements)

    def subscribe(self, topic: str, callback: Callable[[Any], None]) -> None:
        """Call ``callback`` with every value published to ``topic`` by a committed
        transaction of this process (see :meth:`Tx.publish`)."""
        self._subscribers.setdefault(topic, []).append(callback)

    def publish(self, topic: str, value: Any) -> None:
        for callback in self._subscribers.get(topic, ()):
            callback(value)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._reader.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._reader.execute_fetchall(sql, params))

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
        return int(row["v"]) if row else 0

    async def backup(self, dest: Path, taken_at_ms: int | None = None) -> None:
        """Write a consistent online copy of the database to ``dest``; with ``taken_at_ms``,
        the copy remembers when it was taken (``natverk restore`` reads it)."""
        dest = Path(dest)
        if dest.exists():
            raise FileExistsError(f"{dest} already exists")
        await self._reader.execute("VACUUM INTO ?", (str(dest),))
        os.chmod(dest, 0o600)
        if taken_at_ms is not None:
            with contextlib.closing(sqlite3.connect(dest)) as copy, copy:
                copy.execute(
                    "INSERT OR REPLACE INTO kv (key, value) VALUES ('backup.taken_at', ?)",
                    (str(taken_at_ms),),
                )

    async def _upgrade(self, migrations: Sequence[Migration]) -> None:
        await self._writer.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        current = await self._current_version()
        latest = migrations[-1].version if migrations else 0
        if current > latest:
            raise DatabaseTooNewError(
                f"{self.path} has schema version {current}, but this natverk knows only up to "
                f"{latest}; upgrade natverk or restore a backup"
            )
        for step in migrations:
            if step.version <= current:
                continue
            log.info("Migrating database to v%d: %s", step.version, step.description)
            async with self.transaction() as tx:
                for statement in step.statements():
                    await tx.execute(statement)
                await tx.execute(
                    "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                    (step.version, step.description),
                )

    async def _current_version(self) -> int:
        async with self._writer.execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version"
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
