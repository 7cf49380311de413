"""The privacy notice: once in each room the bot manages, in the room's language; once to each
member and adviser in a direct chat, a bounded number per pass and only while the outbox is
not backed up; across restarts; exported and erased with the person (real dispatcher, real
periodic pass, temporary database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.context import BaseContext
from commands.privacy_notice import post_privacy_notices
from storage import outbox as outbox_store
from storage import privacy
from storage import privacy_notice as notice_store
from tests.handlers.harness import Bot
from tests.handlers.test_privacy import everything_naming


def is_notice(body: str) -> bool:
    return body.startswith(("Integritet:", "Privacy:", "Vår text", "Our text"))


def notices(bot: Bot, room: str) -> list[Any]:
    return [s for s in bot.sent_to(room) if is_notice(s.body)]


def with_category_room(data: dict[str, Any]) -> None:
    data["advisers"]["categories"] = [
        {"id": "pedagogik", "name": "Pedagogik", "default": True},
        {"id": "teknik", "name": "Teknik", "room": "#h-teknik:test", "members": ["@tek:test"]},
    ]


def people(bot: Bot) -> list[str]:
    p = bot.people
    return [*p.facilitators, *(u for c in p.participants for u in c), *p.advisers]


async def test_each_room_gets_the_notice_once_in_its_language_as_a_quiet_notice(
    make_bot: Any,
) -> None:
    bot = await make_bot(cohorts=2, change=with_category_room)

    await bot.periodic()
    await bot.periodic()

    rooms = {key: notices(bot, bot.room(key)) for key in bot.app.managed}
    assert sorted(rooms) == ["advisers", "category:teknik", "cohort:kohort0", "cohort:kohort1"]
    assert all(len(sent) == 1 for sent in rooms.values()), rooms
    assert rooms["cohort:kohort0"][0].body.startswith("Integritet:")  # Swedish cohort
    assert rooms["cohort:kohort1"][0].body.startswith("Privacy:")  # English cohort
    assert rooms["advisers"][0].body.startswith("Integritet:")  # the bot's language
    # In a room: an m.notice (each member is told in their own direct chat).
    assert {s[0].content["msgtype"] for s in rooms.values()} == {"m.notice"}
    assert all(s[0].content["m.mentions"] == {} for s in rooms.values())


async def test_each_member_and_adviser_is_sent_it_once_in_a_direct_chat(make_bot: Any) -> None:
    bot = await make_bot(cohorts=2, participants=2, advisers=2, change=with_category_room)
    anna = bot.people.participants[0][0]
    known = bot.dm(anna)  # the bot already has a direct chat with her: that one is used

    for _ in range(3):
        await bot.periodic()

    everyone = [*people(bot), "@tek:test"]
    for user in everyone:
        (sent,) = notices(bot, bot.dm(user))
        assert sent.content["msgtype"] == "m.text"  # notifies in a one-to-one room
        english = user in bot.people.participants[1] or user == bot.people.facilitators[1]
        assert sent.body.startswith("Privacy:" if english else "Integritet:"), user
    assert bot.dm(anna) == known
    assert notices(bot, bot.dm(bot.people.admin)) == []  # admins run the bot
    rows = await bot.db.fetchall("SELECT room_id FROM outbox WHERE purpose = 'privacy_notice'")
    addressed = {r["room_id"] for r in rows}
    assert known in addressed and anna not in addressed  # her chat, not a new one
    assert bot.people.participants[0][1] in addressed  # the others': opened by the sender


async def test_sent_once_per_person_across_a_restart(tmp_path: Path) -> None:
    first = await Bot.start(tmp_path, participants=2)
    await first.periodic()
    sent_before = len([s for s in first.sent if is_notice(s.body)])
    await first.close()

    again = await Bot.start(tmp_path, participants=2)  # the same database, a new process
    await again.periodic()
    await again.periodic()
    await again.close()

    assert sent_before == 2 + 4  # the cohort and advisers' rooms; facilitator, 2, adviser
    assert [s for s in again.sent if is_notice(s.body)] == []


async def test_at_most_per_pass_and_new_members_get_it_later(make_bot: Any) -> None:
    def small_passes(data: dict[str, Any]) -> None:
        data["privacy"] = {"notice": {"per_pass": 3}}

    bot = await make_bot(participants=5, change=small_passes)
    counts = []
    for _ in range(4):
        before = len(bot.sent)
        await bot.periodic()
        counts.append(len([s for s in bot.sent[before:] if is_notice(s.body)]))

    assert counts == [3, 3, 3, 0]  # 2 rooms and 7 people, 3 a pass
    assert all(len(notices(bot, bot.dm(u))) == 1 for u in people(bot))

    newcomer = "@newcomer:test"
    data = bot.app.config.model_dump(by_alias=True, exclude={"source"})
    data["cohorts"][0]["participants"].append(newcomer)
    bot.app._config = type(bot.app.config).model_validate(data)
    await bot.periodic()
    (sent,) = notices(bot, bot.dm(newcomer))
    assert sent.body.startswith("Integritet:")


async def test_none_while_the_outbox_is_backed_up(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    async with bot.db.transaction() as tx:
        for i in range(20):  # people's answers waiting to go out
            await outbox_store.enqueue(tx, bot.room("cohort:kohort0"), {"body": f"svar {i}"})

    await bot.app.run_periodic()  # without sending anything
    assert await bot.db.fetchall("SELECT * FROM outbox WHERE purpose = 'privacy_notice'") == []

    await bot.sender.drain()
    await bot.periodic()
    assert len([s for s in bot.sent if is_notice(s.body)]) == 2 + 3


async def test_the_network_text_is_sent_in_both_languages(make_bot: Any) -> None:
    def own_text(data: dict[str, Any]) -> None:
        data["privacy"] = {"notice": {"sv": "Vår text om integritet.", "en": "Our text."}}

    bot = await make_bot(cohorts=2, participants=1)
    bot2 = await make_bot(cohorts=2, participants=1, change=own_text)
    await bot.periodic()
    await bot2.periodic()

    assert notices(bot2, bot2.room("cohort:kohort0"))[0].body == "Vår text om integritet."
    assert notices(bot2, bot2.room("cohort:kohort1"))[0].body == "Our text."
    english = bot2.people.participants[1][0]
    assert notices(bot2, bot2.dm(english))[0].body == "Our text."
    assert notices(bot, bot.room("cohort:kohort1"))[0].body.startswith("Privacy:")


async def test_a_failed_pass_leaves_neither_the_message_nor_the_record(make_bot: Any) -> None:
    """The notice and its record are one transaction: a crash keeps both or neither."""
    bot = await make_bot(participants=1)

    async def crash(ctx: BaseContext) -> None:
        await post_privacy_notices(ctx, 0)
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        await bot.app.in_transaction(crash)
    assert await bot.db.fetchall("SELECT * FROM outbox") == []
    assert await bot.db.fetchall("SELECT * FROM privacy_notice_rooms") == []
    assert await bot.db.fetchall("SELECT * FROM privacy_notice_people") == []

    await bot.periodic()
    assert len([s for s in bot.sent if is_notice(s.body)]) == 2 + 3


async def test_exported_and_erased_with_the_person_who_is_not_sent_it_again(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1)
    anna = bot.people.participants[0][0]
    dm = bot.dm(anna)
    await bot.periodic()
    assert (await privacy.export_user(bot.db, anna))["privacy_notice_queued_at"] is not None

    code = bot.reply_to(await bot.say(dm, anna, "!privacy erase")).body.split()[-4]
    await bot.say(dm, anna, f"!privacy erase {code}")
    await bot.run_after_commit()
    queued = len(await bot.db.fetchall("SELECT id FROM outbox WHERE purpose = 'privacy_notice'"))
    await bot.periodic()
    await bot.periodic()

    assert await everything_naming(bot, anna) == []  # the table holds a hash, not the id
    assert (await privacy.export_user(bot.db, anna))["privacy_notice_queued_at"] is None
    rows = await bot.db.fetchall("SELECT id FROM outbox WHERE purpose = 'privacy_notice'")
    assert len(rows) == queued  # still in the YAML, but not sent it again
    assert len(notices(bot, dm)) == 1


async def test_a_person_erased_before_their_notice_is_not_sent_it(make_bot: Any) -> None:
    bot = await make_bot(participants=2)
    anna, bertil = bot.people.participants[0]
    await privacy.erase_user(bot.db, bertil, unclaimed=lambda status, answered: status)

    await bot.periodic()

    assert len(notices(bot, bot.dm(anna))) == 1
    assert notices(bot, bot.dm(bertil)) == []
    assert await everything_naming(bot, bertil) == []
    async with bot.db.transaction() as tx:
        assert await notice_store.people_without_notice(tx, [anna, bertil]) == []


async def test_none_when_the_network_turns_it_off(make_bot: Any) -> None:
    def off(data: dict[str, Any]) -> None:
        data["privacy"] = {"notice": False}

    bot = await make_bot(participants=2, change=off)
    await bot.periodic()
    assert [s for s in bot.sent if is_notice(s.body)] == []
