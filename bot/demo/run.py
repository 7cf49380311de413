"""``natverk demo``: an embedded Synapse, a demo network, the bot, and (optionally) a short
scripted conversation that prints what each person sees."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bot.demo.homeserver import EmbeddedSynapse, RegisteredUser
from bot.demo.person import Event, Person
from bot.session import ENV_PASSWORD
from config import Config, load_config

log = logging.getLogger(__name__)


def _demo_yaml() -> dict[str, Any]:
    text = resources.files("config").joinpath("demo.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def write_demo_config(data_dir: Path, homeserver: str) -> Path:
    data = _demo_yaml()
    data["homeserver"] = homeserver
    path = data_dir / "natverk-demo.yaml"
    header = "# Written by `natverk demo` from config/demo.yaml; edit and send !reload.\n"
    path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def demo_people(config: Config) -> list[tuple[str, str]]:
    """(user id, role description) for every person in the demo network, admins first."""
    people: list[tuple[str, str]] = [(a, "admin") for a in config.admins]
    people += [(a, "adviser") for a in sorted(config.all_advisers())]
    for cohort in config.cohorts:
        people += [(f, f"facilitator, {cohort.name}") for f in cohort.facilitators]
        people += [(p, f"participant, {cohort.name}") for p in cohort.participants]
    return people


def register_all(hs: EmbeddedSynapse, config: Config, data_dir: Path) -> dict[str, RegisteredUser]:
    """Register the bot and everyone once; passwords are kept in the data dir for re-runs."""
    secrets_file = data_dir / "passwords.json"
    stored: dict[str, str] = (
        json.loads(secrets_file.read_text("utf-8")) if secrets_file.exists() else {}
    )
    users: dict[str, RegisteredUser] = {}
    wanted = [(config.bot.user_id, "bot"), *demo_people(config)]
    for user_id, role in wanted:
        localpart = user_id[1:].partition(":")[0]
        if user_id in stored:
            users[user_id] = hs.login(localpart, stored[user_id])
            continue
        password = secrets.token_urlsafe(9)
        users[user_id] = hs.register_user(localpart, password, admin=role == "admin")
        stored[user_id] = password
        if role != "bot":
            hs.request(
                "PUT",
                f"/_matrix/client/v3/profile/{user_id}/displayname",
                users[user_id].access_token,
                {"displayname": localpart.capitalize()},
            )
    secrets_file.write_text(json.dumps(stored, indent=2), "utf-8")
    os.chmod(secrets_file, 0o600)
    admin = users[config.admins[0]]
    for user in users.values():
        hs.override_ratelimit(admin.access_token, user.user_id)
    return users


def _show(person: str, ev: Event) -> str:
    body = str((ev.get("content") or {}).get("body", ""))
    who = str(ev.get("sender", "?"))
    return f"  [{person} sees] {who}: " + body.replace("\n", "\n" + " " * 8)


async def play_script(
    app: Any, config: Config, users: dict[str, RegisteredUser], hs_url: str
) -> None:
    """A short conversation: a participant asks for help in a cohort room, an adviser claims
    and answers in the advisers' thread, and the answer reaches the cohort."""
    cohort = config.cohorts[0]
    room_id = app.managed[f"cohort:{cohort.id}"]
    adv_room = app.managed["advisers"]
    bot = config.bot.user_id
    asker = users[cohort.participants[0]]
    colleague = users[cohort.participants[1]]
    adviser_user = users[config.advisers.members[0]]
    clients = {
        u.user_id: Person(hs_url, u.user_id, u.access_token, u.device_id)
        for u in (asker, colleague, adviser_user)
    }
    p, c, a = (clients[u.user_id] for u in (asker, colleague, adviser_user))
    try:
        for person, room in ((p, room_id), (c, room_id), (a, adv_room)):
            await person.start()
            await person.join(room)

        def says(person: Person, text: str) -> None:
            print(f"  {person.localpart} writes: {text}")

        print(f"\n== {cohort.name} ({cohort.room}) ==")
        says(p, "!hjälp")
        reply = await p.reply_to(room_id, await p.say(room_id, "!hjälp"), bot)
        print(_show(p.localpart, reply))

        question = "!fråga Hur kan jag stötta en elev med ADHD under genomgångar?"
        says(p, question)
        q_id = await p.say(room_id, question)
        ack = await p.wait_for_event(room_id, lambda e: _in_thread(e, q_id) and _from(e, bot))
        print(_show(p.localpart, ack))

        print(f"\n== {config.advisers.name} ({config.advisers.room}) ==")
        root = await a.wait_for_event(adv_room, lambda e: _from(e, bot) and "ADHD" in _body(e))
        print(_show(a.localpart, root))
        print(f"  {a.localpart} reacts 👀 on the question (claims it)")
        await a.react(adv_room, root["event_id"], "👀")
        edit = await a.wait_for_event(adv_room, lambda e: _edits(e, root["event_id"]))
        print(_show(a.localpart, {**edit, "content": edit["content"]["m.new_content"]}))
        note = "!note Kolla om skolan har en specialpedagog."
        says(a, note + "   (in the thread; stays internal)")
        await a.say(adv_room, note, thread_root=root["event_id"])
        answer = "Dela upp genomgången i korta steg och skriv stegen på tavlan."
        says(a, answer + "   (in the thread)")
        await a.say(adv_room, answer, thread_root=root["event_id"])

        print(f"\n== {cohort.name} ==")
        for person in (p, c):
            got = await person.wait_for_event(room_id, lambda e: answer in _body(e))
            print(_show(person.localpart, got))
        says(p, "!mina")
        reply = await p.reply_to(room_id, await p.say(room_id, "!mina"), bot)
        print(_show(p.localpart, reply))
        leaked = [e for e in p.events[room_id] if "specialpedagog" in _body(e)]
        print(f"\n  (the internal note reached the cohort: {'YES' if leaked else 'no'})")
    finally:
        for person in clients.values():
            await person.stop()


