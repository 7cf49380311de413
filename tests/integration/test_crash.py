"""kill -9 of the real `natverk run` process in the middle of a stream of commands."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.demo.homeserver import terminate
from bot.demo.person import Person
from tests.integration.helpers import kill, start_natverk


def _answers(p: Person, room: str, bot: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ev in p.messages_from(room, bot):
        rel = ev["content"].get("m.relates_to") or {}
        target = (rel.get("m.in_reply_to") or {}).get("event_id")
        if target:
            counts[target] = counts.get(target, 0) + 1
    return counts


async def test_kill_9_mid_stream_then_restart_answers_each_command_exactly_once(
    network: Any,
) -> None:
    net = network(participants=1)
    bot = net.bot.user_id
    proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
    try:
        p = await net.person(net.participants[0][0])
        await p.wait_until(lambda: bool(p.invites), timeout=60)
        room = next(iter(p.invites))
        await p.join(room)
        asked = [await p.say(room, "!help") for _ in range(25)]
        await p.wait_until(lambda: len(_answers(p, room, bot)) >= 3, timeout=60)
        kill(proc)
        killed_after = len(_answers(p, room, bot))
        assert killed_after < len(asked), "the kill must land mid-stream"

        proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
        await p.wait_until(lambda: len(_answers(p, room, bot)) >= len(asked), timeout=90)
        # Give a duplicate time to show up, then count from the room's history.
        await asyncio.sleep(2)
        answers = _answers(p, room, bot)
        assert set(answers) == set(asked)
        assert all(n == 1 for n in answers.values()), answers
    finally:
        terminate(proc, grace=15)
