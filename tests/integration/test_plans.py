"""Action plans end to end on a real Synapse: a plan built in the cohort room, its summary
edited in place, a follow-up asked in direct chats across a kill -9 of the real `natverk run`
process, one reminder to the silent owner, the summary, the export in every format, erase."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import docx

from bot.cli import main as natverk
from bot.demo.homeserver import terminate
from bot.demo.person import Person
from tests.integration.helpers import body, kill, rel, start_natverk

STHLM = ZoneInfo("Europe/Stockholm")


def latest(p: Person, room: str, root: str) -> str:
    text = ""
    for ev in p.events.get(room, []):
        if ev.get("event_id") == root:
            text = body(ev)
        r = rel(ev)
        if r.get("rel_type") == "m.replace" and r.get("event_id") == root:
            text = str(ev["content"]["m.new_content"]["body"])
    return text


async def answer(p: Person, room: str, bot: str, text: str) -> str:
    sent = await p.say(room, text)
    return body(await p.reply_to(room, sent, bot))


async def dm_with_bot(p: Person, known: set[str]) -> str:
    await p.wait_until(lambda: bool(p.invites - known), timeout=90)
    room = next(iter(p.invites - known))
    await p.join(room)
    return room


async def test_plan_follow_up_across_kill_9_with_one_reminder_export_and_erase(
    network: Any, tmp_path: Path
) -> None:
    net = network(participants=2)
    due = datetime.now(STHLM).replace(microsecond=0) + timedelta(seconds=20)
    net.data["cohorts"][0]["schedules"] = [
        {
            "id": "uppfoljning",
            "at": due.strftime("%Y-%m-%d %H:%M:%S"),
            "text": "Uppföljning av handlingsplanerna.",
            "follow_up": "plans",
            "open_for": "1d",
            "remind_after": "1m",
        }
    ]
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    fac = await net.person(net.facilitators[0], room)
    p0, p1 = [await net.person(u, room) for u in net.participants[0]]

    # The facilitator builds the plan; a participant updates theirs and is refused another's.
    assert "#1" in await answer(fac, room, bot, f"!plan ny Införa bildstöd {p0.user_id}")
    assert "#2" in await answer(fac, room, bot, "!plan ny Samtal med vårdnadshavare")
    assert "#3" in await answer(fac, room, bot, f"!plan ny Visuellt schema {p1.user_id}")
    assert "uppdaterad" in await answer(p0, room, bot, "!plan status 1 påbörjad")
    assert "inte din" in await answer(p0, room, bot, "!plan status 2 klar")
    roots = [
        e
        for e in fac.messages_from(room, bot)
        if body(e).startswith("Handlingsplan:") and not rel(e)
    ]
    assert len(roots) == 1  # one summary message, edited in place
    await fac.wait_until(lambda: "#1 [påbörjad]" in latest(fac, room, roots[0]["event_id"]))
    shown = latest(fac, room, roots[0]["event_id"])
    assert "#2 [planerad] Samtal med vårdnadshavare" in shown and "#3 [planerad]" in shown
    await app.wait_idle()
    await net.stop_bot()

    # Their direct chat with the bot: the one it opened for the privacy notice at its start,
    # used again for the follow-up (the only invite that is not the cohort room).
    known = {p.user_id: {room} for p in (fac, p0, p1)}
    proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
    try:
        dm0 = await dm_with_bot(p0, known[p0.user_id])
        await p0.wait_for_event(
            dm0, lambda e: body(e).startswith("1/1: Införa bildstöd"), timeout=90
        )
        await p0.say(dm0, "klar, bilderna sitter uppe")
        await p0.wait_for_event(dm0, lambda e: "Tack!" in body(e))
        kill(proc)  # the bot dies; what was answered is in its database

        proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
        dm_fac = await dm_with_bot(fac, known[fac.user_id])
        await fac.wait_for_event(dm_fac, lambda e: body(e).startswith("1/1: Samtal med"))
        await fac.say(dm_fac, "2")
        await fac.wait_for_event(dm_fac, lambda e: "Tack!" in body(e))
        dm1 = await dm_with_bot(p1, known[p1.user_id])
        await p1.wait_for_event(dm1, lambda e: body(e).startswith("1/1: Visuellt schema"))
        # The silent owner is reminded a minute after the follow-up opened; then answers.
        await p1.wait_for_event(dm1, lambda e: "En påminnelse" in body(e), timeout=120)
        await p1.say(dm1, "4 vi hann inte")
        summary = await fac.wait_for_event(dm_fac, lambda e: "3 av 3 har svarat" in body(e))
        assert "klar: 1, påbörjad: 1, inte påbörjad: 0, struken: 1" in body(summary)
        # The barrier: the summary means the follow-up is closed; count what came before it.
        reminders = [e for e in p1.messages_from(dm1, bot) if "En påminnelse" in body(e)]
        assert len(reminders) == 1
        assert not [e for e in p0.messages_from(dm0, bot) if "En påminnelse" in body(e)]
        asked_p0 = [e for e in p0.messages_from(dm0, bot) if body(e).startswith("1/1:")]
        assert len(asked_p0) == 1  # not asked again after the restart
        await fac.wait_until(lambda: "#1 [klar]" in latest(fac, room, roots[0]["event_id"]))

        outputs = {}
        for fmt in ("md", "csv", "html", "docx"):
            path = tmp_path / f"planer.{fmt}"
            args = ["plans", "export", str(net.config_path), "--format", fmt, "--output", str(path)]
            assert await asyncio.to_thread(natverk, args) == 0
            outputs[fmt] = path
        md = outputs["md"].read_text("utf-8")
        assert "Införa bildstöd" in md and "bilderna sitter uppe" in md and "tillagd" in md
        rows = list(csv.reader(io.StringIO(outputs["csv"].read_text("utf-8"))))
        assert {r[2] for r in rows[1:]} == {
            "Införa bildstöd",
            "Samtal med vårdnadshavare",
            "Visuellt schema",
        }
        assert "Visuellt schema" in outputs["html"].read_text("utf-8")
        word = docx.Document(str(outputs["docx"]))
        cells = [c.text for t in word.tables for r in t.rows for c in r.cells]
        assert "Samtal med vårdnadshavare" in cells

        erase = ["user", "erase", str(net.config_path), p0.user_id, "--yes"]
        assert await asyncio.to_thread(natverk, erase) == 0
        again = tmp_path / "efter.md"
        args = ["plans", "export", str(net.config_path), "--format", "md", "--output", str(again)]
        assert await asyncio.to_thread(natverk, args) == 0
        after = again.read_text("utf-8")
        assert p0.user_id not in after and "tidigare medlem" in after and "Införa bildstöd" in after
    finally:
        terminate(proc, grace=15)