def _body(ev: Event) -> str:
    return str((ev.get("content") or {}).get("body", ""))


def _from(ev: Event, sender: str) -> bool:
    return ev.get("sender") == sender


def _relates(ev: Event) -> dict[str, Any]:
    rel = (ev.get("content") or {}).get("m.relates_to")
    return rel if isinstance(rel, dict) else {}


def _in_thread(ev: Event, root: str) -> bool:
    return _relates(ev).get("rel_type") == "m.thread" and _relates(ev).get("event_id") == root


def _edits(ev: Event, original: str) -> bool:
    rel = _relates(ev)
    return rel.get("rel_type") == "m.replace" and rel.get("event_id") == original


def print_instructions(hs: EmbeddedSynapse, config: Config, data_dir: Path) -> None:
    stored = json.loads((data_dir / "passwords.json").read_text("utf-8"))
    print("\nnatverk demo is running.")
    print(f"  Homeserver: {hs.base_url}  (server name {hs.server_name})")
    print("  Log in with Element Web/Desktop or any Matrix client: choose 'Edit' homeserver,")
    print(f"  enter {hs.base_url}, then one of these users:")
    for user_id, role in demo_people(config):
        print(f"    {user_id:<28} {stored[user_id]:<16} {role}")
    for cohort in config.cohorts:
        print(f"  Cohort room {cohort.room}: {cohort.name} (accept the invitation)")
    print(f"  Adviser room {config.advisers.room}")
    print("  Write !help (or !hjälp) in a room. Stop with Ctrl-C.\n")


async def _demo(data_dir: Path, script: bool, port: int | None) -> int:
    from bot.app import App

    hs = EmbeddedSynapse(data_dir / "synapse", port=port)
    hs.start()
    try:
        config_path = write_demo_config(data_dir, hs.base_url)
        config = load_config(config_path)
        users = register_all(hs, config, data_dir)
        stored = json.loads((data_dir / "passwords.json").read_text("utf-8"))
        os.environ[ENV_PASSWORD] = stored[config.bot.user_id]
        app = App(config, config_path)
        await app.start()
        try:
            if script:
                await play_script(app, config, users, hs.base_url)
                return 0
            print_instructions(hs, config, data_dir)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            return 0
        finally:
            await app.stop()
    finally:
        hs.stop()


def run_demo(data_dir: Path, *, script: bool = False, port: int | None = None) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_demo(data_dir, script, port))
    return 0
