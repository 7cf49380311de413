"""Scheduling arithmetic: which runs are due, DST in Europe/Stockholm, catch-up policy."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from commands.checkins import schedule as sm
from config.model import Schedule

STHLM = ZoneInfo("Europe/Stockholm")
UTC = ZoneInfo("UTC")


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=STHLM)  # type: ignore[misc]


def test_weekly_cron_keeps_nine_local_across_spring_dst_change() -> None:
    trigger = sm.make_trigger(Schedule(id="w", cron="0 9 * * SUN", text="x"), "Europe/Stockholm")
    runs = sm.runs_between(trigger, _local(2027, 3, 20), _local(2027, 4, 5))
    assert [r.strftime("%Y-%m-%d %H:%M") for r in runs] == [
        "2027-03-21 09:00",
        "2027-03-28 09:00",  # the day of the change (02:00 -> 03:00)
        "2027-04-04 09:00",
    ]
    assert [r.astimezone(UTC).hour for r in runs] == [8, 7, 7]


def test_daily_cron_across_autumn_dst_change() -> None:
    trigger = sm.make_trigger(Schedule(id="d", cron="30 9 * * *", text="x"), "Europe/Stockholm")
    runs = sm.runs_between(trigger, _local(2027, 10, 30), _local(2027, 11, 1, 12))
    assert [(r.day, r.hour, r.minute) for r in runs] == [(30, 9, 30), (31, 9, 30), (1, 9, 30)]
    assert [r.astimezone(UTC).hour for r in runs] == [7, 8, 8]


def test_cron_inside_the_skipped_hour_fires_once_on_the_spring_change_day() -> None:
    trigger = sm.make_trigger(Schedule(id="n", cron="30 2 * * *", text="x"), "Europe/Stockholm")
    runs = sm.runs_between(trigger, _local(2027, 3, 27), _local(2027, 3, 29, 12))
    # 02:30 does not exist on 2027-03-28; APScheduler moves to the next valid time.
    assert len(runs) == 3
    assert len({r.astimezone(UTC) for r in runs}) == 3


def test_calendar_interval_keeps_wall_clock_time_across_dst() -> None:
    schedule = Schedule(id="m", every="1 month", start=datetime(2027, 1, 28, 9, 0), text="x")
    trigger = sm.make_trigger(schedule, "Europe/Stockholm")
    runs = sm.runs_between(trigger, _local(2027, 1, 1), _local(2027, 12, 31))
    assert len(runs) == 12
    assert {(r.day, r.hour, r.minute) for r in runs} == {(28, 9, 0)}
    assert {r.astimezone(UTC).hour for r in runs} == {7, 8}  # summer and winter time


def test_every_six_months_from_start() -> None:
    schedule = Schedule(id="h", every="6 months", start=datetime(2027, 3, 1, 9, 0), text="x")
    trigger = sm.make_trigger(schedule, "Europe/Stockholm")
    runs = sm.runs_between(trigger, _local(2027, 1, 1), _local(2029, 1, 1))
    assert [r.strftime("%Y-%m-%d %H:%M") for r in runs] == [
        "2027-03-01 09:00",
        "2027-09-01 09:00",
        "2028-03-01 09:00",
        "2028-09-01 09:00",
    ]
    # The next run after a given one, without walking from the start each time.
    assert sm.next_after(trigger, runs[1]) == runs[2]


def test_one_off_date_is_due_once() -> None:
    trigger = sm.make_trigger(Schedule(id="o", at=datetime(2027, 1, 15, 9), text="x"), "UTC")
    assert sm.runs_between(
        trigger, datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    ) == [datetime(2027, 1, 15, 9, tzinfo=UTC)]
    assert sm.next_after(trigger, datetime(2027, 1, 15, 9, tzinfo=UTC)) is None


def test_runs_between_excludes_t0_and_includes_t1() -> None:
    trigger = sm.make_trigger(Schedule(id="d", cron="0 9 * * *", text="x"), "UTC")
    t0, t1 = datetime(2027, 1, 1, 9, tzinfo=UTC), datetime(2027, 1, 3, 9, tzinfo=UTC)
    assert [r.day for r in sm.runs_between(trigger, t0, t1)] == [2, 3]


def test_schedule_time_zone_overrides_the_cohort_one() -> None:
    schedule = Schedule(id="t", cron="0 9 * * *", text="x", timezone="America/New_York")
    trigger = sm.make_trigger(schedule, "Europe/Stockholm")
    first = sm.next_after(trigger, datetime(2027, 1, 1, tzinfo=UTC))
    assert first is not None and first.astimezone(UTC).hour == 14


def test_policy_late_posts_within_grace_and_reports_beyond() -> None:
    policy = sm.policy_of(Schedule(id="p", at=datetime(2027, 1, 1), text="x", grace="6h"))
    hour = 3_600_000
    assert sm.decide(0, 60_000, policy) == "fire"
    assert sm.decide(0, 2 * hour, policy) == "late"
    assert sm.decide(0, 6 * hour, policy) == "late"
    assert sm.decide(0, 7 * hour, policy) == "missed"
    assert sm.decide(0, 60_000, policy, quiet=True) == "quiet"


def test_policy_skip_records_anything_not_on_time() -> None:
    policy = sm.policy_of(Schedule(id="p", at=datetime(2027, 1, 1), text="x", missed="skip"))
    assert sm.decide(0, 60_000, policy) == "fire"
    assert sm.decide(0, 3_600_000, policy) == "skipped"


def test_quiet_dates_are_local_dates() -> None:
    schedule = Schedule(
        id="q", cron="0 9 * * *", text="x", quiet_dates=[datetime(2027, 12, 24).date()]
    )
    assert sm.is_quiet(schedule, _local(2027, 12, 24, 9))
    assert not sm.is_quiet(schedule, _local(2027, 12, 23, 9))
