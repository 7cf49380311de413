"""The pilot's measures: counts per cohort and day, a monthly message count per person, and the
catalogue's searches. Never message content; who wrote what only as a keyed hash, for a month.

What counts is decided in ``commands/evaluation/measures.py``; the figures are computed in
``commands/evaluation/figures.py`` from what the readers here return.
"""

# The queries put only fixed names and "?" marks into their SQL text (see _in): S608 is moot.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from storage.db import Database, Tx

KEY_PREFIX = "evaluation.key:"
MESSAGES_KEPT_MS = 31 * 24 * 3600 * 1000

Reader = Tx | Database
T = TypeVar("T")
log = logging.getLogger(__name__)


# --- recording -----------------------------------------------------------------------------------


def _author(key: bytes, user_id: str) -> str:
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:32]


class Message(NamedTuple):
    """A member's message in a cohort room, as the measures see it. The inbox row holds these
    fields as JSON arrays (the listener makes them as plain tuples, :data:`MessageRow`)."""

    cohort_id: str
    user_id: str
    event_id: str
    ts: int
    day: str  # local date, YYYY-MM-DD
    files: int  # 1 for a file, image, video or audio message
    links: int  # http(s) links in it
    replies_to: str | None  # the message it answers: a real reply, else its thread root
    thread_root: str | None = None  # the thread it is in


# A message as :func:`record_later`'s ``make`` gives it: the fields of :class:`Message` in
# its order, as a plain tuple (made for every message, at a fifth of a NamedTuple's cost).
MessageRow = tuple[str, str, str, int, str, int, int, str | None, str | None]


@dataclass
class _Inbox:
    """One transaction's messages: written as one row with its COMMIT (the measures are on
    the path of every message), counted by :func:`fold` later. ``later`` holds what a
    listener appended on that path, made into messages by ``make`` in one loop at the end."""

    messages: list[MessageRow] = field(default_factory=list)
    later: list[Any] = field(default_factory=list)
    make: Callable[[Any], MessageRow | None] | None = None


def record_message(tx: Tx, m: Message) -> None:
    """Buffered in memory; written just before ``tx`` commits (no statement per message)."""
    tx.pending("evaluation.inbox", _Inbox, _to_inbox).messages.append(m)


def record_later(tx: Tx, make: Callable[[T], MessageRow | None]) -> list[T]:
    """A list to append to on the path of every message (appending is all that path pays):
    just before ``tx`` commits, in it, each item is made into a message by ``make`` (None:
    it counts nothing) and written with the transaction's other messages as one inbox row.
    One ``make`` per transaction (the first given)."""
    inbox = tx.pending("evaluation.inbox", _Inbox, _to_inbox)
    if inbox.make is None:
        inbox.make = make
    return inbox.later


async def _to_inbox(tx: Tx, inbox: _Inbox) -> None:
    messages = inbox.messages
    if inbox.later and inbox.make is not None:
        messages = messages + _made(inbox.make, inbox.later)
    if not messages:
        return
    rows = json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
    tx.write_at_commit("INSERT INTO activity_inbox (messages) VALUES (?)", (rows,))


def _made(make: Callable[[Any], MessageRow | None], items: list[Any]) -> list[MessageRow]:
    """``make`` over the items; one that fails is left uncounted and logged (as the dispatcher
    does for a listener that fails): it never takes the transaction down with it."""
    made = []
    for item in items:
        try:
            m = make(item)
        except Exception:
            log.exception("A message could not be counted for the measures")
            continue
        if m is not None:
            made.append(m)
    return made


async def fold_now(db: Reader) -> int:
    """:func:`fold` in ``db``'s transaction, or in one of its own."""
    if isinstance(db, Tx):
        return await fold(db)
    async with db.transaction() as tx:
        return await fold(tx)


async def fold(tx: Tx, *, rows: int = 200) -> int:
    """Count the messages waiting in the inbox (all of them, ``rows`` inbox rows at a time);
    the number of messages counted. Run about once a minute, and before anything reads the
    counts or a person's data."""
    counted = 0
    while True:
        found = await tx.fetchall(
            "SELECT id, messages FROM activity_inbox ORDER BY id LIMIT ?", (rows,)
        )
        if not found:
            return counted
        batch = [Message(*m) for r in found for m in json.loads(r["messages"])]
        if batch:
            await _count(tx, batch)
        await tx.execute("DELETE FROM activity_inbox WHERE id <= ?", (found[-1]["id"],))
        counted += len(batch)


