"""The privacy notice on a real Synapse: a participant finds it once in a direct chat the bot
opened for it, and once in their cohort room; a restart repeats neither."""

from __future__ import annotations

from typing import Any

from tests.integration.helpers import body


def notices(events: list[dict[str, Any]], bot: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e.get("sender") == bot
        and e.get("type") == "m.room.message"
        and body(e).startswith("Integritet:")
    ]


async def test_a_member_gets_the_notice_once_in_a_direct_chat_and_the_room_once(
    network: Any,
) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort = net.room("cohort:kohort0")
    anna = await net.person(net.participants[0][0], cohort)
    await anna.wait_until(lambda: bool(anna.invites - {cohort}), timeout=60)
    (dm,) = anna.invites - {cohort}
    await anna.join(dm)
    first = await anna.wait_for_event(dm, lambda e: bool(notices([e], bot)))
    assert first["content"]["msgtype"] == "m.text"
    assert "!integritet exportera" in body(first)
    assert app.direct[anna.user_id] == dm
    # In the direct chat an m.text (the invite notified her; in a chat she has joined an
    # m.text notifies, an m.notice never would); in the cohort room a quiet m.notice.
    (in_room,) = notices(await anna.history(cohort), bot)
    assert in_room["content"]["msgtype"] == "m.notice"

    await net.stop_bot()
    app = await net.start_bot()  # a restart: its periodic pass runs again at start
    await app.run_periodic()
    asked = await anna.say(dm, "!integritet")  # the sentinel: answered after both passes
    await anna.reply_to(dm, asked, bot)
    await app.wait_idle()

    assert len(notices(await anna.history(dm), bot)) == 1
    assert len(notices(await anna.history(cohort), bot)) == 1
    adviser = await net.person(net.advisers[0], net.room("advisers"))
    assert len(notices(await adviser.history(net.room("advisers")), bot)) == 1


async def test_a_direct_chat_a_member_opens_replaces_the_one_the_bot_opened(
    network: Any,
) -> None:
    """The facilitator never accepts the bot's invite (the notice) and starts a chat with the
    bot themselves, as Element does when it knows of none: the bot answers there."""
    net = network(participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort = net.room("cohort:kohort0")
    fac = await net.person(net.facilitators[0], cohort)
    await fac.wait_until(lambda: bool(fac.invites - {cohort}), timeout=60)
    (opened,) = fac.invites - {cohort}
    await app.wait_idle()  # the notice sent: its direct chat recorded before
    assert app.direct[fac.user_id] == opened

    own = await fac.open_direct_chat(bot)
    asked = await fac.say(own, "!integritet")
    assert body(await fac.reply_to(own, asked, bot)).startswith("Det här sparar jag om dig")
    assert app.direct[fac.user_id] == own

    # A "direct" chat with someone else in it is not private: the known one stays theirs.
    resp = await fac.client.room_create(
        is_direct=True, invite=[bot, net.participants[0][0].user_id]
    )
    group = str(resp.room_id)
    await fac.wait_for_event(
        group,
        lambda e: (
            e.get("type") == "m.room.member"
            and e.get("state_key") == bot
            and e["content"].get("membership") == "join"
        ),
    )
    # The bot handles an invite before its next sync: an answer in the own chat comes after.
    asked = await fac.say(own, "!integritet")
    await fac.reply_to(own, asked, bot)
    assert app.direct[fac.user_id] == own
