"""The pilot's evidence (issue 11) at scale, offline (no homeserver; temporary SQLite databases).

(a) What recording the measures costs the dispatcher: the same batches of cohort-room text
    messages from members (plain text, thread replies and real replies to other members' and
    to their own messages, links, a few commands) through the real ``Dispatcher`` with the real
    registry, each batch handled as the syncer handles a sync response (one transaction: each
    event's dedup row, its dispatch, the sync token), once with the ``count_message`` listener
    (which appends to the transaction's inbox, written just before the commit), once with a
    copy of the registry without it, and once with a listener in its place that does nothing
    (the floor: what the dispatcher spends on any such listener; near 1.00 when the
    comparison is fair). The three run interleaved in the same process, batch by batch (which
    goes first rotates), each on its own database and its own copies of the events; the
    figure is the median over the batches of the time ratio (a burst of another process hits
    one batch, not the figure), in wall and CPU time, for the whole transaction and for the
    dispatcher alone (the time of the syncer's two writes taken off).
    Target (issue 11): ratio >= 0.95.
    Then the fold (what the bot does once a minute, off that path) counts the inbox; its time
    per message is printed.
    Afterwards the counts recorded are compared with those the generator expects by the
    definitions in ``commands/evaluation/measures.py`` (a check, not asserted).
(b) A report over a year of synthetic activity: 200 cohorts of 25 participants (5,000 people)
    and some facilitators, 1 million messages counted, 20,000 questions, materials, searches,
    weekly check-ins with replies; the aggregate rows are inserted directly with SQL, as the
    recording would have left them. Then ``figures_of`` + ``written`` for html and docx over
    the whole year and the whole network. Target (issue 11): under 10 s each. Baseline, same
    run, same database: only reading the rows (``evidence.gather``), so the ratio shows what
    computing the figures and writing the document add.
Figures are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import gc
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.checkins import Services
from bot.context import EventContext
from bot.dispatcher import Dispatcher
from bot.registry import REGISTRY, Registry, load_command_modules
from bot.types import Place, RoomEvent, RoomID
from commands.evaluation import evidence, measures, report
from config import Cohort, Config
from storage import Database
from storage import evaluation as store
from storage import state as state_store

BOT = "@natverk:localhost"
TZ = "Europe/Stockholm"
STHLM = ZoneInfo(TZ)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def row(label: str, value: str) -> None:
    print(f"{label:<52} {value:>22}")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


# --- (a) recording cost on the dispatcher --------------------------------------------------------

A_COHORTS = 4
# The databases of (a) in memory where the system has a tmpfs: a commit's fsync on a virtual
# disk takes from 1 to 10 ms, which would be most of a batch's time and most of the noise; what
# is measured here is the CPU the listener adds to the dispatcher.
MEMORY_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None
A_PARTICIPANTS = 25


def dispatch_config() -> Config:
    return Config.model_validate(
        {
            "homeserver": "http://127.0.0.1:1",
            "bot": {"user_id": BOT, "timezone": TZ, "language": "sv"},
            "admins": ["@admin:localhost"],
            "advisers": {"room": "#adv:localhost", "members": ["@adv:localhost"]},
            "cohorts": [
                {
                    "id": f"c{i}",
                    "name": f"Kohort {i}",
                    "room": f"#c{i}:localhost",
                    "facilitators": [f"@f{i}:localhost"],
                    "participants": [f"@p{i}-{k}:localhost" for k in range(A_PARTICIPANTS)],
                }
                for i in range(A_COHORTS)
            ],
        }
    )


def room_id(cohort: int) -> str:
    return f"!c{cohort}:localhost"


@dataclass
class Expected:
    """What the measures should record, by the definitions in measures.py."""

    messages: int = 0
    peer_replies: int = 0
    threads: int = 0
    links: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


@dataclass
class Posted:
    event_id: str
    sender: str
    root: str | None  # the thread it is in, if any


def make_round(
    rnd: int, batches: int, size: int, start_ms: int, rng: random.Random, expected: Expected
) -> list[list[RoomEvent]]:
    """``batches`` lists of ``size`` events over the cohort rooms. Each message is, by chance:
    5 % a command (``!help``), 20 % a thread message (falling back to the latest, as Element
    sends it) in the thread of a recent message, 5 % a reply inside a thread to one message of
    it (not falling back: Element's "reply in thread"), 10 % a plain reply, 10 % a text with a
    link, else plain text. A reply picks a recent message, in 3 of 10 the sender's own."""
    posts: dict[str, Posted] = {}
    recent: dict[int, list[Posted]] = {c: [] for c in range(A_COHORTS)}
    threaded: set[str] = set()
    latest: dict[str, str] = {}  # thread root -> its latest message
    out: list[list[RoomEvent]] = []
    n = 0
    for _ in range(batches):
        batch: list[RoomEvent] = []
        for _ in range(size):
            n += 1
            c = rng.randrange(A_COHORTS)
            sender = (
                f"@f{c}:localhost"
                if rng.random() < 0.1
                else f"@p{c}-{rng.randrange(A_PARTICIPANTS)}:localhost"
            )
            event_id = f"$r{rnd}e{n}"
            ts = start_ms + (rnd * batches * size + n) * 30_000  # one every 30 s
            content: dict[str, Any] = {"msgtype": "m.text", "body": f"Meddelande {n} om läsning"}
            roll = rng.random()
            earlier = recent[c][-40:]
            root: str | None = None
            kind = "text"
            if roll < 0.05:
                content["body"] = "!help"
                kind = "command"
            elif roll < 0.40 and earlier:
                target = rng.choice(earlier)
                own = [p for p in earlier if p.sender == sender]
                if own and rng.random() < 0.3:
                    target = own[-1]
                if roll < 0.30:
                    # In a thread: the target's thread, or a new one on the target.
                    root = target.root or target.event_id
                    root_post = posts[root]
                    falling_back = roll < 0.25
                    replied = target.event_id if not falling_back else latest.get(root, root)
                    content["m.relates_to"] = {
                        "rel_type": "m.thread",
                        "event_id": root,
                        "is_falling_back": falling_back,
                        "m.in_reply_to": {"event_id": replied},
                    }
                    kind = "thread" if falling_back else "thread_reply"
                    # By the definitions: a peer reply answers another member's message (a
                    # falling-back thread message answers the root); a thread is counted when
                    # another member first answers in the thread of a member's message.
                    answered = root_post if falling_back else target
                    if answered.sender != sender:
                        expected.peer_replies += 1
                    if root_post.sender != sender and root not in threaded:
                        threaded.add(root)
                        expected.threads += 1
                    latest[root] = event_id
                else:
                    content["m.relates_to"] = {"m.in_reply_to": {"event_id": target.event_id}}
                    content["body"] = f"> <{target.sender}> citat\n\nSvar {n}"
                    kind = "reply"
                    if target.sender != sender:
                        expected.peer_replies += 1
            elif roll < 0.50:
                content["body"] = f"Läs https://example.org/artikel/{rnd}-{n} om stöd"
                kind = "link"
                expected.links += 1
            expected.kinds[kind] += 1
            if kind != "command":
                expected.messages += 1
                post = Posted(event_id, sender, root)
                posts[event_id] = post
                recent[c].append(post)
            ev = RoomEvent.from_source(
                room_id(c),
                {
                    "type": "m.room.message",
                    "event_id": event_id,
                    "sender": sender,
                    "origin_server_ts": ts,
                    "content": content,
                },
            )
            assert ev is not None
            batch.append(ev)
        out.append(batch)
    return out


def without_count_message(*, noop: bool = False) -> Registry:
    """A copy of the registry without the ``count_message`` listener (the rest shared), or
    with a listener in its place that does nothing (``noop``): what any listener costs."""
    bare = copy.copy(REGISTRY)
    bare.listeners = []
    for ls in REGISTRY.listeners:
        if ls.handler is not measures.count_message:
            bare.listeners.append(ls)
        elif noop:
            bare.listeners.append(dataclasses.replace(ls, handler=nothing, name="nothing"))
    assert len(bare.listeners) == len(REGISTRY.listeners) - (0 if noop else 1)
    return bare


async def nothing(ctx: EventContext) -> None:
    return None


class Variant:
    def __init__(self, name: str, db: Database, config: Config, registry: Registry) -> None:
        self.name, self.db = name, db
        cohorts = {room_id(i): c for i, c in enumerate(config.cohorts)}

        def place_of(room: RoomID) -> tuple[Place, Cohort | None]:
            cohort = cohorts.get(room)
            return (Place.COHORT, cohort) if cohort else (Place.OTHER, None)

        self.dispatcher = Dispatcher(Services(config, db, registry), registry, place_of)
        # Seconds per batch, wall and the process's CPU (both threads), of the whole sync
        # transaction, and of the dispatcher alone (the time of the syncer's writes taken off).
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.dispatch_wall: list[float] = []
        self.dispatch_cpu: list[float] = []
        self.batches = 0

    async def run(self, batch: list[RoomEvent]) -> None:
        """One batch as the syncer handles a sync response: in one transaction, each event
        marked handled (the dedup row) and dispatched, then the sync token stored. The garbage
        collector is run before and kept out of it: otherwise one variant pays for the
        others' garbage. The events are this variant's own copies (decoded from the same
        JSON): what an event works out once and keeps (its body, relation, thread) is worked
        out by each variant, as the bot does for every event it receives."""
        self.batches += 1
        gc.collect()
        gc.disable()
        try:
            clock, cpu_clock = time.perf_counter, time.process_time
            syncer = syncer_cpu = 0.0
            c0, t0 = cpu_clock(), clock()
            async with self.db.transaction() as tx:
                for ev in batch:
                    c1, t1 = cpu_clock(), clock()
                    await state_store.mark_processed(tx, ev.event_id, ev.room_id)
                    syncer, syncer_cpu = syncer + clock() - t1, syncer_cpu + cpu_clock() - c1
                    await self.dispatcher.dispatch(tx, ev)
                c1, t1 = cpu_clock(), clock()
                await state_store.set_sync_token(tx, f"s{self.batches}")
                syncer, syncer_cpu = syncer + clock() - t1, syncer_cpu + cpu_clock() - c1
            wall, cpu = clock() - t0, cpu_clock() - c0
        finally:
            gc.enable()
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.dispatch_wall.append(wall - syncer)
        self.dispatch_cpu.append(cpu - syncer_cpu)


def copies(batch: list[RoomEvent]) -> list[RoomEvent]:
    """Fresh events from the same JSON (none of the derived fields worked out yet)."""
    out = [RoomEvent.from_source(ev.room_id, ev.source) for ev in batch]
    return [ev for ev in out if ev is not None]


async def run_dispatch(rounds: int, batches: int, size: int) -> None:
    load_command_modules()
    config = dispatch_config()
    rng = random.Random(11)
    expected = Expected()
    start_ms = ms(datetime(2027, 3, 1, 8, 0, tzinfo=STHLM))
    plan = [make_round(r, batches, size, start_ms, rng, expected) for r in range(rounds)]
    ratios: list[float] = []
    floors: list[float] = []
    with tempfile.TemporaryDirectory(dir=MEMORY_DIR) as tmp:
        on = Variant("with", await Database.open(Path(tmp) / "with.db"), config, REGISTRY)
        bare = without_count_message()
        off = Variant("without", await Database.open(Path(tmp) / "without.db"), config, bare)
        idle = without_count_message(noop=True)
        noop = Variant("noop", await Database.open(Path(tmp) / "noop.db"), config, idle)
        variants = (on, off, noop)
        # A warm-up round on each (not measured): imports, caches, the first month's key.
        warm = make_round(rounds, 2, size, start_ms - 7 * DAY_MS, random.Random(1), Expected())
        for v in variants:
            for batch in warm:
                await v.run(copies(batch))
            v.wall, v.cpu, v.dispatch_wall, v.dispatch_cpu = [], [], [], []
        # Interleaved batch by batch (which goes first rotates), so that the machine's
        # drifts hit all alike; a round's rate is its events over its summed time.
        for batches_of_round in plan:
            spent = dict.fromkeys(variants, 0.0)
            for b, batch in enumerate(batches_of_round):
                own = {v: copies(batch) for v in variants}
                for v in variants[b % 3 :] + variants[: b % 3]:
                    await v.run(own[v])
                    spent[v] += v.wall[-1]
            ratios.append(spent[off] / spent[on])
            floors.append(spent[off] / spent[noop])
        # The counting itself, off the path of the messages (once a minute in the bot).
        t0 = time.perf_counter()
        async with on.db.transaction() as tx:
            folded = await store.fold(tx)
        fold_s = time.perf_counter() - t0
        got = await on.db.fetchone(
            "SELECT SUM(messages) AS messages, SUM(threads) AS threads,"
            " SUM(peer_replies) AS peer_replies, SUM(links) AS links FROM activity_days"
            " WHERE day >= ?",
            ("2027-03-01",),
        )
        none = await off.db.fetchone("SELECT COUNT(*) AS n FROM activity_days")
        for v in variants:
            await v.db.close()
    events = batches * size

    def batch_ratio(v: Variant, clock: str = "wall") -> float:
        """The median over the batches of (the baseline's time / ``v``'s), each batch timed
        in both one after the other: a batch another process's burst hit moves one ratio,
        not the figure (a sum over a round is moved by each such burst)."""
        base, mine = {
            "wall": (off.wall, v.wall),
            "cpu": (off.cpu, v.cpu),
            "dispatch_wall": (off.dispatch_wall, v.dispatch_wall),
            "dispatch_cpu": (off.dispatch_cpu, v.dispatch_cpu),
        }[clock]
        return statistics.median(b / m for b, m in zip(base, mine, strict=True))

    def rates(v: Variant) -> list[float]:
        return [events / sum(v.wall[r * batches : (r + 1) * batches]) for r in range(rounds)]

    with_rate, without_rate = statistics.median(rates(on)), statistics.median(rates(off))
    print(
        f"\n== evaluation (a): recording the measures on the dispatcher: {rounds} rounds x"
        f" {batches} batches x {size} events, {A_COHORTS} cohort rooms =="
    )
    print(
        "  mix: "
        + ", ".join(f"{k} {v / (rounds * events):.0%}" for k, v in sorted(expected.kinds.items()))
    )
    row("baseline (registry without count_message)", f"{without_rate:,.0f} events/s")
    row("natverk (with count_message)", f"{with_rate:,.0f} events/s")
    row("ratio with/without, median of batches (target >= 0.95)", f"{batch_ratio(on):.3f}")
    row("  floor: a listener doing nothing in its place", f"{batch_ratio(noop):.3f}")
    row(
        "  the same in CPU time (with / floor)",
        f"{batch_ratio(on, 'cpu'):.3f} / {batch_ratio(noop, 'cpu'):.3f}",
    )
    row(
        "  dispatcher alone, the syncer's writes taken off",
        f"{batch_ratio(on, 'dispatch_wall'):.3f} / {batch_ratio(noop, 'dispatch_wall'):.3f}",
    )
    row(
        "  the same in CPU time (with / floor)",
        f"{batch_ratio(on, 'dispatch_cpu'):.3f} / {batch_ratio(noop, 'dispatch_cpu'):.3f}",
    )
    row(
        "  median of the rounds' summed times (with / floor)",
        f"{statistics.median(ratios):.2f} / {statistics.median(floors):.2f}",
    )
    spread = (
        f"{min(rates(on)):,.0f}-{max(rates(on)):,.0f}"
        f" / {min(rates(off)):,.0f}-{max(rates(off)):,.0f}"
    )
    row("  per-round range with / without (events/s)", spread)
    row("the fold, off that path: messages counted", f"{folded:,}")
    row("  its time per message", f"{fold_s / max(folded, 1) * 1e6:.1f} us")
    assert got is not None and none is not None
    print("counts recorded vs expected by the definitions (a check, not asserted)")
    for key in ("messages", "peer_replies", "threads", "links"):
        row(f"  {key}", f"{got[key] or 0:,} / {getattr(expected, key):,}")
    row("  activity_days rows without the listener", f"{none['n']:,}")


# --- (b) the report over a year ------------------------------------------------------------------

FIRST = date(2027, 1, 1)
LAST = date(2027, 12, 31)
CATEGORIES = [
    {"id": "allmant", "name": "Allmän fråga", "default": True},
    {"id": "npf", "name": "NPF och anpassningar"},
    {"id": "teknik", "name": "Teknik"},
    {"id": "dokumentation", "name": "Dokumentation & åtgärdsprogram"},
]
THEMES = [
    {"id": "lasforstaelse", "name": "Läsförståelse", "tags": ["läsning", "lässtrategier"]},
    {"id": "npf", "name": "NPF", "tags": ["adhd", "autism"]},
    {"id": "bildstod", "name": "Bildstöd <och> scheman", "tags": ["bildschema"]},
    {"id": "matematik", "name": "Matematik", "tags": ["taluppfattning"]},
]
TAG_KEYS = ["lasforstaelse", "lasning", "npf", "adhd", "autism", "bildstod", "bildschema",
            "matematik", "taluppfattning", "ovrigt", "samarbete"]  # fmt: skip
WORDS = [f"ord{i}" for i in range(300)] + ["dyslexi", "tecken", "språkstörning", "mobbning"]


@dataclass(frozen=True)
class Scale:
    cohorts: int
    per_cohort: int
    messages: int
    questions: int
    materials: int


def report_config(scale: Scale) -> Config:
    return Config.model_validate(
        {
            "homeserver": "http://127.0.0.1:1",
            "bot": {"user_id": BOT, "timezone": TZ, "language": "sv"},
            "admins": ["@admin:localhost"],
            "advisers": {
                "room": "#adv:localhost",
                "members": [f"@adv{i}:localhost" for i in range(6)],
                "categories": CATEGORIES,
                "reminder_after": "24h",
            },
            "themes": THEMES,
            "cohorts": [
                {
                    "id": f"c{i}",
                    "name": f"Kohort {i} <Sundsvall & Härnösand>",
                    "room": f"#c{i}:localhost",
                    # A few facilitators: one in every fourth cohort.
                    "facilitators": [f"@f{i}:localhost"] if i % 4 == 0 else [],
                    "participants": [f"@p{i}-{k}:localhost" for k in range(scale.per_cohort)],
                }
                for i in range(scale.cohorts)
            ],
            "evaluation": {
                "min_group": 3,
                "phases": [
                    {"id": "behov", "name": "Behov", "from": "2027-01-01", "to": "2027-03-15"},
                    {"id": "drift", "name": "Drift", "from": "2027-03-16", "to": "2027-10-31"},
                    {"id": "utv", "name": "Utvärdering", "from": "2027-11-01", "to": "2027-12-31"},
                ],
                "criteria": [
                    {
                        "id": "svarstid",
                        "name": "Svar inom två dagar",
                        "indicator": "answered_within",
                        "within": "2d",
                        "at_least": "90%",
                    },
                    {
                        "id": "aktiva",
                        "name": "Aktiva deltagare",
                        "indicator": "active_share",
                        "at_least": "50%",
                    },
                    {
                        "id": "forsta",
                        "name": "Första svar inom 4 h (median)",
                        "indicator": "first_response_median",
                        "at_most": "4h",
                    },
                    {
                        "id": "incheckning",
                        "name": "Svar på incheckningar",
                        "indicator": "checkin_reply_rate",
                        "at_least": "40%",
                    },
                    {
                        "id": "utbyte",
                        "name": "Kollegialt utbyte",
                        "indicator": "peer_reply_share",
                        "at_least": 0.2,
                    },
                    {
                        "id": "material",
                        "name": "Material per aktiv",
                        "indicator": "materials_per_active_member",
                        "at_least": 1,
                    },
                ],
            },
        }
    )


def days() -> list[date]:
    return [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]


def spread_exactly(weights: list[float], total: int) -> list[int]:
    """Integers proportional to ``weights`` that sum to ``total`` (largest remainders)."""
    whole = sum(weights)
    raw = [w / whole * total for w in weights]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)[:rest]:
        out[i] += 1
    return out


