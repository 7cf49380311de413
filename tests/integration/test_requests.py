"""Staged requests end to end on a real Synapse: a tailored intervention moved through every
stage while its deadlines pass (the bot's periodic pass run ahead of the clock), one overdue
reminder each, the asker's notices without the internal comment, !queue overdue; and kill -9
in the middle of a stream of stage changes: each answered and noticed once."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bot import clock
from bot.demo.homeserver import terminate
from bot.demo.person import Event, Person
from tests.handlers.test_requests import STAGES
from tests.integration.helpers import body, kill, rel, start_natverk
from tests.integration.test_ask import is_root, latest_root_text, wait_root_text

DAY = 24 * 3_600_000


def with_stages(net: Any) -> None:
    net.data["advisers"]["categories"] = [
        {"id": "allmant", "name": "Allmän fråga", "default": True},
        {"id": "insats", "name": "Skräddarsydd insats", "stages": STAGES},
    ]
    net.write()


async def invited(net: Any, user: Any) -> tuple[Person, str]:
    """With the bot running as its own process: ``user`` in the room the bot invites them to
    (the participant's cohort room, the adviser's room)."""
    p = await net.person(user)
    await p.wait_until(lambda: bool(p.invites), timeout=60)
    room = next(iter(p.invites))
    await p.join(room)
    return p, room


async def joined(net: Any) -> tuple[Person, str, Person, str]:
    rektor, cohort = await invited(net, net.participants[0][0])
    adviser, adv = await invited(net, net.advisers[0])
    return rektor, cohort, adviser, adv


def overdue(p: Person, room: str, bot: str) -> list[Event]:
    return [e for e in p.messages_from(room, bot) if body(e).startswith("Försenat:")]


async def test_a_staged_request_through_every_stage_with_deadlines_passing(
    network: Any,
) -> None:
    net = network(participants=1)
    with_stages(net)
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort, adv = net.room("cohort:kohort0"), net.room("advisers")
    rektor = await net.person(net.participants[0][0], cohort)
    adviser = await net.person(net.advisers[0], adv)

    asked = await rektor.say(cohort, "!fråga insats: Vi vill ha en insats om NPF i arbetslaget")
    root = await adviser.wait_for_event(adv, lambda e: is_root(e, 1, bot))
    thread = root["event_id"]
    assert "Steg 1 av 6: Mottagen · nästa: Planeringsmöte senast " in body(root)

    async def barrier() -> None:
        """The bot idle, then a sentinel answered: everything before it has been sent."""
        await app.wait_idle()
        sentinel = await adviser.say(adv, "!steg", thread_root=thread)
        await adviser.reply_to(adv, sentinel, bot)

    # Eight days on: the planning meeting is late; a second pass sends nothing more.
    await app.run_periodic(offset_ms=8 * DAY)
    await adviser.wait_until(lambda: len(overdue(adviser, adv, bot)) == 1)
    await app.run_periodic(offset_ms=8 * DAY + 60_000)
    await barrier()
    (late,) = overdue(adviser, adv, bot)
    assert "Planeringsmöte" in body(late) and rel(late)["event_id"] == thread
    assert late["content"]["msgtype"] == "m.text"  # it notifies, mentioning those on duty
    assert net.advisers[0].user_id in late["content"]["m.mentions"]["user_ids"]
    # Answered, the request still waits for its planning meeting: !queue overdue lists it.
    await adviser.say(adv, "Vi hör av oss om en tid för planeringsmötet.", thread_root=thread)
    await rektor.wait_for_event(cohort, lambda e: "planeringsmötet" in body(e))
    with clock.frozen(clock.now_ms() + 8 * DAY):  # the bot's clock, eight days on
        listed = await adviser.say(adv, "!kö försenade")
        queue = await adviser.reply_to(adv, listed, bot)
    assert "#1 " in body(queue) and "FÖRSENAD: Planeringsmöte" in body(queue)

    comment = "Rektorn vill börja med lågstadiet"
    for stage in ("planering", "forslag", "genomforande", "utvardering", "klar"):
        moved = await adviser.say(adv, f"!steg {stage} {comment}", thread_root=thread)
        await adviser.reply_to(adv, moved, bot)
        if stage == "planering":  # 15 days after the move, the proposal is late: once
            await app.run_periodic(offset_ms=15 * DAY)
            await adviser.wait_until(lambda: len(overdue(adviser, adv, bot)) == 2)
            await app.run_periodic(offset_ms=16 * DAY)
    await barrier()
    assert len(overdue(adviser, adv, bot)) == 2
    assert "Förslag skickat" in body(overdue(adviser, adv, bot)[1])
    shown = await wait_root_text(adviser, adv, thread, "Steg 6 av 6: Klar")
    assert shown.startswith("[KLAR] #1 ")

    def notices() -> list[str]:
        return [
            body(e)
            for e in rektor.messages_from(cohort, bot)
            if body(e).startswith("Ärende #1:") and rel(e).get("event_id") == asked
        ]

    await rektor.wait_until(lambda: len(notices()) == 5)
    assert notices() == [
        "Ärende #1: Planeringsmöte (steg 2 av 6).",
        "Ärende #1: Förslag skickat (steg 3 av 6).",
        "Ärende #1: Genomförande (steg 4 av 6).",
        "Ärende #1: Utvärdering (steg 5 av 6).",
        "Ärende #1: Klar (steg 6 av 6).",
    ]
    assert all(
        e["content"]["msgtype"] == "m.notice"
        for e in rektor.messages_from(cohort, bot)
        if body(e).startswith("Ärende #1:")
    )
    assert not [e for e in rektor.events.get(cohort, []) if comment in str(e.get("content"))]
    assert "lågstadiet" not in latest_root_text(adviser, adv, thread)  # the comment: the history


async def test_kill_9_in_a_stream_of_stage_changes_answers_and_notices_each_once(
    network: Any,
) -> None:
    net = network(participants=1)
    with_stages(net)
    bot = net.bot.user_id
    proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
    try:
        rektor, cohort, adviser, adv = await joined(net)
        asked = await rektor.say(cohort, "!fråga insats: Insats om bildstöd")
        root = await adviser.wait_for_event(adv, lambda e: is_root(e, 1, bot), timeout=60)
        moves = [
            await adviser.say(
                adv,
                f"!steg {'planering' if i % 2 == 0 else 'mottagen'}",
                thread_root=root["event_id"],
            )
            for i in range(16)
        ]

        def answered() -> dict[str, int]:
            counts: dict[str, int] = {}
            for ev in adviser.messages_from(adv, bot):
                target = (rel(ev).get("m.in_reply_to") or {}).get("event_id")
                if target in moves:
                    counts[target] = counts.get(target, 0) + 1
            return counts

        await adviser.wait_until(lambda: len(answered()) >= 2, timeout=60)
        kill(proc)
        assert len(answered()) < len(moves), "the kill must land mid-stream"
        proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
        await adviser.wait_until(lambda: len(answered()) == len(moves), timeout=90)
        # The barrier: a sentinel answered after everything before it.
        sentinel = await adviser.say(adv, "!steg", thread_root=root["event_id"])
        history = await adviser.reply_to(adv, sentinel, bot, timeout=60)
        assert all(n == 1 for n in answered().values()), answered()
        assert len(body(history).splitlines()) == 1 + 1 + len(moves)  # title, start, moves

        def notices() -> list[Event]:
            return [
                e
                for e in rektor.messages_from(cohort, bot)
                if body(e).startswith("Ärende #1:") and rel(e).get("event_id") == asked
            ]

        await rektor.wait_until(lambda: len(notices()) >= len(moves), timeout=60)
        sentinel_q = await rektor.say(cohort, "!hjälp")
        await rektor.reply_to(cohort, sentinel_q, bot, timeout=60)
        assert len(notices()) == len(moves)
    finally:
        terminate(proc, grace=15)


async def test_contact_opens_a_private_request_and_summary_documents_it(network: Any) -> None:
    net = network(participants=2)
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort, adv = net.room("cohort:kohort0"), net.room("advisers")
    rektor = await net.person(net.participants[0][0], cohort)
    other = await net.person(net.participants[0][1], cohort)
    adviser = await net.person(net.advisers[0], adv)

    command = await adviser.say(adv, f"!kontakt {rektor.user_id} Hur gick planeringsmötet?")
    opened = await adviser.reply_to(adv, command, bot)
    assert body(opened).startswith("Ärende #1 är öppnat med")
    # The bot opens a direct chat with the person; the opening notifies them there.
    await rektor.wait_until(lambda: bool(rektor.invites - {cohort}), timeout=30)
    dm = next(iter(rektor.invites - {cohort}))
    await rektor.join(dm)
    opening = await rektor.wait_for_event(dm, lambda e: "ärende #1 med dig" in body(e))
    assert opening["content"]["msgtype"] == "m.text"
    assert opening["content"]["m.mentions"] == {"user_ids": [rektor.user_id]}
    root = await adviser.wait_for_event(adv, lambda e: is_root(e, 1, bot))
    await rektor.say(dm, "Bra! Vi vill gå vidare med bildstöd.", thread_root=opening["event_id"])
    detail = await adviser.wait_for_event(adv, lambda e: "gå vidare med bildstöd" in body(e))
    assert rel(detail)["event_id"] == root["event_id"]
    await adviser.say(adv, "!anteckning Intern: ring rektorn", thread_root=root["event_id"])
    await adviser.say(adv, "Vi skickar ett förslag.", thread_root=root["event_id"])
    await rektor.wait_for_event(dm, lambda e: "Vi skickar ett förslag." in body(e))

    asked = await adviser.say(adv, "!sammanfattning md", thread_root=root["event_id"])
    told = await adviser.reply_to(adv, asked, bot)
    assert body(told).startswith("Dokumentationen av ärende #1 är skickad")
    file = await rektor.wait_for_event(
        dm, lambda e: e.get("sender") == bot and e["content"].get("msgtype") == "m.file"
    )
    assert rel(file)["rel_type"] == "m.thread" and rel(file)["event_id"] == opening["event_id"]
    assert file["content"]["info"]["mimetype"] == "text/markdown"
    got = await rektor.client.download(file["content"]["url"])
    text = got.body.decode()
    assert "Hur gick planeringsmötet?" in text and "Vi skickar ett förslag." in text
    assert "ring rektorn" not in text  # never an internal note
    await app.wait_idle()
    # Nothing of the private request reached the cohort room.
    seen = [body(e) for e in other.events.get(cohort, [])]
    assert not [b for b in seen if "planeringsmötet" in b or "förslag" in b]


async def test_sessions_then_the_evaluation_survey_and_its_summary_to_the_asker(
    network: Any,
) -> None:
    net = network(participants=1)
    with_stages(net)
    net.data["advisers"]["categories"][1]["survey"] = "insatsenkat"
    net.data["surveys"] = [
        {
            "id": "insatsenkat",
            "title": "Utvärdering av insatsen",
            "anonymous": True,
            "min_group": 1,
            "questions": [
                {"id": "nytta", "type": "scale", "text": "Insatsen var till nytta", "min": 1,
                 "max": 5},
            ],
        }
    ]  # fmt: skip
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort, adv = net.room("cohort:kohort0"), net.room("advisers")
    rektor = await net.person(net.participants[0][0], cohort)
    adviser = await net.person(net.advisers[0], adv)
    asked = await rektor.say(cohort, "!fråga insats: Insats om tydliggörande pedagogik")
    root = await adviser.wait_for_event(adv, lambda e: is_root(e, 1, bot))
    thread = root["event_id"]

    # Two sessions, the last one already over (yesterday): the asker gets the dates.
    day = date.today() - timedelta(days=1)
    for text in (f"add {day - timedelta(days=7)} 09:00 2h Skolan", f"add {day} 13:00 90m"):
        planned = await adviser.say(adv, f"!tillfälle {text}", thread_root=thread)
        await adviser.reply_to(adv, planned, bot)
    dates = await rektor.wait_for_event(
        cohort, lambda e: body(e).startswith("Ärende #1, tillfällen (2):")
    )
    assert rel(dates)["event_id"] == asked and f"2. {day} 13:00–14:30" in body(dates)
    assert dates["content"]["msgtype"] == "m.text"  # it notifies the asker
    assert dates["content"]["m.mentions"] == {"user_ids": [rektor.user_id]}

    # The periodic pass after the last session: the survey goes to the asker's direct chat.
    await app.run_periodic()
    await rektor.wait_until(lambda: bool(rektor.invites - {cohort}), timeout=30)
    dm = next(iter(rektor.invites - {cohort}))
    await rektor.join(dm)
    await rektor.wait_for_event(dm, lambda e: "Insatsen var till nytta" in body(e))
    await rektor.say(dm, "4")
    await rektor.wait_for_event(dm, lambda e: e.get("sender") == bot and "Tack" in body(e))
    await app.wait_idle()
    await app.run_periodic()  # everyone has answered: it closes, the summary goes out
    summary = await rektor.wait_for_event(
        cohort, lambda e: e.get("sender") == bot and "Insatsen var till nytta" in body(e)
    )
    assert rel(summary)["rel_type"] == "m.thread" and rel(summary)["event_id"] == asked
    assert rektor.user_id not in body(summary)
    copy = await adviser.wait_for_event(
        adv, lambda e: e.get("sender") == bot and "Insatsen var till nytta" in body(e)
    )
    assert rel(copy)["event_id"] == thread


async def test_kill_9_in_a_stream_of_images_both_ways_relays_each_once_as_the_same_media(
    network: Any,
) -> None:
    from tests.integration.test_materials import upload

    net = network(participants=1)
    bot = net.bot.user_id
    proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
    try:
        rektor, cohort, adviser, adv = await joined(net)
        asked = await rektor.say(cohort, "!fråga Hur ser det ut hos er?")
        root = await adviser.wait_for_event(adv, lambda e: is_root(e, 1, bot), timeout=60)
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16

        def image(uri: str, name: str, thread: str) -> dict[str, Any]:
            return {
                "msgtype": "m.image",
                "body": name,
                "url": uri,
                "info": {"mimetype": "image/png", "w": 4, "h": 4, "size": len(png)},
                "m.relates_to": {
                    "rel_type": "m.thread",
                    "event_id": thread,
                    "is_falling_back": True,
                    "m.in_reply_to": {"event_id": thread},
                },
            }

        from_adviser = [await upload(adviser, png, f"a{i}.png", "image/png") for i in range(8)]
        from_rektor = [await upload(rektor, png, f"r{i}.png", "image/png") for i in range(8)]
        for a, r in zip(from_adviser, from_rektor, strict=True):
            await adviser.send(adv, image(a, "skiss.png", root["event_id"]))
            await rektor.send(cohort, image(r, "tavla.png", asked))

        def relayed(p: Person, room: str) -> dict[str, int]:
            counts: dict[str, int] = {}
            for ev in p.messages_from(room, bot):
                if ev["content"].get("msgtype") == "m.image":
                    uri = ev["content"]["url"]
                    counts[uri] = counts.get(uri, 0) + 1
            return counts

        await rektor.wait_until(lambda: len(relayed(rektor, cohort)) >= 1, timeout=60)
        kill(proc)
        total = len(relayed(rektor, cohort)) + len(relayed(adviser, adv))
        assert total < 16, "the kill must land mid-stream"
        proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
        await rektor.wait_until(lambda: set(relayed(rektor, cohort)) == set(from_adviser), 90)
        await adviser.wait_until(lambda: set(relayed(adviser, adv)) == set(from_rektor), 90)
        # The barrier: a sentinel answered after everything before it.
        sentinel = await adviser.say(adv, "!kö")
        await adviser.reply_to(adv, sentinel, bot, timeout=60)
        assert all(n == 1 for n in relayed(rektor, cohort).values())
        assert all(n == 1 for n in relayed(adviser, adv).values())
        for ev in rektor.messages_from(cohort, bot):
            if ev["content"].get("msgtype") == "m.image":  # in the question's thread
                assert rel(ev)["event_id"] == asked
    finally:
        terminate(proc, grace=15)
