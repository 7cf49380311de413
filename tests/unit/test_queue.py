"""!queue's filters and grouping (pure)."""

from __future__ import annotations

from dataclasses import replace

from commands.questions import queue
from config import Category
from storage.questions import Question

CATEGORIES = [Category(id="allmant", name="Allmän fråga"), Category(id="teknik", name="Teknik")]
BASE = Question(
    id=0, asker="@a:x", cohort_id="c", private=False, category="allmant", origin_room="!r",
    origin_event="$e", adviser_room="!a", root_outbox=1, text="?", created_at=0,
)  # fmt: skip


def test_filter_words_in_both_languages_and_categories_by_id_or_name() -> None:
    parse = queue.parse_filter
    assert parse(None, CATEGORIES) == queue.ALL
    assert parse("mina", CATEGORIES) == parse("Mine", CATEGORIES) == queue.Filter("mine")
    assert parse("försenade", CATEGORIES) == parse("overdue", CATEGORIES)
    assert parse("nya", CATEGORIES) == queue.Filter("status", "open")
    assert parse("tagna", CATEGORIES) == queue.Filter("status", "claimed")
    assert parse("TEKNIK", CATEGORIES) == queue.Filter("category", "teknik")
    assert parse("allmän fråga", CATEGORIES) == queue.Filter("category", "allmant")
    assert parse("blå", CATEGORIES) is None


def test_select_and_group_oldest_first_in_configured_order() -> None:
    qs = [
        replace(BASE, id=1, category="teknik", created_at=30),
        replace(BASE, id=2, created_at=20, status="claimed", claimed_by="@adv:x"),
        replace(BASE, id=3, category="teknik", created_at=10),
        replace(BASE, id=4, category="borttagen", created_at=5),  # an old category: last
    ]
    late = {3}

    def ids(f: queue.Filter) -> list[int]:
        picked = queue.select(qs, f, adviser="@adv:x", overdue=lambda q: q.id in late)
        return [q.id for q in picked]

    assert ids(queue.Filter("mine")) == [2]
    assert ids(queue.Filter("overdue")) == [3]
    assert ids(queue.Filter("category", "teknik")) == [1, 3]
    assert ids(queue.Filter("status", "open")) == [1, 3, 4]
    groups = queue.by_category(qs, CATEGORIES)
    assert [(c, [q.id for q in g]) for c, g in groups] == [
        ("allmant", [2]),
        ("teknik", [3, 1]),
        ("borttagen", [4]),
    ]
