"""!integritet end to end on a real Synapse: a participant's own export as a file in their
direct chat, then erasure with the confirmation code, leaving nothing of them in the database."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.helpers import body


async def test_a_participant_exports_and_erases_their_own_data(network: Any) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort = net.room("cohort:kohort0")
    anna = await net.person(net.participants[0][0], cohort)
    await anna.say(cohort, "!fråga Hur anpassar vi för Kalle?")
    await anna.wait_for_event(cohort, lambda e: e.get("sender") == bot and "#1" in body(e))
    dm = await anna.open_direct_chat(bot)

    asked = await anna.say(dm, "!integritet exportera")
    file = await anna.wait_for_event(
        dm, lambda e: e.get("sender") == bot and e["content"].get("msgtype") == "m.file"
    )
    got = json.loads((await anna.client.download(file["content"]["url"])).body)
    assert got["user_id"] == anna.user_id
    assert got["questions"][0]["text"] == "Hur anpassar vi för Kalle?"

    asked = await anna.say(dm, "!integritet radera")
    confirm = await anna.reply_to(dm, asked, bot)
    code = body(confirm).split("!integritet radera ")[1].split()[0]
    await anna.say(dm, f"!integritet radera {code}")
    await anna.wait_for_event(dm, lambda e: body(e).startswith("Klart: allt jag sparade"))
    await app.wait_idle()
    db = app.database
    for table in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in await db.fetchall(f"SELECT * FROM {table['name']}"):
            assert anna.user_id not in json.dumps(list(row), default=str), table["name"]
