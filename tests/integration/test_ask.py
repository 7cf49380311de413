"""!ask end to end on a real Synapse: participants, advisers, and everything in between."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.person import Event, Person
from tests.integration.helpers import body, rel


def is_root(ev: Event, number: int, bot: str) -> bool:
    return (
        ev.get("sender") == bot
        and ev.get("type") == "m.room.message"
        and f"#{number} ·" in body(ev)
        and "m.new_content" not in ev["content"]
    )


def latest_root_text(p: Person, room: str, root_id: str) -> str:
    """What Element shows for the root: the newest edit's content, else the original."""
    text = ""
    for ev in p.events.get(room, []):
        if ev.get("event_id") == root_id:
            text = body(ev)
        r = rel(ev)
        if r.get("rel_type") == "m.replace" and r.get("event_id") == root_id:
            text = str(ev["content"]["m.new_content"]["body"])
    return text


async def wait_root_text(p: Person, room: str, root_id: str, needle: str) -> str:
    await p.wait_until(lambda: needle in latest_root_text(p, room, root_id), timeout=30)
    return latest_root_text(p, room, root_id)


async def setup(network: Any, **kwargs: Any) -> Any:
    net = network(**kwargs)
    app = await net.start_bot()
    return net, app


async def test_public_question_answer_in_thread_reaches_asker(network: Any) -> None:
    net, _app = await setup(network, participants=2)
    bot = net.bot.user_id
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    bertil = await net.person(net.participants[0][0], cohort_room)
    cecilia = await net.person(net.participants[0][1], cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)

    pinged_before = adviser.unread.get(adv_room, (0, 0))
    q = await bertil.say(cohort_room, "!fråga Hur anpassar jag genomgångar för elever med ADHD?")
    # The asker gets a reaction and a threaded notice with the number at once.
    ack = await bertil.wait_for_event(
        cohort_room,
        lambda e: (
            e.get("sender") == bot
            and rel(e).get("event_id") == q
            and rel(e).get("rel_type") == "m.thread"
        ),
    )
    assert "#1" in body(ack) or "#" in body(ack)
    number = int(body(ack).split("#")[1].split(" ")[0])
    await bertil.wait_for_event(
        cohort_room,
        lambda e: e.get("type") == "m.reaction" and rel(e).get("event_id") == q,
    )
    # The advisers see a thread root with number, category, cohort, name, question, status.
    root = await adviser.wait_for_event(adv_room, lambda e: is_root(e, number, bot))
    text = body(root)
    assert text.startswith(f"[NY] #{number} · Allmän fråga · Kohort 0 · ")
    assert "Hur anpassar jag genomgångar" in text
    # A new question notifies the advisers (an m.notice would not: .m.rule.suppress_notices).
    assert root["content"]["msgtype"] == "m.text"
    await adviser.wait_until(lambda: adviser.unread[adv_room][0] > pinged_before[0])
    highlights_before = bertil.unread.get(cohort_room, (0, 0))[1]

    # An adviser answers in the thread: the answer arrives in the question's thread.
    answer = "Dela upp genomgången i korta steg och visa dem på tavlan."
    await adviser.say(adv_room, answer, thread_root=root["event_id"])
    got = await bertil.wait_for_event(
        cohort_room, lambda e: e.get("sender") == bot and answer in body(e)
    )
    assert rel(got)["rel_type"] == "m.thread" and rel(got)["event_id"] == q
    assert rel(got)["m.in_reply_to"]["event_id"] == q  # fallback for clients without threads
    assert f"Svar från rådgivarna (fråga #{number})" in body(got)
    assert got["content"]["m.mentions"] == {"user_ids": [net.participants[0][0].user_id]}
    # ... and the mention reaches the asker as a highlight, which Element notifies.
    await bertil.wait_until(lambda: bertil.unread[cohort_room][1] > highlights_before)
    # Colleagues in the cohort see it too: that is the point of a public question.
    await cecilia.wait_for_event(cohort_room, lambda e: answer in body(e))
    # The root is edited in place.
    await wait_root_text(adviser, adv_room, root["event_id"], "[BESVARAD]")

    # !mine shows the status; !queue no longer lists an answered question.
    reply = await bertil.reply_to(cohort_room, await bertil.say(cohort_room, "!mina"), bot)
    assert f"#{number} [BESVARAD]" in body(reply)
    reply = await adviser.reply_to(adv_room, await adviser.say(adv_room, "!kö"), bot)
    assert "Inga öppna frågor" in body(reply)


