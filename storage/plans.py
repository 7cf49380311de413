"""Action plans (handlingsplaner): one per facilitator's team and one for the whole cohort,
their items with history, and the follow-ups that ask the owners about open items.

The statuses and the moves between them are in ``commands/plans/status.py``.
"""

# The queries put only fixed names and "?" marks into their SQL text: S608 is moot.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.db import Database, Tx

Reader = Tx | Database
WHOLE_COHORT = ""  # the owner of the cohort's own plan
FORMER_MEMBER = "@former-member"  # an erased person, in the plans they were part of


@dataclass(frozen=True)
class Plan:
    id: int
    cohort_id: str
    owner: str  # a facilitator, or WHOLE_COHORT
    summary_outbox: int | None
    summary_event: str | None
    created_at: int

    @property
    def summary_ref(self) -> str | None:
        if self.summary_event:
            return self.summary_event
        return f"$outbox:{self.summary_outbox}" if self.summary_outbox else None


@dataclass(frozen=True)
class Item:
    id: int
    plan_id: int
    text: str
    who: str | None
    due: str | None
    status: str
    comment: str
    created_by: str
    created_at: int
    updated_at: int


def _plan(row: Any) -> Plan:
    return Plan(**{k: row[k] for k in row.keys()})  # noqa: SIM118


def _item(row: Any) -> Item:
    return Item(**{k: row[k] for k in row.keys() if k != "removed"})  # noqa: SIM118


async def plan_of(tx: Tx, cohort_id: str, owner: str, now_ms: int) -> Plan:
    """The plan of ``owner`` (a facilitator, or WHOLE_COHORT) in the cohort, made if new."""
    await tx.execute(
        "INSERT OR IGNORE INTO plans (cohort_id, owner, created_at) VALUES (?, ?, ?)",
        (cohort_id, owner, now_ms),
    )
    row = await tx.fetchone(
        "SELECT * FROM plans WHERE cohort_id = ? AND owner = ?", (cohort_id, owner)
    )
    assert row is not None
    return _plan(row)


async def plan(db: Reader, plan_id: int) -> Plan | None:
    row = await db.fetchone("SELECT * FROM plans WHERE id = ?", (plan_id,))
    return None if row is None else _plan(row)


async def plans(db: Reader, cohort_ids: Sequence[str] | None = None) -> list[Plan]:
    if cohort_ids is None:
        rows = await db.fetchall("SELECT * FROM plans ORDER BY cohort_id, owner")
    else:
        marks = ",".join("?" * len(cohort_ids))
        rows = await db.fetchall(
            f"SELECT * FROM plans WHERE cohort_id IN ({marks}) ORDER BY cohort_id, owner",
            tuple(cohort_ids),
        )
    return [_plan(r) for r in rows]


async def set_summary(tx: Tx, plan_id: int, outbox_id: int) -> None:
    await tx.execute("UPDATE plans SET summary_outbox = ? WHERE id = ?", (outbox_id, plan_id))


async def set_summary_event(tx: Tx, plan_id: int, event_id: str) -> None:
    await tx.execute("UPDATE plans SET summary_event = ? WHERE id = ?", (event_id, plan_id))


async def items(db: Reader, plan_ids: Sequence[int]) -> list[Item]:
    if not plan_ids:
        return []
    marks = ",".join("?" * len(plan_ids))
    rows = await db.fetchall(
        f"SELECT * FROM plan_items WHERE plan_id IN ({marks}) AND removed = 0 ORDER BY id",
        tuple(plan_ids),
    )
    return [_item(r) for r in rows]


async def item(db: Reader, item_id: int) -> Item | None:
    row = await db.fetchone("SELECT * FROM plan_items WHERE id = ? AND removed = 0", (item_id,))
    return None if row is None else _item(row)


async def add_item(
    tx: Tx, plan_id: int, text: str, who: str | None, due: str | None, by: str, now_ms: int
) -> int:
    item_id = await tx.execute(
        "INSERT INTO plan_items (plan_id, text, who, due, created_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (plan_id, text, who, due, by, now_ms, now_ms),
    )
    await _history(tx, item_id, now_ms, by, "added", status="planned", text=text)
    return item_id


async def set_status(tx: Tx, item_id: int, status: str, comment: str, by: str, now_ms: int) -> None:
    await tx.execute(
        "UPDATE plan_items SET status = ?, comment = ?, updated_at = ? WHERE id = ?",
        (status, comment, now_ms, item_id),
    )
    await _history(tx, item_id, now_ms, by, "status", status=status, comment=comment)


async def edit_item(tx: Tx, item_id: int, text: str, by: str, now_ms: int) -> None:
    await tx.execute(
        "UPDATE plan_items SET text = ?, updated_at = ? WHERE id = ?", (text, now_ms, item_id)
    )
    await _history(tx, item_id, now_ms, by, "edited", text=text)


