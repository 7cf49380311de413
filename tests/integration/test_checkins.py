"""Check-ins on a real Synapse: schedules fire once, survive restarts, polls are tallied."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.demo.person import Event, Person
from tests.integration.helpers import body, rel

STHLM = ZoneInfo("Europe/Stockholm")
MIN = 60_000


def local_in(minutes: int) -> str:
    return (datetime.now(STHLM) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")


def from_bot(p: Person, room: str, bot: str, needle: str) -> list[Event]:
    return [e for e in p.events.get(room, []) if e.get("sender") == bot and needle in body(e)]


def db_rows(net: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(net.dir / "natverk.db")
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


async def direct_chat_with_bot(p: Person, known: set[str]) -> str:
    """Join the direct chat the bot opened with ``p``."""
    await p.wait_until(lambda: bool(p.invites - known), timeout=30)
    room = next(iter(p.invites - known))
    await p.join(room)
    return room


async def settle(app: Any) -> None:
    await app.wait_idle()


async def restart(net: Any, start: bool = True) -> Any:
    """Stop the bot once everything it decided is sent (and start it again on the same
    database)."""
    if net.app is not None:
        await net.app.wait_idle()
    await net.stop_bot()
    return await net.start_bot() if start else None


async def test_one_off_checkin_fires_once_collects_replies_and_reminds_non_responders_once(
    network: Any,
) -> None:
    net = network(participants=2)
    net.data["cohorts"][0]["schedules"] = [
        {"id": "start", "at": local_in(2), "text": "Välkomna! Hur går det?", "remind_after": "1h"}
    ]
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    bertil = await net.person(net.participants[0][0], room)
    cecilia = await net.person(net.participants[0][1], room)

    await app.run_periodic()  # takes the schedule in; nothing due yet
    await app.run_periodic(offset_ms=4 * MIN)
    await settle(app)
    root = await bertil.wait_for_event(room, lambda e: "Välkomna!" in body(e))
    assert root["sender"] == bot and "Svara i tråden" in body(root)
    for _ in range(3):  # later ticks never post it again
        await app.run_periodic(offset_ms=5 * MIN)
    await settle(app)

    await bertil.say(room, "Det går bra, tack!", thread_root=root["event_id"])
    await bertil.wait_until(
        lambda: bool(db_rows(net, "SELECT user_id FROM checkin_replies")), timeout=30
    )
    highlights = cecilia.unread.get(room, (0, 0))[1]
    await app.run_periodic(offset_ms=90 * MIN)
    await settle(app)
    reminder = await cecilia.wait_for_event(room, lambda e: "Påminnelse" in body(e))
    assert rel(reminder)["rel_type"] == "m.thread" and rel(reminder)["event_id"] == root["event_id"]
    cecilia_id = net.participants[0][1].user_id
    assert reminder["content"]["m.mentions"] == {"user_ids": [cecilia_id]}
    # It notifies her (issue 9, item 6): m.text with a pill, not an m.notice with a raw id.
    assert reminder["content"]["msgtype"] == "m.text"
    assert f'href="https://matrix.to/#/{cecilia_id}"' in reminder["content"]["formatted_body"]
    assert cecilia_id not in body(reminder)  # her display name, not her id
    await cecilia.wait_until(lambda: cecilia.unread[room][1] > highlights)
    await app.run_periodic(offset_ms=200 * MIN)
    await settle(app)
    history = await bertil.history(room)
    assert len([e for e in history if "Välkomna!" in body(e)]) == 1
    assert len([e for e in history if "Påminnelse" in body(e)]) == 1
    # Who answered is kept, what they wrote is not.
    assert db_rows(net, "SELECT user_id FROM checkin_replies") == [
        (net.participants[0][0].user_id,)
    ]
    assert db_rows(net, "SELECT status FROM checkin_runs") == [("posted",)]


async def test_a_check_in_fires_at_its_time_not_at_the_next_minutes_pass(network: Any) -> None:
    net = network(participants=1)
    due = datetime.now(STHLM).replace(microsecond=0) + timedelta(seconds=15)
    net.data["cohorts"][0]["schedules"] = [
        {"id": "now", "at": due.strftime("%Y-%m-%d %H:%M:%S"), "text": "Dags för avstämning"}
    ]
    net.write()
    await net.start_bot()  # no manual ticks here: only the bot's own periodic loop
    room = net.room("cohort:kohort0")
    bertil = await net.person(net.participants[0][0], room)
    root = await bertil.wait_for_event(room, lambda e: "Dags för avstämning" in body(e), timeout=60)
    late_s = root["origin_server_ts"] / 1000 - due.timestamp()
    # The pass a minute after start would have posted it about 45 s late.
    assert -1 < late_s < 20, late_s


async def test_restart_across_due_time_follows_each_schedules_missed_policy(
    network: Any,
) -> None:
    net = network(participants=1)
    due = local_in(2)
    net.data["cohorts"][0]["schedules"] = [
        {"id": "late-ok", "at": due, "text": "Sen avstämning", "missed": "late", "grace": "6h"},
        {"id": "too-late", "at": due, "text": "För sen", "missed": "late", "grace": "10m"},
        {"id": "skip-it", "at": due, "text": "Hoppa över", "missed": "skip"},
    ]
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    await app.run_periodic()
    await restart(net, start=False)  # down across the due time

    app = await net.start_bot()
    facilitator = await net.person(net.facilitators[0], room)
    await app.run_periodic(offset_ms=30 * MIN)
    await settle(app)
    late = await facilitator.wait_for_event(room, lambda e: "Sen avstämning" in body(e))
    assert "Skickad sent" in body(late) and late["sender"] == bot
    dm = await direct_chat_with_bot(facilitator, {room})
    await facilitator.wait_for_event(
        dm, lambda e: "too-late" in body(e) and "respittiden" in body(e)
    )
    await facilitator.wait_for_event(dm, lambda e: "skip-it" in body(e) and "hoppades" in body(e))

    # Another restart and more ticks: nothing is posted or reported twice.
    app = await restart(net)
    await app.run_periodic(offset_ms=40 * MIN)
    await settle(app)
    statuses = dict(db_rows(net, "SELECT schedule_id, status FROM checkin_runs"))
    assert statuses == {"late-ok": "late", "too-late": "missed", "skip-it": "skipped"}
    history = await facilitator.history(room)
    assert not [e for e in history if "För sen" in body(e) or "Hoppa över" in body(e)]
    assert len([e for e in history if "Sen avstämning" in body(e)]) == 1
    dm_history = await facilitator.history(dm)
    assert len([e for e in dm_history if "too-late" in body(e)]) == 1


async def test_cron_fires_at_local_time_on_the_dst_change_day(network: Any) -> None:
    net = network(participants=1)
    net.data["cohorts"][0]["schedules"] = [
        {"id": "sunday", "cron": "0 9 * * SUN", "text": "Söndagsfrågan", "missed": "skip"}
    ]
    net.write()
    app = await net.start_bot()
    room = net.room("cohort:kohort0")
    bertil = await net.person(net.participants[0][0], room)

    def offset_to(local: datetime) -> int:
        return int(local.timestamp() * 1000 - datetime.now(STHLM).timestamp() * 1000)

    # The schedule was taken in at start; jumping to the Saturday before the spring change
    # skips (policy "skip") every Sunday in between, posting none of them.
    await app.run_periodic(offset_ms=offset_to(datetime(2027, 3, 27, 12, tzinfo=STHLM)))
    # 08:59 summer time (06:59 UTC): 08:00 UTC would be wrong, and so would 07:00 local.
    await app.run_periodic(offset_ms=offset_to(datetime(2027, 3, 28, 8, 59, tzinfo=STHLM)))
    posted = "SELECT due_at, status FROM checkin_runs WHERE status = 'posted'"
    assert db_rows(net, posted) == []
    await app.run_periodic(offset_ms=offset_to(datetime(2027, 3, 28, 9, 1, tzinfo=STHLM)))
    await settle(app)
    await bertil.wait_for_event(room, lambda e: "Söndagsfrågan" in body(e))
    ((due_at, status),) = db_rows(net, posted)
    assert status == "posted"
    assert datetime.fromtimestamp(due_at / 1000, ZoneInfo("UTC")).hour == 7


async def test_reload_adds_changes_and_removes_schedules_without_duplicates(
    network: Any,
) -> None:
    net = network(participants=1)
    net.data["cohorts"][0]["schedules"] = [
        {"id": "keep", "at": local_in(3), "text": "Behåll"},
        {"id": "change", "at": local_in(60 * 24), "text": "Ändra"},
        {"id": "drop", "at": local_in(3), "text": "Ta bort"},
    ]
    net.write()
    app = await net.start_bot()
    room = net.room("cohort:kohort0")
    bertil = await net.person(net.participants[0][0], room)
    await app.run_periodic()

    net.data["cohorts"][0]["schedules"] = [
        {"id": "keep", "at": net.data["cohorts"][0]["schedules"][0]["at"], "text": "Behåll"},
        {"id": "change", "at": local_in(3), "text": "Ändra"},
        {"id": "new", "at": local_in(3), "text": "Ny"},
    ]
    net.write()
    assert await app.reload_from_disk() is None
    await app.reload_from_disk()  # twice: still no duplicates
    await app.run_periodic()
    rows = db_rows(net, "SELECT schedule_id FROM checkin_schedules ORDER BY schedule_id")
    assert rows == [("change",), ("keep",), ("new",)]
    for _ in range(2):
        await app.run_periodic(offset_ms=5 * MIN)
    await settle(app)
    await bertil.wait_for_event(room, lambda e: "Ny" in body(e))
    history = await bertil.history(room)
    texts = [
        body(e).splitlines()[0] for e in history if e.get("sender") == net.bot.user_id and body(e)
    ]
    assert sorted(t for t in texts if t in ("Behåll", "Ändra", "Ny", "Ta bort")) == [
        "Behåll",
        "Ny",
        "Ändra",
    ]

    # !schedule lists upcoming runs; pause persists across a restart.
    fac = await net.person(net.facilitators[0], room)
    net.data["cohorts"][0]["schedules"].append(
        {"id": "weekly", "cron": "0 9 * * MON", "text": "Veckan"}
    )
    net.write()
    await app.reload_from_disk()
    ask = await fac.say(room, "!schema pausa weekly")
    reply = await fac.reply_to(room, ask, net.bot.user_id)
    assert "pausat" in body(reply)
    app = await restart(net)
    listing = await fac.reply_to(room, await fac.say(room, "!schema"), net.bot.user_id)
    assert "weekly (pausat)" in body(listing) and "09:00" in body(listing)
    participant_try = await bertil.say(room, "!schema kör weekly")
    refused = await bertil.reply_to(room, participant_try, net.bot.user_id)
    assert "Bara gruppens handledare" in body(refused)
    resumed = await fac.reply_to(
        room, await fac.say(room, "!schema återuppta weekly"), net.bot.user_id
    )
    assert "är igång igen" in body(resumed) and "09:00" in body(resumed)
    listing = await fac.reply_to(room, await fac.say(room, "!schema"), net.bot.user_id)
    assert "weekly (pausat)" not in body(listing) and "weekly" in body(listing)


def poll_response(start: str, answers: Any, stable: bool = False) -> dict[str, Any]:
    if stable:
        return {
            "m.relates_to": {"rel_type": "m.reference", "event_id": start},
            "m.poll.response": {"m.selections": answers},
        }
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": start},
        "org.matrix.msc3381.poll.response": {"answers": answers},
    }


async def test_poll_is_tallied_like_element(network: Any) -> None:
    net = network(participants=3)
    net.data["cohorts"][0]["schedules"] = [
        {
            "id": "puls",
            "cron": "0 9 1 1 *",
            "text": "Pulsmätning",
            "poll": {"question": "Hur gick träffen?", "answers": ["Bra", "Sådär", "Dåligt"]},
        }
    ]
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    fac = await net.person(net.facilitators[0], room)
    p1, p2, p3 = [await net.person(u, room) for u in net.participants[0]]

    await fac.say(room, "!schema kör puls")
    start = await p1.wait_for_event(
        room, lambda e: e.get("type") == "org.matrix.msc3381.poll.start"
    )
    poll = start["content"]["org.matrix.msc3381.poll.start"]
    assert start["sender"] == bot
    assert [a["org.matrix.msc1767.text"] for a in poll["answers"]] == ["Bra", "Sådär", "Dåligt"]
    assert poll["max_selections"] == 1 and poll["kind"] == "org.matrix.msc3381.poll.disclosed"
    sid = start["event_id"]
    rtype = "org.matrix.msc3381.poll.response"

    await p1.send(room, poll_response(sid, ["a1"]), rtype)
    await p1.send(room, poll_response(sid, ["a2"]), rtype)  # changed vote: a2 counts
    await p2.send(room, poll_response(sid, ["a1"]), rtype)
    await p2.send(room, poll_response(sid, ["nope"]), rtype)  # spoiled: replaces a1
    await p3.send(room, poll_response(sid, ["a2", "a3"], stable=True), "m.poll.response")
    await fac.send(room, poll_response(sid, ["a1"]), rtype)
    # A participant cannot end the poll; the facilitator can.
    await p1.send(
        room,
        {
            "m.relates_to": {"rel_type": "m.reference", "event_id": sid},
            "org.matrix.msc3381.poll.end": {},
            "body": "slut",
        },
        "org.matrix.msc3381.poll.end",
    )
    end_id = await fac.send(
        room,
        {
            "m.relates_to": {"rel_type": "m.reference", "event_id": sid},
            "org.matrix.msc3381.poll.end": {},
            "body": "slut",
        },
        "org.matrix.msc3381.poll.end",
    )
    # The result goes once, to the facilitator (the room shows Element's own poll tiles).
    dm = await direct_chat_with_bot(fac, {room})
    result = await fac.wait_for_event(
        dm, lambda e: e.get("sender") == bot and "Hur gick träffen?" in body(e)
    )
    assert end_id
    lines = body(result).splitlines()
    assert "(3 röster)" in lines[0]
    assert lines[1:4] == ["Bra: 1", "Sådär: 2", "Dåligt: 0"]
    assert "1 ogiltig röst" in lines[4]
    # A vote after the end changes nothing, and the raw votes are gone from the database.
    await p1.send(room, poll_response(sid, ["a3"]), rtype)
    await p1.say(room, "efter")
    await app.run_periodic(offset_ms=3 * 24 * 60 * MIN)
    await settle(app)
    ((result_json, end_ts),) = db_rows(net, "SELECT result, end_ts FROM polls")
    assert '"a1": 1, "a2": 2, "a3": 0' in result_json and end_ts
    assert db_rows(net, "SELECT * FROM poll_responses") == []
    history = await p1.history(room)
    assert not [e for e in history if "Sådär: 2" in body(e)]
    assert len([e for e in await fac.history(dm) if "Sådär: 2" in body(e)]) == 1


async def test_poll_closes_by_itself_with_an_end_event(network: Any) -> None:
    net = network(participants=1)
    net.data["cohorts"][0]["schedules"] = [
        {
            "id": "snabb",
            "cron": "0 9 1 1 *",
            "poll": {"question": "Ja eller nej?", "answers": ["Ja", "Nej"], "close_after": "1h"},
        }
    ]
    net.write()
    app = await net.start_bot()
    room = net.room("cohort:kohort0")
    fac = await net.person(net.facilitators[0], room)
    p1 = await net.person(net.participants[0][0], room)
    await fac.say(room, "!schedule run snabb")
    start = await p1.wait_for_event(
        room, lambda e: e.get("type") == "org.matrix.msc3381.poll.start"
    )
    await p1.send(
        room, poll_response(start["event_id"], ["a2"]), "org.matrix.msc3381.poll.response"
    )
    await p1.wait_until(lambda: bool(db_rows(net, "SELECT * FROM poll_responses")), timeout=30)
    await app.run_periodic(offset_ms=2 * 60 * MIN)
    await settle(app)
    end = await p1.wait_for_event(room, lambda e: e.get("type") == "org.matrix.msc3381.poll.end")
    assert rel(end) == {"rel_type": "m.reference", "event_id": start["event_id"]}
    # Tallied up to the end event's own server timestamp, as Element tallies (issue 9, item 7),
    # once the end event has come back in the bot's sync.
    await p1.wait_until(lambda: bool(db_rows(net, "SELECT 1 FROM polls WHERE closed_at")))
    ((end_ts, result_json),) = db_rows(net, "SELECT end_ts, result FROM polls")
    assert end_ts == end["origin_server_ts"]
    assert '"a2": 1' in result_json
