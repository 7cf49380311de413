"""The pilot's evidence, in-process: real messages, questions and searches through the real
dispatcher, then the report's exact figures in every format, min_group, criteria and phases."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import docx
import pytest

from bot import clock
from bot.types import RoomEvent
from commands.evaluation import figures, report
from commands.evaluation.figures import HIDDEN
from storage import evaluation as evaluation_store
from storage import state as state_store
from tests.handlers.harness import Bot

HOUR = 3_600_000
T0 = 1_800_000_000_000  # 2027-01-15 09:00 in Stockholm: the harness's events start here too
JANUARY = {"first": date(2027, 1, 1), "last": date(2027, 1, 31)}


def _network(data: dict[str, Any]) -> None:
    data["cohorts"][0]["name"] = "Kohort <0> & Co"
    data["advisers"]["categories"] = [
        {"id": "allmant", "name": "Allmänt & <annat>", "default": True},
        {"id": "teknik", "name": "Teknik"},
    ]
    data["evaluation"] = {
        "min_group": 3,
        "phases": [
            {"id": "behov", "name": "Behov", "from": "2027-01-01", "to": "2027-01-14"},
            {"id": "drift", "name": "Drift", "from": "2027-01-15", "to": "2027-03-31"},
        ],
        "criteria": [
            {
                "id": "svarstid",
                "name": "Svar inom två dagar",
                "indicator": "answered_within",
                "within": "2d",
                "at_least": "90%",
            },
            {
                "id": "aktiva",
                "name": "Aktiva deltagare",
                "indicator": "active_share",
                "at_least": 0.5,
            },
            {
                "id": "respons",
                "name": "Första respons inom 4 h",
                "indicator": "first_response_median",
                "at_most": "4h",
            },
        ],
    }


async def _activity(bot: Bot) -> None:
    """Five members (four participants, a facilitator); three of them write, three ask."""
    room, adv = bot.room("cohort:kohort0"), bot.room("advisers")
    p0, p1, p2, p3 = bot.people.participants[0]
    adviser = bot.people.advisers[0]
    root = await bot.say(room, p0, "Hej alla, hur lägger ni upp första träffen?")
    await bot.say(room, p1, "Vi börjar med förväntningar.", thread=root)  # a thread, a peer reply
    await bot.say(room, p2, "Samma här.", thread=root)  # a peer reply
    await bot.say(room, p0, "Tack!", thread=root)  # a reply to oneself: not peer exchange
    await bot.event(room, p1, {"msgtype": "m.image", "body": "plan.png", "url": "mxc://test/p"})
    await bot.say(room, p2, "Bra stöd: https://www.spsm.se/npf")
    await bot.say(room, bot.people.admin, "Admins are not members")  # not counted
    await bot.say(room, p0, "!material sök bildstöd")  # a command: not a message; no hits
    await bot.edit(room, p0, root, "Hej alla! Hur lägger ni upp första träffen?")  # not counted

    with clock.frozen(T0):
        await bot.say(room, p0, "!fråga Hur ofta ska vi träffas?")
        await bot.say(room, p1, "!fråga teknik: Var finns inspelningarna?")
        await bot.say(bot.dm(p3), p3, "!fråga Hur pratar jag med en förälder?")  # private
        roots = [s for s in bot.sent_to(adv) if s.body.startswith("[NY]")]
        first, second = roots[0].event_id, roots[1].event_id
        clock.advance(1 * HOUR)
        await bot.say(adv, adviser, "!claim", thread=first)  # first response after 1 h
        clock.advance(1 * HOUR)
        await bot.say(adv, adviser, "Varannan vecka.", thread=first)  # answered after 2 h
        clock.advance(28 * HOUR)
        await bot.say(adv, adviser, "På lärplattformen.", thread=second)  # answered after 30 h


async def _report(bot: Bot, **period: Any) -> dict[str, Any]:
    return await report.figures_of(bot.db, bot.app.config, now_ms=T0 + 48 * HOUR, **period)


async def test_known_activity_gives_exact_figures(make_bot: Any) -> None:
    bot = await make_bot(participants=4, change=_network)
    await _activity(bot)
    got = await _report(bot, **JANUARY)

    p = got["participation"]
    assert (p["members"], p["active"], p["messages"], p["active_share"]) == (5, 3, 6, 0.6)
    assert p["top_tenth_share"] is HIDDEN  # the most active tenth is one person
    january = next(m for m in p["by_month"] if m["month"] == "2027-01")
    assert january == {"month": "2027-01", "active": 3, "messages": 6}
    x = got["exchange"]
    assert (x["threads"], x["peer_replies"], x["files"], x["links"]) == (1, 2, 1, 1)
    assert x["peer_reply_share"] == round(2 / 6, 4)
    assert x["materials_items"] is HIDDEN  # two people shared the two items

    q = got["questions"]
    assert (q["asked"], q["answered"], q["private"], q["backlog_at_end"]) == (3, 2, 1, 1)
    assert q["first_response_median_hours"] == 15.5  # 1 h and 30 h
    assert q["answer_median_hours"] == 16.0  # 2 h and 30 h
    assert q["answered_within_reminder_share"] == round(1 / 3, 4)  # reminder after 24 h
    assert q["answer_buckets"] == {
        "0-1h": 0.0,
        "1-4h": 0.5,
        "4-8h": 0.0,
        "8-24h": 0.0,
        "over 24h": 0.5,
    }
    assert q["by_asker_role"] == {"participant": 3}
    assert q["by_category"] == {"Allmänt & <annat>": HIDDEN, "Teknik": HIDDEN}

    m = got["materials"]
    assert (m["searches"], m["searches_without_hits"]) == (1, 1)
    assert m["unmet_words"] == [{"word": "bildstod", "count": 1}]
    assert got["checkins"]["runs"] == 0 and got["checkins"]["reply_rate"] is None

    crit = {c["id"]: (c["value"], c["met"]) for c in got["criteria"]}
    assert crit == {
        "svarstid": (round(2 / 3, 4), False),
        "aktiva": (0.6, True),
        "respons": (15.5, False),
    }


async def test_every_format_holds_the_figures_escaped_and_no_person(make_bot: Any) -> None:
    bot = await make_bot(participants=4, change=_network)
    await _activity(bot)
    got = await _report(bot, **JANUARY)
    config = bot.app.config
    now = T0 + 48 * HOUR

    data = json.loads(str(report.written(got, config, "json", "sv", now)))
    leaves = dict(figures.flatten(data))
    for key in (
        "participation.members",
        "participation.active",
        "participation.messages",
        "exchange.threads",
        "exchange.peer_replies",
        "questions.asked",
        "questions.answered",
        "questions.first_response_median_hours",
        "questions.answered_within_reminder_share",
        "materials.items",
        "materials.searches",
        "materials.searches_without_hits",
        "checkins.reply_rate",
        "surveys.response_rate",
    ):
        assert key in leaves, key
    assert leaves["participation.messages"] == 6 and leaves["materials.items"] is None
    assert [(c["id"], c["met"]) for c in data["criteria"]] == [
        ("svarstid", False),
        ("aktiva", True),
        ("respons", False),
    ]

    md = str(report.written(got, config, "md", "sv", now))
    assert (
        "## Kriterier" in md and "| Svar inom två dagar | 67 % | minst 90 % | inte uppfyllt |" in md
    )
    assert "färre än 3" in md  # what two people did
    page = str(report.written(got, config, "html", "sv", now))
    assert "Allmänt &amp; &lt;annat&gt;" in page and "<annat>" not in page
    one = await _report(bot, cohort="kohort0", **JANUARY)
    cohort_page = str(report.written(one, config, "html", "sv", now))
    assert "Grupp: Kohort &lt;0&gt; &amp; Co" in cohort_page and "<0>" not in cohort_page
    assert page.count("data:image/png;base64,") >= 2  # charts embedded: one file
    english = str(report.written(got, config, "html", "en", now))
    assert "Support from the advisers" in english and "fewer than 3" in english

    word = report.written(got, config, "docx", "sv", now)
    assert isinstance(word, bytes)
    opened = docx.Document(io.BytesIO(word))
    tables = [[[c.text for c in row.cells] for row in t.rows] for t in opened.tables]
    criteria = next(t for t in tables if t[0][0] == "Kriterium")
    assert criteria[1][:4] == ["Svar inom två dagar", "67\xa0%", "minst 90\xa0%", "inte uppfyllt"]
    assert criteria[2][3] == "uppfyllt"
    assert opened.inline_shapes, "the charts are in the document"

    everything = [json.dumps(data), md, page, cohort_page, english, "\n".join(map(str, tables))]
    for text in everything:
        for person in [*bot.people.participants[0], *bot.people.advisers, bot.people.admin]:
            assert person not in text and person.split(":")[0] not in text
        assert "Hur ofta ska vi träffas" not in text and "förväntningar" not in text


async def test_min_group_hides_what_too_few_did_and_phases_cut_the_period(make_bot: Any) -> None:
    def stricter(data: dict[str, Any]) -> None:
        _network(data)
        data["evaluation"]["min_group"] = 4

    bot = await make_bot(participants=4, change=stricter)
    await _activity(bot)
    got = await _report(bot, **JANUARY)
    p, q = got["participation"], got["questions"]
    assert p["members"] == 5  # configured members: always shown
    assert p["active"] is HIDDEN and p["messages"] is HIDDEN and p["active_share"] is HIDDEN
    assert q["asked"] is HIDDEN and q["first_response_median_hours"] is HIDDEN
    assert [c["met"] for c in got["criteria"]] == [None, None, None]  # cannot be measured
    assert json.loads(figures.to_json(got))["participation"]["active"] is None

    before = await _report(bot, phase="behov")
    assert (before["period"]["from"], before["period"]["to"]) == ("2027-01-01", "2027-01-14")
    assert before["participation"]["messages"] == 0 and before["questions"]["asked"] == 0
    during = await _report(bot, phase="drift")
    assert during["questions"]["asked"] is HIDDEN  # three askers, min_group 4
    assert during["exchange"]["threads"] is HIDDEN


async def test_trend_compares_with_the_period_before(make_bot: Any) -> None:
    bot = await make_bot(participants=4, change=_network)
    await _activity(bot)
    # January against December, when nothing was recorded: no trend at all.
    got = await _report(bot, **JANUARY)
    assert {c["id"]: c["trend"] for c in got["criteria"]} == {
        "svarstid": None,
        "aktiva": None,
        "respons": None,
    }
    # February (nobody wrote) against January: the active share fell; no answers to compare.
    february = await _report(bot, first=date(2027, 2, 1), last=date(2027, 2, 28))
    assert february["participation"]["active_share"] == 0.0
    assert {c["id"]: c["trend"] for c in february["criteria"]} == {
        "svarstid": None,
        "aktiva": "down",
        "respons": None,
    }


async def test_report_in_chat_for_admins_and_advisers_only(make_bot: Any) -> None:
    bot = await make_bot(participants=4, change=_network)
    await _activity(bot)
    admin, adviser = bot.people.admin, bot.people.advisers[0]
    participant = bot.people.participants[0][0]

    async def ask(room: str, sender: str, text: str) -> str:
        command = await bot.say(room, sender, text)
        await bot.run_after_commit()  # the figures are read after the command's commit
        return command

    with clock.frozen(T0 + 48 * HOUR):  # this month: January 2027
        answer = bot.reply_to(await ask(bot.dm(admin), admin, "!rapport"))
        assert answer.content["msgtype"] == "m.notice"
        assert answer.body.startswith("Utvärdering 2027-01-01 – 2027-01-17")
        assert "Svar inom två dagar · 67\xa0% · minst 90\xa0% · inte uppfyllt" in answer.body
        assert "Aktiva deltagare · 60\xa0% · minst 50\xa0% · uppfyllt" in answer.body
        assert "Ställda frågor: 3" in answer.body
        html = str(answer.content["formatted_body"])
        assert "<table>" in html and "<td>Svar inom två dagar</td>" in html
        in_advisers = await ask(bot.room("advisers"), adviser, "!report drift")
        assert "2027-01-15 – 2027-03-31" in bot.reply_to(in_advisers).body
        unknown = bot.reply_to(await ask(bot.dm(admin), admin, "!report vinter"))
        assert unknown.body == "Det finns ingen fas vinter. Faser: behov, drift"
        refused = bot.reply_to(await ask(bot.dm(participant), participant, "!rapport"))
        assert "Utvärdering" not in refused.body
        in_cohort = await ask(bot.room("cohort:kohort0"), admin, "!rapport")
        assert "Utvärdering" not in " ".join(s.body for s in bot.replies_to(in_cohort))
    reports = [s for s in bot.sent if s.body.startswith("Utvärdering")]
    assert len(reports) == 2
    for sent in reports:
        assert ":test" not in str(sent.content)  # no person, no room


async def test_a_report_asked_for_before_a_stop_is_posted_once_after_the_restart(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=4, change=_network)
    await _activity(bot)
    admin = bot.people.admin
    with clock.frozen(T0 + 48 * HOUR):
        command = await bot.say(bot.dm(admin), admin, "!rapport")
        # The command's transaction only wrote the job: the figures are not read in it.
        assert not bot.replies_to(command)
        bot.after_commit.clear()  # the bot stopped before the job ran
        await bot.periodic()  # after the restart
        await bot.periodic()  # and a pass later: nothing new
    answers = bot.replies_to(command)
    assert [a.body.splitlines()[0] for a in answers] == ["Utvärdering 2027-01-01 – 2027-01-17"]
    assert "Ställda frågor: 3" in answers[0].body


async def test_the_monthly_digest_posts_last_months_report_once(make_bot: Any) -> None:
    def monthly(data: dict[str, Any]) -> None:
        _network(data)
        data["evaluation"]["digest"] = "monthly"

    bot = await make_bot(participants=4, change=monthly)
    await _activity(bot)
    adv = bot.room("advisers")
    with clock.frozen(T0 + 20 * 24 * HOUR):  # 2027-02-04
        await bot.periodic()
        await bot.periodic()  # the next pass posts nothing new
    digests = [s for s in bot.sent_to(adv) if s.body.startswith("Utvärdering")]
    assert [d.body.splitlines()[0] for d in digests] == ["Utvärdering 2027-01-01 – 2027-01-31"]
    assert "Aktiva deltagare · 60\xa0% · minst 50\xa0% · uppfyllt" in digests[0].body


async def test_a_crash_before_the_commit_counts_nothing_and_the_resync_counts_once(
    make_bot: Any,
) -> None:
    """The measures are written in the transaction that marks the event handled: a crash
    after the listener ran, before the commit, counts nothing; the re-sync that follows
    counts the message once, and a later repeat of it is not handled again."""
    bot = await make_bot(participants=2)
    room = bot.room("cohort:kohort0")
    p0 = bot.people.participants[0][0]
    source = {
        "type": "m.room.message",
        "event_id": "$crash",
        "sender": p0,
        "origin_server_ts": T0,
        "content": {"msgtype": "m.text", "body": "Läs https://www.spsm.se/npf"},
    }

    async def sync(crash: bool) -> bool:
        event = RoomEvent.from_source(room, source)
        assert event is not None
        async with bot.db.transaction() as tx:
            handled = await state_store.mark_processed(tx, event.event_id, room)
            if handled:
                await bot.app.dispatcher.dispatch(tx, event)
            if crash:
                raise RuntimeError("killed before the commit")
        return handled

    with pytest.raises(RuntimeError):
        await sync(crash=True)
    assert await evaluation_store.fold_now(bot.db) == 0
    assert await sync(crash=False)
    assert not await sync(crash=False)  # the same event in a later sync response
    assert await evaluation_store.fold_now(bot.db) == 1
    days = await evaluation_store.activity_days(bot.db, None, "2027-01-01", "2027-01-31")
    assert [(d["messages"], d["links"]) for d in days] == [(1, 1)]
