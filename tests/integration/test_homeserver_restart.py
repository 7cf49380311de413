"""The homeserver goes away and comes back: the bot rides it out and loses nothing; /health says
503 while it is gone and 200 when it is back, and /metrics counts what happened."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import aiohttp
import yaml

from bot.app import App
from bot.cli import main as natverk
from bot.demo.homeserver import EmbeddedSynapse
from bot.demo.person import Person
from bot.session import ENV_PASSWORD
from config import load_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fetch(port: int, path: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(_url(port, path)) as resp:
        return await resp.text()


async def get(port: int, path: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(_url(port, path)) as resp:
        return resp.status


def _url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


async def test_bot_survives_a_homeserver_restart_and_answers_what_was_said(
    tmp_path: Path,
) -> None:
    hs = EmbeddedSynapse(tmp_path / "hs")
    hs.start()
    port = free_port()
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
                    "metrics": {"listen": f"127.0.0.1:{port}"},
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

        assert await get(port, "/health") == 200
        asked = await anna.say(room, "!help")
        await anna.reply_to(room, asked, bot.user_id)
        assert app.metrics_server is not None
        app.metrics_server.healthy_within_s = 1  # (two minutes in production)

        await asyncio.to_thread(hs.stop)
        for _ in range(100):  # the bot's sync fails meanwhile and backs off
            if await get(port, "/health") == 503:
                break
            await asyncio.sleep(0.1)
        assert await get(port, "/health") == 503
        assert await asyncio.to_thread(natverk, ["health", str(config_path)]) == 1
        await asyncio.to_thread(hs.start)

        asked = await anna.say(room, "!help")
        reply = await anna.reply_to(room, asked, bot.user_id, timeout=90)
        assert "Kommandon" in reply["content"]["body"]
        assert app.client.device_id == (await app.client.whoami()).device_id
        app.metrics_server.healthy_within_s = 60  # a sync has just succeeded
        assert await get(port, "/health") == 200
        assert await asyncio.to_thread(natverk, ["health", str(config_path)]) == 0
        metrics = await fetch(port, "/metrics")
        assert 'natverk_commands_total{command="help",outcome="ok"} 2.0' in metrics
        assert "natverk_send_seconds_count" in metrics
        assert user.user_id not in metrics and room not in metrics and "Kommandon" not in metrics
    finally:
        if anna is not None:
            await anna.stop()
        if app is not None:
            await app.stop()
        hs.stop()