def local_ms(day: date, hour: float) -> int:
    t = datetime(day.year, day.month, day.day, tzinfo=STHLM) + timedelta(hours=hour)
    return ms(t)


@dataclass
class Seeded:
    """What was inserted, to compare with the report's figures."""

    messages: int = 0
    people_who_wrote: int = 0
    threads: int = 0
    peer_replies: int = 0
    questions: int = 0
    answered: int = 0
    materials: int = 0
    searches: int = 0
    empty: int = 0
    runs: int = 0
    replies: int = 0
    rows: dict[str, int] = field(default_factory=dict)


async def seed(db: Database, config: Config, scale: Scale) -> Seeded:
    rng = random.Random(2027)
    s = Seeded()
    all_days = days()
    cohorts = config.cohorts
    by_id = {c.id: c for c in cohorts}
    # activity_days: weekdays busy, weekends and July quiet, cohorts differ.
    cohort_factor = [rng.uniform(0.3, 1.7) for _ in cohorts]

    def day_factor(d: date) -> float:
        f = 1.0 if d.weekday() < 5 else 0.15
        if d.month == 7:
            f *= 0.25
        return f

    keys = [(c.id, d) for c in cohorts for d in all_days]
    weights = [
        cohort_factor[i] * day_factor(d) * rng.uniform(0.4, 1.6)
        for i in range(len(cohorts))
        for d in all_days
    ]
    counts = spread_exactly(weights, scale.messages)
    day_rows = []
    month_total: Counter[tuple[str, str]] = Counter()
    month_last: dict[tuple[str, str], str] = {}
    for (cid, d), m in zip(keys, counts, strict=True):
        if m == 0:
            continue
        cohort = by_id[cid]
        members = len(cohort.participants) + len(cohort.facilitators)
        writers = min(members, max(1, round(m * rng.uniform(0.3, 0.6))))
        peer = int(m * rng.uniform(0.2, 0.4))
        threads = int(peer * rng.uniform(0.2, 0.4))
        files = int(m * 0.03 + rng.random())
        links = int(m * 0.06 + rng.random())
        day_rows.append((cid, d.isoformat(), m, writers, threads, peer, files, links))
        key = (cid, d.isoformat()[:7])
        month_total[key] += m
        month_last[key] = d.isoformat()
        s.threads += threads
        s.peer_replies += peer
    s.messages = sum(counts)
    # activity_members: each month's messages of a cohort spread over its members, each with a
    # lasting activity (lognormal); in a month some write nothing.
    people_weight = {
        u: rng.lognormvariate(0, 1.0) for c in cohorts for u in (*c.participants, *c.facilitators)
    }
    member_rows = []
    wrote: set[str] = set()
    for (cid, month), total in sorted(month_total.items()):
        cohort = by_id[cid]
        people = [u for u in (*cohort.participants, *cohort.facilitators) if rng.random() < 0.7]
        if not people:
            people = [cohort.participants[0]]
        shares = spread_exactly([people_weight[u] for u in people], total)
        for u, n in zip(people, shares, strict=True):
            if n > 0:
                member_rows.append((cid, month, u, n, month_last[(cid, month)]))
                wrote.add(u)
    s.people_who_wrote = len(wrote)
    # questions: working hours on weekdays; first response after a lognormal delay (median
    # about 3 h), the answer some hours later; most closed; a backlog at the end.
    workdays = [d for d in all_days if d.weekday() < 5]
    cats = [c["id"] for c in CATEGORIES]
    question_rows = []
    for n in range(1, scale.questions + 1):
        cohort = rng.choice(cohorts)
        facilitator = bool(cohort.facilitators) and rng.random() < 0.15
        asker = cohort.facilitators[0] if facilitator else rng.choice(cohort.participants)
        created = local_ms(rng.choice(workdays), rng.uniform(7.5, 17.0))
        roll = rng.random()
        first = created + int(rng.lognormvariate(1.1, 1.0) * HOUR_MS)
        answered = first + int(rng.lognormvariate(0.5, 1.2) * HOUR_MS)
        claimed: int | None = first
        closed: int | None = None
        if roll < 0.03:
            status, first_r, answered_r, claimed = "open", None, None, None
        elif roll < 0.06:
            status, first_r, answered_r = "claimed", first, None
        elif roll < 0.08:
            status, first_r, answered_r, claimed = "withdrawn", None, None, None
            closed = created + HOUR_MS
        elif roll < 0.40:
            status, first_r, answered_r = "answered", first, answered
        else:
            status, first_r, answered_r = "closed", first, answered
            closed = answered + int(rng.uniform(1, 72) * HOUR_MS)
        reopened = 1 if rng.random() < 0.03 else 0
        if answered_r is not None:
            s.answered += 1
        question_rows.append(
            (
                n,
                asker,
                cohort.id,
                int(rng.random() < 0.2),
                rng.choices(cats, weights=(50, 25, 15, 10))[0],
                f"!c{cohort.id}:localhost",
                f"$q{n}",
                "!adv:localhost",
                n,
                f"$root{n}",
                f"Fråga nummer {n}",
                status,
                "@adv0:localhost" if claimed else None,
                created,
                answered_r,
                "facilitator" if facilitator else "participant",
                claimed,
                first_r,
                closed,
                reopened,
            )
        )
    s.questions = len(question_rows)
    # materials: files, images and links, tagged from a small vocabulary, some shared.
    kinds = ("file", "image", "video", "audio", "link", "answer")
    material_rows = []
    for n in range(scale.materials):
        cohort = rng.choice(cohorts)
        kind = rng.choices(kinds, weights=(30, 20, 3, 2, 40, 5))[0]
        tags = sorted(set(rng.sample(TAG_KEYS, rng.randrange(0, 3))))
        material_rows.append(
            (
                cohort.id,
                f"!c{cohort.id}:localhost",
                f"$m{n}",
                f"https://example.org/{n}" if kind == "link" else "",
                kind,
                f"Material {n}",
                rng.choice(cohort.participants),
                local_ms(rng.choice(all_days), rng.uniform(8, 20)),
                int(rng.random() < 0.1),
                json.dumps([[t, t, "hashtag"] for t in tags]),
                " ".join(tags),
                " ".join(tags),
            )
        )
    s.materials = len(material_rows)
    # searches: on about a third of the days per cohort; the words of the empty ones (Zipf).
    search_rows, miss_rows = [], []
    word_weights = [1 / (i + 1) for i in range(len(WORDS))]
    for c in cohorts:
        for d in all_days:
            if rng.random() > 0.33:
                continue
            searches = rng.randint(1, 6)
            empty = sum(1 for _ in range(searches) if rng.random() < 0.25)
            search_rows.append((c.id, d.isoformat(), searches, empty))
            s.searches += searches
            s.empty += empty
            missed: Counter[str] = Counter()
            for _ in range(empty):
                for w in set(rng.choices(WORDS, weights=word_weights, k=rng.randint(1, 3))):
                    missed[w] += 1
            miss_rows += [(c.id, d.isoformat(), w, k) for w, k in missed.items()]
    # check-ins: weekly per cohort (Monday 09:00), most posted; replies from some participants.
    run_rows, reply_rows = [], []
    run_id = 0
    for c in cohorts:
        for d in all_days:
            if d.weekday() != 0:
                continue
            run_id += 1
            status = rng.choices(("posted", "late", "missed", "quiet"), weights=(85, 5, 5, 5))[0]
            due = local_ms(d, 9.0)
            run_rows.append((run_id, c.id, "veckan", due, status, due + 1000))
            if status in ("posted", "late"):
                s.runs += 1
                who = [u for u in c.participants if rng.random() < 0.4]
                reply_rows += [(run_id, u) for u in who]
                s.replies += len(who)
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO activity_days (cohort_id, day, messages, writers, threads, peer_replies,"
            " files, links) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            day_rows,
        )
        await tx.executemany(
            "INSERT INTO activity_members (cohort_id, month, user_id, messages, last_day)"
            " VALUES (?, ?, ?, ?, ?)",
            member_rows,
        )
        await tx.executemany(
            "INSERT INTO questions (id, asker, cohort_id, private, category, origin_room,"
            " origin_event, adviser_room, root_outbox, root_event, text, status, claimed_by,"
            " created_at, answered_at, asker_role, claimed_at, first_response_at, closed_at,"
            " reopened) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            question_rows,
        )
        await tx.executemany(
            "INSERT INTO materials (cohort_id, room_id, event_id, part, kind, title, uploader,"
            " created_at, shared, tag_data, tags, tag_keys) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            material_rows,
        )
        await tx.executemany(
            "INSERT INTO search_days (cohort_id, day, searches, empty) VALUES (?, ?, ?, ?)",
            search_rows,
        )
        await tx.executemany(
            "INSERT INTO search_misses (cohort_id, day, word, count) VALUES (?, ?, ?, ?)",
            miss_rows,
        )
        await tx.executemany(
            "INSERT INTO checkin_runs (id, cohort_id, schedule_id, due_at, status, handled_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        await tx.executemany(
            "INSERT INTO checkin_replies (run_id, user_id) VALUES (?, ?)", reply_rows
        )
    s.rows = {
        "activity_days": len(day_rows),
        "activity_members": len(member_rows),
        "questions": len(question_rows),
        "materials": len(material_rows),
        "search_days": len(search_rows),
        "search_misses": len(miss_rows),
        "checkin_runs": len(run_rows),
        "checkin_replies": len(reply_rows),
    }
    return s


