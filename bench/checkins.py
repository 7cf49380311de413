"""Check-ins and questionnaires at scale, offline (no homeserver; a temporary SQLite database).

(a) 10,000 schedules across 500 cohorts: start-up (every next fire time computed and stored by
    ``commands.checkins.sync_schedules``), its memory (tracemalloc peak, RSS delta), and how late
    check-ins fire when the registered ``@periodic`` tasks run as ``App.run_periodic`` runs them
    (each in its own transaction; at start-up, then when the next check-in is due, or a minute
    after the previous pass ended if nothing is due sooner, as ``App._periodic_loop`` does)
    over one hour.
    SIMULATED: the clock. Each tick's ``now`` is the simulated time; what a tick costs is real
    (measured) and added both to the lateness and to when the next tick starts, as the bot's
    sleep-then-run loop would. Outbox sends are not performed (no homeserver).
    Baselines, same run, same schedules: bare APScheduler triggers (``CronTrigger``,
    ``CalendarIntervalTrigger``, ``DateTrigger``) with ``get_next_fire_time`` into a list; for
    lateness an ideal 60-s poller that costs nothing (granularity only).
(b) 1,000 questionnaires open at once, answered question by question in interleaved order by
    simulated users: direct-chat RoomEvents through the real Dispatcher (commands, listeners,
    storage, outbox) in transactions of 50 events, like a sync batch. Baseline: the same number
    of direct-chat messages through the same dispatcher when nobody has a questionnaire open.
Figures are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import gc
import random
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bench.stats import pct
from bot.app import periodic_delay
from bot.context import BaseContext
from bot.dispatcher import Dispatcher
from bot.registry import REGISTRY, Registry, load_command_modules
from bot.types import Place, RoomEvent, RoomID, UserID
from commands.checkins import handlers as checkin_cmds
from commands.surveys import rounds as survey_cmds
from config import Config
from config.model import Schedule, parse_every
from storage import Database

BOT = "@natverk:localhost"
TZ = "Europe/Stockholm"
STHLM = ZoneInfo(TZ)
# Monday 1 March 2027, 08:59:30 local: the bot starts; the simulated hour is 09:00-10:00.
START = datetime(2027, 3, 1, 8, 59, 30, tzinfo=STHLM)
HOUR_MS = 3_600_000
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI")


# --- a fake of the running bot's services ---------------------------------------------------------


class Services:
    """What handlers may use, without Matrix: every room and direct chat already exists."""

    def __init__(self, config: Config, db: Database, registry: Registry = REGISTRY) -> None:
        self.config = config
        self.config_path = Path("bench.yaml")
        self.user_id = UserID(BOT)
        self.registry = registry
        self.db = db
        self._locals: dict[type, Any] = {}

    def local(self, kind: type[Any]) -> Any:
        return self._locals.setdefault(kind, kind())

    def direct_room_of(self, user_id: UserID) -> RoomID | None:
        return RoomID(f"!dm-{user_id.strip('@').split(':')[0]}:localhost")

    def display_name(self, room_id: str, user_id: str) -> str:
        return user_id

    def room_of(self, key: str) -> RoomID | None:
        return RoomID(f"!{key.replace(':', '-').lstrip('#!')}:localhost")

    async def apply_config(self, new: Config) -> None:
        self.config = new

    async def download(self, mxc: str, max_bytes: int) -> bytes | None:
        return None

    async def upload(self, data: bytes, mime: str, filename: str) -> str | None:
        return None

    async def open_direct(self, user_id: UserID) -> RoomID | None:
        return self.direct_room_of(user_id)

    async def in_transaction(self, work: Callable[[BaseContext], Awaitable[None]]) -> None:
        async with self.db.transaction() as tx:
            await work(BaseContext(services=self, tx=tx, lang=self.config.bot.language))


def base_config(
    cohorts: list[dict[str, Any]], surveys: list[dict[str, Any]] | None = None
) -> Config:
    return Config.model_validate(
        {
            "homeserver": "http://127.0.0.1:1",
            "bot": {"user_id": BOT, "timezone": TZ, "language": "sv"},
            "admins": ["@admin:localhost"],
            "advisers": {"room": "#adv:localhost", "members": ["@adv:localhost"]},
            "cohorts": cohorts,
            "surveys": surveys or [],
        }
    )


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


# --- (a) schedules -------------------------------------------------------------------------------


def schedules_for(cohort: int, per_cohort: int, rng: random.Random) -> list[dict[str, Any]]:
    """A mix per cohort: 20 % weekday cron in the simulated hour (they fire in it), 50 % weekly
    cron at other hours, 15 % calendar intervals, 15 % one-off dates (in the future)."""
    out: list[dict[str, Any]] = []
    for j in range(per_cohort):
        sid = f"s{j}"
        kind = j % 20
        if kind < 4:
            out.append(
                {"id": sid, "cron": f"{rng.randrange(60)} 9 * * MON-FRI", "message": "weekly"}
            )
        elif kind < 14:
            hour = rng.choice([h for h in range(7, 18) if h != 9])
            day = rng.choice(WEEKDAYS)
            out.append(
                {"id": sid, "cron": f"{rng.randrange(60)} {hour} * * {day}", "text": "Hur går det?"}
            )
        elif kind < 17:
            start = datetime(2027, 1 + rng.randrange(12), 1 + rng.randrange(28), 9, 0)
            out.append(
                {
                    "id": sid,
                    "every": f"{1 + rng.randrange(6)} months",
                    "start": start,
                    "text": "Läget?",
                }
            )
        else:
            at = datetime(2027, 4 + rng.randrange(8), 1 + rng.randrange(28), 10, rng.randrange(60))
            out.append({"id": sid, "at": at, "text": f"Träff {cohort}"})
    return out


def schedule_config(cohorts: int, per_cohort: int) -> Config:
    rng = random.Random(5)
    return base_config(
        [
            {
                "id": f"c{i}",
                "name": f"Kohort {i}",
                "room": f"#c{i}:localhost",
                "facilitators": [f"@f{i}:localhost"],
                "participants": [f"@p{i}-{k}:localhost" for k in range(2)],
                "schedules": schedules_for(i, per_cohort, rng),
            }
            for i in range(cohorts)
        ]
    )


def bare_trigger(schedule: Schedule) -> Any:
    """The APScheduler trigger for a schedule, built directly (the baseline)."""
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=STHLM)
    if schedule.every is not None:
        assert schedule.start is not None
        count, unit = parse_every(schedule.every)
        s = schedule.start
        return CalendarIntervalTrigger(
            **{f"{unit}s": count},
            hour=s.hour,
            minute=s.minute,
            start_date=s.date(),
            timezone=STHLM,
        )
    assert schedule.at is not None
    return DateTrigger(run_date=schedule.at.replace(tzinfo=STHLM), timezone=STHLM)


def bare_next(trigger: Any, now: datetime) -> datetime | None:
    """``get_next_fire_time``; a calendar interval ignores ``now`` without a previous fire
    time, so it is walked forward (the least a correct caller must do)."""
    t = trigger.get_next_fire_time(None, now)
    while t is not None and t < now:
        t = trigger.get_next_fire_time(t, now)
    return t  # type: ignore[no-any-return]


def baseline_startup(config: Config) -> list[tuple[Any, datetime | None]]:
    """Each trigger with its next fire time, kept as a scheduler keeps its jobs."""
    out: list[tuple[Any, datetime | None]] = []
    for cohort in config.cohorts:
        for schedule in cohort.schedules:
            trigger = bare_trigger(schedule)
            out.append((trigger, bare_next(trigger, START)))
    return out


async def natverk_startup(config: Config, db: Database) -> None:
    async with db.transaction() as tx:
        await checkin_cmds.sync_schedules(tx, config, ms(START))


async def measure_startup(config: Config, memory: bool) -> dict[str, float]:
    """Seconds (or tracemalloc peak MiB) for the baseline and for natverk, each from cold."""
    out: dict[str, float] = {}
    for name in ("baseline", "natverk"):
        checkin_cmds._trigger.cache_clear()
        gc.collect()
        with tempfile.TemporaryDirectory() as tmp:
            db = await Database.open(Path(tmp) / "bench.db")
            rss0 = rss_kib()
            if memory:
                tracemalloc.start()
            t0 = time.perf_counter()
            if name == "baseline":
                kept: Any = baseline_startup(config)
            else:
                await natverk_startup(config, db)
                kept = None
            elapsed = time.perf_counter() - t0
            if memory:
                out[name] = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
            else:
                out[name] = elapsed
                out[f"{name}_rss"] = (rss_kib() - rss0) / 1024
            del kept
            await db.close()
    return out


async def simulate_hour(config: Config) -> tuple[list[float], list[float], int, list[float]]:
    """Lateness (s) of every run in the hour for natverk and the ideal poller, the tick count,
    and each tick's real cost (s)."""
    load_command_modules()
    checkin_cmds._trigger.cache_clear()
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db")
        services = Services(config, db)
        start_ms = ms(START)
        end_ms = start_ms + 30_000 + HOUR_MS
        late: list[float] = []
        costs: list[float] = []
        # As App does: a pass at start-up, then the next when something is due (or a minute
        # after the previous pass ended, if nothing is due sooner).
        now = start_ms
        ticks = 0
        while now <= end_ms:
            t0 = time.perf_counter()
            cost_at_checkins = 0.0
            for name, fn in REGISTRY.periodic.items():
                async with db.transaction() as tx:
                    await fn(BaseContext(services=services, tx=tx, lang="sv"), now)
                if name == "checkins":
                    cost_at_checkins = time.perf_counter() - t0
            cost = time.perf_counter() - t0
            costs.append(cost)
            rows = await db.fetchall("SELECT due_at FROM checkin_runs WHERE handled_at = ?", (now,))
            late.extend((now - r["due_at"]) / 1000 + cost_at_checkins for r in rows)
            ticks += 1
            ended = now + int(cost * 1000)
            dues = [await fn(db, ended) for fn in REGISTRY.next_due.values()]
            now = ended + int(periodic_delay(ended, dues, 60.0) * 1000)
        await db.close()
    dues = sorted(
        ms(t)
        for c in config.cohorts
        for s in c.schedules
        if (t := bare_next(bare_trigger(s), START)) is not None and ms(t) <= end_ms
    )
    ideal: list[float] = []
    tick = start_ms
    for due in dues:
        while tick < due:
            tick += 60_000
        ideal.append((tick - due) / 1000)
    return late, ideal, ticks, costs


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def bench_schedules(cohorts: int, per_cohort: int) -> None:
    total = cohorts * per_cohort
    t0 = time.perf_counter()
    config = schedule_config(cohorts, per_cohort)
    validate_s = time.perf_counter() - t0
    timing = asyncio.run(measure_startup(config, memory=False))
    memory = asyncio.run(measure_startup(config, memory=True))
    late, ideal, ticks, costs = asyncio.run(simulate_hour(config))
    print(f"\n== check-in schedules: {total:,} schedules across {cohorts} cohorts (offline) ==")
    row("config validation (pydantic, not compared)", f"{validate_s:.2f} s")
    print("start-up: every next fire time")
    row("  baseline (bare APScheduler get_next_fire_time)", f"{timing['baseline']:.3f} s")
    row("  natverk (sync_schedules into SQLite)", f"{timing['natverk']:.3f} s")
    row("  ratio natverk/baseline", ratio(timing["natverk"], timing["baseline"]))
    print("memory of the start-up step")
    row("  tracemalloc peak baseline", f"{memory['baseline']:.1f} MiB")
    row("  tracemalloc peak natverk", f"{memory['natverk']:.1f} MiB")
    row("  ratio natverk/baseline", ratio(memory["natverk"], memory["baseline"]))
    rss = f"{timing['baseline_rss']:.1f} / {timing['natverk_rss']:.1f} MiB"
    row("  RSS delta baseline / natverk (one process)", rss)
    print("lateness over one simulated hour (clock simulated, tick costs real)")
    print(
        f"  ticks {ticks}, runs fired {len(late)} (ideal poller: {len(ideal)}),"
        f" tick cost median {pct(costs, 50):.3f} s, max {max(costs):.3f} s"
    )
    print(
        "  (natverk wakes at the next due time, so a run is late by what the pass costs;"
        " the baseline polls every 60 s and fires runs on the next tick, ~30 s late on average)"
    )
    for q in (50, 99):
        a, b = pct(late, q), pct(ideal, q)
        row(f"  p{q} s after due: natverk / baseline", f"{a:.2f} / {b:.2f}  ratio {ratio(a, b)}")


