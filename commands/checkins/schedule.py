"""Scheduling arithmetic for check-ins: pure functions, no clock, no database.

APScheduler's triggers compute fire times (cron, calendar intervals that keep the wall-clock
time across DST, one-off dates); nothing here uses APScheduler's scheduler or job store. The
bot keeps what has fired in SQLite and asks these functions which runs are due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from config.model import Schedule, parse_duration, parse_every

_STEP = timedelta(microseconds=1)
MAX_STEPS = 100_000  # guard against a trigger that never moves forward


class Trigger(Protocol):
    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None: ...


def make_trigger(schedule: Schedule, timezone: str) -> Trigger:
    """The APScheduler trigger for a schedule, in the schedule's (or the given) time zone."""
    tz = ZoneInfo(schedule.timezone or timezone)
    if schedule.cron is not None:
        trigger: Trigger = CronTrigger.from_crontab(schedule.cron, timezone=tz)
        return trigger
    if schedule.every is not None:
        assert schedule.start is not None
        count, unit = parse_every(schedule.every)
        start = schedule.start
        return CalendarIntervalTrigger(  # type: ignore[no-any-return]
            **{f"{unit}s": count},
            hour=start.hour,
            minute=start.minute,
            second=start.second,
            start_date=start.date(),
            timezone=tz,
        )
    assert schedule.at is not None
    at = schedule.at if schedule.at.tzinfo else schedule.at.replace(tzinfo=tz)
    return DateTrigger(run_date=at, timezone=tz)  # type: ignore[no-any-return]


def next_after(trigger: Trigger, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (an aware datetime), or None."""
    t = trigger.get_next_fire_time(None, after + _STEP)
    steps = 0
    # A calendar interval (and a one-off date) ignores ``now`` without a previous fire time:
    # walk forward from its start.
    while t is not None and t <= after:
        steps += 1
        if steps > MAX_STEPS:
            return None
        following = trigger.get_next_fire_time(t, after + _STEP)
        if following is None or following <= t:
            return None
        t = following
    return t


def runs_between(trigger: Trigger, t0: datetime, t1: datetime, limit: int = 1000) -> list[datetime]:
    """Fire times t with t0 < t <= t1, oldest first (at most ``limit``)."""
    out: list[datetime] = []
    t = next_after(trigger, t0)
    while t is not None and t <= t1 and len(out) < limit:
        out.append(t)
        t = next_after(trigger, t)
    return out


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def from_ms(ms: int, timezone: str = "UTC") -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(timezone))


Decision = Literal["fire", "late", "missed", "skipped", "quiet"]


@dataclass(frozen=True)
class Policy:
    missed: Literal["late", "skip"]
    grace_ms: int
    on_time_ms: int  # lateness still counted as on time (the periodic task's granularity)


def policy_of(schedule: Schedule, on_time_ms: int = 5 * 60_000) -> Policy:
    return Policy(schedule.missed, parse_duration(schedule.grace) * 1000, on_time_ms)


def decide(due_ms: int, now_ms: int, policy: Policy, quiet: bool = False) -> Decision:
    """What to do with a run that was due at ``due_ms`` and is looked at ``now_ms``.

    ``fire``: on time. ``late``: post it late (missed: late, within the grace).
    ``missed`` (late policy beyond the grace) and ``skipped`` (skip policy, not on time): record
    and tell the facilitators. ``quiet``: a quiet date (holiday): record, say nothing.
    """
    if quiet:
        return "quiet"
    lateness = now_ms - due_ms
    if lateness <= policy.on_time_ms:
        return "fire"
    if policy.missed == "skip":
        return "skipped"
    return "late" if lateness <= policy.grace_ms else "missed"


def is_quiet(schedule: Schedule, due: datetime) -> bool:
    return due.date() in schedule.quiet_dates
