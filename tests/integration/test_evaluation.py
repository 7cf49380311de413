"""The pilot's evidence end to end on a real Synapse: real messages, questions answered after
known delays and a search that finds nothing; `natverk report --format json` counts them."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import clock
from bot.cli import main as natverk
from tests.integration.helpers import body, rel

HOUR = 3_600_000


async def test_report_json_counts_real_activity(
    network: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = network(participants=3)
    net.data["evaluation"] = {
        "min_group": 3,
        "criteria": [
            {
                "id": "svar",
                "name": "Svar",
                "indicator": "answered_within",
                "within": "4h",
                "at_least": "50%",
            },
        ],
    }
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    room, adv = net.room("cohort:kohort0"), net.room("advisers")
    anna, bertil, cecilia = [await net.person(u, room) for u in net.participants[0]]
    adviser = await net.person(net.advisers[0], adv)

    first = await anna.say(room, "Hur lägger ni upp första träffen?")
    await bertil.say(room, "Vi börjar med förväntningar.", thread_root=first)
    await cecilia.say(room, "Vi med, och en kort film.", thread_root=first)
    await anna.say(room, "https://www.spsm.se/npf är bra")

    roots: list[str] = []
    # Asked 10 hours ago (the bot's clock set back), answered 3 and 9 hours later.
    with clock.frozen(clock.now_ms() - 10 * HOUR):
        for person, text in (
            (anna, "Hur ofta?"),
            (bertil, "Var finns filmerna?"),
            (cecilia, "Hur länge?"),
        ):
            await person.say(room, f"!fråga {text}")
            root = await adviser.wait_for_event(
                adv, lambda e, t=text: e.get("sender") == bot and t in body(e) and not rel(e)
            )
            roots.append(root["event_id"])
        clock.advance(3 * HOUR)
        await adviser.say(adv, "Varannan vecka.", thread_root=roots[0])  # after 3 h
        await anna.wait_for_event(room, lambda e: "Varannan vecka" in body(e))
        clock.advance(6 * HOUR)
        await adviser.say(adv, "På lärplattformen.", thread_root=roots[1])  # after 9 h
        await bertil.wait_for_event(room, lambda e: "lärplattformen" in body(e))

    search = await cecilia.say(room, "!material sök bildstöd")
    await cecilia.reply_to(room, search, bot)  # the barrier: everything before it is handled
    await app.wait_idle()
    since = (date.today() - timedelta(days=2)).isoformat()

    assert (
        await asyncio.to_thread(
            natverk, ["report", str(net.config_path), "--format", "json", "--from", since]
        )
        == 0
    )
    got = json.loads(capsys.readouterr().out)
    assert got["participation"]["members"] == 4  # three participants and the facilitator
    assert got["participation"]["active"] == 3 and got["participation"]["messages"] == 4
    assert (got["exchange"]["threads"], got["exchange"]["peer_replies"]) == (1, 2)
    assert got["exchange"]["links"] == 1
    q = got["questions"]
    assert (q["asked"], q["answered"], q["backlog_at_end"]) == (3, 2, 1)
    assert q["first_response_median_hours"] == 6.0  # 3 h and 9 h
    assert q["answer_buckets"]["1-4h"] == 0.5 and q["answer_buckets"]["8-24h"] == 0.5
    assert (got["materials"]["searches"], got["materials"]["searches_without_hits"]) == (1, 1)
    assert got["materials"]["unmet_words"] == [{"word": "bildstod", "count": 1}]
    assert got["criteria"] == [
        {
            "id": "svar",
            "name": "Svar",
            "indicator": "answered_within",
            "value": round(1 / 3, 4),
            "direction": "at_least",
            "threshold": 0.5,
            "met": False,
            "trend": None,
        }
    ]
    text = json.dumps(got)
    assert "@" not in text and "förväntningar" not in text  # no person, no message text

    html = tmp_path / "rapport.html"
    args = ["report", str(net.config_path), "--format", "html", "--output", str(html)]
    assert await asyncio.to_thread(natverk, args) == 0
    assert "Stöd från rådgivarna" in html.read_text("utf-8")

    # The same evidence in chat: an adviser's !rapport in the advisers' room is answered there
    # with the criteria table (a notice, as a reply) and the answer-time chart as an image.
    asked = await adviser.say(adv, "!rapport")
    answer = await adviser.wait_for_event(
        adv, lambda e: e.get("sender") == bot and body(e).startswith("Utvärdering")
    )
    assert answer["content"]["msgtype"] == "m.notice"
    assert rel(answer)["m.in_reply_to"]["event_id"] == asked
    assert "Svar · " in body(answer) and "<table>" in answer["content"]["formatted_body"]
    chart = await adviser.wait_for_event(
        adv, lambda e: e.get("sender") == bot and e["content"].get("msgtype") == "m.image"
    )
    assert chart["content"]["url"].startswith("mxc://")
    assert chart["content"]["info"]["mimetype"] == "image/png"
    assert "@" not in body(answer)
