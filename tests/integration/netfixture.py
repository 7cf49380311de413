"""A small test network on the session's Synapse: users, a YAML file, the bot, people."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.app import App
from bot.demo.homeserver import EmbeddedSynapse, RegisteredUser
from bot.demo.person import Person
from bot.registry import REGISTRY, Registry
from bot.session import ENV_PASSWORD
from config import load_config
from tests.network import network_data

_counter = itertools.count(1)


@dataclass
class Network:
    hs: EmbeddedSynapse
    dir: Path
    prefix: str
    bot: RegisteredUser
    admin: RegisteredUser
    advisers: list[RegisteredUser]
    facilitators: list[RegisteredUser]
    participants: list[list[RegisteredUser]]  # per cohort
    data: dict[str, Any]
    app: App | None = None
    people: dict[str, Person] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.dir / "natverk.yaml"

    def write(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.data, allow_unicode=True), "utf-8")

    def alias(self, name: str) -> str:
        return f"#{self.prefix}-{name}:{self.hs.server_name}"

    async def start_bot(self, registry: Registry = REGISTRY) -> App:
        os.environ[ENV_PASSWORD] = self.bot.password
        app = App(load_config(self.config_path), self.config_path, registry)
        await app.start()
        self.app = app
        return app

    async def stop_bot(self) -> None:
        if self.app is not None:
            await self.app.stop()
            self.app = None

    def room(self, key: str) -> str:
        assert self.app is not None
        return self.app.managed[key]

    async def person(
        self,
        user: RegisteredUser,
        *room_ids: str,
        encrypted: bool = False,
        exclude_insecure: bool = False,
    ) -> Person:
        """A started client for ``user`` that has joined the given rooms (with end-to-end
        encryption, a crypto store of its own and cross-signing set up if ``encrypted``, as an
        Element user; sharing room keys only with devices cross-signed by their owner if
        ``exclude_insecure``)."""
        if user.user_id not in self.people:
            store = None
            if encrypted:
                store_dir = self.dir / "people" / user.localpart
                store_dir.mkdir(parents=True, exist_ok=True)
                store = str(store_dir)
            p = Person(
                self.hs.base_url,
                user.user_id,
                user.access_token,
                user.device_id,
                store,
                password=user.password,
                exclude_insecure=exclude_insecure,
            )
            await p.start()
            self.people[user.user_id] = p
        p = self.people[user.user_id]
        for room_id in room_ids:
            if room_id not in p.events:
                await p.join(room_id)
        return p

    async def close(self) -> None:
        for p in self.people.values():
            await p.stop()
        await self.stop_bot()


def build_network(
    hs: EmbeddedSynapse,
    make_user: Any,
    tmp_path: Path,
    *,
    cohorts: int = 1,
    participants: int = 2,
    advisers: int = 1,
) -> Network:
    n = next(_counter)
    prefix = f"t{n}{os.getpid() % 1000}"
    bot = make_user("bot")
    admin = make_user("admin")
    advs = [make_user("adviser") for _ in range(advisers)]
    facs = [make_user("facilitator") for _ in range(cohorts)]
    parts = [[make_user("participant") for _ in range(participants)] for _ in range(cohorts)]
    data = network_data(
        homeserver=hs.base_url,
        server_name=hs.server_name,
        prefix=prefix,
        bot=bot.user_id,
        admin=admin.user_id,
        advisers=[a.user_id for a in advs],
        facilitators=[f.user_id for f in facs],
        participants=[[p.user_id for p in ps] for ps in parts],
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    net = Network(hs, tmp_path, prefix, bot, admin, advs, facs, parts, data)
    net.write()
    return net