def row(label: str, value: str) -> None:
    print(f"{label:<50} {value:>14}")


# --- (b) questionnaires --------------------------------------------------------------------------

SURVEY: dict[str, Any] = {
    "id": "sjalv",
    "title": "Självskattning",
    "self_assessment": True,
    "open_for": "7d",
    "questions": [
        {"id": "a", "type": "scale", "text": "Jag kan förklara NPF"},
        {"id": "b", "type": "single", "text": "Hur ofta?", "choices": ["Sällan", "Ibland", "Ofta"]},
        {"id": "c", "type": "multiple", "text": "Vilka?", "choices": ["Bild", "Schema", "Timer"]},
        {"id": "d", "type": "scale", "text": "Jag anpassar"},
        {"id": "e", "type": "text", "text": "Något mer?"},
    ],
}
ANSWERS = (("1", "2", "3", "4", "5"), ("1", "Ibland", "3"), ("1,3", "2", "bild, timer"),
           ("2", "4", "5"), ("Bra", "Mer tid behövs", "Tack"))  # fmt: skip


def questionnaire_config(users: int) -> Config:
    per = 100
    return base_config(
        [
            {
                "id": f"c{i}",
                "name": f"Kohort {i}",
                "room": f"#c{i}:localhost",
                "facilitators": [f"@f{i}:localhost"],
                "participants": [
                    f"@p{k}:localhost" for k in range(i * per, min(users, (i + 1) * per))
                ],
            }
            for i in range((users + per - 1) // per)
        ],
        [SURVEY],
    )


def answer_events(config: Config, rng: random.Random) -> list[RoomEvent]:
    """Question by question, every user answers once, in a shuffled (interleaved) order."""
    users = [u for c in config.cohorts for u in c.participants]
    events: list[RoomEvent] = []
    n = 0
    for choices in ANSWERS:
        order = users[:]
        rng.shuffle(order)
        for user in order:
            n += 1
            local = user.strip("@").split(":")[0]
            ev = RoomEvent.from_source(
                f"!dm-{local}:localhost",
                {
                    "type": "m.room.message",
                    "event_id": f"$a{n}",
                    "sender": user,
                    "origin_server_ts": 1_800_000_000_000 + n,
                    "content": {"msgtype": "m.text", "body": rng.choice(choices)},
                },
            )
            assert ev is not None
            events.append(ev)
    return events


async def run_questionnaires(users: int, batch: int, open_rounds: bool) -> tuple[float, int]:
    """Events per second through the dispatcher, and responses stored at the end."""
    load_command_modules()
    config = questionnaire_config(users)
    events = answer_events(config, random.Random(7))
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db")
        services = Services(config, db)
        dispatcher = Dispatcher(services, REGISTRY, lambda room: (Place.DIRECT, None))
        if open_rounds:
            survey = config.surveys[0]
            now = int(time.time() * 1000)
            for cohort in config.cohorts:
                async with db.transaction() as tx:
                    ctx = BaseContext(services=services, tx=tx, lang="sv")
                    await survey_cmds.open_round(ctx, survey, cohort, None, now)
        t0 = time.perf_counter()
        for i in range(0, len(events), batch):
            async with db.transaction() as tx:
                for ev in events[i : i + batch]:
                    await dispatcher.dispatch(tx, ev)
        elapsed = time.perf_counter() - t0
        row = await db.fetchone("SELECT COUNT(*) AS n FROM survey_responses")
        await db.close()
    return len(events) / elapsed, int(row["n"]) if row else 0


def bench_questionnaires(users: int, batch: int = 50) -> None:
    base, _ = asyncio.run(run_questionnaires(users, batch, open_rounds=False))
    full, done = asyncio.run(run_questionnaires(users, batch, open_rounds=True))
    n = len(ANSWERS)
    print(
        f"\n== questionnaires: {users:,} open at once, {n} questions each, {users * n:,} answers =="
    )
    row("baseline (same DMs, no questionnaire open)", f"{base:.0f} events/s")
    row("natverk (answer parsed, saved, next asked)", f"{full:.0f} answers/s")
    row("ratio natverk/baseline throughput", ratio(full, base))
    row("responses stored (a check, not asserted)", f"{done:,} of {users:,}")


def main(quick: bool = False) -> None:
    if quick:
        bench_schedules(cohorts=50, per_cohort=20)
        bench_questionnaires(users=100)
    else:
        bench_schedules(cohorts=500, per_cohort=20)
        bench_questionnaires(users=1_000)


if __name__ == "__main__":
    main(quick=True)
