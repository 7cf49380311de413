"""When the periodic pass runs: every minute, or at the next thing due."""

from __future__ import annotations

from pathlib import Path

from bot.app import MIN_PERIODIC_GAP, periodic_delay
from storage import Database
from storage import checkins as store
from storage import surveys as surveys_store

NOW = 1_800_000_000_000


def test_the_pass_waits_a_minute_unless_something_is_due_sooner() -> None:
    assert periodic_delay(NOW, [], 60.0) == 60.0
    assert periodic_delay(NOW, [None, None], 60.0) == 60.0
    assert periodic_delay(NOW, [NOW + 120_000], 60.0) == 60.0
    # Due in 5 s: just after that (not a millisecond early, when nothing would be due yet).
    assert 5.0 < periodic_delay(NOW, [NOW + 9_000, None, NOW + 5_000], 60.0) < 5.1
    # However much is due, the passes keep a small gap.
    assert periodic_delay(NOW, [NOW - 1_000], 60.0) == MIN_PERIODIC_GAP


async def test_next_due_is_the_earliest_future_fire_reminder_or_poll_close(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        assert await store.next_due(db, NOW) is None
        async with db.transaction() as tx:
            await store.put_schedule(tx, "c", "later", "f", NOW + 600_000)
            await store.put_schedule(tx, "c", "past", "f", NOW - 1)  # the pass handles it
            await store.put_schedule(tx, "c", "paused", "f", NOW + 1_000)
            await store.set_paused(tx, "c", "paused", True)
        assert await store.next_due(db, NOW) == NOW + 600_000

        async with db.transaction() as tx:
            run = await store.insert_run(tx, "c", "later", NOW - 5_000, "posted", NOW)
            assert run is not None
            await store.set_run_root(tx, run, root_outbox=1, remind_at=NOW + 300_000)
        assert await store.next_due(db, NOW) == NOW + 300_000

        async with db.transaction() as tx:
            await store.create_poll(tx, run, "c", "!r:x", 1, "Hur går det?", ["Bra"], NOW + 60_000)
        assert await store.next_due(db, NOW) == NOW + 60_000
    finally:
        await db.close()


async def test_next_due_of_surveys_is_the_earliest_reminder_or_close(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        assert await surveys_store.next_due(db, NOW) is None
        async with db.transaction() as tx:
            first = await surveys_store.open_round(
                tx, "s", "c", None, True, NOW - 1_000, NOW + 900_000, NOW + 120_000, ["@a:x"]
            )
            await surveys_store.open_round(
                tx, "s", "d", None, True, NOW - 1_000, NOW + 600_000, None, ["@b:x"]
            )
        assert await surveys_store.next_due(db, NOW) == NOW + 120_000
        async with db.transaction() as tx:
            await surveys_store.close_round(tx, first, NOW)  # closed: neither its reminder
        assert await surveys_store.next_due(db, NOW) == NOW + 600_000
    finally:
        await db.close()
