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
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.db import Database, Tx

KEY_PREFIX = "evaluation.key:"
MESSAGES_KEPT_MS = 31 * 24 * 3600 * 1000

Reader = Tx | Database


# --- recording -----------------------------------------------------------------------------------


async def _key(tx: Tx, month: str, create: bool = True) -> bytes | None:
    """This month's secret for the authors' hashes (made on first use)."""
    row = await tx.fetchone("SELECT value FROM kv WHERE key = ?", (KEY_PREFIX + month,))
    if row is not None:
        return bytes.fromhex(str(row["value"]))
    if not create:
        return None
    key = secrets.token_bytes(32)
    await tx.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (KEY_PREFIX + month, key.hex()))
    return key


def _author(key: bytes, user_id: str) -> str:
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Message:
    """A member's message in a cohort room, as the measures see it."""

    cohort_id: str
    user_id: str
    event_id: str
    ts: int
    day: str  # local date, YYYY-MM-DD
    files: int  # 1 for a file, image, video or audio message
    links: int  # http(s) links in it
    replies_to: str | None  # the message it answers: a real reply, else its thread root
    in_thread: bool


async def record_message(tx: Tx, m: Message) -> None:
    month = m.day[:7]
    key = await _key(tx, month)
    assert key is not None
    author = _author(key, m.user_id)
    await tx.execute(
        "INSERT INTO activity_days (cohort_id, day) VALUES (?, ?)"
        " ON CONFLICT (cohort_id, day) DO NOTHING",
        (m.cohort_id, m.day),
    )
    first_today = await tx.changes(
        "INSERT INTO activity_members (cohort_id, month, user_id, messages, last_day)"
        " VALUES (?, ?, ?, 1, ?) ON CONFLICT (cohort_id, month, user_id) DO UPDATE SET"
        " messages = messages + 1, last_day = excluded.last_day"
        " WHERE last_day != excluded.last_day",
        (m.cohort_id, month, m.user_id, m.day),
    )
    if not first_today:  # wrote today already: only the count goes up
        await tx.execute(
            "UPDATE activity_members SET messages = messages + 1"
            " WHERE cohort_id = ? AND month = ? AND user_id = ?",
            (m.cohort_id, month, m.user_id),
        )
    peer = thread = 0
    if m.replies_to is not None:
        target = await tx.fetchone(
            "SELECT month, author, threaded FROM activity_messages"
            " WHERE event_id = ? AND cohort_id = ?",
            (m.replies_to, m.cohort_id),
        )
        if target is not None:
            their_key = await _key(tx, str(target["month"]), create=False)
            if their_key is not None and _author(their_key, m.user_id) != target["author"]:
                peer = 1
                if m.in_thread and not target["threaded"]:
                    thread = 1
                    await tx.execute(
                        "UPDATE activity_messages SET threaded = 1 WHERE event_id = ?",
                        (m.replies_to,),
                    )
    await tx.execute(
        "UPDATE activity_days SET messages = messages + 1, writers = writers + ?,"
        " threads = threads + ?, peer_replies = peer_replies + ?, files = files + ?,"
        " links = links + ? WHERE cohort_id = ? AND day = ?",
        (int(bool(first_today)), thread, peer, m.files, m.links, m.cohort_id, m.day),
    )
    await tx.execute(
        "INSERT OR IGNORE INTO activity_messages (event_id, cohort_id, month, author, ts)"
        " VALUES (?, ?, ?, ?, ?)",
        (m.event_id, m.cohort_id, month, author, m.ts),
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
    """The questions asked in the period: times and kinds, never their text or who asked."""
    where, params = _in("cohort_id", cohorts)
    rows = await db.fetchall(
        "SELECT id, cohort_id, category, private, asker_role, status, created_at, claimed_at,"
        " first_response_at, answered_at, closed_at, reopened,"
        " DENSE_RANK() OVER (ORDER BY asker) AS asker FROM questions"
        f" WHERE {where} AND created_at BETWEEN ? AND ? ORDER BY created_at",
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
        " (SELECT COUNT(*) FROM checkin_replies c WHERE c.run_id = r.id) AS replies"
        " FROM checkin_runs r WHERE r.status IN ('posted', 'late', 'manual')"
        f" AND {where} AND r.due_at BETWEEN ? AND ? ORDER BY r.due_at",
        (*params, from_ms, to_ms),
    )
    return [dict(r) for r in rows]


async def checkin_repliers(db: Reader, run_ids: Sequence[int]) -> int:
    """How many different people answered any of these check-ins."""
    if not run_ids:
        return 0
    row = await db.fetchone(
        "SELECT COUNT(DISTINCT user_id) AS n FROM checkin_replies"
        f" WHERE run_id IN ({','.join('?' * len(run_ids))})",
        tuple(run_ids),
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
