"""Check-ins: schedule cursors, runs handled (once each), who answered, and native polls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.db import Database, Tx


@dataclass(frozen=True)
class ScheduleState:
    cohort_id: str
    schedule_id: str
    fingerprint: str
    next_due: int | None
    paused: bool


@dataclass(frozen=True)
class Run:
    id: int
    cohort_id: str
    schedule_id: str
    due_at: int
    status: str
    handled_at: int
    room_id: str | None
    root_outbox: int | None
    root_event: str | None
    remind_at: int | None
    reminded_at: int | None
    replies_kept: int | None = None  # how many answered, once the retention erased who


@dataclass(frozen=True)
class Poll:
    id: int
    run_id: int | None
    cohort_id: str
    room_id: str
    start_outbox: int
    start_event: str | None
    question: str
    answers: list[str]
    close_at: int
    end_ts: int | None
    closed_at: int | None
    result: dict[str, Any] | None
    end_outbox: int | None = None  # the bot's end event, sent and awaiting its echo

    @property
    def start_ref(self) -> str:
        return self.start_event or f"$outbox:{self.start_outbox}"


def _state(row: Any) -> ScheduleState:
    return ScheduleState(
        row["cohort_id"],
        row["schedule_id"],
        row["fingerprint"],
        row["next_due"],
        bool(row["paused"]),
    )


def _run(row: Any) -> Run:
    return Run(**{k: row[k] for k in row.keys()})  # noqa: SIM118


def _poll(row: Any) -> Poll:
    values = {k: row[k] for k in row.keys()}  # noqa: SIM118
    values["answers"] = json.loads(values["answers"])
    values["result"] = json.loads(values["result"]) if values["result"] else None
    return Poll(**values)


# --- schedules -----------------------------------------------------------------------------------


async def schedule_states(tx: Tx) -> dict[tuple[str, str], ScheduleState]:
    rows = await tx.fetchall("SELECT * FROM checkin_schedules")
    return {(r["cohort_id"], r["schedule_id"]): _state(r) for r in rows}


async def schedule_state(tx: Tx, cohort_id: str, schedule_id: str) -> ScheduleState | None:
    row = await tx.fetchone(
        "SELECT * FROM checkin_schedules WHERE cohort_id = ? AND schedule_id = ?",
        (cohort_id, schedule_id),
    )
    return None if row is None else _state(row)


async def put_schedule(
    tx: Tx, cohort_id: str, schedule_id: str, fingerprint: str, next_due: int | None
) -> None:
    """Add a schedule or take a changed one's new definition (a pause is kept)."""
    await tx.execute(
        "INSERT INTO checkin_schedules (cohort_id, schedule_id, fingerprint, next_due)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (cohort_id, schedule_id) DO UPDATE SET"
        " fingerprint = excluded.fingerprint, next_due = excluded.next_due",
        (cohort_id, schedule_id, fingerprint, next_due),
    )


async def remove_schedule(tx: Tx, cohort_id: str, schedule_id: str) -> None:
    await tx.execute(
        "DELETE FROM checkin_schedules WHERE cohort_id = ? AND schedule_id = ?",
        (cohort_id, schedule_id),
    )


async def due_schedules(tx: Tx, now_ms: int) -> list[ScheduleState]:
    rows = await tx.fetchall(
        "SELECT * FROM checkin_schedules WHERE paused = 0 AND next_due IS NOT NULL"
        " AND next_due <= ? ORDER BY next_due",
        (now_ms,),
    )
    return [_state(r) for r in rows]


async def set_next_due(tx: Tx, cohort_id: str, schedule_id: str, next_due: int | None) -> None:
    await tx.execute(
        "UPDATE checkin_schedules SET next_due = ? WHERE cohort_id = ? AND schedule_id = ?",
        (next_due, cohort_id, schedule_id),
    )


async def set_paused(
    tx: Tx, cohort_id: str, schedule_id: str, paused: bool, next_due: int | None = None
) -> None:
    if paused:
        await tx.execute(
            "UPDATE checkin_schedules SET paused = 1 WHERE cohort_id = ? AND schedule_id = ?",
            (cohort_id, schedule_id),
        )
    else:
        await tx.execute(
            "UPDATE checkin_schedules SET paused = 0, next_due = ?"
            " WHERE cohort_id = ? AND schedule_id = ?",
            (next_due, cohort_id, schedule_id),
        )


# --- runs ----------------------------------------------------------------------------------------


async def insert_run(
    tx: Tx,
    cohort_id: str,
    schedule_id: str,
    due_at: int,
    status: str,
    handled_at: int,
    room_id: str | None = None,
) -> int | None:
    """Record a run; None if this (schedule, due time) was handled before."""
    row = await tx.fetchone(
        "INSERT INTO checkin_runs (cohort_id, schedule_id, due_at, status, handled_at, room_id)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cohort_id, schedule_id, due_at) DO NOTHING"
        " RETURNING id",
        (cohort_id, schedule_id, due_at, status, handled_at, room_id),
    )
    return None if row is None else int(row["id"])


async def set_run_root(tx: Tx, run_id: int, root_outbox: int, remind_at: int | None) -> None:
    await tx.execute(
        "UPDATE checkin_runs SET root_outbox = ?, remind_at = ? WHERE id = ?",
        (root_outbox, remind_at, run_id),
    )


async def set_root_event(tx: Tx, run_id: int, event_id: str) -> None:
    await tx.execute("UPDATE checkin_runs SET root_event = ? WHERE id = ?", (event_id, run_id))


async def run_by_root(tx: Tx, root_event: str) -> Run | None:
    row = await tx.fetchone("SELECT * FROM checkin_runs WHERE root_event = ?", (root_event,))
    return None if row is None else _run(row)


