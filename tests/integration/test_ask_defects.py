"""The adviser bridge against a careless or hostile user, on a real Synapse (issue 9): oversized
text, quoted internal notes, files in answers, empty messages, and messages the homeserver
refuses."""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.demo.person import Event, Person
from storage import outbox as outbox_store
from tests.integration.helpers import body, rel
from tests.integration.test_ask import latest_root_text
from tests.integration.test_materials import upload

# What a person can still send (the homeserver takes it: 60 kB < 64 KiB) but the bot's copy,
# with its HTML and later edits, could not carry.
LONG = "Hur gör jag när eleven inte vill? " * 1_600  # 54,400 characters, 57.6 kB


async def setup(network: Any) -> tuple[Any, Any, str, str, Person, Person]:
    net = network(participants=1)
    app = await net.start_bot()
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    asker = await net.person(net.participants[0][0], cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)
    return net, app, cohort_room, adv_room, asker, adviser


async def ask(net: Any, asker: Person, adviser: Person, room: str, adv: str, text: str) -> Event:
    """Ask a question; the advisers' thread root when it has arrived."""
    await asker.say(room, f"!ask {text}")
    return await adviser.wait_for_event(
        adv,
        lambda e: (
            e.get("sender") == net.bot.user_id
            and text in body(e)
            and "m.new_content" not in e["content"]
            and "m.relates_to" not in e["content"]
        ),
    )


async def asked_in(asker: Person, room: str, bot: str) -> str:
    """The asker's question #1 (the thread the bot acknowledged it in)."""
    ack = await asker.wait_for_event(
        room,
        lambda e: (
            e.get("sender") == bot and "#1" in body(e) and rel(e).get("rel_type") == "m.thread"
        ),
    )
    return str(rel(ack)["event_id"])


def in_thread(root: str, content: dict[str, Any]) -> dict[str, Any]:
    content["m.relates_to"] = {
        "rel_type": "m.thread",
        "event_id": root,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": root},
    }
    return content


async def test_an_oversized_question_is_refused_never_said_sent_and_holds_up_nothing(
    network: Any,
) -> None:
    net, app, room, adv, asker, adviser = await setup(network)
    bot = net.bot.user_id
    q = await asker.say(room, f"!ask {LONG}")
    refusal = await asker.reply_to(room, q, bot)
    assert "för lång" in body(refusal) and "Inget har skickats" in body(refusal)
    # The next question goes through at once, with the number the refused one did not take.
    root = await ask(net, asker, adviser, room, adv, "Hur börjar jag en studiecirkel?")
    assert "#1 ·" in body(root)
    await app.wait_idle()
    assert not [e for e in await asker.history(room) if "skickad till rådgivarna" in body(e)][1:]
    assert not [e for e in await adviser.history(adv) if LONG[:200] in body(e)]
    assert (await outbox_store.counts(app.db)).get("failed", 0) == 0

    # A detail too long for the advisers' copy: refused in its thread, and the next one passes.
    origin = await asked_in(asker, room, bot)
    # So is an edit that makes the question too long: the advisers keep it as it was.
    edit = await asker.edit(room, origin, "!ask " + "Varför? " * 3_000)
    told = await asker.reply_to(room, edit, bot)
    assert "ändrade fråga är för lång" in body(told)
    long_detail = await asker.send(room, in_thread(origin, {"msgtype": "m.text", "body": LONG}))
    told = await asker.reply_to(room, long_detail, bot)
    assert "för långt" in body(told) and "skickades inte" in body(told)
    await asker.send(room, in_thread(origin, {"msgtype": "m.text", "body": "Det gäller åk 4."}))
    got = await adviser.wait_for_event(adv, lambda e: "Det gäller åk 4." in body(e))
    assert rel(got)["event_id"] == root["event_id"]
    assert "Varför?" not in latest_root_text(adviser, adv, root["event_id"])
    assert all(
        messages.size(e["content"]) <= messages.MAX_CONTENT_BYTES for e in adviser.events[adv]
    )


