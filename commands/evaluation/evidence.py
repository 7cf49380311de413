"""Reading the evidence for a period from the database (the figures are computed in
``figures.py``): which period, which cohorts, and the measures of both."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import i18n
from commands.evaluation.figures import Evidence, Period, SurveyRound
from commands.materials import parse
from config import Config
from storage import Database, Tx
from storage import evaluation as store
from storage import plans as plan_store
from storage import surveys as survey_store

Reader = Tx | Database


class PeriodError(ValueError):
    """A period that cannot be reported on (unknown phase, 'to' before 'from', …)."""


def _ms(day: date, tz: ZoneInfo, end: bool = False) -> int:
    """The first (or, with ``end``, the last) millisecond of a local day."""
    if end:
        return _ms(day + timedelta(days=1), tz) - 1
    return int(datetime.combine(day, time.min, tz).timestamp() * 1000)


def period_of(
    config: Config,
    *,
    now_ms: int,
    first_recorded: str | None,
    phase: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Period:
    """The period a report covers: a phase, the dates given, or by default from the first
    recorded activity (else today) to today, in the bot's time zone."""
    tz = ZoneInfo(config.bot.timezone)
    today = date.fromisoformat(i18n.format_iso_day(now_ms, config.bot.timezone))
    if phase is not None:
        found = config.phase(phase)
        if found is None:
            known = ", ".join(p.id for p in config.evaluation.phases) or "none"
            raise PeriodError(f"no phase {phase!r} (phases: {known})")
        first, last = found.from_, found.to
    first = first or (date.fromisoformat(first_recorded) if first_recorded else today)
    last = last or today
    if last < first:
        raise PeriodError(f"the period ends ({last}) before it starts ({first})")
    return Period(
        first_day=first.isoformat(),
        last_day=last.isoformat(),
        from_ms=_ms(first, tz),
        to_ms=_ms(last, tz, end=True),
        timezone=config.bot.timezone,
        phase=phase,
    )


def before(period: Period) -> Period:
    """The period just before ``period``, as many days long (for the trend)."""
    first, last = date.fromisoformat(period.first_day), date.fromisoformat(period.last_day)
    days = (last - first).days + 1
    tz = ZoneInfo(period.timezone)
    start, end = first - timedelta(days=days), first - timedelta(days=1)
    return Period(
        first_day=start.isoformat(),
        last_day=end.isoformat(),
        from_ms=_ms(start, tz),
        to_ms=_ms(end, tz, end=True),
        timezone=period.timezone,
    )


async def gather(
    db: Reader, config: Config, period: Period, cohort_id: str | None, trend: bool = True
) -> Evidence:
    if cohort_id is not None and config.cohort(cohort_id) is None:
        known = ", ".join(c.id for c in config.cohorts) or "none"
        raise PeriodError(f"no cohort {cohort_id!r} (cohorts: {known})")
    cohorts = [c for c in config.cohorts if cohort_id is None or c.id == cohort_id]
    ids = [c.id for c in cohorts]
    ev = Evidence(
        period=period,
        min_group=config.evaluation.min_group,
        members=len(config.members_of(cohorts)),
        cohort=cohort_id,
        categories={c.id: c.name for c in config.advisers.categories},
        themes={
            t.name: {parse.fold(tag) for tag in t.tags} | {parse.fold(t.id)}
            for t in config.themes_for(cohorts)
        },
        reminder_hours=config.advisers.reminder_after_seconds / 3600,
        reminder_hours_of={
            c.id: config.advisers.reminder_seconds(c) / 3600
            for c in config.advisers.categories
            if c.reminder_after is not None
        },
        criteria=config.evaluation.criteria,
    )
    first, last = period.first_day, period.last_day
    ev.activity = await store.activity_days(db, ids, first, last)
    ev.member_months = await store.member_months(db, ids, first[:7], last[:7])
    ev.questions = await store.questions(db, ids, period.from_ms, period.to_ms)
    ev.materials = await store.materials(db, ids, period.from_ms, period.to_ms)
    ev.search_days, ev.unmet_words = await store.searches(db, ids, first, last)
    ev.checkin_runs = await store.checkin_runs(db, ids, period.from_ms, period.to_ms)
    ev.checkin_repliers = await store.checkin_repliers(db, [r["id"] for r in ev.checkin_runs])
    for run in ev.checkin_runs:  # who is asked: the cohort's participants
        cohort = config.cohort(run["cohort_id"])
        run["asked"] = len(cohort.participants) if cohort else 0
    for row in await store.survey_rounds(db, ids, period.from_ms, period.to_ms):
        survey = config.survey(row["survey_id"])
        if survey is None:
            continue  # a survey no longer configured
        found = await survey_store.responses(db, [row["id"]])
        ev.rounds.append(
            SurveyRound(
                survey,
                row["cohort_id"],
                row["opened_at"],
                row["invited"],
                [r.answers for r in found],
            )
        )
    ev.plans = await plan_store.activity(db, ids, period.from_ms, period.to_ms)
    if trend:
        ev.previous = await gather(db, config, before(period), cohort_id, trend=False)
    return ev
