"""!privacy / !integritet: what is kept, the export as a file, erasure with a confirmation code
(durable over a stop), in the person's direct chat only (real dispatcher, temporary database)."""

from __future__ import annotations

import json
from typing import Any

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
