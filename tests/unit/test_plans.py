"""Action plans' pure parts: statuses and their moves, what people write, the follow-up's
questions and answers, the export in every format with user text escaped."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import docx
import pytest

from bot import messages
from commands.plans import export, render
from commands.plans.status import Status, follow_up_answer, may_move, parse
from commands.questions.status import unclaimed
from storage import Database, privacy
from storage import plans as store
from storage.plans import WHOLE_COHORT, Item, Plan

S = Status


@pytest.mark.parametrize(
    ("now", "to", "allowed"),
    [
        (S.PLANNED, S.STARTED, True),
        (S.PLANNED, S.DONE, True),
        (S.PLANNED, S.DROPPED, True),
        (S.STARTED, S.PLANNED, True),
        (S.STARTED, S.DONE, True),
        (S.DONE, S.STARTED, True),
        (S.DONE, S.PLANNED, False),
        (S.DONE, S.DROPPED, False),
        (S.DROPPED, S.STARTED, True),
        (S.DROPPED, S.DONE, False),
    ],
)
def test_status_moves(now: Status, to: Status, allowed: bool) -> None:
    assert may_move(now, to) is allowed


def test_words_in_both_languages_and_the_follow_up_answers() -> None:
    assert parse("Påbörjad") is S.STARTED and parse("klar") is S.DONE and parse("done") is S.DONE
    assert parse("kanske") is None
    assert [follow_up_answer(x) for x in ("1", "2", "3", "4")] == [
        S.DONE,
        S.STARTED,
        S.PLANNED,
        S.DROPPED,
    ]
    assert follow_up_answer("Inte påbörjad") is S.PLANNED
    assert follow_up_answer("5") is None and follow_up_answer("") is None


def test_a_new_item_with_who_and_by_date() -> None:
    got = render.parse_new_item("Införa bildstöd @anna:example.org senast 2027-03-01", [])
    assert got == render.NewItem("Införa bildstöd", "@anna:example.org", "2027-03-01")
    pill = render.parse_new_item("Schema i matsalen Bertil", ["@bertil:example.org"])
    assert pill == render.NewItem("Schema i matsalen Bertil", "@bertil:example.org", None)
    assert render.parse_new_item("Något by 2027-02-30", []) == "plans.bad_date"
    assert render.parse_new_item("  ", []) == "plans.add_usage"
    assert render.parse_new_item("x" * 501, []) == "plans.too_long"


def item(n: int, text: str, status: str = "planned", who: str | None = None) -> Item:
    return Item(n, 1, text, who, None, status, "", "@fac:x", 0, 0)


def test_the_follow_up_question_and_a_summary_that_fits() -> None:
    q = render.follow_up_question("sv", item(3, "Visuellt schema"), 1, 2)
    assert q == "1/2: Visuellt schema\n1) klar 2) påbörjad 3) inte påbörjad 4) struken"
    many = [item(n, "<b>" + "å" * 400) for n in range(200)]
    shown = render.summary("sv", "Plan", many, lambda u: u)
    content = messages.notice(shown.body, html_body=shown.html)
    assert messages.fits_edited(content) and "<b>å" not in shown.html


def test_export_in_every_format_escaped(tmp_path: Path) -> None:
    plan = Plan(1, "k", "@fac:x", None, None, 0)
    cohort_plan = Plan(2, "k", WHOLE_COHORT, None, None, 0)
    items = [item(1, "<script>alert(1)</script> & bildstöd", who="@anna:x"), item(2, "=SUM(A1)")]
    history = [
        {
            "item_id": 1,
            "plan_id": 1,
            "at": 1_800_000_000_000,
            "by": "@fac:x",
            "change": "added",
            "status": "planned",
            "text": "<script>",
            "comment": None,
        },
        {
            "item_id": 1,
            "plan_id": 1,
            "at": 1_800_000_060_000,
            "by": "@anna:x",
            "change": "status",
            "status": "done",
            "text": None,
            "comment": "klart",
        },
    ]
    doc = export.build(
        "sv",
        "Europe/Stockholm",
        [(plan, "Kohort <0>", items), (cohort_plan, "Kohort <0>", [])],
        history,
        lambda u: u,
        "nu",
    )
    page = str(export.WRITERS["html"](doc))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; bildstöd" in page and "<script>" not in page
    assert "Handlingsplan för hela gruppen (Kohort &lt;0&gt;)" in page
    md = str(export.WRITERS["md"](doc))
    assert "\\<script\\>" in md and "2027-01-15 09:01" in md and "klar: klart" in md
    rows = list(csv.reader(io.StringIO(str(export.WRITERS["csv"](doc)))))
    assert rows[0][:3] == ["plan", "Nr", "Vad"]
    assert rows[2][2] == "'=SUM(A1)"  # a spreadsheet never runs it
    word = export.WRITERS["docx"](doc)
    assert isinstance(word, bytes)
    tables = docx.Document(io.BytesIO(word)).tables
    assert tables[0].rows[1].cells[1].text == "<script>alert(1)</script> & bildstöd"


async def test_an_erased_owner_leaves_the_items_as_a_former_members(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "p.db")
    try:
        async with db.transaction() as tx:
            plan = await store.plan_of(tx, "k", "@fac:x", 1)
            await store.add_item(tx, plan.id, "Bildstöd", "@anna:x", None, "@fac:x", 1)
        exported = await privacy.export_user(db, "@anna:x")
        assert [i["text"] for i in exported["plan_items"]] == ["Bildstöd"]
        await privacy.erase_user(db, "@anna:x", unclaimed=unclaimed)
        await privacy.erase_user(db, "@fac:x", unclaimed=unclaimed)
        (kept,) = await store.items(db, [plan.id])
        assert kept.text == "Bildstöd" and kept.who == store.FORMER_MEMBER
        assert render.person("sv", kept.who, lambda u: u) == "tidigare medlem"
        rows = await db.fetchall("SELECT owner FROM plans")
        assert all("@fac:x" not in r["owner"] for r in rows)
        assert (await privacy.export_user(db, "@fac:x"))["plans_owned"] == []
    finally:
        await db.close()


def test_who_answers_for_an_item_in_the_follow_up() -> None:
    from commands.plans.followup import owner_of
    from config.model import Cohort

    cohort = Cohort(id="k", name="K", room="#k:x", facilitators=["@fac:x"], participants=["@a:x"])
    team = Plan(1, "k", "@fac2:x", None, None, 0)
    whole = Plan(2, "k", WHOLE_COHORT, None, None, 0)
    assert owner_of(item(1, "x", who="@a:x"), team, cohort) == "@a:x"  # the person responsible
    assert owner_of(item(2, "x"), team, cohort) == "@fac2:x"  # else the plan's owner
    assert owner_of(item(3, "x"), whole, cohort) == "@fac:x"  # else the cohort's facilitator
    gone = item(4, "x", who=store.FORMER_MEMBER)
    assert owner_of(gone, team, cohort) == "@fac2:x"  # an erased person is not asked
