"""!privacy / !integritet: what is kept, the export as a file, erasure with a confirmation code
(durable over a stop), in the person's direct chat only (real dispatcher, temporary database)."""

from __future__ import annotations

import json
from typing import Any

from nio.crypto import decrypt_attachment

from bot import clock
from tests.handlers.test_questions import ask

MINUTE = 60_000


async def everything_naming(bot: Any, user: str) -> list[str]:
    """Every row of every table that holds ``user`` anywhere."""
    tables = await bot.db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    found = []
    for t in tables:
        for row in await bot.db.fetchall(f"SELECT * FROM {t['name']}"):
            if user in json.dumps([row[k] for k in row.keys()], default=str):  # noqa: SIM118
                found.append(t["name"])
    return found


async def test_what_is_kept_and_the_export_in_a_direct_chat(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    person = bot.people.participants[0][0]
    cohort, dm = bot.room("cohort:kohort0"), bot.dm(person)
    await ask(bot, "!ask Hur gör vi med scheman?")
    what = bot.reply_to(await bot.say(cohort, person, "!integritet")).body
    assert what.startswith("Det här sparar jag om dig:") and "minst 3 personer" in what
    here = bot.reply_to(await bot.say(cohort, person, "!integritet exportera")).body
    assert here.startswith("Det gör vi i en direktchatt med mig")
    await bot.say(dm, person, "!integritet exportera")
    await bot.run_after_commit()
    (file,) = [s for s in bot.sent_to(dm) if s.content.get("msgtype") == "m.file"]
    assert file.body == "mina-uppgifter.json"
    data = json.loads(bot.client.uploads[file.content["url"]][2])
    assert data["user_id"] == person and data["questions"][0]["text"] == "Hur gör vi med scheman?"
    assert [s.body for s in bot.sent_to(dm)][-1] == "Här är allt jag sparar om dig, som en fil."
    assert not [s for s in bot.sent_to(cohort) if s.content.get("msgtype") == "m.file"]


async def test_the_export_in_an_encrypted_direct_chat_is_an_encrypted_attachment(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1)
    person = bot.people.participants[0][0]
    dm = bot.dm(person)
    bot.encrypt(dm)
    await ask(bot, "!ask Hur gör vi med scheman?")
    await bot.say(dm, person, "!integritet exportera")
    await bot.run_after_commit()
    (file,) = [s for s in bot.sent_to(dm) if s.content.get("msgtype") == "m.file"]
    assert "url" not in file.content
    media = file.content["file"]
    _name, _mime, ciphertext = bot.client.uploads[media["url"]]
    assert person.encode() not in ciphertext and b"scheman" not in ciphertext
    data = json.loads(
        decrypt_attachment(ciphertext, media["key"]["k"], media["hashes"]["sha256"], media["iv"])
    )
    assert data["user_id"] == person and data["questions"][0]["text"] == "Hur gör vi med scheman?"


async def test_erase_needs_the_code_within_ten_minutes_and_leaves_nothing(make_bot: Any) -> None:
    bot = await make_bot(participants=2)
    person, other = bot.people.participants[0]
    dm = bot.dm(person)
    await ask(bot, "!ask Min fråga om Kalle")
    await ask(bot, "!ask En annan fråga", asker=other)
    assert await everything_naming(bot, person)
    with clock.frozen(1_900_000_000_000):
        asked = bot.reply_to(await bot.say(dm, person, "!integritet radera")).body
    code = asked.split("!integritet radera ")[1].split()[0]
    assert len(code) == 6
    with clock.frozen(1_900_000_000_000 + 11 * MINUTE):  # too late
        late = bot.reply_to(await bot.say(dm, person, f"!integritet radera {code}")).body
    assert late.startswith("Koden stämmer inte eller är för gammal")
    with clock.frozen(1_900_000_000_000 + 12 * MINUTE):
        fresh = bot.reply_to(await bot.say(dm, person, "!integritet radera")).body
        new = fresh.split("!integritet radera ")[1].split()[0]
        wrong = bot.reply_to(await bot.say(dm, person, "!integritet radera AAAAAA")).body
        assert wrong.startswith("Koden stämmer inte")
        await bot.say(dm, person, f"!integritet radera {new.lower()}")  # any case
    await bot.run_after_commit()
    told = [s.body for s in bot.sent_to(dm)]
    assert told[-2:] == [
        "Jag raderar allt jag sparar om dig.",
        "Klart: allt jag sparade om dig är raderat. Mina kopior av det du skrivit tas bort ur"
        " rummen.",
    ]
    assert await everything_naming(bot, person) == []
    assert await everything_naming(bot, other)  # nobody else's data goes
    assert bot.app.direct_room_of(person) is None


async def test_a_confirmed_erasure_is_done_once_after_a_stop(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    person = bot.people.participants[0][0]
    dm = bot.dm(person)
    await ask(bot, "!ask Något om mig")
    code = bot.reply_to(await bot.say(dm, person, "!privacy erase")).body.split()[-4]
    await bot.say(dm, person, f"!privacy erase {code}")
    pending, bot.after_commit = bot.after_commit, []  # stopped before the erasure ran
    assert await everything_naming(bot, person)
    await bot.periodic()  # after the restart
    await bot.periodic()
    for task in pending:
        await task()
    await bot.sender.drain()
    assert await everything_naming(bot, person) == []
    done = [s for s in bot.sent_to(dm) if s.body.startswith("Klart: allt")]
    assert len(done) == 1


async def test_retention_erases_exactly_what_is_due_and_keeps_the_counts(make_bot: Any) -> None:
    day = 24 * 60 * MINUTE
    t0 = 1_900_000_000_000
    bot = await make_bot(participants=1)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    with clock.frozen(t0):
        await ask(bot, "!ask Gammal stängd fråga om Kalle")  # 1: closed now
        await ask(bot, "!ask Gammal öppen fråga")  # 2: stays open
        await bot.say(bot.room("cohort:kohort0"), bot.people.participants[0][0], "!hjälp")
        roots = {n: next(s for s in bot.sent_to(adv) if f"#{n} ·" in s.body) for n in (1, 2)}
        await bot.say(adv, adviser, "Svar om Kalle.", thread=roots[1].event_id)
        await bot.say(adv, adviser, "!stäng", thread=roots[1].event_id)
    with clock.frozen(t0 + 300 * day):
        await ask(bot, "!ask Ny fråga")  # 3
        await bot.say(adv, adviser, "!stäng", thread=next(
            s for s in bot.sent_to(adv) if "#3 ·" in s.body).event_id)  # fmt: skip
    outbox_before = (await bot.db.fetchone("SELECT COUNT(*) AS n FROM outbox"))["n"]
    with clock.frozen(t0 + 366 * day):
        await bot.periodic()
    texts = {r["id"]: r["text"] for r in await bot.db.fetchall("SELECT id, text FROM questions")}
    assert texts == {1: "", 2: "Gammal öppen fråga", 3: "Ny fråga"}
    link = await bot.db.fetchone("SELECT text FROM question_links WHERE kind = 'answer'")
    assert link["text"] is None
    # Old sent rows nothing refers to are gone (the !hjälp answer, reactions, notices);
    # the roots and the relayed answer, which may be edited or redacted later, stay.
    kept = {r["id"] for r in await bot.db.fetchall("SELECT id FROM outbox")}
    assert len(kept) < outbox_before
    refs = await bot.db.fetchall(
        "SELECT root_outbox AS ref FROM questions UNION SELECT target_outbox FROM question_links"
    )
    assert {r["ref"] for r in refs if r["ref"] is not None} <= kept
    # What the evaluation counts stays: every question, with its times and status.
    rows = await bot.db.fetchall("SELECT status, created_at, answered_at FROM questions")
    assert [r["status"] for r in rows] == ["closed", "open", "closed"]
    assert rows[0]["answered_at"] is not None


async def test_retention_empties_old_questionnaire_drafts_only(make_bot: Any) -> None:
    from storage import retention
    from storage import surveys as survey_store

    bot = await make_bot(participants=1)
    person = bot.people.participants[0][0]
    async with bot.db.transaction() as tx:
        for opened in (1_000, 9_000):
            rnd = await survey_store.open_round(
                tx, "s", "kohort0", None, False, opened, opened + 10, None, [person]
            )
            await tx.execute(
                "UPDATE survey_invites SET draft = ? WHERE round_id = ?", ('{"a": 1}', rnd)
            )
        counts = await retention.prune(tx, questions_before=0, outbox_before=0, drafts_before=5_000)
    drafts = await bot.db.fetchall("SELECT draft FROM survey_invites ORDER BY round_id")
    assert [d["draft"] for d in drafts] == [None, '{"a": 1}']
    assert counts["survey_drafts"] == 1


async def test_retention_erases_who_answered_old_check_ins_and_keeps_how_many(
    make_bot: Any,
) -> None:
    from datetime import UTC, datetime

    from commands.evaluation import report
    from storage import privacy as privacy_store

    day = 24 * 60 * MINUTE
    t0 = 1_900_000_000_000
    schedule = {"id": "c", "cron": "0 9 1 1 *", "text": "Hur går det?"}
    bot = await make_bot(
        participants=3, change=lambda d: d["cohorts"][0].update(schedules=[schedule])
    )
    room, fac = bot.room("cohort:kohort0"), bot.people.facilitators[0]
    people = bot.people.participants[0]
    with clock.frozen(t0):
        await bot.say(room, fac, "!schema kör c")
        (root,) = [s for s in bot.sent_to(room) if s.body.startswith("Hur går det?")]
        for person in people:
            await bot.say(room, person, "Bra!", thread=root.event_id)

    async def reply_rate() -> Any:
        day0 = datetime.fromtimestamp(t0 / 1000, UTC).date()
        got = await report.figures_of(
            bot.db, bot.app.config, now_ms=t0 + 400 * day, first=day0, last=day0
        )
        return got["checkins"]["reply_rate"]

    before = await reply_rate()
    assert before is not None and before > 0
    with clock.frozen(t0 + 179 * day):
        await bot.periodic()
    assert len(await bot.db.fetchall("SELECT user_id FROM checkin_replies")) == 3  # not yet due
    with clock.frozen(t0 + 181 * day):
        await bot.periodic()
    assert await bot.db.fetchall("SELECT user_id FROM checkin_replies") == []
    run = await bot.db.fetchone("SELECT replies_kept FROM checkin_runs")
    assert run["replies_kept"] == 3
    assert await reply_rate() == before  # the report reads the kept number (and min_group)
    exported = await privacy_store.export_user(bot.db, people[0])
    assert exported["checkins_answered"] == []
