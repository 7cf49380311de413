"""Check-ins and polls in-process (issue 9, items 6-8): what the reminder and the poll look like
in Element, and that a poll is tallied up to its end event's own server timestamp."""

from __future__ import annotations

import json
from typing import Any

from commands.checkins import polls
from tests.handlers.harness import Bot

HOUR = 60 * 60 * 1000


def with_schedule(schedule: dict[str, Any]) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["cohorts"][0]["schedules"] = [schedule]

    return change


async def periodic(bot: Bot, offset_ms: int = 0) -> None:
    await bot.app.run_periodic(offset_ms=offset_ms)
    await bot.sender.drain()


async def test_a_poll_check_in_says_to_vote_once_and_shows_its_question_once(
    make_bot: Any,
) -> None:
    poll = {"question": "Hur gick träffen?", "answers": ["Bra", "Dåligt"]}
    bot = await make_bot(change=with_schedule({"id": "p", "cron": "0 9 1 1 *", "poll": poll}))
    room = bot.room("cohort:kohort0")
    await bot.say(room, bot.people.facilitators[0], "!schema kör p")
    posted = [s for s in bot.sent_to(room) if s.type == "m.room.message" and not s.relates_to]
    start = [s for s in bot.sent_to(room) if s.type == polls.START_TYPES[0]]
    assert len(posted) == 1 and len(start) == 1
    assert posted[0].body == "Rösta i omröstningen nedan."  # not "answer in the thread"
    assert "Hur gick träffen?" not in posted[0].body  # the poll shows it, once


async def test_the_tally_counts_votes_up_to_the_end_events_timestamp_and_is_reported_once(
    make_bot: Any,
) -> None:
    poll = {"question": "Ja eller nej?", "answers": ["Ja", "Nej"], "close_after": "1h"}
    bot = await make_bot(
        participants=2, change=with_schedule({"id": "p", "cron": "0 9 1 1 *", "poll": poll})
    )
    room, fac = bot.room("cohort:kohort0"), bot.people.facilitators[0]
    p1, p2 = bot.people.participants[0]
    await bot.say(room, fac, "!schema kör p")
    start = next(s for s in bot.sent_to(room) if s.type == polls.START_TYPES[0])
    rtype = polls.RESPONSE_TYPES[0]

    def vote(answer: str) -> dict[str, Any]:
        return {
            "m.relates_to": {"rel_type": "m.reference", "event_id": start.event_id},
            rtype: {"answers": [answer]},
        }

    await bot.event(room, p1, vote("a1"), rtype)
    # The bot decides to end the poll and sends the end event ...
    await periodic(bot, offset_ms=2 * HOUR)
    (end,) = [s for s in bot.sent_to(room) if s.type == polls.END_TYPES[0]]
    assert end.relates_to == {"rel_type": "m.reference", "event_id": start.event_id}
    assert "Ja:" not in end.body  # no numbers that could differ from Element's
    # ... a vote reaches the server before it (Element counts it), then the end comes back.
    await bot.event(room, p2, vote("a2"), rtype)
    echo_ts = 1_900_000_000_000  # later than the votes the harness stamped
    async with bot.db.transaction() as tx:
        source = {
            "type": polls.END_TYPES[0],
            "event_id": end.event_id,
            "sender": bot.people.bot,
            "origin_server_ts": echo_ts,
            "content": end.content,
        }
        from bot.types import RoomEvent

        event = RoomEvent.from_source(room, source)
        assert event is not None
        await bot.app.dispatcher.dispatch(tx, event)
    await bot.sender.drain()
    row = await bot.db.fetchone("SELECT result, end_ts FROM polls")
    assert row is not None and row["end_ts"] == echo_ts
    assert json.loads(row["result"])["counts"] == {"a1": 1, "a2": 1}
    # The numbers are reported once, to the facilitator (the room has Element's poll tile).
    reports = [s for s in bot.sent if "Ja eller nej?" in s.body and "Ja: 1" in s.body]
    assert len(reports) == 1 and reports[0].room_id == bot.dm(fac)
    assert "2 röster" in reports[0].body
    assert not [s for s in bot.sent_to(room) if "Ja: 1" in s.body]
    # Nothing more happens on later passes: no second end, no second report.
    await periodic(bot, offset_ms=4 * HOUR)
    assert len([s for s in bot.sent_to(room) if s.type == polls.END_TYPES[0]]) == 1
    assert len([s for s in bot.sent if "Ja: 1" in s.body]) == 1


async def test_a_reminder_notifies_with_pills_for_the_people_it_mentions(make_bot: Any) -> None:
    schedule = {"id": "v", "cron": "0 9 1 1 *", "text": "Hur går det?", "remind_after": "1h"}
    bot = await make_bot(participants=2, change=with_schedule(schedule))
    room, fac = bot.room("cohort:kohort0"), bot.people.facilitators[0]
    p1, p2 = bot.people.participants[0]
    await bot.say(room, fac, "!schema kör v")
    root = next(s for s in bot.sent_to(room) if s.body.startswith("Hur går det?"))
    await bot.say(room, p1, "Bra!", thread=root.event_id)
    await periodic(bot, offset_ms=2 * HOUR)
    (reminder,) = [s for s in bot.sent_to(room) if "Påminnelse" in s.body]
    assert reminder.content["msgtype"] == "m.text"  # an m.notice never notifies
    assert reminder.content["m.mentions"] == {"user_ids": [p2]}
    assert f'<a href="https://matrix.to/#/{p2}">' in reminder.content["formatted_body"]
    assert p1 not in reminder.content["formatted_body"]
    assert reminder.relates_to["rel_type"] == "m.thread"
    assert reminder.relates_to["event_id"] == root.event_id
