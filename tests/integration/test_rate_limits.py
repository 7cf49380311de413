"""Under Synapse's default rate limits the bot waits, it never drops a reply."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import App
from bot.demo.person import Person
from bot.session import ENV_PASSWORD
from config import load_config


async def start_bot(
    hs: Any, tmp_path: Path, bot: Any, admin: Any, prefix: str, cohort: dict[str, Any]
) -> App:
    """The bot on the strict Synapse, with one cohort (its room ``#<prefix>-kohort``)."""
    config_path = tmp_path / "natverk.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "homeserver": hs.base_url,
                "bot": {"user_id": bot.user_id, "database": "natverk.db"},
                "admins": [admin.user_id],
                "advisers": {"room": f"#{prefix}-adv:{hs.server_name}", "members": []},
                "cohorts": [{**cohort, "room": f"#{prefix}-kohort:{hs.server_name}"}],
            }
        ),
        "utf-8",
    )
    os.environ[ENV_PASSWORD] = bot.password
    app = App(load_config(config_path), config_path)
    await app.start()
    return app


async def test_replies_are_delayed_not_dropped_under_default_rate_limits(
    strict_synapse: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hs = strict_synapse
    admin = hs.register_user("rladmin", "pw-admin-1", admin=True)
    bot = hs.register_user("rlbot", "pw-bot-1")
    user = hs.register_user("rlanna", "pw-anna-1")
    hs.override_ratelimit(admin.access_token, user.user_id)  # only the bot is limited
    cohort = {"id": "rl", "name": "RL", "participants": [user.user_id]}
    app = await start_bot(hs, tmp_path, bot, admin, "rl", cohort)
    anna = Person(hs.base_url, user.user_id, user.access_token, user.device_id)
    try:
        await anna.start()
        room = app.managed["cohort:rl"]
        await anna.join(room)
        asked = [await anna.say(room, "!help") for _ in range(14)]

        def answered() -> list[str]:
            out = []
            for ev in anna.messages_from(room, bot.user_id):
                rel = ev["content"].get("m.relates_to") or {}
                out.append((rel.get("m.in_reply_to") or {}).get("event_id"))
            return [e for e in out if e]

        await anna.wait_until(lambda: len(answered()) >= len(asked), timeout=150)
        assert answered() == asked  # every one, once, in order
        assert any("429" in r.getMessage() for r in caplog.records), "limits were hit"
        rows = await app.db.fetchall("SELECT state FROM outbox")
        assert {r["state"] for r in rows} == {"sent"}
    finally:
        await anna.stop()
        await app.stop()


async def test_a_cohort_of_more_than_ten_gets_its_room_under_default_rate_limits(
    strict_synapse: Any, tmp_path: Path
) -> None:
    """Synapse refuses to create a room with more invites than its per-room burst (10 by
    default) unless the bot is exempted: refused, the bot invites the rest one by one."""
    hs = strict_synapse
    admin = hs.register_user("rladmin2", "pw-admin-2", admin=True)
    bot = hs.register_user("rlbot2", "pw-bot-2")
    people = [hs.register_user(f"rlmember{i}", f"pw-member-{i}") for i in range(13)]
    cohort = {
        "id": "stor",
        "name": "Stor kohort",
        "facilitators": [people[0].user_id],
        "participants": [p.user_id for p in people[1:]],
    }
    app = await start_bot(hs, tmp_path, bot, admin, "rl2", cohort)  # created, all invited
    try:
        room = app.managed["cohort:stor"]
        assert app.client is not None
        state = await app.client.room_get_state(room)
        invited = {
            ev["state_key"]
            for ev in state.events
            if ev["type"] == "m.room.member" and ev["content"].get("membership") == "invite"
        }
        assert invited == {p.user_id for p in people}
        report = await app.db.fetchone("SELECT value FROM kv WHERE key = 'rooms.last_report'")
        assert '"failures": []' in report["value"]
    finally:
        await app.stop()
