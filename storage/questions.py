"""Questions to the advisers, and the links between a person's event and the bot's copy.

The statuses and the moves between them are in ``commands/questions/status.py``."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from storage.db import Tx


@dataclass(frozen=True)
class Question:
    id: int
    asker: str
    cohort_id: str | None
    private: bool
    category: str
    origin_room: str
    origin_event: str
    adviser_room: str
    root_outbox: int
    text: str
    created_at: int
    root_event: str | None = None
    status: str = "open"
    claimed_by: str | None = None
    published: bool = False
    answered_at: int | None = None
    reminded_at: int | None = None
    asker_role: str | None = None  # participant or facilitator
    claimed_at: int | None = None  # the first claim
    first_response_at: int | None = None  # an adviser's first claim, note or answer
    closed_at: int | None = None
    reopened: int = 0
    stage_reminded_at: int | None = None  # the implied first stage's overdue reminder
    opened_by: str | None = None  # the adviser who opened it (!contact), not the asker

    @property
    def root_ref(self) -> str:
        """The adviser-side thread root: its event id, or a reference the sender resolves."""
        return self.root_event or f"$outbox:{self.root_outbox}"


@dataclass(frozen=True)
class Link:
    source_event: str
    question_id: int
    kind: str
    author: str
    target_room: str | None
    target_outbox: int | None
    text: str | None = None  # an answer's text, for the documentation


def _question(row: Any) -> Question:
    return Question(
        **{k: row[k] for k in row.keys() if k not in ("private", "published")},  # noqa: SIM118
        private=bool(row["private"]),
        published=bool(row["published"]),
    )


async def next_id(tx: Tx) -> int:
    row = await tx.fetchone("SELECT seq FROM sqlite_sequence WHERE name = 'questions'")
    return (int(row["seq"]) if row else 0) + 1


async def create(tx: Tx, t: Question) -> int:
    return await tx.execute(
        "INSERT INTO questions (id, asker, cohort_id, private, category, origin_room, origin_event,"
        " adviser_room, root_outbox, text, created_at, asker_role, status, answered_at,"
        " first_response_at, opened_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            t.id,
            t.asker,
            t.cohort_id,
            int(t.private),
            t.category,
            t.origin_room,
            t.origin_event,
            t.adviser_room,
            t.root_outbox,
            t.text,
            t.created_at,
            t.asker_role,
            t.status,
            t.answered_at,
            t.first_response_at,
            t.opened_by,
        ),
    )


async def get(tx: Tx, question_id: int) -> Question | None:
    row = await tx.fetchone("SELECT * FROM questions WHERE id = ?", (question_id,))
    return None if row is None else _question(row)


async def by_origin(tx: Tx, origin_event: str) -> Question | None:
    row = await tx.fetchone("SELECT * FROM questions WHERE origin_event = ?", (origin_event,))
    return None if row is None else _question(row)


async def by_root(tx: Tx, room_id: str, root_event: str) -> Question | None:
    row = await tx.fetchone(
        "SELECT * FROM questions WHERE adviser_room = ? AND root_event = ?", (room_id, root_event)
    )
    return None if row is None else _question(row)


async def set_origin_event(tx: Tx, question_id: int, event_id: str) -> None:
    await tx.execute("UPDATE questions SET origin_event = ? WHERE id = ?", (event_id, question_id))


async def set_root_event(tx: Tx, question_id: int, event_id: str) -> None:
    await tx.execute("UPDATE questions SET root_event = ? WHERE id = ?", (event_id, question_id))


async def update(tx: Tx, question_id: int, **fields: Any) -> None:
    allowed = {
        "status",
        "claimed_by",
        "text",
        "published",
        "answered_at",
        "reminded_at",
        "claimed_at",
        "first_response_at",
        "closed_at",
        "reopened",
        "stage_reminded_at",
    }
    if not fields or set(fields) - allowed:
        raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    await tx.execute(
        f"UPDATE questions SET {assignments} WHERE id = ?",  # noqa: S608 - names are whitelisted
        (*fields.values(), question_id),
    )


async def responded(tx: Tx, question_id: int, at_ms: int) -> None:
    """An adviser acted on the question (claim, note or answer): the first time is kept."""
    await tx.execute(
        "UPDATE questions SET first_response_at = ? WHERE id = ? AND first_response_at IS NULL",
        (at_ms, question_id),
    )


async def of_asker(tx: Tx, asker: str) -> list[Question]:
    rows = await tx.fetchall("SELECT * FROM questions WHERE asker = ? ORDER BY id", (asker,))
    return [_question(r) for r in rows]


async def waiting(
    tx: Tx, adviser_rooms: Collection[str], statuses: Collection[str]
) -> list[Question]:
    """The questions in one of ``statuses`` (those waiting for the advisers), oldest first."""
    rooms = ",".join("?" * len(adviser_rooms))
    marks = ",".join("?" * len(statuses))
    rows = await tx.fetchall(
        f"SELECT * FROM questions WHERE status IN ({marks})"  # noqa: S608 - only marks
        f" AND adviser_room IN ({rooms}) ORDER BY created_at",
        (*statuses, *adviser_rooms),
    )
    return [_question(r) for r in rows]


async def due_reminders(tx: Tx, older_than_ms: int, statuses: Collection[str]) -> list[Question]:
    marks = ",".join("?" * len(statuses))
    rows = await tx.fetchall(
        f"SELECT * FROM questions WHERE status IN ({marks}) AND answered_at IS NULL"  # noqa: S608
        " AND reminded_at IS NULL AND created_at <= ? ORDER BY id",
        (*statuses, older_than_ms),
    )
    return [_question(r) for r in rows]


async def add_link(
    tx: Tx,
    source_event: str,
    question_id: int,
    kind: str,
    author: str,
    target_room: str | None = None,
    target_outbox: int | None = None,
    text: str | None = None,
) -> None:
    await tx.execute(
        "INSERT OR IGNORE INTO question_links (source_event, question_id, kind, author,"
        " target_room, target_outbox, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (source_event, question_id, kind, author, target_room, target_outbox, text),
    )


async def link(tx: Tx, source_event: str) -> Link | None:
    row = await tx.fetchone("SELECT * FROM question_links WHERE source_event = ?", (source_event,))
    return None if row is None else Link(**{k: row[k] for k in row.keys()})  # noqa: SIM118


async def remove_link(tx: Tx, source_event: str) -> None:
    await tx.execute("DELETE FROM question_links WHERE source_event = ?", (source_event,))


# --- staged requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StageEntry:
    id: int
    question_id: int
    stage: str
    entered_at: int
    moved_by: str
    comment: str
    reminded_at: int | None


async def enter_stage(
    tx: Tx, question_id: int, stage: str, at_ms: int, moved_by: str, comment: str
) -> int:
    return await tx.execute(
        "INSERT INTO question_stages (question_id, stage, entered_at, moved_by, comment)"
        " VALUES (?, ?, ?, ?, ?)",
        (question_id, stage, at_ms, moved_by, comment),
    )


async def stages_of(tx: Tx, question_id: int) -> list[StageEntry]:
    """A request's moves, oldest first."""
    return (await stages_of_many(tx, [question_id])).get(question_id, [])


