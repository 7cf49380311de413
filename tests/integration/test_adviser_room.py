"""The advisers' room stays closed (issue 9, item 5), on a real Synapse: its history holds every
case, so only the bot and the admins may invite, and anyone else in it is removed at once."""

from __future__ import annotations

from typing import Any

from nio import RoomGetStateResponse, RoomInviteResponse, RoomPutStateResponse

from bot.demo.person import Person
from bot.rooms import INVITER, MODERATOR
from tests.integration.helpers import body


async def levels(app: Any, room: str) -> dict[str, Any]:
    state = await app.client.room_get_state(room)
    assert isinstance(state, RoomGetStateResponse)
    return next(e["content"] for e in state.events if e["type"] == "m.room.power_levels")


async def member_state(app: Any, room: str, user: str) -> str | None:
    state = await app.client.room_get_state(room)
    assert isinstance(state, RoomGetStateResponse)
    for e in state.events:
        if e["type"] == "m.room.member" and e.get("state_key") == user:
            return str(e["content"].get("membership"))
    return None


async def admin_dm(net: Any) -> tuple[Person, str]:
    admin = await net.person(net.admin)
    await admin.wait_until(lambda: bool(admin.invites), timeout=30)
    dm = next(iter(admin.invites))
    await admin.join(dm)
    return admin, dm


async def test_advisers_cannot_invite_and_a_stranger_let_in_is_removed_at_once(
    network: Any, make_user: Any
) -> None:
    net = network(participants=1, advisers=2)
    app = await net.start_bot()
    adv_room = net.room("advisers")
    adviser = await net.person(net.advisers[0], adv_room)
    admin, dm = await admin_dm(net)

    # Power levels: inviting needs INVITER, which the admins have and the advisers do not.
    pl = await levels(app, adv_room)
    assert pl["invite"] == INVITER
    assert pl["users"][net.admin.user_id] == INVITER
    assert pl["users"][net.advisers[0].user_id] == MODERATOR
    guest = make_user("guest")
    refused = await adviser.client.room_invite(adv_room, guest.user_id)
    assert not isinstance(refused, RoomInviteResponse)  # the homeserver says no (403)
    # The cohort rooms are not affected: their facilitators keep their power.
    cohort_pl = await levels(app, net.room("cohort:kohort0"))
    assert cohort_pl.get("invite", 0) < INVITER

    # Someone lowers the invite level by hand; an adviser then invites a guest who joins.
    lowered = {**pl, "invite": 0}
    resp = await app.client.room_put_state(adv_room, "m.room.power_levels", lowered)
    assert isinstance(resp, RoomPutStateResponse)
    invited = await adviser.client.room_invite(adv_room, guest.user_id)
    assert isinstance(invited, RoomInviteResponse)
    # The bot rescinds the invite at once and tells the admins who did it.
    told = await admin.wait_for_event(dm, lambda e: guest.user_id in body(e))
    assert net.advisers[0].user_id in body(told) and "togs direkt bort" in body(told)
    await adviser.wait_until(
        lambda: any(
            e.get("type") == "m.room.member"
            and e.get("state_key") == guest.user_id
            and e["content"].get("membership") == "leave"
            for e in adviser.events[adv_room]
        )
    )
    assert await member_state(app, adv_room, guest.user_id) == "leave"
    # A configured adviser joining is, of course, left alone; the next reconciliation puts
    # the invite level back.
    second = await net.person(net.advisers[1], adv_room)
    assert adv_room in second.events
    await app.reconcile()
    assert (await levels(app, adv_room))["invite"] == INVITER
    await app.wait_idle()
    assert await member_state(app, adv_room, net.advisers[1].user_id) == "join"
    removals = [e for e in admin.events[dm] if guest.user_id in body(e)]
    assert len(removals) == 1


async def test_a_stranger_already_in_the_advisers_room_is_removed_on_reconciliation(
    network: Any, make_user: Any
) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    adv_room = net.room("advisers")
    # The bot itself lets a stranger in (as a room from before this rule could have one) ...
    guest = make_user("guest")
    await app.client.room_invite(adv_room, guest.user_id)
    g = await net.person(guest, adv_room)
    assert adv_room in g.events
    admin, dm = await admin_dm(net)
    # ... which the listener removes at once; reconciliation catches any that were missed.
    await app.reconcile()
    await app.wait_idle()
    assert await member_state(app, adv_room, guest.user_id) == "leave"
    await admin.wait_for_event(dm, lambda e: guest.user_id in body(e))
