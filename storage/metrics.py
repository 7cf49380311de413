"""What the metrics read from the database when scraped: counts only, never a person or text."""

from __future__ import annotations

from storage.db import Database


async def outbox_pending(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'")
    return int(row["n"]) if row else 0


async def unanswered(db: Database) -> list[tuple[str, int]]:
    """(category, asked at) of each question waiting for its first answer."""
    rows = await db.fetchall(
        "SELECT category, created_at FROM questions"
        " WHERE status IN ('open', 'claimed') AND answered_at IS NULL"
    )
    return [(str(r["category"]), int(r["created_at"])) for r in rows]


async def checkin_runs(db: Database) -> list[tuple[str, int]]:
    rows = await db.fetchall("SELECT status, COUNT(*) AS n FROM checkin_runs GROUP BY status")
    return [(str(r["status"]), int(r["n"])) for r in rows]


async def extraction_failures(db: Database) -> int:
    """Catalogued files whose text could not be read (not those skipped by design: too
    large or of a kind without text are recorded with their reason as well)."""
    row = await db.fetchone("SELECT COUNT(*) AS n FROM materials WHERE text_state = 'skipped'")
    return int(row["n"]) if row else 0