async def stages_of_many(tx: Tx, question_ids: Collection[int]) -> dict[int, list[StageEntry]]:
    """The moves of each of these requests, oldest first, in one query."""
    if not question_ids:
        return {}
    marks = ",".join("?" * len(question_ids))
    rows = await tx.fetchall(
        f"SELECT * FROM question_stages WHERE question_id IN ({marks})"  # noqa: S608 - marks
        " ORDER BY id",
        tuple(question_ids),
    )
    found: dict[int, list[StageEntry]] = {}
    for r in rows:
        found.setdefault(int(r["question_id"]), []).append(StageEntry(**dict(r)))
    return found


async def stage_reminded(tx: Tx, question_id: int, entry_id: int | None, at_ms: int) -> None:
    """The overdue reminder for the request's current stage is sent (``entry_id`` None: the
    implied first stage, kept on the question)."""
    if entry_id is None:
        await tx.execute(
            "UPDATE questions SET stage_reminded_at = ? WHERE id = ?", (at_ms, question_id)
        )
    else:
        await tx.execute(
            "UPDATE question_stages SET reminded_at = ? WHERE id = ?", (at_ms, entry_id)
        )


async def in_categories(
    tx: Tx, categories: Collection[str], statuses: Collection[str]
) -> list[Question]:
    """The questions of ``categories`` in one of ``statuses``, oldest first."""
    cats = ",".join("?" * len(categories))
    marks = ",".join("?" * len(statuses))
    rows = await tx.fetchall(
        f"SELECT * FROM questions WHERE category IN ({cats})"  # noqa: S608 - only marks
        f" AND status IN ({marks}) ORDER BY created_at, id",
        (*categories, *statuses),
    )
    return [_question(r) for r in rows]


