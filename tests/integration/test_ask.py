"""!ask end to end on a real Synapse: participants, advisers, and everything in between."""

from __future__ import annotations

from typing import Any

from bot.demo.person import Event, Person
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
