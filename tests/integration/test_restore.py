"""`natverk restore` on a real Synapse: a backup, then people make the bot send (questions,
a claim, an answer, a private question in a new direct chat), the bot stops, the backup is
restored, and the bot starts from it: nothing it sent is sent again, and it goes on from
where it really was (answers reach the threads of questions asked after the backup)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.demo.person import Event, Person
from storage.outbox import KEY_FIELD, REDACTS_KEY_FIELD
from tests.integration.helpers import body, rel
from tests.integration.test_ask import is_root, wait_root_text

BOT_TYPES = ("m.room.message", "m.reaction", "m.room.redaction")
REMINDED = 2 * 60 * 1000  # past the service level (1m) of the questions asked


def reminders(p: Person, room: str, bot: str) -> list[Event]:
    return [e for e in p.messages_from(room, bot) if body(e).startswith("Påminnelse")]


def natverk(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `natverk` command."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
        check=False,
    )


async def bot_events(p: Person, room: str, bot: str) -> list[Event]:
    """What the bot sent to ``room``, from the server's own history."""
    return [
        e for e in await p.history(room) if e.get("sender") == bot and e.get("type") in BOT_TYPES
    ]


def threaded_to(events: list[Event], root: str) -> list[Event]:
    return [
        e for e in events if rel(e).get("rel_type") == "m.thread" and rel(e).get("event_id") == root
    ]


async def ask(p: Person, room: str, text: str, bot: str) -> tuple[str, int]:
    """A question and its number, from the bot's threaded notice."""
    q = await p.say(room, text)
    ack = await p.wait_for_event(
        room,
        lambda e: (
            e.get("sender") == bot
            and rel(e).get("event_id") == q
            and rel(e).get("rel_type") == "m.thread"
        ),
    )
    return q, int(body(ack).split("#")[1].split(" ")[0])


