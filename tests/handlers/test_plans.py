"""Action plans in-process: who may change what, the summary edited in place, the follow-up
asked in direct chats, resumed, reminded once and summarised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot import clock
from tests.handlers.harness import Bot, Sent

HOUR = 3_600_000
T0 = 1_800_000_000_000


def _follow_up(data: dict[str, Any]) -> None:
    data["cohorts"][0]["schedules"] = [
        {
            "id": "uppfoljning",
            "at": "2027-01-15 10:00",
            "text": "Dags att följa upp handlingsplanerna.",
            "follow_up": "plans",
            "open_for": "7d",
            "remind_after": "2d",
        }
    ]


async def cmd(bot: Bot, room: str, sender: str, text: str) -> str:
    return bot.reply_to(await bot.say(room, sender, text)).body


def summaries(bot: Bot, room: str) -> list[Sent]:
    return [s for s in bot.sent_to(room) if s.body.startswith("Handlingsplan")]


def shown_summary(bot: Bot, room: str, root: Sent) -> str:
    """What Element shows for a summary message: its latest edit."""
    text = root.body
    for s in bot.sent_to(room):
        if (
            s.relates_to.get("rel_type") == "m.replace"
            and s.relates_to["event_id"] == root.event_id
        ):
            text = str(s.content["m.new_content"]["body"])
    return text


async def build_plan(bot: Bot) -> tuple[str, str, str, str]:
    room = bot.room("cohort:kohort0")
    fac = bot.people.facilitators[0]
    p0, p1 = bot.people.participants[0][:2]
    assert "#1" in await cmd(
        bot, room, fac, f"!plan ny Införa bildstöd i klassrummet {p0} senast 2027-03-01"
    )
    assert "#2" in await cmd(bot, room, fac, "!plan ny Samtal med vårdnadshavare om skolstart")
    assert "#3" in await cmd(bot, room, fac, f"!plan add Visuellt schema i matsalen @{p1[1:]}")
    return room, fac, p0, p1


async def test_roles_and_the_summary_edited_in_place(make_bot: Any) -> None:
    bot = await make_bot(participants=3)
    room, fac, p0, _p1 = await build_plan(bot)
    p2 = bot.people.participants[0][2]
    adviser = bot.people.advisers[0]

    (summary,) = [s for s in summaries(bot, room) if not s.relates_to]  # one message, then edits
    assert summary.body.startswith("Handlingsplan: ")
    assert summary.content["msgtype"] == "m.notice"
    # The person responsible updates their own item; not another's.
    assert "uppdaterad" in await cmd(bot, room, p0, "!plan status 1 påbörjad vi har köpt in bilder")
    assert "inte din" in await cmd(bot, room, p0, "!plan status 2 klar")
    assert "inte din" in await cmd(bot, room, p2, "!plan ändra 3 Något annat")
    # A participant adds for themselves only (to the cohort's plan).
    assert "själva ansvarar" in await cmd(bot, bot.dm(p2), p2, f"!plan ny Läsa boken {p0}")
    assert "#4" in await cmd(bot, bot.dm(p2), p2, "!plan ny Läsa boken om NPF")
    # Advisers read, do not change.
    assert "läsa planerna" in await cmd(bot, bot.dm(adviser), adviser, "!plan status 2 klar")
    listed = await cmd(bot, bot.dm(adviser), adviser, "!plan")
    assert "Införa bildstöd" in listed and "Läsa boken om NPF" in listed
    assert "kan bara påbörjas igen" not in await cmd(bot, room, fac, "!plan status 2 klar")
    assert "kan bara påbörjas igen" in await cmd(bot, room, fac, "!plan status 2 planerad")
    assert "borttagen" in await cmd(bot, room, fac, "!plan bort 3")

    shown = shown_summary(bot, room, summary)
    assert "#1 [påbörjad] Införa bildstöd i klassrummet — " in shown
    assert "senast 2027-03-01 (vi har köpt in bilder)" in shown
    assert "#2 [klar]" in shown and "#3" not in shown
    # One message per plan (the team's, the cohort's), each edited in place.
    plans = [s.body.split("\n")[0] for s in summaries(bot, room) if not s.relates_to]
    assert len(plans) == 2 and plans[1] == "Handlingsplan för hela gruppen (Kohort 0)"
    cohort_plan = [s for s in bot.sent_to(room) if s.body.startswith("Handlingsplan för hela")]
    assert cohort_plan and "Läsa boken om NPF" in shown_summary(bot, room, cohort_plan[0])
    history = await bot.db.fetchall("SELECT change FROM plan_history WHERE item_id = 1")
    assert [r["change"] for r in history] == ["added", "status"]


async def test_follow_up_asks_each_owner_resumes_reminds_once_and_sums_up(tmp_path: Path) -> None:
    bot = await Bot.start(tmp_path, participants=3, change=_follow_up)
    _room, fac, p0, p1 = await build_plan(bot)
    for user in (fac, p0, p1):
        bot.dm(user)  # their direct chats with the bot exist
    with clock.frozen(T0):  # 09:00 local: the schedule is known, due at 10:00
        await bot.periodic()
        clock.advance(2 * HOUR)
        await bot.periodic()
        asked_p0 = [s.body for s in bot.sent_to(bot.dm(p0))]
        assert any("1 punkt att se över" in b for b in asked_p0)
        assert any(b.startswith("1/1: Införa bildstöd") for b in asked_p0)
        asked_fac = [s.body for s in bot.sent_to(bot.dm(fac))]
        assert any(b.startswith("1/1: Samtal med vårdnadshavare") for b in asked_fac)
        assert any(b.startswith("1/1: Visuellt schema") for b in bot_sent(bot, p1))

        # p0 answers with a word and a comment; a nonsense answer is told what to write first.
        wrong = await bot.say(bot.dm(p0), p0, "kanske")
        assert "Svara med 1, 2, 3 eller 4" in bot.reply_to(wrong).body
        await bot.say(bot.dm(p0), p0, "klar, bilderna sitter uppe")
        assert bot.sent_to(bot.dm(p0))[-1].body == "Tack! Planen är uppdaterad."
        item = await bot.db.fetchone("SELECT status, comment FROM plan_items WHERE id = 1")
        assert item is not None and tuple(item) == ("done", "bilderna sitter uppe")

        # A restart: what was asked and answered is in the database; nothing is asked again.
        await bot.close()
        bot = await Bot.start(tmp_path, participants=3, change=_follow_up)
        for user in (fac, p0, p1):
            bot.dm(user)
        await bot.periodic()
        assert not [s for s in bot.sent if s.body.startswith("1/1:")]

        # Two days later: one reminder each to the two who have not answered, once.
        clock.advance(2 * 24 * HOUR + 1)
        await bot.periodic()
        await bot.periodic()
        reminded = [s.room_id for s in bot.sent if s.body.startswith("En påminnelse")]
        assert sorted(reminded) == sorted([bot.dm(fac), bot.dm(p1)])

        await bot.say(bot.dm(fac), fac, "2")
        await bot.say(bot.dm(p1), p1, "4 vi hann inte")
    # Everyone answered: the summary to the facilitator and the advisers.
    adv = [s.body for s in bot.sent_to(bot.room("advisers")) if "Uppföljning av" in s.body]
    assert len(adv) == 1 and "3 av 3 har svarat" in adv[0]
    assert "klar: 1, påbörjad: 1, inte påbörjad: 0, struken: 1" in adv[0]
    assert any("3 av 3 har svarat" in s.body for s in bot.sent_to(bot.dm(fac)))
    states = await bot.db.fetchall("SELECT state FROM plan_followup_asks")
    assert {r["state"] for r in states} == {"done"}
    await bot.close()


def bot_sent(bot: Bot, user: str) -> list[str]:
    return [s.body for s in bot.sent_to(bot.dm(user))]


def _self_assessment(data: dict[str, Any]) -> None:
    data["surveys"] = [
        {
            "id": "sjalv",
            "title": "Självskattning NPF",
            "self_assessment": True,
            "open_for": "7d",
            "questions": [
                {"id": "a", "type": "scale", "text": "Jag kan förklara NPF", "min": 1, "max": 5},
                {"id": "b", "type": "scale", "text": "Jag anpassar miljön", "min": 1, "max": 5},
            ],
        }
    ]


async def test_a_closed_self_assessment_invites_the_facilitator_to_the_plan(make_bot: Any) -> None:
    bot = await make_bot(participants=3, change=_self_assessment)
    room, fac = bot.room("cohort:kohort0"), bot.people.facilitators[0]
    people = bot.people.participants[0]
    for user in (fac, *people):
        bot.dm(user)
    await cmd(bot, room, fac, "!enkät start sjalv")
    rounds = await bot.db.fetchall("SELECT id FROM survey_rounds")
    assert len(rounds) == 1
    for user, (a, b) in zip(people, [(4, 2), (5, 1), (3, 3)], strict=True):
        await bot.say(bot.dm(user), user, str(a))
        await bot.say(bot.dm(user), user, str(b))
    await bot.periodic(offset_ms=8 * 24 * HOUR)  # the round closes
    invitation = [
        s.body
        for s in bot.sent_to(bot.dm(fac))
        if "handlingsplan" in s.body and not s.body.startswith("Integritet:")  # the notice
    ]
    assert len(invitation) == 1
    lines = invitation[0].splitlines()
    lowest = lines[lines.index(next(x for x in lines if x.startswith("Lägg till"))) + 1 :]
    assert lowest == [
        "– Jag anpassar miljön: medelvärde 2,0",
        "– Jag kan förklara NPF: medelvärde 4,0",
    ]
