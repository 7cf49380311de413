"""Admins change the YAML while the bot runs: !reload and SIGHUP-style reloads."""

from __future__ import annotations

from typing import Any

from bot.demo.person import Event


def _body(ev: Event) -> str:
    return str((ev.get("content") or {}).get("body", ""))


async def test_reload_adds_a_cohort_room_without_restarting(network: Any, make_user: Any) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    dm = app.direct[net.admin.user_id]
    admin = await net.person(net.admin, dm)
    newcomer = make_user("newcomer")
    net.data["cohorts"].append(
        {
            "id": "ny",
            "name": "Ny kohort",
            "room": net.alias("ny"),
            "facilitators": [],
            "participants": [newcomer.user_id],
        }
    )
    net.write()
    reply = await admin.reply_to(dm, await admin.say(dm, "!reload"), net.bot.user_id)
    assert "2 grupper" in _body(reply)
    n = await net.person(newcomer)
    await n.wait_until(lambda: bool(n.invites), timeout=30)
    room_id = next(iter(n.invites))
    await n.join(room_id)
    await app.wait_reconciled()  # the invite is sent before the room is recorded
    assert app.managed["cohort:ny"] == room_id
    reply = await n.reply_to(room_id, await n.say(room_id, "!help"), net.bot.user_id)
    assert "Kommandon" in _body(reply)


async def test_an_invalid_file_is_rejected_and_the_running_config_stays(network: Any) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    dm = app.direct[net.admin.user_id]
    admin = await net.person(net.admin, dm)
    net.config_path.write_text(
        net.config_path.read_text("utf-8").replace("participants:", "participantz:", 1), "utf-8"
    )
    reply = await admin.reply_to(dm, await admin.say(dm, "!reload"), net.bot.user_id)
    text = _body(reply)
    assert "den gamla gäller fortfarande" in text
    assert "natverk.yaml:" in text and "participantz" in text
    assert app.config.cohorts[0].participants  # unchanged
    # The cohort keeps working under the old configuration.
    room = net.room("cohort:kohort0")
    p = await net.person(net.participants[0][0], room)
    reply = await p.reply_to(room, await p.say(room, "!help"), net.bot.user_id)
    assert "Kommandon" in _body(reply)

    # The same file through the SIGHUP path is refused too, and reported.
    error = await app.reload_from_disk()
    assert error is not None and "participantz" in str(error)


async def test_unexpected_members_are_reported_to_admins_not_kicked(
    network: Any, make_user: Any
) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    room = net.room("cohort:kohort0")
    fac = await net.person(net.facilitators[0], room)
    guest = make_user("guest")
    await fac.client.room_invite(room, guest.user_id)
    g = await net.person(guest, room)
    await app.reconcile()
    dm = app.direct[net.admin.user_id]
    admin = await net.person(net.admin, dm)
    report = await admin.wait_for_event(dm, lambda e: guest.user_id in _body(e))
    assert "ingen har tagits bort" in _body(report)
    assert room in g.events  # still a member
    # The same finding is not reported again on the next reconciliation.
    count = len(admin.events[dm])
    await app.reconcile()
    await app.wait_idle()
    assert len([e for e in admin.events[dm][count:] if guest.user_id in _body(e)]) == 0