async def test_restore_from_an_older_backup_sends_nothing_twice_and_goes_on(
    network: Any,
) -> None:
    net = network(participants=2)
    net.data["advisers"]["reminder_after"] = "1m"
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    config = str(net.config_path)
    db_path = net.dir / "natverk.db"
    cohort, advisers = net.room("cohort:kohort0"), net.room("advisers")
    bertil = await net.person(net.participants[0][0], cohort)
    anna = await net.person(net.participants[0][1], cohort)
    adviser = await net.person(net.advisers[0], advisers)

    # Before the backup: a question the advisers have.
    _, n1 = await ask(bertil, cohort, "!fråga Före säkerhetskopian: hur gör vi?", bot)
    root1 = await adviser.wait_for_event(advisers, lambda e: is_root(e, n1, bot))
    await app.wait_idle()
    backup = net.dir / "backup.db"
    taken = natverk("backup", config, str(backup))
    assert taken.returncode == 0, taken.stderr

    # After the backup: people make the bot send.
    q2, n2 = await ask(bertil, cohort, "!fråga Efter säkerhetskopian: vad gäller?", bot)
    root2 = await adviser.wait_for_event(advisers, lambda e: is_root(e, n2, bot))
    await adviser.react(advisers, root2["event_id"], "👀")  # claimed: the root is edited
    await wait_root_text(adviser, advisers, root2["event_id"], "[TAGEN")
    answer1 = "Svar på den första frågan, efter säkerhetskopian."
    await adviser.say(advisers, answer1, thread_root=root1["event_id"])
    await bertil.wait_for_event(cohort, lambda e: e.get("sender") == bot and answer1 in body(e))
    # A detail the asker adds and takes back: the bot redacts its copy, naming its key.
    detail = await bertil.say(cohort, "En detalj som tas tillbaka", thread_root=q2)
    await adviser.wait_for_event(advisers, lambda e: "tas tillbaka" in body(e))
    await bertil.redact(cohort, detail)
    redaction = await adviser.wait_for_event(
        advisers, lambda e: e.get("sender") == bot and e.get("type") == "m.room.redaction"
    )
    assert redaction["content"][REDACTS_KEY_FIELD]  # the homeserver keeps it
    dm = await anna.open_direct_chat(bot)  # a direct chat the backup does not know
    q3, n3 = await ask(anna, dm, "!fråga En privat fråga efter säkerhetskopian", bot)
    root3 = await adviser.wait_for_event(advisers, lambda e: is_root(e, n3, bot))
    # The reminders of the open questions, as the clock passes their service level.
    await app.run_periodic(offset_ms=REMINDED)
    await adviser.wait_until(lambda: len(reminders(adviser, advisers, bot)) >= 2)
    await app.wait_idle()

    # The bot runs: the restore refuses.
    refused = natverk("restore", config, str(backup))
    assert refused.returncode == 1
    assert "is running" in refused.stderr
    await net.stop_bot()
    before = {
        room: await bot_events(p, room, bot)
        for room, p in ((cohort, bertil), (advisers, adviser), (dm, anna))
    }

    restored = natverk("restore", config, str(backup))
    assert restored.returncode == 0, restored.stderr
    kept = [p for p in net.dir.iterdir() if p.name.startswith("natverk.db.replaced-")]
    assert kept, "the replaced database is kept"
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600

    app = await net.start_bot()
    await app.run_periodic(offset_ms=REMINDED)  # due again, by the restored database
    await app.wait_idle()
    # The barrier: the bot idle, then a command after everything answered.
    sentinel = await bertil.say(cohort, "!hjälp")
    await bertil.reply_to(cohort, sentinel, bot)
    queue = await adviser.say(advisers, "!kö")
    listing = await adviser.reply_to(advisers, queue, bot)
    await app.wait_idle()

    after = {
        room: await bot_events(p, room, bot)
        for room, p in ((cohort, bertil), (advisers, adviser), (dm, anna))
    }
    commands = {cohort: [sentinel], advisers: [queue], dm: []}
    new_in: dict[str, list[Event]] = {}
    for room, events in after.items():
        seen = {b["event_id"] for b in before[room]}
        new = new_in[room] = [e for e in events if e["event_id"] not in seen]
        # Nothing new but the answers to the two commands after the restore.
        answering = [(rel(e).get("m.in_reply_to") or {}).get("event_id") for e in new]
        assert answering == commands[room], [body(e)[:60] for e in new]
        # Each with its key, once (but the copy the bot redacted: its content is gone).
        keys = [e["content"].get(KEY_FIELD) for e in events if e["content"]]
        assert all(keys) and len(set(keys)) == len(keys), keys
    cohort_events = after[cohort]
    assert len(threaded_to(cohort_events, q2)) == 1  # the notice of #n2, once
    assert (
        len([e for e in cohort_events if e["type"] == "m.reaction" and rel(e)["event_id"] == q2])
        == 1
    )
    assert len([e for e in cohort_events if answer1 in body(e)]) == 1
    roots = [e for e in after[advisers] if is_root(e, n2, bot) and e not in new_in[advisers]]
    assert len(roots) == 1
    assert len(threaded_to(after[dm], q3)) == 1
    assert len(reminders(adviser, advisers, bot)) == 2  # #n2's and #n3's, once each

    # The restored bot knows what happened since the backup: #n2 is claimed, #n1 answered,
    # #n3 waits; !kö lists each waiting question once.
    listed = body(listing)
    assert len(re.findall(rf"#{n2}\b", listed)) == 1, listed
    assert len(re.findall(rf"#{n3}\b", listed)) == 1, listed
    assert not re.search(rf"#{n1}\b", listed), listed

    # Answers after the restore reach the threads of questions asked after the backup.
    answer2 = "Svar efter återställningen."
    await adviser.say(advisers, answer2, thread_root=root2["event_id"])
    got = await bertil.wait_for_event(
        cohort, lambda e: e.get("sender") == bot and answer2 in body(e)
    )
    assert rel(got)["event_id"] == q2
    answer3 = "Privat svar efter återställningen."
    await adviser.say(advisers, answer3, thread_root=root3["event_id"])
    got = await anna.wait_for_event(dm, lambda e: e.get("sender") == bot and answer3 in body(e))
    assert rel(got)["event_id"] == q3
    await wait_root_text(adviser, advisers, root2["event_id"], "[BESVARAD]")
    # A new question gets the next number: none is given twice.
    _, n4 = await ask(bertil, cohort, "!fråga Och en ny fråga efter återställningen", bot)
    assert n4 == max(n1, n2, n3) + 1
    await app.wait_idle()
    assert Path(f"{db_path}.lock").exists()
