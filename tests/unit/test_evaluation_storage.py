"""The measures in storage: counted once per day and person, peer replies only between two
people, the person's part exported and erased, everything pruned by the retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.questions.status import unclaimed
from storage import Database, privacy
from storage import evaluation as store

DAY = 24 * 3600 * 1000


def msg(user: str, event: str, day: str, ts: int, **kw: object) -> store.Message:
    fields: dict[str, object] = {
        "cohort_id": "c",
        "user_id": user,
        "event_id": event,
        "ts": ts,
        "day": day,
        "files": 0,
        "links": 0,
        "replies_to": None,
        "thread_root": None,
    }
    fields.update(kw)
    return store.Message(**fields)  # type: ignore[arg-type]


async def test_counts_writers_once_a_day_and_peer_replies_only_between_two(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "e.db")
    try:
        async with db.transaction() as tx:
            store.record_message(tx, msg("@a:x", "$1", "2027-01-15", 1))
            store.record_message(tx, msg("@a:x", "$2", "2027-01-15", 2, replies_to="$1"))
            store.record_message(
                tx, msg("@b:x", "$3", "2027-01-15", 3, replies_to="$1", thread_root="$1")
            )
            store.record_message(
                tx, msg("@c:x", "$4", "2027-01-15", 4, replies_to="$1", thread_root="$1")
            )
            store.record_message(tx, msg("@a:x", "$5", "2027-01-16", DAY, files=1))
        # The transaction left one inbox row and no counts yet; the fold counts and empties it.
        assert await store.activity_days(db, ["c"], "2027-01-01", "2027-01-31") == []
        assert (await db.fetchone("SELECT COUNT(*) AS n FROM activity_inbox"))["n"] == 1  # type: ignore[index]
        assert await store.fold_now(db) == 5
        assert (await db.fetchone("SELECT COUNT(*) AS n FROM activity_inbox"))["n"] == 0  # type: ignore[index]
        assert await store.fold_now(db) == 0
        days = await store.activity_days(db, ["c"], "2027-01-01", "2027-01-31")
        counted = [
            (d["day"], d["messages"], d["writers"], d["threads"], d["peer_replies"]) for d in days
        ]
        assert counted == [("2027-01-15", 4, 3, 1, 2), ("2027-01-16", 1, 1, 0, 0)]
        months = await store.member_months(db, ["c"], "2027-01", "2027-01")
        assert sorted(r["messages"] for r in months) == [1, 1, 3]
        rows = await db.fetchall("SELECT author FROM activity_messages")
        assert rows and all("@" not in r["author"] for r in rows)  # keyed hashes, not ids
    finally:
        await db.close()


async def test_a_reply_inside_a_thread_counts_the_thread_once(tmp_path: Path) -> None:
    """A posts; B answers in the thread; C replies to B inside it: one thread, two peer replies;
    across two transactions as within one, and folded one inbox row at a time."""
    db = await Database.open(tmp_path / "e.db")
    try:
        async with db.transaction() as tx:
            store.record_message(tx, msg("@a:x", "$a", "2027-01-15", 1))
            store.record_message(
                tx, msg("@b:x", "$b", "2027-01-15", 2, replies_to="$a", thread_root="$a")
            )
        async with db.transaction() as tx:
            store.record_message(
                tx, msg("@c:x", "$c", "2027-01-15", 3, replies_to="$b", thread_root="$a")
            )
            store.record_message(
                tx, msg("@a:x", "$d", "2027-01-15", 4, replies_to="$c", thread_root="$a")
            )
        async with db.transaction() as tx:
            assert await store.fold(tx, rows=1) == 4
        (day,) = await store.activity_days(db, ["c"], "2027-01-15", "2027-01-15")
        assert (day["messages"], day["writers"], day["threads"], day["peer_replies"]) == (
            4,
            3,
            1,
            3,
        )
    finally:
        await db.close()


async def test_a_person_is_exported_and_erased_with_their_hashes(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "e.db")
    try:
        async with db.transaction() as tx:
            store.record_message(tx, msg("@a:x", "$1", "2027-01-15", 1))
            store.record_message(tx, msg("@b:x", "$2", "2027-01-15", 2, replies_to="$1"))
        exported = await privacy.export_user(db, "@a:x")
        assert exported["monthly_message_counts"] == [
            {"cohort_id": "c", "month": "2027-01", "messages": 1}
        ]
        counts = await privacy.erase_user(db, "@a:x", unclaimed=unclaimed)
        assert counts["activity"] == 1
        left = await db.fetchall("SELECT event_id FROM activity_messages")
        assert [r["event_id"] for r in left] == ["$2"]
        assert (await privacy.export_user(db, "@a:x"))["monthly_message_counts"] == []
        # The day's counts stay: they are no one's.
        days = await store.activity_days(db, None, "2027-01-15", "2027-01-15")
        assert days[0]["messages"] == 2
    finally:
        await db.close()


async def test_retention_prunes_old_measures_messages_and_keys(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "e.db")
    now = 1_900_000_000_000
    try:
        async with db.transaction() as tx:
            store.record_message(tx, msg("@a:x", "$old", "2025-06-01", now - 500 * DAY))
            store.record_message(tx, msg("@a:x", "$new", "2026-03-10", now - 10 * DAY))
            await store.record_search(tx, "c", "2025-06-01", False, ["bildstod"])
            await store.record_search(tx, "c", "2026-03-10", True, ["npf"])
        async with db.transaction() as tx:
            await store.prune(tx, before_day="2025-11-01", now_ms=now)
        assert [
            d["day"] for d in await store.activity_days(db, None, "2000-01-01", "2099-01-01")
        ] == ["2026-03-10"]
        left = await db.fetchall("SELECT event_id FROM activity_messages")
        assert [r["event_id"] for r in left] == ["$new"]
        assert await store.member_months(db, None, "2025-01", "2025-12") == []
        days, words = await store.searches(db, None, "2000-01-01", "2099-01-01")
        assert [d["day"] for d in days] == ["2026-03-10"] and words == []
        keys = await db.fetchall("SELECT key FROM kv WHERE key LIKE 'evaluation.key:%'")
        assert [k["key"] for k in keys] == ["evaluation.key:2026-03"]
    finally:
        await db.close()


async def test_what_a_listener_appends_is_counted_once_at_commit_and_never_if_rolled_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``record_later``: items made into messages just before the commit, in the transaction;
    None counts nothing; one whose making fails is left out (logged), the rest is counted;
    a transaction that fails after the appends leaves nothing to count."""
    db = await Database.open(tmp_path / "e.db")
    made: list[str] = []

    def make(item: tuple[str, str, int]) -> store.Message | None:
        user, event, ts = item
        made.append(event)
        if event == "$edit":
            return None
        if event == "$bad":
            raise ValueError("unreadable")
        return msg(user, event, "2027-01-15", ts, replies_to="$1" if event == "$2" else None)

    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                store.record_later(tx, make).append(("@a:x", "$0", 0))
                raise RuntimeError("crash before the commit")
        assert made == []  # nothing made for a transaction that did not commit
        assert (await db.fetchone("SELECT COUNT(*) AS n FROM activity_inbox"))["n"] == 0  # type: ignore[index]

        async with db.transaction() as tx:
            later = store.record_later(tx, make)
            later.append(("@a:x", "$1", 1))
            store.record_later(tx, make).append(("@a:x", "$edit", 2))  # the same list
            later.append(("@b:x", "$bad", 3))
            later.append(("@b:x", "$2", 4))
            assert made == []  # not on the path of the messages
        assert made == ["$1", "$edit", "$bad", "$2"]
        assert "could not be counted" in caplog.text and "unreadable" in caplog.text
        assert (await db.fetchone("SELECT COUNT(*) AS n FROM activity_inbox"))["n"] == 1  # type: ignore[index]

        # A transaction that appends nothing (or only what counts nothing) writes no row.
        async with db.transaction() as tx:
            store.record_later(tx, make).append(("@a:x", "$edit", 5))
        assert (await db.fetchone("SELECT COUNT(*) AS n FROM activity_inbox"))["n"] == 1  # type: ignore[index]

        assert await store.fold_now(db) == 2
        assert await store.fold_now(db) == 0  # counted once
        (day,) = await store.activity_days(db, ["c"], "2027-01-15", "2027-01-15")
        assert (day["messages"], day["writers"], day["peer_replies"]) == (2, 2, 1)
    finally:
        await db.close()