async def test_private_question_in_direct_chat_never_reaches_the_cohort(network: Any) -> None:
    net, _app = await setup(network, participants=2)
    bot = net.bot.user_id
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    bertil = await net.person(net.participants[0][0], cohort_room)
    cecilia = await net.person(net.participants[0][1], cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)

    dm = await bertil.open_direct_chat(bot)
    q = await bertil.say(dm, "!ask Jag är osäker på hur jag tar upp en elevs diagnos.")
    ack = await bertil.wait_for_event(dm, lambda e: e.get("sender") == bot and "privata" in body(e))
    number = int(body(ack).split("#")[1].split(" ")[0])
    root = await adviser.wait_for_event(adv_room, lambda e: is_root(e, number, bot))
    assert "privat fråga" in body(root)
    await adviser.say(adv_room, "Prata först med vårdnadshavarna.", thread_root=root["event_id"])
    got = await bertil.wait_for_event(dm, lambda e: "vårdnadshavarna" in body(e))
    assert rel(got)["event_id"] == q

    # In the cohort room nothing of it shows, and !mine there does not list it.
    reply = await bertil.reply_to(cohort_room, await bertil.say(cohort_room, "!mine"), bot)
    assert f"#{number}" not in body(reply)
    await asyncio.sleep(0.5)
    for p in (bertil, cecilia):
        assert not [e for e in p.events[cohort_room] if "vårdnadshavarna" in body(e)]
        assert not [e for e in p.events[cohort_room] if "diagnos" in body(e)]


async def test_categories_route_to_their_own_adviser_rooms(network: Any, make_user: Any) -> None:
    net = network(participants=1, advisers=1)
    tech = make_user("tekniker")
    net.data["advisers"]["categories"] = [
        {"id": "pedagogik", "name": "Pedagogisk fråga", "default": True},
        {
            "id": "teknik",
            "name": "Teknisk fråga",
            "room": net.alias("teknik"),
            "members": [tech.user_id],
        },
    ]
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort_room = net.room("cohort:kohort0")
    adv_room, tech_room = net.room("advisers"), net.room("category:teknik")
    assert adv_room != tech_room
    p = await net.person(net.participants[0][0], cohort_room)
    ped = await net.person(net.advisers[0], adv_room)
    t = await net.person(tech, tech_room)

    await p.say(cohort_room, "!ask teknik Hur delar jag skärmen i mötet?")
    await p.say(cohort_room, "!ask Hur ger jag återkoppling på reflektionsloggar?")
    root_t = await t.wait_for_event(tech_room, lambda e: "skärmen" in body(e))
    assert "Teknisk fråga" in body(root_t)
    root_p = await ped.wait_for_event(adv_room, lambda e: "reflektionsloggar" in body(e))
    assert "Pedagogisk fråga" in body(root_p)
    assert not [e for e in ped.events[adv_room] if "skärmen" in body(e)]
    assert app.managed["category:teknik"] == tech_room

    # An unknown category answers with the list; nothing is sent to the advisers.
    reply = await p.reply_to(
        cohort_room, await p.say(cohort_room, "!ask ekonomi: Vad kostar det?"), bot
    )
    assert "ekonomi" in body(reply) and "teknik (Teknisk fråga)" in body(reply)
    # An empty question gets the usage line.
    reply = await p.reply_to(cohort_room, await p.say(cohort_room, "!ask"), bot)
    assert "!fråga" in body(reply)


async def test_claim_by_reaction_and_unclaim_by_removing_it(network: Any) -> None:
    net, _app = await setup(network, participants=1)
    bot = net.bot.user_id
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    p = await net.person(net.participants[0][0], cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)
    await p.say(cohort_room, "!ask Vilka hjälpmedel finns för läsning?")
    root = await adviser.wait_for_event(adv_room, lambda e: "hjälpmedel" in body(e))
    reaction = await adviser.react(adv_room, root["event_id"], "👀")
    text = await wait_root_text(adviser, adv_room, root["event_id"], "[TAGEN av")
    assert text.startswith("[TAGEN av ")
    reply = await adviser.reply_to(adv_room, await adviser.say(adv_room, "!queue"), bot)
    assert "TAGEN av" in body(reply)
    await adviser.redact(adv_room, reaction)
    await wait_root_text(adviser, adv_room, root["event_id"], "[NY]")
    # !claim in the thread does the same.
    await adviser.say(adv_room, "!claim", thread_root=root["event_id"])
    await wait_root_text(adviser, adv_room, root["event_id"], "[TAGEN av")


async def test_internal_notes_never_reach_the_cohort(network: Any) -> None:
    net, app = await setup(network, participants=1)
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    p = await net.person(net.participants[0][0], cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)
    await p.say(cohort_room, "!ask Hur hanterar jag en kollega som inte vill delta?")
    root = await adviser.wait_for_event(adv_room, lambda e: "kollega" in body(e))
    note = await adviser.say(
        adv_room, "!note Ring rektorn först, känsligt.", thread_root=root["event_id"]
    )
    await adviser.wait_for_event(
        adv_room, lambda e: e.get("type") == "m.reaction" and rel(e).get("event_id") == note
    )
    await adviser.say(
        adv_room, "Börja med ett samtal om förväntningar.", thread_root=root["event_id"]
    )
    await p.wait_for_event(cohort_room, lambda e: "förväntningar" in body(e))
    assert not [e for e in p.events[cohort_room] if "rektorn" in body(e)]
    await app.wait_idle()
    rows = await app.db.fetchall("SELECT content FROM outbox")
    assert not [r for r in rows if "rektorn" in r["content"]]


