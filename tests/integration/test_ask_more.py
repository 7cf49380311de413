"""More of the adviser bridge: close/reopen, publish, attribution by name, and privacy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.cli import main as natverk
from tests.integration.helpers import body, rel


async def cli(args: list[str]) -> int:
    """The `natverk` command, run beside the running bot (its own event loop, in a thread)."""
    return await asyncio.to_thread(natverk, args)


async def test_a_person_can_be_exported_and_erased(
    network: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    asker = net.participants[0][0]
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    p = await net.person(asker, cohort_room)
    adviser = await net.person(net.advisers[0], adv_room)
    q = await p.say(cohort_room, "!ask Min elev Kalle har svårt med övergångar.")
    root = await adviser.wait_for_event(adv_room, lambda e: "Kalle" in body(e))
    await p.say(cohort_room, "Han går i årskurs 3.", thread_root=q)
    detail = await adviser.wait_for_event(adv_room, lambda e: "årskurs 3" in body(e))
    await p.say(cohort_room, "Bra stöd om Kalle: https://example.org/overgangar #övergångar")
    await app.wait_idle()
    for _ in range(100):  # the link is indexed once the bot has synced it
        if await app.db.fetchone("SELECT 1 FROM materials WHERE url LIKE '%overgangar'"):
            break
        await asyncio.sleep(0.1)

    assert await cli(["user", "export", str(net.config_path), asker.user_id]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["questions"][0]["text"] == "Min elev Kalle har svårt med övergångar."
    assert exported["messages_relayed"][0]["kind"] == "detail"
    assert exported["materials"][0]["url"] == "https://example.org/overgangar"

    assert await cli(["user", "erase", str(net.config_path), asker.user_id]) == 1  # needs --yes
    assert await cli(["user", "erase", str(net.config_path), asker.user_id, "--yes"]) == 0
    # The running bot redacts its copies of the person's words in the advisers' room.
    app.sender.wake()
    for target in (root["event_id"], detail["event_id"]):
        await adviser.wait_for_event(
            adv_room,
            lambda e, t=target: (
                e.get("type") == "m.room.redaction"
                and (e.get("redacts") or e["content"].get("redacts")) == t
            ),
        )
    # Nothing of the person is left in the database.
    rows = []
    for table in ("questions", "question_links", "outbox", "direct_rooms", "kv", "materials"):
        rows += await app.db.fetchall(f"SELECT * FROM {table}")
    dump = "\n".join(str(tuple(row)) for row in rows)
    assert asker.user_id not in dump
    assert "Kalle" not in dump and "årskurs" not in dump
    assert rel(detail)["event_id"] == root["event_id"]


async def test_a_message_to_someone_without_a_direct_chat_survives_a_restart(
    network: Any,
) -> None:
    """Decided while the bot was up, not yet sent when it stopped: on restart the sender opens
    the person's direct chat and delivers it, once."""
    from bot import messages
    from storage import Database
    from storage import outbox as outbox_store

    net = network(participants=1)
    await net.start_bot()
    await net.stop_bot()
    anna = net.participants[0][0]
    db = await Database.open(net.dir / "natverk.db")
    try:
        async with db.transaction() as tx:
            await outbox_store.enqueue(
                tx, anna.user_id, messages.notice("Välkommen till nätverket")
            )
    finally:
        await db.close()
    app = await net.start_bot()
    p = await net.person(anna)
    cohort_room = net.room("cohort:kohort0")
    await p.wait_until(lambda: bool(p.invites - {cohort_room}), timeout=30)
    dm = next(iter(p.invites - {cohort_room}))
    await p.join(dm)
    got = await p.wait_for_event(dm, lambda e: "Välkommen" in body(e))
    assert got["sender"] == net.bot.user_id
    assert app.direct[anna.user_id] == dm
    await app.wait_idle()
    assert len([e for e in await p.history(dm) if "Välkommen" in body(e)]) == 1
