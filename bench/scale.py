"""natverk at scale on a local Synapse: a network of 200 cohorts and 4,000 people (``--quick``:
10 cohorts, 200 people), against a bare matrix-nio script (``bench.scale_baseline``, its own
process and its own account) measured in the same run.

1. First start. From launching ``natverk run`` (a generated configuration, a fresh database)
   until its ``/health`` answers 200: the bot serves it only after its start-up reconciliation
   has created every room (each cohort's and the advisers', with their invites and power
   levels) and the admins' direct chats. Afterwards, untimed, the admin API confirms that every
   room exists with every member invited. Baseline: the bare script creating the same number of
   rooms with the same presets, power levels, aliases (prefixed ``b-``) and invites, with the
   calls natverk makes for a new room, from launch until it has made them all. It runs once
   before the bot and once after it (aliases ``a-``, another account), and the bot is compared
   with the mean of the two: whatever drifts over the run (the homeserver's database grows, its
   caches warm up) then weighs on both sides alike.
2. Restart. SIGTERM, then ``natverk run`` again until ``/health`` answers 200: it has logged in
   with its stored device, done its full-state sync and reconciled with nothing to do.
   Baseline: the bare script's full-state sync from its own token (what any bot that keeps
   room state in memory does at a restart).
3. Memory: the resident set (VmRSS) of the bot's process after the restart, against the bare
   script's after its full-state sync (both then hold every room's state in nio).
4. Catch-up. Two members of each cohort join its room, then the bot is stopped and members
   post 10,000 messages (``--quick``: 1,000) across the cohort rooms, one in 30 an ``!ask``
   (which the bot answers in the room, reacts to and relays to the advisers' room). The rooms
   are busy unevenly (room k gets a share proportional to 1/(k+5)), so the busiest rooms'
   timelines come back ``limited`` and are back-filled. This is the traffic of a long outage
   at a busy hour; it is posted as fast as the homeserver takes it (eight requests at a time),
   since timestamps cannot be set back. Then the bot starts again; timed until every posted
   event is recorded as handled in its database (each event's effects commit with that row),
   and until its outbox is empty too (every answer handed to the homeserver). Baseline: a bare
   nio client on the bot's account (a device of its own) syncing from the bot's stored token
   with the bot's filter, back-filling limited rooms, until it has received every posted event.
   Synapse is restarted before each of the two, so neither reads from the other's warm caches.

The people's requests (registration, joins, posting) come from this process over aiohttp;
everything goes to the loopback Synapse only, whose data directory is on tmpfs where there is
one (see SHM), with every rate limit raised and the bot, the baselines and the posting members
exempted, as the README tells operators to exempt the bot. Before anything is timed, the admin
creates a few rooms with invites, to warm Synapse up. Figures are printed, not asserted; the run
fails only if something is missing (a room, an invite, an event not handled).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import yaml

from bot.app import SYNC_FILTER
from bot.demo.homeserver import EmbeddedSynapse, free_port, registration, terminate
from bot.rooms import INVITER, MODERATOR, initial_state, wanted_rooms
from bot.session import ENV_PASSWORD
from config import load_config

ROOT = Path(__file__).resolve().parent.parent
SERVER = "localhost"
POLL = 0.05
CONCURRENCY = 8  # requests at a time from the people's side
STEP_TIMEOUT = 900.0  # seconds; the longest step of the full run took about 160
# Synapse's data directory in memory where there is a tmpfs: it persists every event with an
# fsync'd SQLite commit, and on a disk the posting of the backlog alone took minutes. The bot's
# database stays on disk, as deployed.
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
WARMUP_ROOMS = 3  # created by the admin before anything is timed


@dataclass(frozen=True)
class Size:
    cohorts: int
    per_cohort: int  # 2 facilitators, the rest participants
    advisers: int
    messages: int
    ask_every: int = 30
    senders_per_cohort: int = 2


QUICK = Size(cohorts=10, per_cohort=20, advisers=5, messages=1_000)
FULL = Size(cohorts=200, per_cohort=20, advisers=20, messages=10_000)


def _log(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _user(localpart: str) -> str:
    return f"@{localpart}:{SERVER}"


# --- the people's side: plain HTTP, a few requests at a time ------------------------------------


class Http:
    def __init__(self, base_url: str, concurrency: int = CONCURRENCY) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        self.limit = asyncio.Semaphore(concurrency)

    async def close(self) -> None:
        await self.session.close()

    async def request(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.limit:
            for _ in range(20):
                async with self.session.request(
                    method, self.base_url + path, json=body, headers=headers
                ) as resp:
                    data: dict[str, Any] = await resp.json(content_type=None)
                    if resp.status == 429:
                        await asyncio.sleep(int(data.get("retry_after_ms", 200)) / 1000)
                        continue
                    if resp.status >= 300:
                        raise RuntimeError(f"{method} {path} -> {resp.status}: {data}")
                    return data
        raise RuntimeError(f"{method} {path}: rate-limited 20 times")


async def register(http: Http, secret: str, localpart: str, admin: bool = False) -> dict[str, str]:
    """The shared-secret admin API (EmbeddedSynapse.register_user), without blocking the loop."""
    password = f"pw-{localpart}"
    nonce = str((await http.request("GET", "/_synapse/admin/v1/register"))["nonce"])
    body = registration(secret, nonce, localpart, password, admin)
    resp = await http.request("POST", "/_synapse/admin/v1/register", body=body)
    return {
        "user_id": str(resp["user_id"]),
        "token": str(resp["access_token"]),
        "device": str(resp["device_id"]),
        "password": password,
    }


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


async def exempt(http: Http, admin_token: str, user_id: str) -> None:
    await http.request(
        "POST",
        f"/_synapse/admin/v1/users/{_quote(user_id)}/override_ratelimit",
        admin_token,
        {"messages_per_second": 0, "burst_count": 0},
    )


async def resolve(http: Http, token: str, alias: str) -> str:
    data = await http.request("GET", f"/_matrix/client/v3/directory/room/{_quote(alias)}", token)
    return str(data["room_id"])


async def members_of(http: Http, admin_token: str, room_id: str) -> dict[str, str]:
    data = await http.request(
        "GET", f"/_synapse/admin/v1/rooms/{_quote(room_id)}/state", admin_token
    )
    return {
        str(ev["state_key"]): str(ev["content"].get("membership"))
        for ev in data["state"]
        if ev["type"] == "m.room.member"
    }


# --- the network ----------------------------------------------------------------------------


@dataclass
class Network:
    cohorts: list[list[str]]  # localparts per cohort, the first two facilitators
    advisers: list[str]

    @classmethod
    def make(cls, size: Size) -> Network:
        cohorts = [
            [f"p{c:03d}{k:02d}" for k in range(size.per_cohort)] for c in range(size.cohorts)
        ]
        return cls(cohorts, [f"adv{a:02d}" for a in range(size.advisers)])

    def people(self) -> list[str]:
        return [p for cohort in self.cohorts for p in cohort] + self.advisers

    def config(self, homeserver: str, db: Path, metrics_port: int) -> dict[str, Any]:
        return {
            "homeserver": homeserver,
            "bot": {"user_id": _user("natverk"), "database": str(db), "language": "sv"},
            "admins": [_user("admin")],
            "advisers": {
                "room": f"#advisers:{SERVER}",
                "members": [_user(a) for a in self.advisers],
            },
            "cohorts": [
                {
                    "id": f"c{c:03d}",
                    "name": f"Kohort {c}",
                    "room": f"#c{c:03d}:{SERVER}",
                    "facilitators": [_user(p) for p in people[:2]],
                    "participants": [_user(p) for p in people[2:]],
                }
                for c, people in enumerate(self.cohorts)
            ],
            "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        }


def baseline_spec(config_path: Path) -> dict[str, Any]:
    """The bot's own rooms (``bot.rooms.wanted_rooms``) as the bare script creates them."""
    config = load_config(config_path)
    rooms = []
    for wanted in wanted_rooms(config):
        power = dict.fromkeys(sorted(wanted.moderators), MODERATOR)
        if wanted.restricted:
            power.update(dict.fromkeys(sorted(wanted.admins), INVITER))
        rooms.append(
            {
                "alias": "b-" + wanted.target[1:].partition(":")[0],
                "name": wanted.name,
                "invite": sorted(wanted.members),
                "power_level_override": {"invite": INVITER} if wanted.restricted else None,
                "power": power,
                "initial_state": initial_state(wanted),
            }
        )
    return {
        "rooms": rooms,
        "direct": list(config.admins),
        "display_name": config.bot.display_name,
    }