async def test_edits_and_redactions_follow_both_ways(network: Any) -> None:
    net, _app = await setup(network, participants=1)
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    p = await net.person(net.participants[0][0], cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)
    q = await p.say(cohort_room, "!ask Hur ofta ska vi ha träffar?")
    root = await adviser.wait_for_event(adv_room, lambda e: "träffar" in body(e))

    # The asker edits the question: the advisers' copy changes.
    await p.edit(cohort_room, q, "!ask Hur ofta ska vi ha studieträffar under våren?")
    await wait_root_text(adviser, adv_room, root["event_id"], "studieträffar under våren")
    # The asker adds a detail in the thread, then removes it.
    detail = await p.say(cohort_room, "Vi är åtta i gruppen.", thread_root=q)
    copy = await adviser.wait_for_event(adv_room, lambda e: "åtta i gruppen" in body(e))
    assert rel(copy)["event_id"] == root["event_id"]
    await p.redact(cohort_room, detail)
    await adviser.wait_for_event(
        adv_room,
        lambda e: (
            e.get("type") == "m.room.redaction"
            and (e.get("redacts") or e["content"].get("redacts")) == copy["event_id"]
        ),
    )
    # The adviser edits an answer, then removes it: the asker's copy follows.
    answer = await adviser.say(adv_room, "Varannan vecka.", thread_root=root["event_id"])
    relayed = await p.wait_for_event(cohort_room, lambda e: "Varannan vecka" in body(e))
    await adviser.edit(adv_room, answer, "Varannan vecka, 60 minuter.")
    edited = await p.wait_for_event(
        cohort_room,
        lambda e: (
            rel(e).get("rel_type") == "m.replace" and rel(e).get("event_id") == relayed["event_id"]
        ),
    )
    assert "60 minuter" in edited["content"]["m.new_content"]["body"]
    await adviser.redact(adv_room, answer)
    await p.wait_for_event(
        cohort_room,
        lambda e: (
            e.get("type") == "m.room.redaction"
            and (e.get("redacts") or e["content"].get("redacts")) == relayed["event_id"]
        ),
    )
    # Redacting the question removes the advisers' copy.
    await p.redact(cohort_room, q)
    await adviser.wait_for_event(
        adv_room,
        lambda e: (
            e.get("type") == "m.room.redaction"
            and (e.get("redacts") or e["content"].get("redacts")) == root["event_id"]
        ),
    )


async def test_html_injection_is_escaped(network: Any) -> None:
    net, _app = await setup(network, participants=1)
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    p = await net.person(net.participants[0][0], cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)
    nasty = '<script>alert(1)</script> <a href="javascript:alert(2)">klick</a> **fet**'
    await p.say(cohort_room, f"!ask {nasty}")
    root = await adviser.wait_for_event(adv_room, lambda e: "alert(1)" in body(e))
    html = root["content"]["formatted_body"]
    assert "<script>" not in html and "<a " not in html
    assert "&lt;script&gt;" in html and "&quot;javascript:alert(2)&quot;" in html
    await adviser.say(adv_room, f"Svar {nasty}", thread_root=root["event_id"])
    got = await p.wait_for_event(cohort_room, lambda e: "Svar <script>" in body(e))
    assert "<script>" not in got["content"]["formatted_body"]
    assert "<a " not in got["content"]["formatted_body"]


async def test_unanswered_questions_get_one_reminder(network: Any) -> None:
    net = network(participants=1)
    net.data["advisers"]["reminder_after"] = "1m"
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    p = await net.person(net.participants[0][0], cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)
    await p.say(cohort_room, "!ask Finns det material om autism för förskolan?")
    root = await adviser.wait_for_event(adv_room, lambda e: "autism" in body(e))
    await adviser.wait_until(lambda: adv_room in adviser.unread)
    assert adviser.unread[adv_room][1] == 0  # the question notifies, but highlights nobody
    await app.run_periodic()  # too early: nothing
    later = 2 * 60 * 1000
    await app.run_periodic(offset_ms=later)
    await app.run_periodic(offset_ms=later + 60_000)
    reminder = await adviser.wait_for_event(adv_room, lambda e: "Påminnelse" in body(e))
    assert net.advisers[0].user_id in reminder["content"]["m.mentions"]["user_ids"]
    await adviser.wait_until(lambda: adviser.unread[adv_room][1] >= 1)  # it pings them
    assert rel(reminder)["m.in_reply_to"]["event_id"] == root["event_id"]
    await app.wait_idle()
    await asyncio.sleep(0.5)
    reminders = [e for e in adviser.events[adv_room] if "Påminnelse" in body(e)]
    assert len(reminders) == 1
    assert reminders[0]["sender"] == bot
