"""What the bot stops keeping after a while (``retention:``), by the periodic pass. The rows the
evaluation counts stay; only the words in them, and what nothing refers to, go."""

# The queries put only fixed SQL text and "?" marks together (no value is formatted in).
# ruff: noqa: S608

from __future__ import annotations

from storage.db import Tx

# Outbox rows other rows point at (to edit, redact or thread under them later): kept.
_REFERENCED = (
    "SELECT root_outbox AS ref FROM questions UNION SELECT target_outbox FROM question_links"
    " UNION SELECT root_outbox FROM checkin_runs UNION SELECT start_outbox FROM polls"
    " UNION SELECT end_outbox FROM polls UNION SELECT summary_outbox FROM plans"
)


async def prune(
    tx: Tx,
    *,
    questions_before: int,
    outbox_before: int,
    drafts_before: int,
    checkin_replies_before: int = 0,
) -> dict[str, int]:
    """Erase the texts of questions closed (or withdrawn) before ``questions_before`` (their
    answers' texts and stage comments too), sent or failed outbox rows created before
    ``outbox_before`` that nothing refers to, and questionnaire drafts of rounds opened before
    ``drafts_before``, and who answered check-ins due before ``checkin_replies_before`` (each
    run keeps how many did); the counts of what went."""
    old = (
        "SELECT id FROM questions WHERE status IN ('closed', 'withdrawn')"
        " AND COALESCE(closed_at, created_at) < ?"
    )
    counts = {
        "question_texts": await tx.execute(
            f"UPDATE questions SET text = '' WHERE text != '' AND id IN ({old})",
            (questions_before,),
        ),
        "answer_texts": await tx.execute(
            f"UPDATE question_links SET text = NULL WHERE text IS NOT NULL"
            f" AND question_id IN ({old})",
            (questions_before,),
        ),
        "stage_comments": await tx.execute(
            f"UPDATE question_stages SET comment = '' WHERE comment != ''"
            f" AND question_id IN ({old})",
            (questions_before,),
        ),
        "outbox": await tx.execute(
            "DELETE FROM outbox WHERE state IN ('sent', 'failed') AND created_at < ?"
            f" AND id NOT IN (SELECT ref FROM ({_REFERENCED}) WHERE ref IS NOT NULL)",
            (outbox_before,),
        ),
        "survey_drafts": await tx.execute(
            "UPDATE survey_invites SET draft = NULL WHERE draft IS NOT NULL AND round_id IN"
            " (SELECT id FROM survey_rounds WHERE opened_at < ?)",
            (drafts_before,),
        ),
        "checkin_replies": await _erase_checkin_replies(tx, checkin_replies_before),
    }
    return counts


async def _erase_checkin_replies(tx: Tx, before: int) -> int:
    old = "SELECT id FROM checkin_runs WHERE due_at < ?"
    await tx.execute(
        "UPDATE checkin_runs SET replies_kept = COALESCE(replies_kept, 0)"
        " + (SELECT COUNT(*) FROM checkin_replies c WHERE c.run_id = checkin_runs.id)"
        f" WHERE id IN ({old}) AND EXISTS"
        " (SELECT 1 FROM checkin_replies c WHERE c.run_id = checkin_runs.id)",
        (before,),
    )
    return await tx.execute(f"DELETE FROM checkin_replies WHERE run_id IN ({old})", (before,))
