"""The homeserver goes away and comes back: the bot rides it out and loses nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import yaml

from bot.app import App
from bot.demo.homeserver import EmbeddedSynapse
from bot.demo.person import Person
from bot.session import ENV_PASSWORD
from config import load_config


async def test_bot_survives_a_homeserver_restart_and_answers_what_was_said(
    tmp_path: Path,
) -> None:
    hs = EmbeddedSynapse(tmp_path / "hs")
    hs.start()
    app: App | None = None
    anna: Person | None = None
    try:
        admin = hs.register_user("hradmin", "pw-admin-1", admin=True)
        bot = hs.register_user("hrbot", "pw-bot-1")
        user = hs.register_user("hranna", "pw-anna-1")
        config_path = tmp_path / "natverk.yaml"
        config_path.write_text(
            yaml.safe_dump(
                {
                    "homeserver": hs.base_url,
                    "bot": {"user_id": bot.user_id},
                    "admins": [admin.user_id],
                    "advisers": {"room": "#hr-adv:localhost", "members": []},
                    "cohorts": [
                        {
                            "id": "hr",
                            "name": "HR",
                            "room": "#hr:localhost",
                            "participants": [user.user_id],
                        }
                    ],
                }
            ),
            "utf-8",
        )
        os.environ[ENV_PASSWORD] = bot.password
        app = App(load_config(config_path), config_path)
        await app.start()
        room = app.managed["cohort:hr"]
        anna = Person(hs.base_url, user.user_id, user.access_token, user.device_id)
        await anna.start()
        await anna.join(room)

        await asyncio.to_thread(hs.stop)
        await asyncio.sleep(2)  # the bot's sync fails meanwhile and backs off
        await asyncio.to_thread(hs.start)

        asked = await anna.say(room, "!help")
        reply = await anna.reply_to(room, asked, bot.user_id, timeout=90)
        assert "Kommandon" in reply["content"]["body"]
        assert app.client.device_id == (await app.client.whoami()).device_id
    finally:
        if anna is not None:
            await anna.stop()
        if app is not None:
            await app.stop()
        hs.stop()