# --- the processes under test -----------------------------------------------------------------


def start_bot(config: Path, password: str, log: Path) -> subprocess.Popen[bytes]:
    """The real ``natverk run``, as deployed."""
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", str(config)],
            cwd=ROOT,
            env={**os.environ, ENV_PASSWORD: password},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def start_baseline(hs: EmbeddedSynapse, user: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.scale_baseline", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "SB_HOMESERVER": hs.base_url,
            "SB_USER": user["user_id"],
            "SB_DEVICE": user["device"],
            "SB_TOKEN": user["token"],
            "SB_FILTER": json.dumps(SYNC_FILTER),
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def read_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    out: IO[str] = proc.stdout
    line = await asyncio.wait_for(asyncio.to_thread(out.readline), STEP_TIMEOUT)
    if not line.startswith(prefix):
        raise RuntimeError(f"the baseline said {line!r} (exit {proc.poll()}), not {prefix!r}")
    return line.strip()


def finish(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        terminate(proc)


async def until(check: Callable[[], Awaitable[bool]], what: str, proc: Any = None) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while not await check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(POLL)


async def healthy(http: Http, port: int) -> bool:
    try:
        async with http.session.get(f"http://127.0.0.1:{port}/health") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


def _read_db(db_path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True))


def _db_count(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    with _read_db(db_path) as db:
        return int(db.execute(sql, params).fetchone()[0])


# --- the run --------------------------------------------------------------------------------


@dataclass
class Figures:
    people: int = 0
    rooms: int = 0
    register_s: float = 0.0
    first_bot_s: float = 0.0
    first_base_before_s: float = 0.0
    first_base_after_s: float = 0.0
    restart_bot_s: float = 0.0
    restart_base_s: float = 0.0
    rss_bot_first_mb: float = 0.0
    rss_bot_mb: float = 0.0
    rss_base_mb: float = 0.0
    posted: int = 0
    asks: int = 0
    post_s: float = 0.0
    limited_rooms: int = 0
    catchup_base_s: float = 0.0
    catchup_bot_s: float = 0.0
    catchup_bot_drained_s: float = 0.0

    @property
    def first_base_s(self) -> float:
        """The baseline's first start: the mean of its runs before and after the bot's."""
        return (self.first_base_before_s + self.first_base_after_s) / 2


async def _verify_rooms(
    http: Http, admin_token: str, spec: dict[str, Any], prefix: str, owner: str
) -> None:
    """Every room of ``spec`` exists (alias ``prefix`` + its alias) with its members invited."""
    missing: list[str] = []

    async def one(room: dict[str, Any]) -> None:
        alias = f"#{prefix}{room['alias'].removeprefix('b-')}:{SERVER}"
        room_id = await resolve(http, admin_token, alias)
        members = await members_of(http, admin_token, room_id)
        if members.get(owner) != "join":
            missing.append(f"{alias}: {owner} not joined")
        for user in room["invite"]:
            if members.get(user) not in ("invite", "join"):
                missing.append(f"{alias}: {user} not invited")

    await asyncio.gather(*(one(room) for room in spec["rooms"]))
    if missing:
        raise RuntimeError(f"{len(missing)} rooms or invites missing, e.g. {missing[:5]}")


async def run(size: Size) -> Figures:
    fig = Figures()
    net = Network.make(size)
    with (
        tempfile.TemporaryDirectory(prefix="natverk-scale-") as tmp_name,
        tempfile.TemporaryDirectory(prefix="natverk-scale-hs-", dir=SHM) as hs_dir,
    ):
        tmp = Path(tmp_name)
        hs = EmbeddedSynapse(Path(hs_dir))
        hs.start()
        http = Http(hs.base_url)
        procs: list[subprocess.Popen[Any]] = []
        try:
            await _run(size, fig, net, tmp, hs, http, procs)
        except BaseException:
            bot_log = tmp / "bot.log"
            if bot_log.exists():
                print(bot_log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            for proc in reversed(procs):
                terminate(proc)
            await http.close()
            hs.stop()
    return fig


async def _run(
    size: Size,
    fig: Figures,
    net: Network,
    tmp: Path,
    hs: EmbeddedSynapse,
    http: Http,
    procs: list[subprocess.Popen[Any]],
) -> None:
    secret = hs.registration_secret
    began = time.perf_counter()
    admin = await register(http, secret, "admin", admin=True)
    bot = await register(http, secret, "natverk")
    base = await register(http, secret, "basebot")
    after = await register(http, secret, "basebot2")
    people = net.people()
    registered = await asyncio.gather(*(register(http, secret, p) for p in people))
    users = dict(zip(people, registered, strict=True))
    senders = [cohort[2 + k] for cohort in net.cohorts for k in range(size.senders_per_cohort)]
    for user_id in [bot["user_id"], base["user_id"], after["user_id"]] + [
        users[s]["user_id"] for s in senders
    ]:
        await exempt(http, admin["token"], user_id)
    fig.register_s = time.perf_counter() - began
    fig.people = len(people)
    _log(f"{len(people)} people registered in {fig.register_s:.1f} s")

    db_path = tmp / "natverk.db"
    cfg_path = tmp / "natverk.yaml"
    port = free_port()
    cfg_path.write_text(yaml.safe_dump(net.config(hs.base_url, db_path, port)))
    spec = baseline_spec(cfg_path)
    fig.rooms = len(spec["rooms"])
    spec_path = tmp / "baseline.json"
    spec_path.write_text(json.dumps(spec))
    after_path = tmp / "baseline-after.json"
    after_path.write_text(
        json.dumps(
            {
                **spec,
                "rooms": [
                    {**r, "alias": "a-" + r["alias"].removeprefix("b-")} for r in spec["rooms"]
                ],
            }
        )
    )

    # Synapse's first rooms cost more than the next ones (caches, code paths): warm it up.
    for w in range(WARMUP_ROOMS):
        await http.request(
            "POST",
            "/_matrix/client/v3/createRoom",
            admin["token"],
            {"preset": "private_chat", "invite": [_user(p) for p in net.cohorts[w % size.cohorts]]},
        )

    # 1. First start: the baseline, the bot, the baseline again.
    began = time.perf_counter()
    baseline = start_baseline(hs, base, "create", str(spec_path))
    procs.append(baseline)
    await read_line(baseline, "created")
    fig.first_base_before_s = time.perf_counter() - began
    _log(f"baseline created {fig.rooms} rooms in {fig.first_base_before_s:.1f} s")
    base_token = (await read_line(baseline, "synced")).split()[1]
    finish(baseline)

    began = time.perf_counter()
    natverk = start_bot(cfg_path, bot["password"], tmp / "bot.log")
    procs.append(natverk)
    await until(lambda: healthy(http, port), "the bot's first start", natverk)
    fig.first_bot_s = time.perf_counter() - began
    _log(f"natverk's first start took {fig.first_bot_s:.1f} s")
    fig.rss_bot_first_mb = _rss_mb(natverk.pid)
    began = time.perf_counter()
    baseline = start_baseline(hs, after, "create", str(after_path))
    procs.append(baseline)
    await read_line(baseline, "created")
    fig.first_base_after_s = time.perf_counter() - began
    _log(f"baseline created {fig.rooms} rooms again in {fig.first_base_after_s:.1f} s")
    await read_line(baseline, "synced")
    finish(baseline)
    await _verify_rooms(http, admin["token"], spec, "b-", base["user_id"])
    await _verify_rooms(http, admin["token"], spec, "a-", after["user_id"])
    await _verify_rooms(http, admin["token"], spec, "", bot["user_id"])
    _log("every room and invite is there, on both sides")

    # 2. Restart, and 3. memory.
    terminate(natverk)
    began = time.perf_counter()
    natverk = start_bot(cfg_path, bot["password"], tmp / "bot.log")
    procs.append(natverk)
    await until(lambda: healthy(http, port), "the bot's restart", natverk)
    fig.restart_bot_s = time.perf_counter() - began
    fig.rss_bot_mb = _rss_mb(natverk.pid)
    began = time.perf_counter()
    baseline = start_baseline(hs, base, "resync", base_token)
    procs.append(baseline)
    await read_line(baseline, "synced")
    fig.restart_base_s = time.perf_counter() - began
    fig.rss_base_mb = _rss_mb(baseline.pid)
    finish(baseline)
    _log(f"restart {fig.restart_bot_s:.1f} s (baseline {fig.restart_base_s:.1f} s)")

    # 4. Catch-up. Two members of each cohort join its room; the bot has seen the joins (a
    # message posted after them is handled) before it is stopped.
    room_ids = [
        await resolve(http, admin["token"], f"#c{c:03d}:{SERVER}") for c in range(size.cohorts)
    ]
    await asyncio.gather(
        *(
            http.request(
                "POST", f"/_matrix/client/v3/join/{_quote(room_ids[c])}", users[p]["token"]
            )
            for c, cohort in enumerate(net.cohorts)
            for p in cohort[2 : 2 + size.senders_per_cohort]
        )
    )
    last = net.cohorts[-1][2]
    sentinel = await http.request(
        "PUT",
        f"/_matrix/client/v3/rooms/{_quote(room_ids[-1])}/send/m.room.message/sentinel",
        users[last]["token"],
        {"msgtype": "m.text", "body": "Hej allihop!"},
    )

    async def sentinel_handled() -> bool:
        return (
            _db_count(
                db_path,
                "SELECT COUNT(*) FROM processed_events WHERE event_id = ?",
                (sentinel["event_id"],),
            )
            == 1
            and _db_count(db_path, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") == 0
        )

    await until(sentinel_handled, "the joins handled", natverk)
    terminate(natverk)
    reader = await asyncio.to_thread(hs.login, "natverk", bot["password"])  # its own device
    with _read_db(db_path) as db:
        token = str(db.execute("SELECT next_batch FROM sync_state WHERE id = 1").fetchone()[0])

    rng = random.Random(15)
    weights = [1 / (k + 5) for k in range(size.cohorts)]
    targets = rng.choices(range(size.cohorts), weights=weights, k=size.messages)
    since_ts = int(time.time() * 1000) - 1
    began = time.perf_counter()

    async def post(j: int, c: int) -> str:
        sender = users[net.cohorts[c][2 + rng.randrange(size.senders_per_cohort)]]
        if j % size.ask_every == 0:
            body = f"!ask Hur anpassar vi proven i årskurs {j % 9 + 1}? ({j})"
        else:
            body = f"Idag provade vi bildstöd på lektionen, det gick bra ({j})"
        resp = await http.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{_quote(room_ids[c])}/send/m.room.message/m{j}",
            sender["token"],
            {"msgtype": "m.text", "body": body},
        )
        return str(resp["event_id"])

    expected = await asyncio.gather(*(post(j, c) for j, c in enumerate(targets)))
    fig.post_s = time.perf_counter() - began
    fig.posted = len(expected)
    fig.asks = len(range(0, size.messages, size.ask_every))
    counts = [targets.count(c) for c in range(size.cohorts)]
    fig.limited_rooms = sum(1 for n in counts if n > SYNC_FILTER["room"]["timeline"]["limit"])
    _log(f"{fig.posted} messages posted in {fig.post_s:.1f} s (busiest room {max(counts)})")

    await asyncio.to_thread(hs.restart)  # cold caches for the baseline
    catchup_path = tmp / "catchup.json"
    catchup_path.write_text(
        json.dumps({"token": token, "since_ts": since_ts, "expected": expected})
    )
    reader_user = {
        "user_id": reader.user_id,
        "device": reader.device_id,
        "token": reader.access_token,
    }
    began = time.perf_counter()
    baseline = start_baseline(hs, reader_user, "catchup", str(catchup_path))
    procs.append(baseline)
    await read_line(baseline, "received")
    fig.catchup_base_s = time.perf_counter() - began
    finish(baseline)
    _log(f"baseline received the backlog in {fig.catchup_base_s:.1f} s")

    await asyncio.to_thread(hs.restart)  # and for the bot
    launched_ms = int(time.time() * 1000)
    began = time.perf_counter()
    natverk = start_bot(cfg_path, bot["password"], tmp / "bot.log")
    procs.append(natverk)

    async def all_handled() -> bool:
        return (
            _db_count(
                db_path,
                "SELECT COUNT(*) FROM processed_events WHERE handled_at >= ?",
                (launched_ms,),
            )
            >= fig.posted
        )

    async def drained() -> bool:
        return _db_count(db_path, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") == 0

    await until(all_handled, "the backlog handled", natverk)
    fig.catchup_bot_s = time.perf_counter() - began
    await until(drained, "the answers sent", natverk)
    fig.catchup_bot_drained_s = time.perf_counter() - began
    with _read_db(db_path) as db:
        db.execute("CREATE TEMP TABLE posted (event_id TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO posted VALUES (?)", [(e,) for e in expected])
        handled = int(
            db.execute(
                "SELECT COUNT(*) FROM posted JOIN processed_events USING (event_id)"
            ).fetchone()[0]
        )
    if handled != fig.posted:
        raise RuntimeError(f"the bot handled {handled} of the {fig.posted} posted events")
    _log(f"natverk handled the backlog in {fig.catchup_bot_s:.1f} s")
    terminate(natverk)


def report(size: Size, fig: Figures) -> None:
    print(
        f"\n== scale on a local Synapse: {size.cohorts} cohorts, {fig.people} people, "
        f"{fig.rooms} rooms =="
    )
    print(f"setup: {fig.people} people registered (shared-secret API) in {fig.register_s:.1f} s")
    rows = [
        (
            "first start (launch -> every room created, members invited)",
            fig.first_bot_s,
            fig.first_base_s,
            "bare nio script, same calls, mean of before and after",
        ),
        (
            "restart (launch -> synced, reconciled, /health 200)",
            fig.restart_bot_s,
            fig.restart_base_s,
            "bare nio full-state sync",
        ),
        (
            f"catch-up of {fig.posted} events ({fig.asks} !ask), all handled",
            fig.catchup_bot_s,
            fig.catchup_base_s,
            "bare nio client receiving them",
        ),
        (
            "  ... and every answer sent",
            fig.catchup_bot_drained_s,
            fig.catchup_base_s,
            "bare nio client receiving them",
        ),
    ]
    for title, ours, theirs, what in rows:
        print(title)
        print(
            f"  natverk {ours:8.1f} s   baseline ({what}) {theirs:8.1f} s   "
            f"ratio {ours / theirs:.2f}"
        )
    print(
        f"per room at first start (~{fig.people // fig.rooms} invites each): natverk "
        f"{fig.first_bot_s / fig.rooms * 1000:.0f} ms, baseline "
        f"{fig.first_base_s / fig.rooms * 1000:.0f} ms (before the bot "
        f"{fig.first_base_before_s:.1f} s, after it {fig.first_base_after_s:.1f} s)"
    )
    print(
        f"memory after restart (VmRSS): natverk {fig.rss_bot_mb:.0f} MB   "
        f"baseline {fig.rss_base_mb:.0f} MB   ratio {fig.rss_bot_mb / fig.rss_base_mb:.2f}"
        f"   (natverk after its first start: {fig.rss_bot_first_mb:.0f} MB)"
    )
    print(
        f"backlog posted in {fig.post_s:.1f} s; {fig.limited_rooms} rooms got more than a "
        f"sync timeline's {SYNC_FILTER['room']['timeline']['limit']} events (back-filled)"
    )


def main(quick: bool = False) -> None:
    size = QUICK if quick else FULL
    report(size, asyncio.run(run(size)))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
