"""Surveys: rounds (one survey opened for one cohort), invites, and responses.

Who has answered (``survey_invites``) is kept apart from what was answered
(``survey_responses``/``survey_answers``). For an anonymous survey a response has a random
id, no person, no time and no row order, so it cannot be linked back to whoever gave it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from storage.db import Database, Tx


@dataclass(frozen=True)
class Round:
    id: int
    survey_id: str
    cohort_id: str
    run_id: int | None
    anonymous: bool
    opened_at: int
    closes_at: int
    remind_at: int | None
    reminded_at: int | None
    closed_at: int | None
    report_to: str | None = None  # JSON [[room, thread root], …]; None: the default rooms


@dataclass(frozen=True)
class Invite:
    round_id: int
    user_id: str
    state: str
    position: int
    draft: dict[str, Any]


def _round(row: Any) -> Round:
    values = {k: row[k] for k in row.keys()}  # noqa: SIM118
    values["anonymous"] = bool(values["anonymous"])
    return Round(**values)


def _invite(row: Any) -> Invite:
    return Invite(
        row["round_id"],
        row["user_id"],
        row["state"],
        int(row["position"]),
        json.loads(row["draft"]) if row["draft"] else {},
    )


async def open_round(
    tx: Tx,
    survey_id: str,
    cohort_id: str,
    run_id: int | None,
    anonymous: bool,
    opened_at: int,
    closes_at: int,
    remind_at: int | None,
    users: list[str],
    report_to: str | None = None,
) -> int:
    round_id = await tx.execute(
        "INSERT INTO survey_rounds (survey_id, cohort_id, run_id, anonymous, opened_at,"
        " closes_at, remind_at, report_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (survey_id, cohort_id, run_id, int(anonymous), opened_at, closes_at, remind_at,
         report_to),
    )  # fmt: skip
    await tx.executemany(
        "INSERT OR IGNORE INTO survey_invites (round_id, user_id) VALUES (?, ?)",
        [(round_id, u) for u in users],
    )
    return round_id


async def get_round(tx: Tx | Database, round_id: int) -> Round | None:
    row = await tx.fetchone("SELECT * FROM survey_rounds WHERE id = ?", (round_id,))
    return None if row is None else _round(row)


async def rounds_of(tx: Tx | Database, survey_id: str) -> list[Round]:
    rows = await tx.fetchall(
        "SELECT * FROM survey_rounds WHERE survey_id = ? ORDER BY id", (survey_id,)
    )
    return [_round(r) for r in rows]


async def round_of_run(tx: Tx, run_id: int) -> Round | None:
    row = await tx.fetchone("SELECT * FROM survey_rounds WHERE run_id = ?", (run_id,))
    return None if row is None else _round(row)


async def rounds_to_close(tx: Tx, now_ms: int) -> list[Round]:
    """Open rounds past their closing time, and those with a ``report_to`` that everyone
    invited has answered (or let expire)."""
    rows = await tx.fetchall(
        "SELECT * FROM survey_rounds r WHERE closed_at IS NULL AND (closes_at <= ?"
        " OR (report_to IS NOT NULL AND NOT EXISTS (SELECT 1 FROM survey_invites i"
        " WHERE i.round_id = r.id AND i.state NOT IN ('done', 'expired')))) ORDER BY id",
        (now_ms,),
    )
    return [_round(r) for r in rows]


async def next_due(db: Database, now_ms: int) -> int | None:
    """The next moment after ``now_ms`` at which an open round closes or is reminded (the
    same conditions as rounds_to_close and rounds_to_remind)."""
    row = await db.fetchone(
        "SELECT MIN(t) AS t FROM ("
        " SELECT MIN(closes_at) AS t FROM survey_rounds"
        "  WHERE closed_at IS NULL AND closes_at > :now"
        " UNION ALL SELECT MIN(remind_at) FROM survey_rounds"
        "  WHERE closed_at IS NULL AND reminded_at IS NULL AND remind_at > :now)",
        {"now": now_ms},
    )
    return None if row is None or row["t"] is None else int(row["t"])


async def rounds_to_remind(tx: Tx, now_ms: int) -> list[Round]:
    rows = await tx.fetchall(
        "SELECT * FROM survey_rounds WHERE closed_at IS NULL AND reminded_at IS NULL"
        " AND remind_at IS NOT NULL AND remind_at <= ? ORDER BY id",
        (now_ms,),
    )
    return [_round(r) for r in rows]


async def set_round(tx: Tx, round_id: int, **fields: int) -> None:
    allowed = {"reminded_at", "closed_at"}
    if not fields or set(fields) - allowed:
        raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    await tx.execute(
        f"UPDATE survey_rounds SET {assignments} WHERE id = ?",  # noqa: S608 - whitelisted
        (*fields.values(), round_id),
    )


async def close_round(tx: Tx, round_id: int, now_ms: int) -> None:
    """Close a round: unfinished questionnaires expire and their drafts are erased."""
    await set_round(tx, round_id, closed_at=now_ms)
    await tx.execute(
        "UPDATE survey_invites SET state = 'expired', draft = NULL"
        " WHERE round_id = ? AND state != 'done'",
        (round_id,),
    )


# --- invites -------------------------------------------------------------------------------------


async def invites(tx: Tx | Database, round_id: int) -> list[Invite]:
    rows = await tx.fetchall(
        "SELECT * FROM survey_invites WHERE round_id = ? ORDER BY user_id", (round_id,)
    )
    return [_invite(r) for r in rows]


async def current_invite(tx: Tx, user_id: str) -> Invite | None:
    """The questionnaire a person is in the middle of (asking or stopped), in an open round."""
    row = await tx.fetchone(
        "SELECT i.* FROM survey_invites i JOIN survey_rounds r ON r.id = i.round_id"
        " WHERE i.user_id = ? AND i.state IN ('asking', 'stopped') AND r.closed_at IS NULL"
        " ORDER BY i.round_id LIMIT 1",
        (user_id,),
    )
    return None if row is None else _invite(row)


async def next_waiting(tx: Tx, user_id: str) -> Invite | None:
    row = await tx.fetchone(
        "SELECT i.* FROM survey_invites i JOIN survey_rounds r ON r.id = i.round_id"
        " WHERE i.user_id = ? AND i.state = 'waiting' AND r.closed_at IS NULL"
        " ORDER BY i.round_id LIMIT 1",
        (user_id,),
    )
    return None if row is None else _invite(row)


async def waiting_users(tx: Tx) -> list[str]:
    rows = await tx.fetchall(
        "SELECT DISTINCT i.user_id FROM survey_invites i JOIN survey_rounds r"
        " ON r.id = i.round_id WHERE i.state = 'waiting' AND r.closed_at IS NULL"
    )
    return [r["user_id"] for r in rows]


async def save_progress(
    tx: Tx, round_id: int, user_id: str, state: str, position: int, draft: dict[str, Any]
) -> None:
    await tx.execute(
        "UPDATE survey_invites SET state = ?, position = ?, draft = ?"
        " WHERE round_id = ? AND user_id = ?",
        (state, position, json.dumps(draft, ensure_ascii=False), round_id, user_id),
    )


async def submit(
    tx: Tx, round_id: int, user_id: str, anonymous: bool, answers: dict[str, Any]
) -> str:
    """Turn a finished draft into a response; the invite keeps only 'done'."""
    response_id = secrets.token_hex(16)
    await tx.execute(
        "INSERT INTO survey_responses (response_id, round_id, user_id) VALUES (?, ?, ?)",
        (response_id, round_id, None if anonymous else user_id),
    )
    await tx.executemany(
        "INSERT INTO survey_answers (response_id, question_id, value) VALUES (?, ?, ?)",
        [(response_id, q, json.dumps(v, ensure_ascii=False)) for q, v in answers.items()],
    )
    await tx.execute(
        "UPDATE survey_invites SET state = 'done', position = 0, draft = NULL"
        " WHERE round_id = ? AND user_id = ?",
        (round_id, user_id),
    )
    return response_id


@dataclass(frozen=True)
class Response:
    response_id: str
    round_id: int
    user_id: str | None
    answers: dict[str, Any]


async def responses(tx: Tx | Database, round_ids: list[int]) -> list[Response]:
    if not round_ids:
        return []
    marks = ",".join("?" * len(round_ids))
    rows = await tx.fetchall(
        "SELECT r.response_id, r.round_id, r.user_id, a.question_id, a.value"  # noqa: S608
        " FROM survey_responses r LEFT JOIN survey_answers a ON a.response_id = r.response_id"
        f" WHERE r.round_id IN ({marks}) ORDER BY r.round_id, r.response_id",
        round_ids,
    )
    out: dict[str, Response] = {}
    for row in rows:
        resp = out.setdefault(
            row["response_id"],
            Response(row["response_id"], row["round_id"], row["user_id"], {}),
        )
        if row["question_id"] is not None:
            resp.answers[row["question_id"]] = json.loads(row["value"])
    return list(out.values())


async def responses_of_user(tx: Tx | Database, survey_id: str, user_id: str) -> list[Response]:
    """A person's responses to a survey, oldest round first (none for anonymous rounds: those
    keep no person)."""
    rows = await tx.fetchall(
        "SELECT DISTINCT s.round_id FROM survey_responses s"
        " JOIN survey_rounds r ON r.id = s.round_id"
        " WHERE r.survey_id = ? AND s.user_id = ? ORDER BY s.round_id",
        (survey_id, user_id),
    )
    found = await responses(tx, [r["round_id"] for r in rows])
    return sorted((r for r in found if r.user_id == user_id), key=lambda r: r.round_id)
