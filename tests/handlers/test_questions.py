"""Questions to the advisers, in-process: roles, places, routing, privacy and status, with the
real dispatcher and a temporary database (the story end to end is in tests/integration)."""

from __future__ import annotations

from typing import Any

from tests.handlers.harness import Bot


async def ask(bot: Bot, text: str, asker: str | None = None, room: str | None = None) -> str:
    return await bot.say(
        room or bot.room("cohort:kohort0"), asker or bot.people.participants[0][0], text
    )


def root_of(bot: Bot, number: int) -> Any:
    adv = bot.room("advisers")
    return next(
        s
        for s in bot.sent_to(adv)
        if f"#{number} ·" in s.body and "m.new_content" not in s.content and not s.relates_to
    )


async def test_a_question_becomes_a_thread_root_and_its_answer_goes_back_to_the_asker(
    make_bot: Any,
) -> None:
    bot = await make_bot()
    q = await ask(bot, "!fråga Hur gör jag?")
    ack = bot.reply_to(q)
    assert "Fråga #1" in ack.body and ack.content["msgtype"] == "m.notice"
    root = root_of(bot, 1)
    assert root.body.startswith("[NY] #1 · Allmän fråga · Kohort 0 · ")
    assert root.content["msgtype"] == "m.text"
    await bot.say(bot.room("advisers"), bot.people.advisers[0], "Så här.", thread=root.event_id)
    answer = [s for s in bot.sent_to(bot.room("cohort:kohort0")) if "Så här." in s.body]
    assert len(answer) == 1
    assert answer[0].relates_to["event_id"] == q
    assert answer[0].content["m.mentions"] == {"user_ids": [bot.people.participants[0][0]]}
