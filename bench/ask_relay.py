"""The adviser bridge's two relays on a local Synapse, against a bare matrix-nio forwarder
measured in the same run:

- ask -> root: a participant sends ``!ask <text>`` in a cohort room until the bot's thread
  root for it is visible to an adviser's client in the adviser room;
- answer -> asker: the adviser answers in that root's thread until the relayed answer is
  visible to the asker's client in the cohort room.

The bot runs as deployed, as its own ``natverk run`` process; the baseline forwarder
(``bench.forwarder``) runs in a process of its own too, and is timed over the same two paths in
two rooms of its own, with the same stimulus: the adviser answers in the thread of what they
were shown (the bot's root, or the forwarded question). Only the people's clients run in this
process, so their work does not
queue on the event loop of the system under test. Between steps both systems are left to
settle (everything sent and seen, then a short pause for their own echoes) outside the timed
part, so each figure is one relay and not the tail of the previous step's traffic.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from nio import AsyncClient, RoomCreateResponse, RoomResolveAliasResponse

from bench.forwarder import MARKER
from bench.stats import pct, summary
from bot.demo.homeserver import EmbeddedSynapse, RegisteredUser, terminate
from bot.demo.person import Event, Person
from bot.session import ENV_PASSWORD

WARMUP = 5
SETTLE_TIMEOUT = 30.0
SETTLE_PAUSE = 0.05  # after the last relayed event is seen: time for the relay's own echoes
POLL = 0.01
ROOT = Path(__file__).resolve().parent.parent


async def _poll(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("did not settle")
        await asyncio.sleep(POLL)


def _has_id(event_id: str) -> Callable[[Event], bool]:
    return lambda ev: ev.get("event_id") == event_id


async def settle_bot(db_path: Path, watchers: dict[str, Person]) -> None:
    """Until the bot's outbox has nothing pending and the people in each room have seen the
    last events it sent there; then the same pause as the forwarder gets."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:

        def drained() -> bool:
            row = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()
            return int(row[0]) == 0

        await _poll(drained)
        rows = db.execute(
            "SELECT room_id, event_id FROM outbox WHERE state = 'sent' AND event_id IS NOT NULL"
            " ORDER BY id DESC LIMIT 10"
        ).fetchall()
    for room_id, event_id in rows:
        person = watchers.get(str(room_id))
        if person is not None:
            await person.wait_for_event(str(room_id), _has_id(str(event_id)))
    await asyncio.sleep(SETTLE_PAUSE)


async def settle_forwarder() -> None:
    """The forwarded event was seen by the timed step itself; the same pause as the bot's."""
    await asyncio.sleep(SETTLE_PAUSE)


@dataclass
class Side:
    """One system under test: where the asker and the adviser talk to it."""

    asker_room: str
    adviser_room: str
    relay_user: str
    settle: Callable[[], Awaitable[None]]
    ask_prefix: str
    answer_prefix: str
    to_root: list[float] = field(default_factory=list)
    to_asker: list[float] = field(default_factory=list)


def _token() -> str:
    return uuid.uuid4().hex[:12]


async def _await_message(
    person: Person,
    room: str,
    sender: str,
    token: str,
    after: int,
    root_only: bool = False,
) -> Event:
    def match(ev: Event) -> bool:
        content = ev.get("content") or {}
        return (
            ev.get("sender") == sender
            and ev.get("type") == "m.room.message"
            and token in str(content.get("body", ""))
            and not (root_only and "m.new_content" in content)
        )

    return await person.wait_for_event(room, match, after=after)


async def one_question(side: Side, asker: Person, adviser: Person, record: bool) -> None:
    q = _token()
    seen = len(adviser.events.get(side.adviser_room, []))
    start = time.perf_counter()
    await asker.say(side.asker_room, f"{side.ask_prefix}Hur bokar jag lokalen? q-{q}")
    root = await _await_message(
        adviser, side.adviser_room, side.relay_user, f"q-{q}", seen, root_only=True
    )
    to_root = (time.perf_counter() - start) * 1000
    await side.settle()

    a = _token()
    seen = len(asker.events.get(side.asker_room, []))
    start = time.perf_counter()
    await adviser.say(
        side.adviser_room,
        f"{side.answer_prefix}Boka via kalendern. a-{a}",
        thread_root=str(root["event_id"]),
    )
    await _await_message(asker, side.asker_room, side.relay_user, f"a-{a}", seen)
    to_asker = (time.perf_counter() - start) * 1000
    await side.settle()
    if record:
        side.to_root.append(to_root)
        side.to_asker.append(to_asker)