async def time_report(
    db: Database, config: Config, now_ms: int, reps: int
) -> tuple[dict[str, list[float]], dict[str, Any], dict[str, int]]:
    times: dict[str, list[float]] = {k: [] for k in ("gather", "figures", "html", "docx")}
    sizes: dict[str, int] = {}
    # Not measured: the first pass (imports, matplotlib's font cache, SQLite's page cache).
    figures = await report.figures_of(db, config, now_ms=now_ms, first=FIRST, last=LAST)
    report.written(figures, config, "html", "sv", now_ms)
    for _ in range(reps):
        t0 = time.perf_counter()
        period = evidence.period_of(
            config,
            now_ms=now_ms,
            first_recorded=await store.first_day(db),
            first=FIRST,
            last=LAST,
        )
        await evidence.gather(db, config, period, None)
        times["gather"].append(time.perf_counter() - t0)
        for fmt in ("html", "docx"):
            t0 = time.perf_counter()
            figures = await report.figures_of(db, config, now_ms=now_ms, first=FIRST, last=LAST)
            t1 = time.perf_counter()
            out = report.written(figures, config, fmt, "sv", now_ms)
            t2 = time.perf_counter()
            times[fmt].append(t2 - t0)
            times["figures"].append(t1 - t0)
            sizes[fmt] = len(out)
    return times, figures, sizes


