"""The adviser bridge's two relays on a local Synapse, against a bare matrix-nio forwarder
measured in the same run:

- ask -> root: a participant sends ``!ask <text>`` in a cohort room until the bot's thread
  root for it is visible to an adviser's client in the adviser room;
- answer -> asker: the adviser answers in that root's thread until the relayed answer is
  visible to the asker's client in the cohort room.

The baseline forwarder sees a message in one room and sends its body to another; it is timed
over the same two paths, in two rooms of its own. Between steps both systems are left to
settle (everything sent, their own echoes synced) outside the timed part, so each figure is
one relay and not the tail of the previous step's traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from nio import (
    AsyncClient,
    RoomCreateResponse,
    RoomMessageNotice,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from bench.stats import pct, summary
from bot.app import App
from bot.homeserver import EmbeddedSynapse, RegisteredUser
from bot.person import Event, Person
from bot.session import ENV_PASSWORD
from config import load_config

ROUND = 20
WARMUP = 5
MARKER = "fwd:"  # the forwarder relays only messages that start with this
SETTLE_TIMEOUT = 30.0
POLL = 0.01


class Forwarder:
    """The baseline: sees a marked message in one room, sends its body to the paired room."""

    def __init__(self, hs: EmbeddedSynapse, user: RegisteredUser) -> None:
        self.client = AsyncClient(hs.base_url, user.user_id)
        self.client.restore_login(user.user_id, user.device_id, user.access_token)
        self.pairs: dict[str, str] = {}  # room id -> room id to forward to
        self.last_sent: str | None = None
        self.seen: set[str] = set()  # its own forwarded events, as they come back in sync
        self.task: asyncio.Task[None] | None = None

    async def create_pair(self, left_member: str, right_member: str) -> tuple[str, str]:
        """Two rooms, each with one invited member, forwarding into each other."""
        left = await self._create_room(left_member)
        right = await self._create_room(right_member)
        self.pairs[left] = right
        self.pairs[right] = left
        return left, right

    async def _create_room(self, member: str) -> str:
        resp = await self.client.room_create(invite=[member])
        if not isinstance(resp, RoomCreateResponse):
            raise RuntimeError(f"forwarder cannot create a room: {resp}")
        return str(resp.room_id)

    async def start(self) -> None:
        first = await self.client.sync(timeout=0)
        assert isinstance(first, SyncResponse)

        async def on_message(room: Any, event: RoomMessageText) -> None:
            target = self.pairs.get(room.room_id)
            if (
                target is None
                or event.sender == self.client.user_id
                or not event.body.startswith(MARKER)
            ):
                return
            # The same shape any well-behaved bot sends (MATRIX_NOTES: always m.mentions);
            # Synapse charges ~2 ms for it, which is protocol cost, not natverk's.
            resp = await self.client.room_send(
                target,
                "m.room.message",
                {"msgtype": "m.notice", "body": event.body, "m.mentions": {}},
            )
            if isinstance(resp, RoomSendResponse):
                self.last_sent = resp.event_id

        async def on_own_notice(room: Any, event: RoomMessageNotice) -> None:
            if event.sender == self.client.user_id:
                self.seen.add(event.event_id)

        self.client.add_event_callback(on_message, RoomMessageText)
        self.client.add_event_callback(on_own_notice, RoomMessageNotice)
        self.task = asyncio.create_task(self.client.sync_forever(timeout=30_000))

    async def settle(self) -> None:
        """Until its last forwarded event has come back to it in sync."""

        async def echoed() -> bool:
            return self.last_sent is None or self.last_sent in self.seen

        await _poll(echoed)

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.client.close()


async def _poll(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("did not settle")
        await asyncio.sleep(POLL)


def _has_id(event_id: str) -> Callable[[Event], bool]:
    return lambda ev: ev.get("event_id") == event_id


async def settle_bot(app: App, watchers: dict[str, Person]) -> None:
    """Until the outbox is empty, the bot has synced back the last event it sent, and the
    people in each room have seen what it sent there."""
    db = app.db
    assert db is not None
    await app.wait_idle()
    rows = await db.fetchall(
        "SELECT room_id, event_id FROM outbox WHERE state = 'sent' AND event_id IS NOT NULL"
        " ORDER BY id DESC LIMIT 10"
    )
    if rows:
        last = str(rows[0]["event_id"])
        syncer = app.syncer
        assert syncer is not None

        async def synced_back() -> bool:
            return last in syncer.recent

        await _poll(synced_back)
    for row in rows:
        room_id, event_id = str(row["room_id"]), str(row["event_id"])
        person = watchers.get(room_id)
        if person is not None:
            await person.wait_for_event(room_id, _has_id(event_id))


@dataclass
class Side:
    """One system under test: where the asker and the adviser talk to it."""

    name: str
    asker_room: str
    adviser_room: str
    relay_user: str
    settle: Callable[[], Awaitable[None]]
    ask_prefix: str
    answer_prefix: str
    threaded: bool  # answers go in the thread of the question's root
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
            and not (
                root_only and ("m.new_content" in content or content.get("msgtype") != "m.notice")
            )
        )

    return await person.wait_for_event(room, match, after=after)


async def one_question(side: Side, asker: Person, adviser: Person, record: bool) -> None:
    q = _token()
    seen = len(adviser.events.get(side.adviser_room, []))
    start = time.perf_counter()
    await asker.say(side.asker_room, f"{side.ask_prefix}Hur bokar jag lokalen? q-{q}")
    root = await _await_message(
        adviser, side.adviser_room, side.relay_user, f"q-{q}", seen, root_only=side.threaded
    )
    to_root = (time.perf_counter() - start) * 1000
    await side.settle()

    a = _token()
    seen = len(asker.events.get(side.asker_room, []))
    start = time.perf_counter()
    await adviser.say(
        side.adviser_room,
        f"{side.answer_prefix}Boka via kalendern. a-{a}",
        thread_root=str(root["event_id"]) if side.threaded else None,
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


async def run(questions: int) -> tuple[Side, Side]:
    with tempfile.TemporaryDirectory() as tmp:
        hs = EmbeddedSynapse(Path(tmp) / "hs")
        hs.start()
        try:
            admin = hs.register_user("admin", "pw-admin", admin=True)
            bot = hs.register_user("natverk", "pw-bot")
            fwd = hs.register_user("forwarder", "pw-fwd")
            anna = hs.register_user("anna", "pw-anna")
            bert = hs.register_user("bert", "pw-bert")
            for u in (bot, fwd, anna, bert):
                hs.override_ratelimit(admin.access_token, u.user_id)
            cfg_path = Path(tmp) / "natverk.yaml"
            cfg_path.write_text(
                yaml.safe_dump(
                    {
                        "homeserver": hs.base_url,
                        "bot": {"user_id": bot.user_id, "database": "natverk.db", "language": "sv"},
                        "admins": [admin.user_id],
                        "advisers": {"room": "#adv:localhost", "members": [bert.user_id]},
                        "cohorts": [
                            {
                                "id": "c",
                                "name": "C",
                                "room": "#c:localhost",
                                "participants": [anna.user_id],
                            }
                        ],
                    }
                )
            )
            os.environ[ENV_PASSWORD] = bot.password
            app = App(load_config(cfg_path), cfg_path)
            await app.start()
            forwarder = Forwarder(hs, fwd)
            asker = Person(hs.base_url, anna.user_id, anna.access_token, anna.device_id)
            adviser = Person(hs.base_url, bert.user_id, bert.access_token, bert.device_id)
            try:
                base_cohort, base_advisers = await forwarder.create_pair(anna.user_id, bert.user_id)
                await asker.start()
                await adviser.start()
                await asker.join(app.managed["cohort:c"])
                await asker.join(base_cohort)
                await adviser.join(app.managed["advisers"])
                await adviser.join(base_advisers)
                await forwarder.start()

                watchers = {
                    app.managed["cohort:c"]: asker,
                    app.managed["advisers"]: adviser,
                }

                async def settle_natverk() -> None:
                    await settle_bot(app, watchers)

                base = Side(
                    name="baseline",
                    asker_room=base_cohort,
                    adviser_room=base_advisers,
                    relay_user=fwd.user_id,
                    settle=forwarder.settle,
                    ask_prefix=MARKER,
                    answer_prefix=MARKER,
                    threaded=False,
                )
                ours = Side(
                    name="natverk",
                    asker_room=app.managed["cohort:c"],
                    adviser_room=app.managed["advisers"],
                    relay_user=bot.user_id,
                    settle=settle_natverk,
                    ask_prefix="!ask ",
                    answer_prefix="",
                    threaded=True,
                )
                await settle_natverk()
                # Warm up both, then interleave rounds (alternating which goes first) so
                # drift hits both alike.
                await questions_on(base, asker, adviser, WARMUP, record=False)
                await questions_on(ours, asker, adviser, WARMUP, record=False)
                for i in range(max(1, -(-questions // ROUND))):
                    pair = (base, ours) if i % 2 == 0 else (ours, base)
                    for side in pair:
                        await questions_on(side, asker, adviser, ROUND, record=True)
            finally:
                await forwarder.stop()
                await asker.stop()
                await adviser.stop()
                await app.stop()
        finally:
            hs.stop()
    return base, ours


def _ratios(ours: list[float], base: list[float]) -> tuple[float, float]:
    return statistics.median(ours) / statistics.median(base), pct(ours, 95) / pct(base, 95)


def report(base: Side, ours: Side, target: float = 1.10) -> None:
    n = len(ours.to_root)
    print(f"\n== !ask relay on a local Synapse ({n} questions each, interleaved) ==")
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


def main(questions: int = 200) -> None:
    base, ours = asyncio.run(run(questions))
    report(base, ours)
