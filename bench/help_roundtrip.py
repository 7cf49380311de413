"""Time from a participant sending !help to the bot's reply arriving at the participant, on a
local Synapse, against a bare matrix-nio echo client measured in the same run."""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from nio import AsyncClient, RoomMessageText, SyncResponse

from bench.stats import pct, summary
from bot.app import App
from bot.demo.homeserver import EmbeddedSynapse, RegisteredUser
from bot.demo.person import Person
from bot.session import ENV_PASSWORD
from config import load_config


class EchoBot:
    """The baseline: sees a message, sends a reply. Nothing else."""

    def __init__(self, hs: EmbeddedSynapse, user: RegisteredUser) -> None:
        self.client = AsyncClient(hs.base_url, user.user_id)
        self.client.restore_login(user.user_id, user.device_id, user.access_token)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        first = await self.client.sync(timeout=0)
        assert isinstance(first, SyncResponse)

        async def on_message(room: Any, event: RoomMessageText) -> None:
            if event.sender != self.client.user_id and event.body.startswith("echo:"):
                await self.client.room_send(
                    room.room_id,
                    "m.room.message",
                    {
                        "msgtype": "m.notice",
                        "body": "echo",
                        "m.mentions": {},
                        "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
                    },
                )

        self.client.add_event_callback(on_message, RoomMessageText)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.client.sync_forever(timeout=30_000))

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        await self.client.close()


async def _trips(person: Person, room: str, responder: str, text: str, n: int) -> list[float]:
    out: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        event_id = await person.say(room, text)
        await person.reply_to(room, event_id, responder)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def run(trips: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hs = EmbeddedSynapse(Path(tmp) / "hs")
        hs.start()
        try:
            admin = hs.register_user("admin", "pw-admin", admin=True)
            bot = hs.register_user("natverk", "pw-bot")
            echo = hs.register_user("echo", "pw-echo")
            anna = hs.register_user("anna", "pw-anna")
            for u in (bot, echo, anna):
                hs.override_ratelimit(admin.access_token, u.user_id)
            cfg_path = Path(tmp) / "natverk.yaml"
            cfg_path.write_text(
                yaml.safe_dump(
                    {
                        "homeserver": hs.base_url,
                        "bot": {"user_id": bot.user_id, "database": "natverk.db"},
                        "admins": [admin.user_id],
                        "advisers": {"room": "#adv:localhost", "members": []},
                        "cohorts": [
                            {
                                "id": "c",
                                "name": "C",
                                "room": "#c:localhost",
                                "participants": [anna.user_id, echo.user_id],
                            }
                        ],
                    }
                )
            )
            os.environ[ENV_PASSWORD] = bot.password
            app = App(load_config(cfg_path), cfg_path)
            await app.start()
            room = app.managed["cohort:c"]
            person = Person(hs.base_url, anna.user_id, anna.access_token, anna.device_id)
            echo_bot = EchoBot(hs, echo)
            await person.start()
            await person.join(room)
            echo_person = Person(hs.base_url, echo.user_id, echo.access_token, echo.device_id)
            await echo_person.start()
            await echo_person.join(room)
            await echo_person.stop()
            await echo_bot.start()
            try:
                # Warm up both, then interleave rounds so drift hits both alike.
                await _trips(person, room, echo.user_id, "echo: ping", 5)
                await _trips(person, room, bot.user_id, "!help", 5)
                base: list[float] = []
                ours: list[float] = []
                for _ in range(trips // 20):
                    base += await _trips(person, room, echo.user_id, "echo: ping", 20)
                    ours += await _trips(person, room, bot.user_id, "!help", 20)
            finally:
                await echo_bot.stop()
                await person.stop()
                await app.stop()
        finally:
            hs.stop()
    print(f"\n== !help round trip on a local Synapse ({trips} each, interleaved) ==")
    print(summary("baseline: bare nio echo client", base))
    print(summary("natverk: !help", ours))
    print(
        f"ratio natverk/baseline: median {statistics.median(ours) / statistics.median(base):.2f}"
        f"   p95 {pct(ours, 95) / pct(base, 95):.2f}"
    )


def main(trips: int = 200) -> None:
    asyncio.run(run(trips))