async def test_a_message_the_homeserver_refuses_is_reported_to_the_admins_and_its_author(
    network: Any,
) -> None:
    """Whatever slips past the handlers' checks: given up at once, reported, not blocking."""
    net, app, room, adv, asker, adviser = await setup(network)
    admin = await net.person(net.admin)
    await admin.wait_until(lambda: bool(admin.invites), timeout=30)
    admin_dm = next(iter(admin.invites))
    await admin.join(admin_dm)
    # A row written past the guard (as another process could), over the 64 KiB limit.
    async with app.db.transaction() as tx:
        await outbox_store.enqueue(
            tx, adv, {"msgtype": "m.text", "body": "x" * 70_000}, owner=asker.user_id
        )
    app.sender.wake()
    told = await admin.wait_for_event(admin_dm, lambda e: "kunde inte skickas" in body(e))
    assert "M_TOO_LARGE" in body(told) and told["content"]["msgtype"] == "m.notice"
    # The author is told in a direct chat the bot opens for it.
    await asker.wait_until(lambda: bool(asker.invites - {room}), timeout=30)
    dm = next(iter(asker.invites - {room}))
    await asker.join(dm)
    owner_told = await asker.wait_for_event(dm, lambda e: "kunde inte skickas vidare" in body(e))
    assert owner_told["content"]["msgtype"] == "m.text"  # it notifies
    # The advisers' room is not held up by it.
    await ask(net, asker, adviser, room, adv, "Fungerar det nu?")
    await app.wait_idle()
    counts = await outbox_store.counts(app.db)
    assert counts.get("failed") == 1 and not counts.get("pending")


async def test_files_in_answers_and_details_are_relayed_as_files_and_empty_text_is_not(
    network: Any,
) -> None:
    net, app, room, adv, asker, adviser = await setup(network)
    bot = net.bot.user_id
    root = await ask(net, asker, adviser, room, adv, "Finns det en mall för handlingsplan?")
    thread = root["event_id"]
    origin = await asked_in(asker, room, bot)

    # The adviser answers with a file: it arrives as the same file, captioned, in the thread.
    pdf = await upload(adviser, b"%PDF-1.4 mall", "mall.pdf", "application/pdf")
    await adviser.send(
        adv,
        in_thread(
            thread,
            {
                "msgtype": "m.file",
                "body": "mall.pdf",
                "filename": "mall.pdf",
                "url": pdf,
                "info": {"mimetype": "application/pdf", "size": 13},
            },
        ),
    )
    got = await asker.wait_for_event(
        room, lambda e: e.get("sender") == bot and e["content"].get("msgtype") == "m.file"
    )
    assert got["content"]["url"] == pdf and got["content"]["filename"] == "mall.pdf"
    assert got["content"]["info"] == {"mimetype": "application/pdf", "size": 13}
    assert "Svar från rådgivarna (fråga #1)" in body(got)
    assert rel(got)["rel_type"] == "m.thread" and rel(got)["event_id"] == origin
    assert got["content"]["m.mentions"] == {"user_ids": [asker.user_id]}

    # The asker adds a photo in the thread: the advisers get it as an image.
    png = await upload(asker, b"\x89PNG\r\n\x1a\n", "tavla.png", "image/png")
    await asker.send(
        room,
        in_thread(
            origin,
            {
                "msgtype": "m.image",
                "body": "tavla.png",
                "url": png,
                "info": {"mimetype": "image/png", "w": 10, "h": 10, "size": 8},
            },
        ),
    )
    image = await adviser.wait_for_event(
        adv, lambda e: e.get("sender") == bot and e["content"].get("msgtype") == "m.image"
    )
    assert image["content"]["url"] == png and image["content"]["info"]["w"] == 10
    assert rel(image)["event_id"] == thread

    # An empty message (only spaces) in the thread is not relayed as an empty answer.
    await adviser.send(adv, in_thread(thread, {"msgtype": "m.text", "body": "  \n "}))
    await adviser.say(adv, "Sentinel: fyll i mallen tillsammans.", thread)
    await asker.wait_for_event(room, lambda e: "Sentinel" in body(e))
    await app.wait_idle()
    answers = [
        e for e in await asker.history(room) if e.get("sender") == bot and "Svar från" in body(e)
    ]
    assert [e["content"]["msgtype"] for e in answers] == ["m.file", "m.text"]
    assert "Sentinel" in body(answers[1])