async def runs_of(tx: Tx | Database, cohort_id: str, schedule_id: str | None = None) -> list[Run]:
    sql = "SELECT * FROM checkin_runs WHERE cohort_id = ?"
    params: list[Any] = [cohort_id]
    if schedule_id is not None:
        sql += " AND schedule_id = ?"
        params.append(schedule_id)
    rows = await tx.fetchall(sql + " ORDER BY due_at, id", params)
    return [_run(r) for r in rows]


async def due_reminders(tx: Tx, now_ms: int) -> list[Run]:
    rows = await tx.fetchall(
        "SELECT * FROM checkin_runs WHERE reminded_at IS NULL AND remind_at IS NOT NULL"
        " AND remind_at <= ? AND root_outbox IS NOT NULL ORDER BY id",
        (now_ms,),
    )
    return [_run(r) for r in rows]


async def set_reminded(tx: Tx, run_id: int, now_ms: int) -> None:
    await tx.execute("UPDATE checkin_runs SET reminded_at = ? WHERE id = ?", (now_ms, run_id))


async def add_reply(tx: Tx, run_id: int, user_id: str) -> None:
    await tx.execute(
        "INSERT OR IGNORE INTO checkin_replies (run_id, user_id) VALUES (?, ?)", (run_id, user_id)
    )


async def repliers(tx: Tx, run_id: int) -> set[str]:
    rows = await tx.fetchall("SELECT user_id FROM checkin_replies WHERE run_id = ?", (run_id,))
    return {r["user_id"] for r in rows}


# --- polls ---------------------------------------------------------------------------------------


async def create_poll(
    tx: Tx,
    run_id: int | None,
    cohort_id: str,
    room_id: str,
    start_outbox: int,
    question: str,
    answers: list[str],
    close_at: int,
) -> int:
    return await tx.execute(
        "INSERT INTO polls (run_id, cohort_id, room_id, start_outbox, question, answers, close_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, cohort_id, room_id, start_outbox, question, json.dumps(answers), close_at),
    )


async def set_poll_start_outbox(tx: Tx, poll_id: int, outbox_id: int) -> None:
    await tx.execute("UPDATE polls SET start_outbox = ? WHERE id = ?", (outbox_id, poll_id))


async def set_poll_start_event(tx: Tx, poll_id: int, event_id: str) -> None:
    await tx.execute("UPDATE polls SET start_event = ? WHERE id = ?", (event_id, poll_id))


async def poll_by_start(tx: Tx, start_event: str) -> Poll | None:
    row = await tx.fetchone("SELECT * FROM polls WHERE start_event = ?", (start_event,))
    return None if row is None else _poll(row)


async def poll(tx: Tx | Database, poll_id: int) -> Poll | None:
    row = await tx.fetchone("SELECT * FROM polls WHERE id = ?", (poll_id,))
    return None if row is None else _poll(row)


async def polls_to_close(tx: Tx, now_ms: int) -> list[Poll]:
    rows = await tx.fetchall(
        "SELECT * FROM polls WHERE closed_at IS NULL AND close_at <= ? ORDER BY id", (now_ms,)
    )
    return [_poll(r) for r in rows]


async def add_poll_response(
    tx: Tx, poll_id: int, event_id: str, sender: str, ts: int, selections: Any
) -> None:
    await tx.execute(
        "INSERT OR IGNORE INTO poll_responses (event_id, poll_id, sender, ts, selections)"
        " VALUES (?, ?, ?, ?, ?)",
        (event_id, poll_id, sender, ts, json.dumps(selections)),
    )


async def poll_responses(tx: Tx, poll_id: int) -> list[tuple[str, int, Any]]:
    rows = await tx.fetchall(
        "SELECT sender, ts, selections FROM poll_responses WHERE poll_id = ? ORDER BY ts",
        (poll_id,),
    )
    return [(r["sender"], int(r["ts"]), json.loads(r["selections"])) for r in rows]


async def set_poll_end_sent(tx: Tx, poll_id: int, end_outbox: int, wait_until: int) -> None:
    """The bot queued the poll's end event: the poll stays open to votes until the event comes
    back with its server timestamp (Element counts votes up to it); at ``wait_until`` it is
    closed without (if the echo never comes)."""
    await tx.execute(
        "UPDATE polls SET end_outbox = ?, close_at = ? WHERE id = ?",
        (end_outbox, wait_until, poll_id),
    )


async def close_poll(
    tx: Tx, poll_id: int, end_ts: int, closed_at: int, result: dict[str, Any]
) -> None:
    """Keep the counts, drop who voted for what."""
    await tx.execute(
        "UPDATE polls SET end_ts = ?, closed_at = ?, result = ? WHERE id = ?",
        (end_ts, closed_at, json.dumps(result), poll_id),
    )
    await tx.execute("DELETE FROM poll_responses WHERE poll_id = ?", (poll_id,))


async def next_due(db: Database, now_ms: int) -> int | None:
    """The next moment after ``now_ms`` at which a check-in fires, reminds or closes its poll
    (the same conditions as due_schedules, due_reminders and polls_to_close)."""
    row = await db.fetchone(
        "SELECT MIN(t) AS t FROM ("
        " SELECT MIN(next_due) AS t FROM checkin_schedules"
        "  WHERE paused = 0 AND next_due > :now"
        " UNION ALL SELECT MIN(remind_at) FROM checkin_runs"
        "  WHERE reminded_at IS NULL AND root_outbox IS NOT NULL AND remind_at > :now"
        " UNION ALL SELECT MIN(close_at) FROM polls WHERE closed_at IS NULL AND close_at > :now)",
        {"now": now_ms},
    )
    return None if row is None or row["t"] is None else int(row["t"])