async def questions_on(side: Side, asker: Person, adviser: Person, n: int, record: bool) -> None:
    for _ in range(n):
        await one_question(side, asker, adviser, record)


ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


async def _create_pair(
    hs: EmbeddedSynapse, fwd: RegisteredUser, left: str, right: str, encrypted: bool = False
) -> list[str]:
    """Two rooms of the forwarder's, one with each member invited (encrypted if asked)."""
    client = AsyncClient(hs.base_url, fwd.user_id)
    client.restore_login(fwd.user_id, fwd.device_id, fwd.access_token)
    try:
        rooms = []
        for member in (left, right):
            resp = await client.room_create(
                invite=[member], initial_state=[ENCRYPTION_STATE] if encrypted else ()
            )
            if not isinstance(resp, RoomCreateResponse):
                raise RuntimeError(f"forwarder cannot create a room: {resp}")
            rooms.append(str(resp.room_id))
        return rooms
    finally:
        await client.close()


def _start_forwarder(
    hs: EmbeddedSynapse, fwd: RegisteredUser, pairs: dict[str, str], store: Path | None = None
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.forwarder", json.dumps(pairs)],
        cwd=ROOT,
        env={
            **os.environ,
            "FWD_HOMESERVER": hs.base_url,
            "FWD_USER": fwd.user_id,
            "FWD_DEVICE": fwd.device_id,
            "FWD_TOKEN": fwd.access_token,
            **({"FWD_STORE": str(store)} if store is not None else {}),
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the forwarder did not start")
    return proc


def _start_bot(config: Path, password: str, log: Path) -> subprocess.Popen[bytes]:
    """The real ``natverk run``, as deployed."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", str(config)],
        cwd=ROOT,
        env={**os.environ, ENV_PASSWORD: password},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


async def _resolve(person: Person, alias: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        resp = await person.client.room_resolve_alias(alias)
        if isinstance(resp, RoomResolveAliasResponse):
            return str(resp.room_id)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bot did not create {alias}")
        await asyncio.sleep(0.2)


async def run(questions: int, encrypted: bool = False) -> tuple[Side, Side]:
    with tempfile.TemporaryDirectory() as tmp:
        hs = EmbeddedSynapse(Path(tmp) / "hs")
        hs.start()
        procs: list[subprocess.Popen[str] | subprocess.Popen[bytes]] = []
        try:
            admin = hs.register_user("admin", "pw-admin", admin=True)
            bot = hs.register_user("natverk", "pw-bot")
            fwd = hs.register_user("forwarder", "pw-fwd")
            anna = hs.register_user("anna", "pw-anna")
            bert = hs.register_user("bert", "pw-bert")
            for u in (bot, fwd, anna, bert):
                hs.override_ratelimit(admin.access_token, u.user_id)
            db_path = Path(tmp) / "natverk.db"
            cfg_path = Path(tmp) / "natverk.yaml"
            cfg_path.write_text(
                yaml.safe_dump(
                    {
                        "homeserver": hs.base_url,
                        "bot": {"user_id": bot.user_id, "database": str(db_path), "language": "sv"},
                        "admins": [admin.user_id],
                        "advisers": {
                            "room": "#adv:localhost",
                            "members": [bert.user_id],
                            "encryption": encrypted,
                        },
                        "cohorts": [
                            {
                                "id": "c",
                                "name": "C",
                                "room": "#c:localhost",
                                "participants": [anna.user_id],
                                "encryption": encrypted,
                            }
                        ],
                    }
                )
            )
            procs.append(_start_bot(cfg_path, bot.password, Path(tmp) / "bot.log"))
            stores = {u: Path(tmp) / f"store-{u}" for u in ("anna", "bert", "fwd")}
            for folder in stores.values():
                folder.mkdir()

            def store(name: str) -> str | None:
                return str(stores[name]) if encrypted else None

            asker = Person(
                hs.base_url, anna.user_id, anna.access_token, anna.device_id, store("anna")
            )
            adviser = Person(
                hs.base_url, bert.user_id, bert.access_token, bert.device_id, store("bert")
            )
            try:
                await asker.start()
                await adviser.start()
                cohort_room = await _resolve(asker, "#c:localhost")
                adviser_room = await _resolve(adviser, "#adv:localhost")
                await asker.join(cohort_room)
                await adviser.join(adviser_room)
                base_cohort, base_advisers = await _create_pair(
                    hs, fwd, anna.user_id, bert.user_id, encrypted
                )
                await asker.join(base_cohort)
                await adviser.join(base_advisers)
                procs.append(
                    _start_forwarder(
                        hs,
                        fwd,
                        {base_cohort: base_advisers, base_advisers: base_cohort},
                        stores["fwd"] if encrypted else None,
                    )
                )
                watchers = {cohort_room: asker, adviser_room: adviser}

                async def settle_natverk() -> None:
                    await settle_bot(db_path, watchers)

                base = Side(
                    asker_room=base_cohort,
                    adviser_room=base_advisers,
                    relay_user=fwd.user_id,
                    settle=settle_forwarder,
                    ask_prefix=MARKER,
                    answer_prefix=MARKER,
                )
                ours = Side(
                    asker_room=cohort_room,
                    adviser_room=adviser_room,
                    relay_user=bot.user_id,
                    settle=settle_natverk,
                    ask_prefix="!ask ",
                    answer_prefix="",
                )
                await settle_natverk()
                # Warm up both, then alternate question by question (and which goes first),
                # so the machine's drift hits both alike.
                await questions_on(base, asker, adviser, WARMUP, record=False)
                await questions_on(ours, asker, adviser, WARMUP, record=False)
                for i in range(questions):
                    for side in (base, ours) if i % 2 == 0 else (ours, base):
                        await one_question(side, asker, adviser, record=True)
            finally:
                await asker.stop()
                await adviser.stop()
        finally:
            for proc in reversed(procs):
                terminate(proc)
            hs.stop()
    return base, ours


def _ratios(ours: list[float], base: list[float]) -> tuple[float, float]:
    return statistics.median(ours) / statistics.median(base), pct(ours, 95) / pct(base, 95)


def report(base: Side, ours: Side, target: float = 1.10, encrypted: bool = False) -> None:
    n = len(ours.to_root)
    where = "encrypted rooms, " if encrypted else ""
    print(f"\n== !ask relay on a local Synapse ({where}{n} questions each, alternating) ==")
    verdicts: list[tuple[str, float, float]] = []
    for title, b, o in (
        (
            "ask -> root (participant's !ask until the adviser sees the root)",
            base.to_root,
            ours.to_root,
        ),
        (
            "answer -> asker (adviser's thread reply until the asker sees it)",
            base.to_asker,
            ours.to_asker,
        ),
    ):
        median, p95 = _ratios(o, b)
        print(title)
        print(summary("  baseline: bare nio forwarder", b))
        print(summary("  natverk", o))
        print(f"  ratio natverk/baseline: median {median:.2f}   p95 {p95:.2f}")
        verdicts.append((title.split(" (")[0], median, p95))
    print(f"target: within 10% of the bare forwarder (ratio <= {target:.2f})")
    for name, median, p95 in verdicts:
        met = "met" if median <= target and p95 <= target else "NOT met"
        print(f"  {name:<16} median {median:.2f}   p95 {p95:.2f}   {met}")
    overall = all(m <= target and p <= target for _, m, p in verdicts)
    print(f"  overall: {'met' if overall else 'NOT met'}")


def main(questions: int = 200, encrypted: bool = False) -> None:
    base, ours = asyncio.run(run(questions, encrypted))
    report(base, ours, encrypted=encrypted)
