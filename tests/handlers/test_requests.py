"""Staged requests: !stage moves, the root's stage line and deadline, the asker's notices
without the internal comment, one overdue reminder per stage, the end closing the request
(real dispatcher, temporary database)."""

from __future__ import annotations

from typing import Any

from bot import clock
from commands.questions import stages
from config import Category
from storage.questions import Question, StageEntry
from tests.handlers.test_questions import ask, in_room, latest_root_text, root_of

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_900_000_000_000  # 2030-03-17 18:46 in Stockholm

STAGES = [
    {"id": "mottagen", "name": "Mottagen"},
    {"id": "planering", "name": "Planeringsmöte", "within": "7d"},
    {"id": "forslag", "name": "Förslag skickat", "within": "14d"},
    {"id": "genomforande", "name": "Genomförande"},
    {"id": "utvardering", "name": "Utvärdering"},
    {"id": "klar", "name": "Klar"},
]


def staged(data: dict[str, Any]) -> None:
    data["advisers"]["categories"] = [
        {"id": "allmant", "name": "Allmän fråga", "default": True},
        {"id": "insats", "name": "Skräddarsydd insats", "stages": STAGES},
    ]


async def test_a_request_moves_through_its_stages_with_deadlines_and_one_reminder_each(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    cohort = bot.room("cohort:kohort0")
    with clock.frozen(T0):
        asked = await ask(bot, "!ask insats: Vi vill ha en insats om NPF för arbetslaget")
    root = root_of(bot, 1)
    assert "Steg 1 av 6: Mottagen · nästa: Planeringsmöte senast 2030-03-24 18:46" in root.body
    assert "<b>Steg 1 av 6: Mottagen" in root.content["formatted_body"]
    thread = root.event_id

    # The first stage's deadline passes: one reminder, in the thread, naming the stage.
    for offset in (8 * DAY, 8 * DAY + HOUR):
        with clock.frozen(T0 + offset):
            await bot.periodic()
    late = in_room(bot, adv, "Försenat")
    assert len(late) == 1
    assert late[0].body.startswith("Försenat: ärende #1 skulle ha nått steget Planeringsmöte")
    assert late[0].relates_to["rel_type"] == "m.thread" and late[0].relates_to["event_id"] == thread
    assert late[0].content["msgtype"] == "m.text" and adviser in late[0].body

    # Answered (the first reply), it still waits for its next stage: !queue overdue lists it.
    with clock.frozen(T0 + 8 * DAY + 2 * HOUR):
        await bot.say(adv, adviser, "Vi hör av oss om en tid.", thread=thread)
        overdue = bot.reply_to(await bot.say(adv, adviser, "!kö försenade", thread=None))
    assert overdue.body.splitlines()[2].startswith("  #1 ")
    assert "FÖRSENAD: Planeringsmöte senast 2030-03-24 18:46" in overdue.body
    with clock.frozen(T0 + 9 * DAY):
        moved = await bot.say(
            adv, adviser, "!steg planering Rektorn vill ha fokus på lågstadiet", thread=thread
        )
    assert bot.reply_to(moved).body == (
        "Steg 2 av 6: Planeringsmöte · nästa: Förslag skickat senast 2030-04-09 19:46"
    )  # 14 days after the move (summer time by then)
    assert "Steg 2 av 6: Planeringsmöte" in latest_root_text(bot, root)
    (told,) = [s for s in bot.sent_to(cohort) if "Ärende #1: Planeringsmöte" in s.body]
    assert told.body == "Ärende #1: Planeringsmöte (steg 2 av 6)."
    assert told.content["msgtype"] == "m.notice"
    assert told.relates_to["rel_type"] == "m.thread" and told.relates_to["event_id"] == asked
    assert not in_room(bot, cohort, "lågstadiet")  # the comment is internal

    # The next deadline: again exactly one reminder.
    for offset in (24 * DAY, 25 * DAY):
        with clock.frozen(T0 + offset):
            await bot.periodic()
    late = in_room(bot, adv, "Försenat")
    assert [s.body.split(" skulle")[0] for s in late] == ["Försenat: ärende #1"] * 2
    assert "Förslag skickat" in late[1].body

    with clock.frozen(T0 + 26 * DAY):
        await bot.say(adv, adviser, "!steg forslag", thread=thread)
        await bot.say(adv, adviser, "!steg genomforande", thread=thread)
        await bot.periodic()  # no deadline after it: nothing more
        again = bot.reply_to(await bot.say(adv, adviser, "!steg genomforande", thread=thread))
        history = bot.reply_to(await bot.say(adv, adviser, "!steg", thread=thread))
        unknown = bot.reply_to(await bot.say(adv, adviser, "!steg vinter", thread=thread))
        await bot.say(adv, adviser, "!steg klar", thread=thread)
    assert len(in_room(bot, adv, "Försenat")) == 2
    assert again.body == "Ärende #1 är redan i steget Genomförande."
    assert history.body.splitlines()[1:] == [
        "Mottagen · 2030-03-17 18:46",
        "Planeringsmöte · 2030-03-26 18:46",
        "Förslag skickat · 2030-04-12 19:46",
        "Genomförande · 2030-04-12 19:46",
    ]
    assert unknown.body.startswith("Det finns inget steg vinter. Steg: mottagen, planering")
    # The last stage ends the request: closed, shown as such, out of the queue.
    assert latest_root_text(bot, root).startswith("[KLAR] #1 ")
    assert "Steg 6 av 6: Klar" in latest_root_text(bot, root)
    row = await bot.db.fetchone("SELECT status FROM questions WHERE id = 1")
    assert row["status"] == "closed"
    notices = [s.body for s in bot.sent_to(cohort) if s.body.startswith("Ärende #1:")]
    assert notices[-1] == "Ärende #1: Klar (steg 6 av 6)." and len(notices) == 4
    stored = await bot.db.fetchall("SELECT stage, comment FROM question_stages ORDER BY id")
    assert [tuple(r) for r in stored] == [
        ("planering", "Rektorn vill ha fokus på lågstadiet"),
        ("forslag", ""),
        ("genomforande", ""),
        ("klar", ""),
    ]


async def test_stage_is_for_the_category_s_advisers_in_a_staged_request_s_thread(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    participant = bot.people.participants[0][0]
    await ask(bot, "!ask Hur bokar vi handledning?")  # the default category: no stages
    plain = root_of(bot, 1)
    reply = bot.reply_to(await bot.say(adv, adviser, "!steg planering", thread=plain.event_id))
    assert reply.body == "Fråga #1 hör till en kategori utan steg."
    outside = bot.reply_to(await bot.say(adv, adviser, "!steg planering"))
    assert outside.body == "Skriv kommandot i frågans tråd."
    cohort = bot.room("cohort:kohort0")
    refused = bot.reply_to(await bot.say(cohort, participant, "!steg planering"))
    assert "Steg" not in refused.body
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM question_stages"))["n"] == 0


def test_position_follows_the_history_and_skips_stages_no_longer_configured() -> None:
    category = Category.model_validate({"id": "insats", "name": "Insats", "stages": STAGES})
    question = Question(
        id=1, asker="@a:x", cohort_id="c", private=False, category="insats", origin_room="!r",
        origin_event="$e", adviser_room="!a", root_outbox=1, text="?", created_at=T0,
    )  # fmt: skip
    start = stages.position(category, question, [])
    assert start is not None
    assert (start.stage.id, start.next and start.next.id, start.due) == (
        "mottagen",
        "planering",
        T0 + 7 * DAY,
    )
    assert not start.overdue(T0 + 7 * DAY - 1) and start.overdue(T0 + 7 * DAY)
    history = [
        StageEntry(1, 1, "forslag", T0 + DAY, "@adv:x", "", None),
        StageEntry(2, 1, "borttaget", T0 + 2 * DAY, "@adv:x", "", None),  # not configured
    ]
    now = stages.position(category, question, history)
    assert now is not None
    assert (now.stage.id, now.entry_id, now.due) == ("forslag", 1, None)  # no deadline next
    end = stages.position(category, question, [StageEntry(3, 1, "klar", T0, "@a:x", "", T0)])
    assert end is not None and end.is_last and end.reminded
    assert stages.position(Category(id="x", name="X"), question, []) is None


async def test_stage_history_is_exported_and_erased_with_the_people_it_is_about(
    make_bot: Any,
) -> None:
    from commands.questions.status import unclaimed
    from storage import privacy

    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    asker = bot.people.participants[0][0]
    await ask(bot, "!ask insats: Hjälp med NPF-anpassningar")
    thread = root_of(bot, 1).event_id
    await bot.say(adv, adviser, "!steg planering Eleven Kalle behöver lugn miljö", thread=thread)
    theirs = await privacy.export_user(bot.db, asker)
    assert [(s["stage"], s["comment"]) for s in theirs["request_stages"]] == [
        ("planering", "Eleven Kalle behöver lugn miljö")
    ]
    mine = await privacy.export_user(bot.db, adviser)
    assert [s["stage"] for s in mine["request_stages_moved"]] == ["planering"]
    await privacy.erase_user(bot.db, asker, unclaimed=unclaimed)
    await privacy.erase_user(bot.db, adviser, unclaimed=unclaimed)
    row = await bot.db.fetchone("SELECT stage, comment, moved_by FROM question_stages")
    assert tuple(row) == ("planering", "", privacy.ERASED)