async def answers_of(tx: Tx, question_id: int) -> list[tuple[int, str]]:
    """(when, text) of each answer relayed to the asker and not redacted, oldest first, as it
    reads now (edits included). The text is kept for the request's documentation only."""
    rows = await tx.fetchall(
        "SELECT COALESCE(o.sent_at, o.created_at) AS at, l.text FROM question_links l"
        " JOIN outbox o ON o.id = l.target_outbox"
        " WHERE l.question_id = ? AND l.kind = 'answer' ORDER BY o.id",
        (question_id,),
    )
    return [(int(r["at"]), str(r["text"] or "")) for r in rows]


async def set_link_text(tx: Tx, source_event: str, text: str) -> None:
    await tx.execute(
        "UPDATE question_links SET text = ? WHERE source_event = ?", (text, source_event)
    )


# --- a request's sessions and its evaluation ---------------------------------------------------


@dataclass(frozen=True)
class Session:
    id: int
    question_id: int
    starts_at: int
    minutes: int
    place: str


async def add_session(tx: Tx, question_id: int, starts_at: int, minutes: int, place: str) -> int:
    return await tx.execute(
        "INSERT INTO request_sessions (question_id, starts_at, minutes, place) VALUES (?,?,?,?)",
        (question_id, starts_at, minutes, place),
    )


async def sessions_of(tx: Tx, question_id: int) -> list[Session]:
    """A request's sessions in time order."""
    rows = await tx.fetchall(
        "SELECT * FROM request_sessions WHERE question_id = ? ORDER BY starts_at, id",
        (question_id,),
    )
    return [Session(**dict(r)) for r in rows]


async def remove_session(tx: Tx, session_id: int) -> None:
    await tx.execute("DELETE FROM request_sessions WHERE id = ?", (session_id,))


async def set_participants(tx: Tx, question_id: int, users: Collection[str]) -> None:
    await tx.execute("DELETE FROM request_participants WHERE question_id = ?", (question_id,))
    await tx.executemany(
        "INSERT INTO request_participants (question_id, user_id) VALUES (?, ?)",
        [(question_id, u) for u in sorted(set(users))],
    )


async def participants_of(tx: Tx, question_id: int) -> list[str]:
    rows = await tx.fetchall(
        "SELECT user_id FROM request_participants WHERE question_id = ? ORDER BY user_id",
        (question_id,),
    )
    return [str(r["user_id"]) for r in rows]


async def evaluations_due(tx: Tx, now_ms: int, categories: Collection[str]) -> list[int]:
    """Requests of ``categories`` whose last session has ended and whose evaluation has not
    been sent."""
    if not categories:
        return []
    marks = ",".join("?" * len(categories))
    rows = await tx.fetchall(
        "SELECT s.question_id FROM request_sessions s JOIN questions q ON q.id = s.question_id"  # noqa: S608
        f" WHERE q.status != 'withdrawn' AND q.category IN ({marks})"
        " AND NOT EXISTS (SELECT 1 FROM request_rounds r WHERE r.question_id = s.question_id)"
        " GROUP BY s.question_id HAVING MAX(s.starts_at + s.minutes * 60000) <= ?"
        " ORDER BY s.question_id",
        (*categories, now_ms),
    )
    return [int(r["question_id"]) for r in rows]


async def set_round(tx: Tx, question_id: int, round_id: int) -> None:
    await tx.execute(
        "INSERT OR IGNORE INTO request_rounds (question_id, round_id) VALUES (?, ?)",
        (question_id, round_id),
    )


async def round_of(tx: Tx, question_id: int) -> int | None:
    row = await tx.fetchone(
        "SELECT round_id FROM request_rounds WHERE question_id = ?", (question_id,)
    )
    return None if row is None else int(row["round_id"])
