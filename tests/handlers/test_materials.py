"""The materials catalogue in-process: who may tag, describe and share, which cohort sees what,
listings and paging, edits and redactions, an encrypted PDF's text (files end to end are in
tests/integration)."""

from __future__ import annotations

from typing import Any

from nio.crypto.attachments import encrypt_attachment

from tests.documents import make_pdf
from tests.handlers.harness import Bot


async def command(bot: Bot, room: str, sender: str, text: str, reply_to: str | None = None) -> str:
    """Send a command (optionally as a reply to an event); the bot's answer, as its text."""
    content: dict[str, Any] = {"msgtype": "m.text", "body": text}
    if reply_to is not None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return bot.reply_to(await bot.event(room, sender, content)).body


async def items_of(bot: Bot, event_id: str) -> list[Any]:
    return await bot.db.fetchall("SELECT * FROM materials WHERE event_id = ?", (event_id,))


async def test_links_and_hashtags_tagging_and_describing_by_reply(make_bot: Any) -> None:
    bot = await make_bot(participants=2)
    room = bot.room("cohort:kohort0")
    bertil, cecilia = bot.people.participants[0]
    facilitator = bot.people.facilitators[0]

    url = "https://www.spsm.se/stod-i-skolan/lasforstaelse/"
    event = await bot.say(room, bertil, f"Bra genomgång av lässtrategier: {url} #läsning")
    (row,) = await items_of(bot, event)
    assert (row["kind"], row["url"], row["title"]) == (
        "link",
        url,
        "spsm.se/stod-i-skolan/lasforstaelse",
    )
    assert row["description"] == "Bra genomgång av lässtrategier: #läsning"
    answer = await command(bot, room, cecilia, "!material tagg #läsning")
    assert url in answer and f"https://matrix.to/#/{room}/{event}" in answer

    # Someone else may not tag it; the uploader and the facilitator may.
    answer = await command(bot, room, cecilia, "!tagga #fel", reply_to=event)
    assert "Bara den som delade" in answer
    answer = await command(bot, room, bertil, "!tagga #förskola #NPF", reply_to=event)
    assert "#förskola" in answer and "#NPF" in answer and "#läsning" in answer
    answer = await command(bot, room, facilitator, "!beskriv Översikt av strategier, åk 1-3", event)
    assert "Beskrivningen" in answer
    answer = await command(bot, room, cecilia, "!material sök oversikt")
    assert url in answer and "Översikt av strategier" in answer
    assert url in await command(bot, room, cecilia, "!material tagg #npf")
    answer = await command(bot, room, cecilia, "!material tagg #fel")
    assert "Inget material har taggen #fel" in answer
    # A command that replies to nothing, or to something that is not a material.
    assert "Svara på materialets meddelande" in await command(bot, room, bertil, "!tagga #x")
    other = await bot.say(room, bertil, "Bara en vanlig mening.")
    answer = await command(bot, room, bertil, "!tagga #x", reply_to=other)
    assert "finns inte i materialkatalogen" in answer


async def test_recent_mine_and_paging_with_more_per_person_and_room(make_bot: Any) -> None:
    bot = await make_bot(participants=2)
    room = bot.room("cohort:kohort0")
    bertil, cecilia = bot.people.participants[0]
    for n in range(1, 8):
        await bot.say(room, bertil, f"Tips {n}: https://example.org/tips/{n}")
    await bot.say(room, cecilia, "Mitt tips: https://example.org/cecilia")

    answer = await command(bot, room, bertil, "!material senaste")
    assert "(1–5)" in answer and "example.org/cecilia" in answer and "Fler: !material mer" in answer
    answer = await command(bot, room, bertil, "!material mer")
    assert "(6–8)" in answer and "example.org/tips/1" in answer and "Fler" not in answer
    assert "inga fler" in await command(bot, room, bertil, "!material mer")
    answer = await command(bot, room, cecilia, "!material mina")
    assert "example.org/cecilia" in answer and "example.org/tips" not in answer
    # Each person and room has their own place in a list.
    assert "(1–5)" in await command(bot, room, bertil, "!material sök tips")
    assert "inga fler" in await command(bot, room, cecilia, "!material mer")  # her list ended
    assert "(6–8)" in await command(bot, room, bertil, "!material mer")


