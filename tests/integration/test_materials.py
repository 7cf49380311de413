"""The materials catalogue end to end on a real Synapse: files shared in a cohort room are found
again by the words in them, right after the upload and after a restart. Who may tag and share,
which cohort sees what, listings and paging are tested in-process (tests/handlers)."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from nio import UploadResponse

from bot import messages
from bot.app import App
from bot.cli import main as natverk
from bot.demo.person import Person
from commands.materials import documents
from commands.materials import extract as extract_text
from commands.materials.extract import Limits
from tests.documents import make_docx, make_pdf
from tests.integration.helpers import body

SENTENCE = "Samtal om bilderböcker stärker läsförståelsen i förskolan."


async def upload(p: Person, data: bytes, filename: str, mimetype: str) -> str:
    resp, _ = await p.client.upload(
        io.BytesIO(data), content_type=mimetype, filename=filename, filesize=len(data)
    )
    assert isinstance(resp, UploadResponse), resp
    return str(resp.content_uri)


async def share_file(
    p: Person, room: str, data: bytes, filename: str, mimetype: str, caption: str = ""
) -> str:
    """What Element sends for a file with an optional caption (Matrix v1.10)."""
    uri = await upload(p, data, filename, mimetype)
    content: dict[str, Any] = {
        "msgtype": "m.file",
        "body": caption or filename,
        "filename": filename,
        "url": uri,
        "info": {"mimetype": mimetype, "size": len(data)},
    }
    return await p.send(room, content)


async def command(p: Person, room: str, text: str, bot: str, reply_to: str | None = None) -> str:
    """Send a command (optionally as a reply to an event) and return the bot's answer."""
    content: dict[str, Any] = {"msgtype": "m.text", "body": text}
    if reply_to is not None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    sent = await p.send(room, content)
    return body(await p.reply_to(room, sent, bot))


async def indexed(app: App, event_id: str, timeout: float = 30) -> list[Any]:
    """Wait until the bot has recorded the items of an event."""
    assert app.db is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await app.db.fetchall("SELECT * FROM materials WHERE event_id = ?", (event_id,))
        if rows:
            return rows
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{event_id} was not indexed")


async def texts_settled(app: App, timeout: float = 30) -> None:
    """Run the periodic work until no document waits for its text."""
    assert app.db is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await app.run_periodic()
        row = await app.db.fetchone(
            "SELECT COUNT(*) AS n FROM materials WHERE text_state = 'pending'"
        )
        if row is not None and row["n"] == 0:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("document texts were not extracted")


async def test_a_shared_pdf_is_found_by_a_word_in_its_text(network: Any) -> None:
    net = network(participants=2)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    bertil = await net.person(net.participants[0][0], room)
    cecilia = await net.person(net.participants[0][1], room)

    pdf = make_pdf("Rapport från nätverksträffen", SENTENCE)
    event = await share_file(
        bertil, room, pdf, "rapport.pdf", "application/pdf", "Rapport från träffen #Läsförståelse"
    )
    (row,) = await indexed(app, event)
    assert (row["title"], row["filename"], row["kind"]) == (
        "Rapport från träffen #Läsförståelse",
        "rapport.pdf",
        "file",
    )
    assert (row["mimetype"], row["size"], row["uploader"]) == (
        "application/pdf",
        len(pdf),
        bertil.user_id,
    )
    assert row["mxc"].startswith("mxc://") and row["cohort_id"] == "kohort0"
    await texts_settled(app)
    row = await app.db.fetchone("SELECT text_state FROM materials WHERE event_id = ?", (event,))
    assert row is not None and row["text_state"] == "done"

    # A word that is only in the PDF's text, typed without å, ä, ö, and with them.
    for query in (
        "!material sök bilderbocker",
        "!materials search Bilderböcker",
        "!material förskolan",
    ):
        answer = await command(cecilia, room, query, bot)
        assert "1. Rapport från träffen #Läsförståelse (rapport.pdf)" in answer, answer
        assert f"https://matrix.to/#/{room}/{event}" in answer
        assert "#Läsförståelse" in answer
    assert "bilderböcker" in answer.casefold()  # the matching words of the text
    # Its tag finds it too, however it is written.
    answer = await command(cecilia, room, "!material tagg #lasforstaelse", bot)
    assert "Rapport från träffen" in answer
    answer = await command(cecilia, room, "!material sök dinosaurier", bot)
    assert "Inget material matchar ”dinosaurier”" in answer