async def _keys(tx: Tx, months: set[str]) -> dict[str, bytes]:
    """Each month's secret for the authors' hashes (made on first use; kept in memory by the
    database once read: they change only when made or pruned)."""
    memo: dict[str, bytes] = tx.memo.setdefault(KEY_PREFIX, {})
    missing = sorted(m for m in months if m not in memo)
    if missing:
        rows = await tx.fetchall(
            f"SELECT key, value FROM kv WHERE key IN ({','.join('?' * len(missing))})",
            [KEY_PREFIX + m for m in missing],
        )
        memo.update({str(r["key"])[len(KEY_PREFIX) :]: bytes.fromhex(r["value"]) for r in rows})
    return memo


async def _stored(tx: Tx, ids: set[str]) -> dict[str, list[Any]]:
    """[cohort, month, author, ts, threaded] of stored recent messages, by event id."""
    found: dict[str, list[Any]] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = await tx.fetchall(
            "SELECT event_id, cohort_id, month, author, ts, threaded FROM activity_messages"
            f" WHERE event_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.update({r["event_id"]: list(r)[1:] for r in rows})
    return found


async def _count(tx: Tx, messages: list[Message]) -> None:
    months = {m.day[:7] for m in messages}
    own = {m.event_id for m in messages}
    targets = {t for m in messages for t in (m.replies_to, m.thread_root) if t} - own
    known = await _stored(tx, targets) if targets else {}
    memo = await _keys(tx, months | {str(v[1]) for v in known.values()})
    new = {m: secrets.token_bytes(32) for m in months if m not in memo}
    if new:
        await tx.executemany(
            "INSERT INTO kv (key, value) VALUES (?, ?)",
            [(KEY_PREFIX + m, k.hex()) for m, k in new.items()],
        )
        tx.after_commit.append(lambda: memo.update(new))  # remembered once they are stored
    keys = {**memo, **new}
    recent: dict[str, list[Any]] = {}

    def other(target: list[Any] | None, m: Message) -> bool:
        if target is None or target[0] != m.cohort_id:
            return False
        key = keys.get(str(target[1]))
        return key is not None and _author(key, m.user_id) != target[2]

    rows = []
    for m in messages:
        month = m.day[:7]
        peer = thread = 0
        threaded_root = None
        if m.replies_to is not None:
            peer = int(other(recent.get(m.replies_to) or known.get(m.replies_to), m))
        if m.thread_root is not None:
            root = recent.get(m.thread_root) or known.get(m.thread_root)
            if root is not None and not root[4] and other(root, m):
                thread, root[4], threaded_root = 1, 1, m.thread_root
        author = _author(keys[month], m.user_id)
        recent.setdefault(m.event_id, [m.cohort_id, month, author, m.ts, 0])
        rows.append(
            (m.event_id, m.cohort_id, m.day, month, m.user_id, author, m.ts, m.files, m.links,
             peer, thread, threaded_root)
        )  # fmt: skip
    await tx.executemany(
        "INSERT INTO activity_input (event_id, cohort_id, day, month, user_id, author, ts,"
        " files, links, peer, thread, threaded_root) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


async def record_search(
    tx: Tx, cohort_id: str, day: str, found: bool, words: Sequence[str]
) -> None:
    """A catalogue search; the folded words only of one that found nothing (no person)."""
    await tx.execute(
        "INSERT INTO search_days (cohort_id, day, searches, empty) VALUES (?, ?, 1, ?)"
        " ON CONFLICT (cohort_id, day) DO UPDATE SET searches = searches + 1,"
        " empty = empty + excluded.empty",
        (cohort_id, day, int(not found)),
    )
    if found:
        return
    for word in dict.fromkeys(words):
        await tx.execute(
            "INSERT INTO search_misses (cohort_id, day, word, count) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (cohort_id, day, word) DO UPDATE SET count = count + 1",
            (cohort_id, day, word),
        )


async def prune(tx: Tx, *, before_day: str, now_ms: int) -> int:
    """Drop the measures of days before ``before_day`` (the retention), the recent messages
    after 31 days, and the authors' keys of months before last month."""
    await fold(tx)
    removed = 0
    for table in ("activity_days", "search_days", "search_misses"):
        removed += await tx.changes(
            f"DELETE FROM {table} WHERE day < ?",
            (before_day,),
        )
    removed += await tx.changes("DELETE FROM activity_members WHERE month < ?", (before_day[:7],))
    removed += await tx.changes(
        "DELETE FROM activity_messages WHERE ts < ?", (now_ms - MESSAGES_KEPT_MS,)
    )
    tx.memo.pop(KEY_PREFIX, None)  # the keys are read again
    oldest_kept = await tx.fetchone("SELECT MIN(month) AS m FROM activity_messages")
    if oldest_kept is not None and oldest_kept["m"] is not None:
        await tx.execute(
            "DELETE FROM kv WHERE key LIKE ? AND key < ?",
            (KEY_PREFIX + "%", KEY_PREFIX + str(oldest_kept["m"])),
        )
    else:
        await tx.execute("DELETE FROM kv WHERE key LIKE ?", (KEY_PREFIX + "%",))
    return removed


# --- a person's data ---------------------------------------------------------------------------


async def export_user(db: Reader, user_id: str) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT cohort_id, month, messages FROM activity_members WHERE user_id = ?"
        " ORDER BY month, cohort_id",
        (user_id,),
    )
    return [dict(r) for r in rows]


async def erase_user(tx: Tx, user_id: str) -> int:
    """The person's monthly counts, and the hashes of their recent messages."""
    await fold(tx)  # none of theirs waits in the inbox
    count = await tx.changes("DELETE FROM activity_members WHERE user_id = ?", (user_id,))
    keys = await tx.fetchall("SELECT key, value FROM kv WHERE key LIKE ?", (KEY_PREFIX + "%",))
    for row in keys:
        month = str(row["key"])[len(KEY_PREFIX) :]
        author = _author(bytes.fromhex(str(row["value"])), user_id)
        await tx.execute(
            "DELETE FROM activity_messages WHERE month = ? AND author = ?", (month, author)
        )
    return count


# --- reading, for the report -------------------------------------------------------------------


def _in(column: str, values: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    if values is None:
        return "1 = 1", ()
    return f"{column} IN ({','.join('?' * len(values))})", tuple(values)


async def activity_days(
    db: Reader, cohorts: Sequence[str] | None, first_day: str, last_day: str
) -> list[dict[str, Any]]:
    where, params = _in("cohort_id", cohorts)
    rows = await db.fetchall(
        "SELECT cohort_id, day, messages, writers, threads, peer_replies, files, links"
        f" FROM activity_days WHERE {where} AND day BETWEEN ? AND ? ORDER BY day",
        (*params, first_day, last_day),
    )
    return [dict(r) for r in rows]


async def member_months(
    db: Reader, cohorts: Sequence[str] | None, first_month: str, last_month: str
) -> list[dict[str, Any]]:
    """Per person and month (over the cohorts), their messages; the person as a number that
    means nothing outside this answer."""
    where, params = _in("cohort_id", cohorts)
    rows = await db.fetchall(
        "SELECT month, DENSE_RANK() OVER (ORDER BY user_id) AS person,"
        " SUM(messages) AS messages FROM activity_members"
        f" WHERE {where} AND month BETWEEN ? AND ?"
        " GROUP BY month, user_id ORDER BY month",
        (*params, first_month, last_month),
    )
    return [dict(r) for r in rows]


async def first_day(db: Reader) -> str | None:
    row = await db.fetchone(
        "SELECT MIN(day) AS d FROM (SELECT MIN(day) AS day FROM activity_days"
        " UNION ALL SELECT MIN(day) FROM search_days)"
    )
    return None if row is None or row["d"] is None else str(row["d"])


async def questions(
    db: Reader, cohorts: Sequence[str] | None, from_ms: int, to_ms: int
) -> list[dict[str, Any]]:
    """The questions asked in the period: times and kinds, never their text or who asked.
    Requests the advisers opened (``!contact``) are not questions asked."""
    where, params = _in("cohort_id", cohorts)
    rows = await db.fetchall(
        "SELECT id, cohort_id, category, private, asker_role, status, created_at, claimed_at,"
        " first_response_at, answered_at, closed_at, reopened,"
        " DENSE_RANK() OVER (ORDER BY asker) AS asker FROM questions"
        f" WHERE {where} AND opened_by IS NULL AND created_at BETWEEN ? AND ?"
        " ORDER BY created_at",
        (*params, from_ms, to_ms),
    )
    return [dict(r) for r in rows]


async def materials(
    db: Reader, cohorts: Sequence[str] | None, from_ms: int, to_ms: int
) -> list[dict[str, Any]]:
    where, params = _in("cohort_id", cohorts)
    rows = await db.fetchall(
        "SELECT cohort_id, kind, tag_keys, shared, created_at,"
        " DENSE_RANK() OVER (ORDER BY uploader) AS uploader FROM materials"
        f" WHERE {where} AND created_at BETWEEN ? AND ?",
        (*params, from_ms, to_ms),
    )
    return [dict(r) for r in rows]


async def searches(
    db: Reader, cohorts: Sequence[str] | None, first_day: str, last_day: str
) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """Searches per day, and the words of searches that found nothing, most frequent first."""
    where, params = _in("cohort_id", cohorts)
    days = await db.fetchall(
        "SELECT day, SUM(searches) AS searches, SUM(empty) AS empty FROM search_days"
        f" WHERE {where} AND day BETWEEN ? AND ? GROUP BY day ORDER BY day",
        (*params, first_day, last_day),
    )
    words = await db.fetchall(
        "SELECT word, SUM(count) AS n FROM search_misses"
        f" WHERE {where} AND day BETWEEN ? AND ?"
        " GROUP BY word ORDER BY n DESC, word LIMIT 20",
        (*params, first_day, last_day),
    )
    return [dict(r) for r in days], [(str(r["word"]), int(r["n"])) for r in words]


async def checkin_runs(
    db: Reader, cohorts: Sequence[str] | None, from_ms: int, to_ms: int
) -> list[dict[str, Any]]:
    """The check-ins posted in the period, with how many answered each."""
    where, params = _in("r.cohort_id", cohorts)
    rows = await db.fetchall(
        "SELECT r.id, r.cohort_id, r.schedule_id, r.due_at,"
        " COALESCE(r.replies_kept, 0)"
        " + (SELECT COUNT(*) FROM checkin_replies c WHERE c.run_id = r.id) AS replies"
        " FROM checkin_runs r WHERE r.status IN ('posted', 'late', 'manual')"
        f" AND {where} AND r.due_at BETWEEN ? AND ? ORDER BY r.due_at",
        (*params, from_ms, to_ms),
    )
    return [dict(r) for r in rows]


async def checkin_repliers(db: Reader, run_ids: Sequence[int]) -> int:
    """How many different people answered any of these check-ins, at least: where the
    retention erased who answered, a run counts with its number of replies."""
    if not run_ids:
        return 0
    marks = ",".join("?" * len(run_ids))
    row = await db.fetchone(
        "SELECT MAX((SELECT COUNT(DISTINCT user_id) FROM checkin_replies"
        f" WHERE run_id IN ({marks})),"
        f" (SELECT COALESCE(MAX(replies_kept), 0) FROM checkin_runs WHERE id IN ({marks}))) AS n",
        (*run_ids, *run_ids),
    )
    return int(row["n"]) if row else 0


async def survey_rounds(
    db: Reader, cohorts: Sequence[str] | None, from_ms: int, to_ms: int
) -> list[dict[str, Any]]:
    """The survey rounds opened in the period, with how many were asked and answered."""
    where, params = _in("r.cohort_id", cohorts)
    rows = await db.fetchall(
        "SELECT r.id, r.survey_id, r.cohort_id, r.opened_at,"
        " (SELECT COUNT(*) FROM survey_invites i WHERE i.round_id = r.id) AS invited,"
        " (SELECT COUNT(*) FROM survey_responses s WHERE s.round_id = r.id) AS responded"
        f" FROM survey_rounds r WHERE {where} AND r.opened_at BETWEEN ? AND ?"
        " ORDER BY r.opened_at",
        (*params, from_ms, to_ms),
    )
    return [dict(r) for r in rows]