async def test_an_edited_caption_updates_and_a_redaction_removes(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    room = bot.room("cohort:kohort0")
    p = bot.people.participants[0][0]
    file = {"msgtype": "m.image", "filename": "skrivande.png", "url": "mxc://test/skrivande"}
    event = await bot.event(room, p, {**file, "body": "Gammal rubrik"})
    await bot.event(
        room,
        p,
        {
            **file,
            "body": "* Ny rubrik #skrivande",
            "m.new_content": {**file, "body": "Ny rubrik #skrivande"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event},
        },
    )
    answer = await command(bot, room, p, "!material tagg #skrivande")
    assert "Ny rubrik #skrivande (skrivande.png)" in answer
    assert "Inget material" in await command(bot, room, p, "!material sök gammal")

    link = await bot.say(room, p, "Läs https://example.org/a")
    await bot.edit(room, p, link, "Läs hellre https://example.org/b")
    answer = await command(bot, room, p, "!material sök hellre")
    assert "example.org/b" in answer and "example.org/a" not in answer

    # An edit by someone else changes nothing.
    other = bot.people.facilitators[0]
    await bot.edit(room, other, link, "Kapat https://evil.example/x")
    assert "evil.example" not in await command(bot, room, p, "!material senaste")

    await bot.redact(room, p, event)
    await bot.redact(room, p, link)
    assert "Inget har delats här än" in await command(bot, room, p, "!material senaste")
    row = await bot.db.fetchone("SELECT COUNT(*) AS n FROM materials_fts")
    assert row is not None and row["n"] == 0


def _with_theme(data: dict[str, Any]) -> None:
    data["themes"] = [
        {
            "id": "lasforstaelse",
            "name": "Läsförståelse",
            "entries": [
                {
                    "title": "Läsförståelse – stödmaterial",
                    "url": "https://www.spsm.se/lasforstaelse",
                    "description": "Ingång till SPSM:s material",
                }
            ],
        }
    ]


async def test_a_cohort_sees_only_its_own_materials_unless_shared(make_bot: Any) -> None:
    bot = await make_bot(cohorts=2, participants=1, change=_with_theme)
    room0, room1 = bot.room("cohort:kohort0"), bot.room("cohort:kohort1")
    anna, erik = bot.people.participants[0][0], bot.people.participants[1][0]
    facilitator0 = bot.people.facilitators[0]

    event = await bot.say(
        room0, anna, "Förskolans läsmiljö: https://example.org/miljo #läsförståelse"
    )
    assert "example.org/miljo" in await command(bot, room0, anna, "!material sök forskolans")
    # The other cohort (English) finds nothing with the same word.
    answer = await command(bot, room1, erik, "!materials search förskolans")
    assert "No materials match" in answer
    # A direct chat searches the cohorts the person belongs to (in the bot's language, sv).
    answer = await command(bot, bot.dm(anna), anna, "!material sök förskolans")
    assert "example.org/miljo" in answer
    answer = await command(bot, bot.dm(erik), erik, "!materials search förskolans")
    assert "Inget material" in answer

    # A participant may not share with the network; a facilitator may.
    assert "behörighet" in await command(bot, room0, anna, "!dela", reply_to=event)
    answer = await command(bot, room0, facilitator0, "!dela", reply_to=event)
    assert "hela nätverket" in answer
    assert "example.org/miljo" in await command(bot, room1, erik, "!materials search förskolans")
    await command(bot, room0, facilitator0, "!sluta-dela", reply_to=event)
    assert "No materials" in await command(bot, room1, erik, "!materials search förskolans")

    # Themes: listed, and shown with their entry materials and the cohort's tagged items.
    assert "Läsförståelse (lasforstaelse)" in await command(bot, room0, anna, "!material tema")
    answer = await command(bot, room0, anna, "!material tema läsförst")
    assert "Läsförståelse – stödmaterial — https://www.spsm.se/lasforstaelse" in answer
    assert "example.org/miljo" in answer
    answer = await command(bot, room1, erik, "!materials theme lasforstaelse")
    assert "www.spsm.se/lasforstaelse" in answer and "example.org/miljo" not in answer


async def test_an_encrypted_pdf_is_found_by_a_word_inside_it_and_its_key_dropped(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=2)
    room = bot.room("cohort:kohort0")
    bertil, cecilia = bot.people.participants[0]
    uploads: dict[str, bytes] = {}

    async def download(mxc: str, max_bytes: int) -> bytes | None:
        return uploads[mxc]  # what the homeserver holds: ciphertext only

    bot.app.download = download

    def share(name: str, plaintext: bytes, mxc: str) -> dict[str, Any]:
        ciphertext, keys = encrypt_attachment(plaintext)
        uploads[mxc] = ciphertext
        file = {"url": mxc, **keys}
        info = {"mimetype": "application/pdf", "size": len(ciphertext)}
        return {"msgtype": "m.file", "body": name, "file": file, "info": info}

    good = share("handlingsplan.pdf", make_pdf("Rutiner för anpassningsåtgärder"), "mxc://h/1")
    event = await bot.event(room, bertil, good)
    (row,) = await items_of(bot, event)
    assert (row["title"], row["mxc"], row["text_state"]) == (
        "handlingsplan.pdf",
        "mxc://h/1",
        "pending",
    )
    assert row["file_key"] is not None  # until the text is read
    await bot.run_after_commit()
    (row,) = await items_of(bot, event)
    assert (row["text_state"], row["file_key"]) == ("done", None)
    answer = await command(bot, room, cecilia, "!material sök anpassningsatgarder")
    assert "handlingsplan.pdf" in answer and f"https://matrix.to/#/{room}/{event}" in answer

    # The server gives other bytes than the sender encrypted: skipped, with the reason.
    bad = share("andra.pdf", make_pdf("Manipulerad fil om elevhälsoteam"), "mxc://h/2")
    uploads["mxc://h/2"] = bytes([uploads["mxc://h/2"][0] ^ 1]) + uploads["mxc://h/2"][1:]
    event = await bot.event(room, bertil, bad)
    await bot.run_after_commit()
    (row,) = await items_of(bot, event)
    assert (row["text_state"], row["file_key"]) == ("skipped", None)
    assert row["text_reason"] == "the encrypted file does not match its hash"
    answer = await command(bot, room, cecilia, "!material sök elevhälsoteam")
    assert "andra.pdf" not in answer
    assert "andra.pdf" in await command(bot, room, cecilia, "!material sök andra")


async def test_an_edit_that_replaces_a_file_with_an_encrypted_one_reads_the_new_one(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1)
    room = bot.room("cohort:kohort0")
    (bertil,) = bot.people.participants[0]
    uploads: dict[str, bytes] = {"mxc://h/old": make_pdf("Gammal version om läxhjälp")}

    async def download(mxc: str, max_bytes: int) -> bytes | None:
        return uploads[mxc]

    bot.app.download = download
    pdf = {"mimetype": "application/pdf"}
    old = {"msgtype": "m.file", "body": "plan.pdf", "url": "mxc://h/old", "info": pdf}
    event = await bot.event(room, bertil, old)
    await bot.run_after_commit()
    ciphertext, keys = encrypt_attachment(make_pdf("Ny version om studiero"))
    uploads["mxc://h/new"] = ciphertext
    new = {"msgtype": "m.file", "body": "plan.pdf", "file": {"url": "mxc://h/new", **keys}}
    new["info"] = pdf
    edit = {
        "msgtype": "m.file",
        "body": "* plan.pdf",
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": event},
    }
    await bot.event(room, bertil, edit)
    (row,) = await items_of(bot, event)
    assert (row["mxc"], row["text_state"]) == ("mxc://h/new", "pending")
    assert row["file_key"] is not None
    await bot.run_after_commit()
    (row,) = await items_of(bot, event)
    assert (row["text_state"], row["file_key"]) == ("done", None)
    assert "plan.pdf" in await command(bot, room, bertil, "!material sök studiero")
    assert "Inget material" in await command(bot, room, bertil, "!material sök läxhjälp")
