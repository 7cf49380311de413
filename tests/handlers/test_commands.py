"""Commands in general, in-process: !help from the registry, unknown commands and bad
arguments, the error boundary, and who may run what where."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.context import CommandContext, EventContext
from bot.registry import REGISTRY, Registry, command, listener, load_command_modules
from bot.types import Place
from storage import evaluation as evaluation_store


async def test_help_round_trip_in_the_rooms_language_shows_only_what_reader_may_run(
    make_bot: Any,
) -> None:
    bot = await make_bot(cohorts=2, participants=1)
    sv_room, en_room = bot.room("cohort:kohort0"), bot.room("cohort:kohort1")
    anna, erik = bot.people.participants[0][0], bot.people.participants[1][0]

    reply = bot.reply_to(await bot.say(sv_room, anna, "!hjälp"))
    assert reply.room_id == sv_room and reply.content["msgtype"] == "m.notice"
    assert "Kommandon du kan använda här" in reply.body
    assert "!hjälp" in reply.body and "!fråga" in reply.body
    assert "!läsom" not in reply.body and "!reload" not in reply.body
    assert "!kö" not in reply.body  # the advisers' queue: not for a participant
    assert reply.content["m.mentions"] == {}
    assert "<code>!hjälp" in reply.content["formatted_body"]

    reply = bot.reply_to(await bot.say(en_room, erik, "!help"))
    assert "Commands you can use here" in reply.body
    assert "!help" in reply.body and "!hjälp" not in reply.body

    # The admin, in the direct chat the bot opened, also sees !reload.
    admin = bot.people.admin
    reply = bot.reply_to(await bot.say(bot.dm(admin), admin, "!help"))
    assert "!läsom" in reply.body
    # An adviser in the advisers' room sees the queue, not !ask.
    adviser = bot.people.advisers[0]
    reply = bot.reply_to(await bot.say(bot.room("advisers"), adviser, "!help"))
    assert "!kö" in reply.body and "!fråga" not in reply.body and "!läsom" not in reply.body


async def test_unknown_command_and_bad_arguments_get_a_friendly_answer(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    room, p = bot.room("cohort:kohort0"), bot.people.participants[0][0]
    reply = bot.reply_to(await bot.say(room, p, "!blabla"))
    assert "!blabla" in reply.body and "!hjälp" in reply.body
    reply = bot.reply_to(await bot.say(room, p, "!läsom"))
    assert "behörighet" in reply.body
    reply = bot.reply_to(await bot.say(room, p, "!hjälp nu"))  # !help takes no argument
    assert reply.body == "Så här används kommandot: !hjälp"
    # A command where it does not work says where it does.
    reply = bot.reply_to(await bot.say(room, p, "!kö"))
    assert "!kö" in reply.body
    assert all(s.content["msgtype"] == "m.notice" for s in bot.sent_to(room))


def with_crash(registry: Registry) -> Registry:
    async def broken(ctx: CommandContext, args: dict[str, Any]) -> None:
        raise RuntimeError("secret internals")

    load_command_modules()
    for spec in REGISTRY.commands.values():
        registry.add(spec)
    command("krasch", registry=registry)(broken)
    return registry


async def test_a_handler_crash_shows_only_a_reference_number(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot(participants=1, registry=with_crash(Registry()))
    room, p = bot.room("cohort:kohort0"), bot.people.participants[0][0]
    reply = bot.reply_to(await bot.say(room, p, "!krasch"))
    assert "secret internals" not in str(reply.content)
    match = re.search(r"referens (\S+) ", reply.body)
    assert match is not None
    ref = match.group(1)
    assert re.fullmatch(r"[0-9A-F]{8}", ref)
    logged = [r for r in caplog.records if ref in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "secret internals" in str(logged[0].exc_info[1])
    # The bot keeps working after the crash.
    reply = bot.reply_to(await bot.say(room, p, "!okänt"))
    assert "!okänt" in reply.body


async def test_only_admins_may_reload(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    room = bot.room("cohort:kohort0")
    for person in (bot.people.facilitators[0], bot.people.participants[0][0]):
        for word in ("!reload", "!läsom"):
            reply = bot.reply_to(await bot.say(room, person, word))
            assert "behörighet" in reply.body, (person, word)
    adviser = bot.people.advisers[0]
    reply = bot.reply_to(await bot.say(bot.room("advisers"), adviser, "!reload"))
    assert "behörighet" in reply.body
    assert not bot.after_commit  # nothing was scheduled to reload
    # The admin may: the file is read and the reload is scheduled for after the commit.
    admin = bot.people.admin
    reply = bot.reply_to(await bot.say(bot.dm(admin), admin, "!reload"))
    assert "behörighet" not in reply.body and "1 grupp" in reply.body
    assert len(bot.after_commit) == 1


async def test_a_listener_that_writes_nothing_fails_alone(
    make_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener registered with ``writes=False`` runs without a savepoint; when it fails,
    the failure is logged with a reference, its work for after the commit is dropped, and the
    other listeners' work on the same message (here the measures) is kept."""
    registry = Registry()
    load_command_modules()
    for spec in REGISTRY.commands.values():
        registry.add(spec)
    registry.listeners = list(REGISTRY.listeners)
    scheduled: list[str] = []

    async def later() -> None:
        scheduled.append("ran")

    @listener("m.room.message", places=(Place.COHORT,), writes=False, registry=registry)
    async def fragile(ctx: EventContext) -> None:
        ctx.after_commit(later)
        raise RuntimeError("fragile internals")

    bot = await make_bot(participants=1, registry=registry)
    room, p = bot.room("cohort:kohort0"), bot.people.participants[0][0]
    await bot.say(room, p, "Hej allihop")
    await bot.run_after_commit()
    assert scheduled == []
    logged = [r for r in caplog.records if "fragile" in r.getMessage()]
    assert logged and "fragile internals" in str(logged[0].exc_info[1])  # type: ignore[index]
    assert await evaluation_store.fold_now(bot.db) == 1
    # The bot keeps answering.
    reply = bot.reply_to(await bot.say(room, p, "!okänt"))
    assert "!okänt" in reply.body
