"""The foundation against a real Synapse: rooms from YAML, !help, exactly-once handling."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nio import RoomGetStateResponse

from bot.demo.person import Event, Person
from storage import outbox as outbox_store
from storage import state as state_store
from tests.integration.helpers import body


def _replies_to(person: Person, room_id: str, bot: str) -> dict[str, list[Event]]:
    """Bot messages in ``room_id`` grouped by the event they reply to."""
    out: dict[str, list[Event]] = {}
    for ev in person.messages_from(room_id, bot):
        rel = (ev.get("content") or {}).get("m.relates_to") or {}
        target = (rel.get("m.in_reply_to") or {}).get("event_id")
        if target:
            out.setdefault(target, []).append(ev)
    return out


async def test_rooms_are_provisioned_from_yaml_with_members_and_moderators(network: Any) -> None:
    net = network(cohorts=2, participants=2)
    app = await net.start_bot()
    cohort_room = net.room("cohort:kohort0")
    adviser_room = net.room("advisers")
    assert app.place_of(cohort_room)[1].id == "kohort0"

    participant = await net.person(net.participants[0][0], cohort_room)
    adviser = await net.person(net.advisers[0], adviser_room)
    assert participant.events[cohort_room] and adviser.events[adviser_room]

    state = await app.client.room_get_state(cohort_room)
    assert isinstance(state, RoomGetStateResponse)
    by_type = {(e["type"], e.get("state_key")): e["content"] for e in state.events}
    assert by_type[("m.room.join_rules", "")]["join_rule"] == "invite"
    assert by_type[("m.room.canonical_alias", "")]["alias"] == net.alias("kohort0")
    assert by_type[("m.room.history_visibility", "")]["history_visibility"] == "invited"
    invited_or_joined = {
        key
        for (t, key), c in by_type.items()
        if t == "m.room.member" and c.get("membership") in ("invite", "join")
    }
    expected = {net.facilitators[0].user_id, *(p.user_id for p in net.participants[0])}
    assert expected <= invited_or_joined
    assert net.participants[1][0].user_id not in invited_or_joined  # the other cohort's
    levels = by_type[("m.room.power_levels", "")]["users"]
    assert levels[net.facilitators[0].user_id] >= 50
    assert levels.get(net.participants[0][0].user_id, 0) < 50

    # A restart finds the same rooms: nothing is created twice.
    before = dict(app.managed)
    await net.stop_bot()
    app = await net.start_bot()
    assert app.managed == before


async def test_history_before_the_bot_joined_is_never_handled(network: Any) -> None:
    net = network(participants=1)
    await net.start_bot()
    room = net.room("cohort:kohort0")
    p = await net.person(net.participants[0][0], room)
    # The bot's database is wiped: it must not answer what was said before it (re)joined.
    old = await p.say(room, "!help")
    reply = await p.reply_to(room, old, net.bot.user_id)
    assert reply
    handled = net.app.syncer.events_handled
    await net.stop_bot()
    (net.dir / "natverk.db").unlink()
    for suffix in ("-wal", "-shm"):
        (net.dir / f"natverk.db{suffix}").unlink(missing_ok=True)
    await net.start_bot()
    await asyncio.sleep(1)
    assert len(_replies_to(p, room, net.bot.user_id)[old]) == 1
    assert handled >= 1


async def test_crash_between_deciding_and_sending_neither_loses_nor_duplicates(
    network: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender dies after the homeserver accepted a message but before it was marked
    sent; on restart the same transaction id is reused and Synapse returns the same event."""
    net = network(participants=1)
    app = await net.start_bot()
    room = net.room("cohort:kohort0")
    p = await net.person(net.participants[0][0], room)
    await app.wait_idle()

    real_mark_sent = outbox_store.mark_sent
    crashed = asyncio.Event()

    async def crash(*args: Any) -> None:
        crashed.set()
        raise asyncio.CancelledError  # the process "dies" here

    monkeypatch.setattr(outbox_store, "mark_sent", crash)
    question = await p.say(room, "!help")
    await asyncio.wait_for(crashed.wait(), 30)
    await net.stop_bot()
    assert (await _pending_count(net)) == 1

    monkeypatch.setattr(outbox_store, "mark_sent", real_mark_sent)
    app = await net.start_bot()
    await app.wait_idle()
    await p.reply_to(room, question, net.bot.user_id)
    await asyncio.sleep(1.0)
    assert len(_replies_to(p, room, net.bot.user_id)[question]) == 1


async def _pending_count(net: Any) -> int:
    from storage import Database

    db = await Database.open(net.dir / "natverk.db")
    try:
        return (await outbox_store.counts(db)).get("pending", 0)
    finally:
        await db.close()


async def test_messages_sent_while_the_bot_is_down_are_all_handled_once(network: Any) -> None:
    """30 commands while the bot is down; the sync timeline is limited to 10 events, so
    the bot must back-fill the rest with /messages."""
    net = network(participants=1)
    app = await net.start_bot()
    room = net.room("cohort:kohort0")
    bot = net.bot.user_id
    p = await net.person(net.participants[0][0], room)
    await app.wait_idle()
    await net.stop_bot()

    asked = [await p.say(room, f"!help {i}" if i % 2 else "!hjälp") for i in range(30)]

    import bot.app as app_module

    original = app_module.SYNC_FILTER
    app_module.SYNC_FILTER = {**original, "room": {**original["room"], "timeline": {"limit": 10}}}
    try:
        app = await net.start_bot()
        await p.wait_until(lambda: len(_replies_to(p, room, bot)) >= 30, timeout=90)
    finally:
        app_module.SYNC_FILTER = original
    assert app.syncer.backfilled >= 20
    await asyncio.sleep(1)
    replies = _replies_to(p, room, bot)
    assert all(len(replies[q]) == 1 for q in asked), "each command answered exactly once"
    # Odd ones had an extra argument: !help takes none, so they get the usage line.
    assert "Så här används kommandot: !hjälp" in body(replies[asked[1]][0])
    assert "Kommandon du kan använda här" in body(replies[asked[0]][0])


async def test_the_bot_reuses_its_device_across_restarts(network: Any) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    device = app.client.device_id
    await net.stop_bot()
    app = await net.start_bot()
    assert app.client.device_id == device
    creds = await state_store.load_credentials(app.db, net.bot.user_id)
    assert creds is not None and creds.device_id == device


async def test_invites_from_strangers_are_declined_and_from_admins_accepted(
    network: Any, make_user: Any
) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    stranger = make_user("stranger")
    s = await net.person(stranger)
    admin = await net.person(net.admin)
    stranger_room = (await s.client.room_create(invite=[net.bot.user_id])).room_id
    admin_room = (await admin.client.room_create(invite=[net.bot.user_id])).room_id

    def joined(room_id: str) -> bool:
        return room_id in app.client.rooms

    for _ in range(100):
        if joined(admin_room):
            break
        await asyncio.sleep(0.1)
    assert joined(admin_room)
    declined = await s.wait_for_event(
        stranger_room,
        lambda e: (
            e.get("type") == "m.room.member"
            and e.get("state_key") == net.bot.user_id
            and e["content"].get("membership") == "leave"
        ),
    )
    assert declined["sender"] == net.bot.user_id
    assert not joined(stranger_room)
