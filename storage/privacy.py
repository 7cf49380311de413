"""What the bot keeps about a person, for export and erasure.

Erasing keeps the bookkeeping that others depend on (question numbers, statuses) but removes
the person's id and words, and queues redactions of the bot's copies of their words.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from storage import encryption, evaluation, materials, plans, privacy_notice, trust
from storage.db import Database, Tx
from storage.outbox import enqueue

ERASED = "[erased]"


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in r.keys()} for r in rows]  # noqa: SIM118 - sqlite3.Row


async def export_user(db: Database, user_id: str) -> dict[str, Any]:
    """Everything stored about ``user_id``, as plain JSON-able data."""
    await evaluation.fold_now(db)  # their latest messages counted
    found = await db.fetchall("SELECT * FROM questions WHERE asker = ? ORDER BY id", (user_id,))
    links = await db.fetchall(
        "SELECT source_event, question_id, kind, target_room, text FROM question_links"
        " WHERE author = ?",
        (user_id,),
    )
    claimed = await db.fetchall(
        "SELECT id, status FROM questions WHERE claimed_by = ? ORDER BY id", (user_id,)
    )
    stages = await db.fetchall(
        "SELECT s.question_id, s.stage, s.entered_at, s.comment FROM question_stages s"
        " JOIN questions q ON q.id = s.question_id WHERE q.asker = ? ORDER BY s.id",
        (user_id,),
    )
    moved = await db.fetchall(
        "SELECT question_id, stage, entered_at FROM question_stages WHERE moved_by = ? ORDER BY id",
        (user_id,),
    )
    direct = await db.fetchall("SELECT room_id FROM direct_rooms WHERE user_id = ?", (user_id,))
    notes = await db.fetchall("SELECT key FROM kv WHERE key LIKE ?", (f"%{user_id}%",))
    replies = await db.fetchall("SELECT run_id FROM checkin_replies WHERE user_id = ?", (user_id,))
    votes = await db.fetchall(
        "SELECT poll_id, ts, selections FROM poll_responses WHERE sender = ?", (user_id,)
    )
    invites = await db.fetchall(
        "SELECT round_id, state, position, draft FROM survey_invites WHERE user_id = ?",
        (user_id,),
    )
    # Only surveys that are not anonymous link answers to a person.
    answers = await db.fetchall(
        "SELECT r.round_id, a.question_id, a.value FROM survey_responses r"
        " JOIN survey_answers a ON a.response_id = r.response_id WHERE r.user_id = ?",
        (user_id,),
    )
    return {
        **await materials.export_user(db, user_id),
        "user_id": user_id,
        "questions": _rows(found),
        "messages_relayed": _rows(links),
        "monthly_message_counts": await evaluation.export_user(db, user_id),
        **await plans.export_user(db, user_id),
        "questions_claimed": _rows(claimed),
        "request_stages": _rows(stages),
        "request_stages_moved": _rows(moved),
        "direct_chat": [r["room_id"] for r in direct],
        "notes": [r["key"] for r in notes],
        "checkins_answered": [r["run_id"] for r in replies],
        "poll_votes": _rows(votes),
        "surveys_invited": _rows(invites),
        "survey_answers": _rows(answers),
        # Encrypted messages waiting for their key (ciphertext only: ids and times shown).
        "messages_waiting_for_key": [
            {"event_id": k.event_id, "room_id": k.room_id, "sent_at": k.origin_server_ts}
            for k in await encryption.waiting(db)
            if k.sender == user_id
        ],
        **await privacy_notice.export_user(db, user_id),
        **await trust.export_user(db, user_id),
    }


async def erase_user(
    db: Database, user_id: str, *, unclaimed: Callable[[str, bool], str]
) -> dict[str, int]:
    """Remove ``user_id`` and their words; queue redactions of the bot's copies.

    Questions the person held are let go: ``unclaimed(status, answered)`` is the status after
    (``commands.questions.status.unclaimed``, where the statuses and their moves are)."""
    async with db.transaction() as tx:
        counts = {
            "questions": await _erase_questions(tx, user_id),
            "relayed": await _erase_links(tx, user_id),
        }
        held = await tx.fetchall(
            "SELECT id, status, answered_at FROM questions WHERE claimed_by = ?", (user_id,)
        )
        for row in held:
            await tx.execute(
                "UPDATE questions SET claimed_by = NULL, status = ? WHERE id = ?",
                (unclaimed(row["status"], row["answered_at"] is not None), row["id"]),
            )
        counts["claims"] = len(held)
        counts["stage_moves"] = await tx.execute(
            "UPDATE question_stages SET moved_by = ? WHERE moved_by = ?", (ERASED, user_id)
        )
        counts["direct_chat"] = await tx.execute(
            "DELETE FROM direct_rooms WHERE user_id = ?", (user_id,)
        )
        counts["notes"] = await tx.execute("DELETE FROM kv WHERE key LIKE ?", (f"%{user_id}%",))
        counts["materials"] = await materials.erase_user(tx, user_id)
        counts["activity"] = await evaluation.erase_user(tx, user_id)
        counts["plans"] = await plans.erase_user(tx, user_id)
        counts["privacy_notice"] = await privacy_notice.erase_user(tx, user_id)
        # Messages addressed to the person (their direct chat not opened yet) are dropped.
        counts["unsent"] = await tx.execute(
            "DELETE FROM outbox WHERE room_id = ? AND state != 'sent'", (user_id,)
        )
        await tx.execute("UPDATE outbox SET room_id = ? WHERE room_id = ?", (ERASED, user_id))
        await tx.execute("UPDATE outbox SET owner = NULL WHERE owner = ?", (user_id,))
        counts["checkins"] = await tx.execute(
            "DELETE FROM checkin_replies WHERE user_id = ?", (user_id,)
        )
        counts["poll_votes"] = await tx.execute(
            "DELETE FROM poll_responses WHERE sender = ?", (user_id,)
        )
        counts["surveys"] = await tx.execute(
            "DELETE FROM survey_invites WHERE user_id = ?", (user_id,)
        )
        await tx.execute(
            "DELETE FROM survey_answers WHERE response_id IN"
            " (SELECT response_id FROM survey_responses WHERE user_id = ?)",
            (user_id,),
        )
        counts["survey_answers"] = await tx.execute(
            "DELETE FROM survey_responses WHERE user_id = ?", (user_id,)
        )
        counts["undecrypted"] = await encryption.forget_sender(tx, user_id)
        counts["identity_pin"] = await trust.erase_user(tx, user_id)
    return counts


async def _erase_questions(tx: Tx, user_id: str) -> int:
    rows = await tx.fetchall(
        "SELECT id, adviser_room, root_event, root_outbox FROM questions WHERE asker = ?",
        (user_id,),
    )
    for r in rows:
        root = r["root_event"] or f"$outbox:{r['root_outbox']}"
        await enqueue(tx, r["adviser_room"], {"redacts": root}, event_type="m.room.redaction")
    # The advisers' comments on the person's requests, and the answers' texts kept for their
    # documentation, go with them; the dates stay.
    await tx.execute(
        "UPDATE question_stages SET comment = '' WHERE question_id IN"
        " (SELECT id FROM questions WHERE asker = ?)",
        (user_id,),
    )
    await tx.execute(
        "UPDATE question_links SET text = NULL WHERE question_id IN"
        " (SELECT id FROM questions WHERE asker = ?)",
        (user_id,),
    )
    await tx.execute(
        "UPDATE questions SET asker = ?, text = '', status = 'withdrawn' WHERE asker = ?",
        (ERASED, user_id),
    )
    return len(rows)


async def _erase_links(tx: Tx, user_id: str) -> int:
    rows = await tx.fetchall(
        "SELECT source_event, target_room, target_outbox FROM question_links WHERE author = ?",
        (user_id,),
    )
    for r in rows:
        if r["target_room"] and r["target_outbox"]:
            await enqueue(
                tx,
                r["target_room"],
                {"redacts": f"$outbox:{r['target_outbox']}"},
                event_type="m.room.redaction",
            )
    await tx.execute("DELETE FROM question_links WHERE author = ?", (user_id,))
    return len(rows)


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