async def remove_item(tx: Tx, item_id: int, by: str, now_ms: int) -> None:
    await tx.execute(
        "UPDATE plan_items SET removed = 1, updated_at = ? WHERE id = ?", (now_ms, item_id)
    )
    await _history(tx, item_id, now_ms, by, "removed")


async def _history(
    tx: Tx,
    item_id: int,
    at: int,
    by: str,
    change: str,
    *,
    status: str | None = None,
    text: str | None = None,
    comment: str | None = None,
) -> None:
    await tx.execute(
        "INSERT INTO plan_history (item_id, at, by, change, status, text, comment)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (item_id, at, by, change, status, text, comment),
    )


async def history(db: Reader, plan_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Every change of the plans' items, oldest first (removed items too)."""
    if not plan_ids:
        return []
    marks = ",".join("?" * len(plan_ids))
    rows = await db.fetchall(
        "SELECT h.item_id, i.plan_id, h.at, h.by, h.change, h.status, h.text, h.comment"
        " FROM plan_history h JOIN plan_items i ON i.id = h.item_id"
        f" WHERE i.plan_id IN ({marks}) ORDER BY h.at, h.id",
        tuple(plan_ids),
    )
    return [dict(r) for r in rows]


# --- follow-ups --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUp:
    id: int
    run_id: int | None
    cohort_id: str
    opened_at: int
    closes_at: int
    remind_at: int | None
    reminded_at: int | None
    closed_at: int | None


@dataclass(frozen=True)
class Ask:
    followup_id: int
    user_id: str
    state: str
    items: list[int]
    position: int
    answers: dict[str, Any]  # item id -> {"status": ..., "comment": ...}


def _followup(row: Any) -> FollowUp:
    return FollowUp(**{k: row[k] for k in row.keys()})  # noqa: SIM118


def _ask(row: Any) -> Ask:
    return Ask(
        followup_id=row["followup_id"],
        user_id=row["user_id"],
        state=row["state"],
        items=json.loads(row["items"]),
        position=int(row["position"]),
        answers=json.loads(row["answers"]),
    )


async def open_followup(
    tx: Tx,
    cohort_id: str,
    run_id: int | None,
    now_ms: int,
    closes_at: int,
    remind_at: int | None,
    asks: dict[str, list[int]],
) -> int | None:
    """A follow-up asking each owner about their open items; None if this run has one."""
    if run_id is not None:
        found = await tx.fetchone("SELECT id FROM plan_followups WHERE run_id = ?", (run_id,))
        if found is not None:
            return None
    followup_id = await tx.execute(
        "INSERT INTO plan_followups (run_id, cohort_id, opened_at, closes_at, remind_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (run_id, cohort_id, now_ms, closes_at, remind_at),
    )
    for user, item_ids in asks.items():
        await tx.execute(
            "INSERT INTO plan_followup_asks (followup_id, user_id, items) VALUES (?, ?, ?)",
            (followup_id, user, json.dumps(item_ids)),
        )
    return followup_id


async def followup(db: Reader, followup_id: int) -> FollowUp | None:
    row = await db.fetchone("SELECT * FROM plan_followups WHERE id = ?", (followup_id,))
    return None if row is None else _followup(row)


async def followups(
    db: Reader, cohort_ids: Sequence[str] | None, from_ms: int, to_ms: int
) -> list[FollowUp]:
    rows = await db.fetchall(
        "SELECT * FROM plan_followups WHERE opened_at BETWEEN ? AND ? ORDER BY opened_at",
        (from_ms, to_ms),
    )
    found = [_followup(r) for r in rows]
    return [f for f in found if cohort_ids is None or f.cohort_id in cohort_ids]


async def current_ask(tx: Tx, user_id: str) -> Ask | None:
    """The follow-up the person is answering now, if any."""
    row = await tx.fetchone(
        "SELECT a.* FROM plan_followup_asks a JOIN plan_followups f ON f.id = a.followup_id"
        " WHERE a.user_id = ? AND a.state = 'asking' AND f.closed_at IS NULL"
        " ORDER BY a.followup_id LIMIT 1",
        (user_id,),
    )
    return None if row is None else _ask(row)


async def next_waiting(tx: Tx, user_id: str) -> Ask | None:
    row = await tx.fetchone(
        "SELECT a.* FROM plan_followup_asks a JOIN plan_followups f ON f.id = a.followup_id"
        " WHERE a.user_id = ? AND a.state = 'waiting' AND f.closed_at IS NULL"
        " ORDER BY a.followup_id LIMIT 1",
        (user_id,),
    )
    return None if row is None else _ask(row)


async def waiting_users(tx: Tx) -> list[str]:
    rows = await tx.fetchall(
        "SELECT DISTINCT a.user_id FROM plan_followup_asks a"
        " JOIN plan_followups f ON f.id = a.followup_id"
        " WHERE a.state = 'waiting' AND f.closed_at IS NULL ORDER BY a.user_id"
    )
    return [str(r["user_id"]) for r in rows]


async def asks(db: Reader, followup_id: int) -> list[Ask]:
    rows = await db.fetchall(
        "SELECT * FROM plan_followup_asks WHERE followup_id = ? ORDER BY user_id", (followup_id,)
    )
    return [_ask(r) for r in rows]


async def save_ask(
    tx: Tx,
    followup_id: int,
    user_id: str,
    *,
    state: str,
    position: int,
    answers: dict[str, Any],
) -> None:
    await tx.execute(
        "UPDATE plan_followup_asks SET state = ?, position = ?, answers = ?"
        " WHERE followup_id = ? AND user_id = ?",
        (state, position, json.dumps(answers), followup_id, user_id),
    )


async def due_followups(tx: Tx, now_ms: int) -> list[FollowUp]:
    """Open follow-ups to close (their time is up) or to remind about."""
    rows = await tx.fetchall(
        "SELECT * FROM plan_followups WHERE closed_at IS NULL AND (closes_at <= ?"
        " OR (remind_at IS NOT NULL AND reminded_at IS NULL AND remind_at <= ?))",
        (now_ms, now_ms),
    )
    return [_followup(r) for r in rows]


async def set_reminded(tx: Tx, followup_id: int, now_ms: int) -> None:
    await tx.execute(
        "UPDATE plan_followups SET reminded_at = ? WHERE id = ?", (now_ms, followup_id)
    )


async def close_followup(tx: Tx, followup_id: int, now_ms: int) -> bool:
    """Close it once; True if this call closed it. Unanswered asks expire."""
    closed = await tx.changes(
        "UPDATE plan_followups SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
        (now_ms, followup_id),
    )
    if closed:
        await tx.execute(
            "UPDATE plan_followup_asks SET state = 'expired'"
            " WHERE followup_id = ? AND state IN ('waiting', 'asking')",
            (followup_id,),
        )
    return bool(closed)


async def next_due(db: Database, now_ms: int) -> int | None:
    row = await db.fetchone(
        "SELECT MIN(CASE WHEN remind_at IS NOT NULL AND reminded_at IS NULL"
        " THEN MIN(remind_at, closes_at) ELSE closes_at END) AS t"
        " FROM plan_followups WHERE closed_at IS NULL"
    )
    return None if row is None or row["t"] is None else int(row["t"])


async def activity(
    db: Reader, cohort_ids: Sequence[str] | None, from_ms: int, to_ms: int
) -> dict[str, Any]:
    """For the evaluation: items made, set done and dropped in the period (with how many people
    did each), and the follow-ups' asks by state."""

    def where(table: str) -> str:
        if cohort_ids is None:
            return "1 = 1"
        return f"{table}.cohort_id IN ({','.join('?' * len(cohort_ids))})"

    params: tuple[str, ...] = tuple(cohort_ids or ())
    rows = await db.fetchall(
        "SELECT h.change, h.status, COUNT(*) AS n, COUNT(DISTINCT h.by) AS people"
        " FROM plan_history h JOIN plan_items i ON i.id = h.item_id"
        f" JOIN plans p ON p.id = i.plan_id WHERE {where('p')} AND h.at BETWEEN ? AND ?"
        " GROUP BY h.change, h.status",
        (*params, from_ms, to_ms),
    )
    asks = await db.fetchall(
        "SELECT a.state, COUNT(*) AS n FROM plan_followup_asks a"
        " JOIN plan_followups f ON f.id = a.followup_id"
        f" WHERE {where('f')} AND f.opened_at BETWEEN ? AND ?"
        " GROUP BY a.state",
        (*params, from_ms, to_ms),
    )
    return {
        "changes": [dict(r) for r in rows],
        "asks": {str(r["state"]): int(r["n"]) for r in asks},
    }


# --- a person's data ---------------------------------------------------------------------------


async def export_user(db: Reader, user_id: str) -> dict[str, Any]:
    owned = await db.fetchall(
        "SELECT id, cohort_id FROM plans WHERE owner = ? ORDER BY id", (user_id,)
    )
    theirs = await db.fetchall(
        "SELECT id, plan_id, text, who, due, status, comment, created_by FROM plan_items"
        " WHERE (who = ? OR created_by = ?) AND removed = 0 ORDER BY id",
        (user_id, user_id),
    )
    return {"plans_owned": [dict(r) for r in owned], "plan_items": [dict(r) for r in theirs]}


async def erase_user(tx: Tx, user_id: str) -> int:
    """The person's name leaves the plans; the items stay, as a former member's."""
    n = await tx.changes(
        "UPDATE plans SET owner = ? || id WHERE owner = ?", (FORMER_MEMBER, user_id)
    )
    n += await tx.changes("UPDATE plan_items SET who = ? WHERE who = ?", (FORMER_MEMBER, user_id))
    n += await tx.changes(
        "UPDATE plan_items SET created_by = ? WHERE created_by = ?", (FORMER_MEMBER, user_id)
    )
    await tx.execute("UPDATE plan_history SET by = ? WHERE by = ?", (FORMER_MEMBER, user_id))
    await tx.execute("DELETE FROM plan_followup_asks WHERE user_id = ?", (user_id,))
    return n