async def run_report(scale: Scale, reps: int) -> None:
    t0 = time.perf_counter()
    config = report_config(scale)
    validate_s = time.perf_counter() - t0
    now_ms = local_ms(date(2028, 1, 2), 12.0)
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        seeded = await seed(db, config, scale)
        seed_s = time.perf_counter() - t0
        times, figures, sizes = await time_report(db, config, now_ms, reps)
        await db.close()
    people = sum(len(c.participants) for c in config.cohorts)
    facilitators = sum(len(c.facilitators) for c in config.cohorts)
    print(
        f"\n== evaluation (b): report over a year, {scale.cohorts} cohorts, {people:,} participants"
        f" + {facilitators} facilitators, {seeded.messages:,} messages, {seeded.questions:,}"
        " questions =="
    )
    row("config validation (pydantic, not compared)", f"{validate_s:.2f} s")
    row("seeding the rows with SQL (not compared)", f"{seed_s:.2f} s")
    print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in seeded.rows.items()))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"median of {reps}; figures_of includes reading the rows (and the previous period's)")
    row("baseline: reading the rows (evidence.gather)", f"{med['gather']:.2f} s")
    row("  figures_of (read + compute), not compared", f"{med['figures']:.2f} s")
    for fmt in ("html", "docx"):
        row(f"natverk: figures_of + written {fmt} (target 10 s)", f"{med[fmt]:.2f} s")
        row(f"  ratio {fmt}/baseline", ratio(med[fmt], med["gather"]))
        row(f"  {fmt} size", f"{sizes[fmt] / 1024:,.0f} KiB")
    asked = seeded.runs * scale.per_cohort  # each run asks the cohort's participants
    p, x, q = figures["participation"], figures["exchange"], figures["questions"]
    m, ch = figures["materials"], figures["checkins"]
    print("report vs what was seeded (a check, not asserted)")
    checks = [
        ("participation.members", p["members"], people + facilitators),
        ("participation.messages", p["messages"], seeded.messages),
        ("participation.active", p["active"], seeded.people_who_wrote),
        ("exchange.threads", x["threads"], seeded.threads),
        ("exchange.peer_replies", x["peer_replies"], seeded.peer_replies),
        ("questions.asked", q["asked"], seeded.questions),
        ("questions.answered", q["answered"], seeded.answered),
        ("materials.items", m["items"], seeded.materials),
        ("materials.searches", m["searches"], seeded.searches),
        ("materials.searches_without_hits", m["searches_without_hits"], seeded.empty),
        ("checkins.runs", ch["runs"], seeded.runs),
        ("checkins.reply_rate", ch["reply_rate"], round(seeded.replies / asked, 4)),
    ]
    for key, got, want in checks:
        row(f"  {key}", f"{got} / {want}")
    for c in figures["criteria"]:
        row(f"  criterion {c['id']}", f"{c['value']} met={c['met']} trend={c['trend']}")


def main(quick: bool = False) -> None:
    if quick:
        asyncio.run(run_dispatch(rounds=4, batches=10, size=50))
        asyncio.run(run_report(Scale(20, 25, 100_000, 2_000, 1_000), reps=2))
    else:
        asyncio.run(run_dispatch(rounds=8, batches=40, size=50))
        asyncio.run(run_report(Scale(200, 25, 1_000_000, 20_000, 10_000), reps=3))


if __name__ == "__main__":
    main(quick=True)