async def test_malformed_and_huge_files_are_skipped_and_the_bot_keeps_running(
    network: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(extract_text, "LIMITS", Limits(max_download=4000))
    caplog.set_level(logging.WARNING, logger="commands.materials.documents")
    net = network(participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    p = await net.person(net.participants[0][0], room)

    broken = await share_file(p, room, b"%PDF-1.4\nbroken", "trasig.pdf", "application/pdf")
    # Too big to download (it does not say its size, so the bot finds out while downloading).
    uri = await upload(p, b"stor " * 2000, "stor.txt", "text/plain")
    huge = await p.send(room, {"msgtype": "m.file", "body": "stor.txt", "url": uri})
    # A file that says it is huge is not even downloaded.
    uri = await upload(p, b"liten", "ljuger.md", "text/markdown")
    claims = await p.send(
        room,
        {
            "msgtype": "m.file",
            "body": "ljuger.md",
            "url": uri,
            "info": {"mimetype": "text/markdown", "size": 10**9},
        },
    )
    good = await share_file(p, room, SENTENCE.encode(), "bra.md", "text/markdown")
    for event in (broken, huge, claims, good):
        await indexed(app, event)
    await texts_settled(app)
    assert app.db is not None
    rows = await app.db.fetchall("SELECT filename, text_state, text_reason FROM materials")
    states = {r["filename"]: (r["text_state"], r["text_reason"]) for r in rows}
    assert states["trasig.pdf"] == ("skipped", "unreadable PDF (PdfStreamError)")
    assert states["stor.txt"] == ("skipped", "larger than 4000 bytes")
    assert states["ljuger.md"] == ("skipped", "larger than 4000 bytes (1000000000)")
    assert states["bra.md"] == ("done", None)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "unreadable PDF" in logged and "larger than 4000 bytes" in logged
    # The bot goes on: the skipped files are still listed by name, the good one by its text.
    answer = await command(p, room, "!material sök bilderböcker", bot)
    assert "bra.md" in answer
    answer = await command(p, room, "!material sök trasig", bot)
    assert "trasig.pdf" in answer


async def test_document_text_is_extracted_after_a_restart(
    network: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = network(participants=1)

    async def down(*args: Any) -> None:
        return None  # the bot stops before it gets to the file

    monkeypatch.setattr(documents, "fetch_text", down)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    p = await net.person(net.participants[0][0], room)
    event = await share_file(p, room, make_pdf(SENTENCE), "plan.pdf", "application/pdf")
    (row,) = await indexed(app, event)
    assert row["text_state"] == "pending"
    await net.stop_bot()

    monkeypatch.undo()
    app = await net.start_bot()
    await texts_settled(app)
    answer = await command(p, room, "!material sök bilderbocker", bot)
    assert "plan.pdf" in answer


async def test_a_published_answer_becomes_a_question_and_answer_material(network: Any) -> None:
    net = network(participants=1)
    await net.start_bot()
    bot = net.bot.user_id
    room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    p = await net.person(net.participants[0][0], room)
    adviser = await net.person(net.advisers[0], adv_room)
    question = await p.say(room, "!fråga Hur ordnar jag högläsning med #bildstöd?")
    root = await adviser.wait_for_event(adv_room, lambda e: "högläsning" in body(e))
    await adviser.say(adv_room, "Välj korta böcker och visa bilderna.", root["event_id"])
    await p.wait_for_event(room, lambda e: "korta böcker" in body(e))
    answer = await command(adviser, adv_room, "!publicera", bot, reply_to=None)
    assert "tråd" in answer  # only in the question's thread
    sent = await adviser.say(adv_room, "!publicera", root["event_id"])
    assert "delbar" in body(await adviser.reply_to(adv_room, sent, bot))

    answer = await command(p, room, "!material sök hogläsning", bot)
    assert "Hur ordnar jag högläsning med #bildstöd?" in answer
    assert f"https://matrix.to/#/{room}/{question}" in answer
    assert "Allmän fråga" in answer
    assert "högläsning" in await command(p, room, "!material tagg #bildstod", bot)


async def test_catalogue_export_writes_the_cohort_page(network: Any, tmp_path: Path) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    room = net.room("cohort:kohort0")
    p = await net.person(net.participants[0][0], room)
    event = await p.say(room, "Se <b>detta</b>: https://example.org/sida #npf")
    await indexed(app, event)
    out = tmp_path / "katalog.html"
    args = ["catalogue", "export", str(net.config_path), "--format", "html"]
    code = await asyncio.to_thread(natverk, [*args, "--cohort", "kohort0", "--output", str(out)])
    assert code == 0
    page = out.read_text("utf-8")
    assert "<h3>#npf</h3>" in page and 'href="https://example.org/sida"' in page
    assert "&lt;b&gt;detta&lt;/b&gt;" in page and "<b>detta</b>" not in page
    code = await asyncio.to_thread(natverk, [*args, "--cohort", "finns-inte"])
    assert code == 2


async def test_a_message_with_thousands_of_hashtags_does_not_break_the_listing(
    network: Any,
) -> None:
    net = network(participants=2)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    bertil = await net.person(net.participants[0][0], room)
    cecilia = await net.person(net.participants[0][1], room)
    first = await bertil.say(room, "Bra läsning: https://example.org/forst #läsning")
    await indexed(app, first)
    tags = " ".join(f"#t{n}" for n in range(1000, 9000))  # 56 kB
    hostile = f"Massor https://example.org/massor {tags}"
    assert len(hostile.encode()) > 55_000
    event = await cecilia.say(room, hostile)
    (row,) = await indexed(app, event)
    assert len(row["tags"].split()) == 20  # at most 20 tags per item

    for query in ("!material senaste", "!materials search massor", "!material tagg #t1001"):
        sent = await bertil.say(room, query)
        answer = await bertil.reply_to(room, sent, bot)
        content = answer["content"]
        assert messages.size(content) <= messages.MAX_CONTENT_BYTES
        assert "example.org/massor" in content["body"], query
        assert "[…]" not in content["body"]  # a listing, not a message the guard had to cut
        assert content["formatted_body"].count("<li>") >= 1
        meta = next(line for line in content["body"].split("\n") if "massor —" in line)
        assert meta.endswith(" #t1018 #t1019")  # its tags: the first 20
    # The other item is still listed after the hostile one (newest first).
    sent = await bertil.say(room, "!material senaste")
    answer = body(await bertil.reply_to(room, sent, bot))
    assert "1. example.org/massor" in answer and "2. example.org/forst" in answer


async def test_a_shared_document_is_searchable_right_after_the_upload(network: Any) -> None:
    net = network(participants=2)
    app = await net.start_bot()
    assert app.periodic_interval >= 60  # the periodic pass does not come within this test
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    bertil = await net.person(net.participants[0][0], room)
    cecilia = await net.person(net.participants[0][1], room)
    started = time.monotonic()
    await share_file(bertil, room, make_pdf(SENTENCE), "plan.pdf", "application/pdf")
    docx = make_docx("Dinosaurier i förskoleklassen: ett temaarbete.")
    await share_file(bertil, room, docx, "tema.docx", extract_text.DOCX)

    async def found(query: str, filename: str, within: float = 8) -> None:
        """Search until the answer lists the file (each try waits for the bot's answer)."""
        deadline = time.monotonic() + within
        answer = ""
        while time.monotonic() < deadline:
            answer = await command(cecilia, room, query, bot)
            if filename in answer:
                return
        raise AssertionError(f"{filename} not found by {query!r} in {within} s: {answer}")

    await found("!material sök bilderbocker", "plan.pdf")
    await found("!material sök dinosaurier", "tema.docx")
    assert time.monotonic() - started < 10
