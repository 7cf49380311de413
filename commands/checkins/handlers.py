"""Check-ins: scheduled messages in cohort rooms, their thread replies, polls and reminders.

The source of truth is SQLite: ``checkin_schedules`` holds each schedule's next run not yet
handled, ``checkin_runs`` every run handled (UNIQUE per schedule and due time, so a run never
fires twice, across restarts too). APScheduler's triggers only compute fire times; the
``checkins`` periodic task (about once a minute) fires what is due, in its transaction.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from typing import Any

from bot import clock, direct, i18n, messages
from bot.context import BaseContext, CommandContext, EventContext
from bot.messages import escape
from bot.registry import Arg, command, listener, on_sent, periodic
from bot.types import EventID, Place, UserID
from commands.checkins import polls
from commands.checkins import schedule as sched_math
from commands.plans import followup as plan_follow_up
from commands.surveys import rounds as surveys
from config import Cohort, Config, Role
from config.model import Schedule, parse_duration
from storage import Tx
from storage import checkins as store
from storage import state as state_store
from storage.outbox import OutboxItem

log = logging.getLogger(__name__)

MANAGERS = {Role.FACILITATOR, Role.ADMIN}
MAX_CATCH_UP = 200  # runs looked at per schedule and tick after a long downtime


# --- schedules from the configuration ------------------------------------------------------------


def timezone_of(config: Config, cohort: Cohort, schedule: Schedule) -> str:
    return schedule.timezone or config.cohort_timezone(cohort)


def fingerprint(config: Config, cohort: Cohort, schedule: Schedule) -> str:
    """Changes whenever the schedule's definition or its time zone changes."""
    text = schedule.model_dump_json() + "|" + timezone_of(config, cohort, schedule)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def trigger_of(config: Config, cohort: Cohort, schedule: Schedule) -> sched_math.Trigger:
    return _trigger(schedule.model_dump_json(), timezone_of(config, cohort, schedule))


@functools.lru_cache(maxsize=4096)
def _trigger(schedule_json: str, timezone: str) -> sched_math.Trigger:
    """Triggers hold no state: one per definition, built once (the periodic pass asks often)."""
    return sched_math.make_trigger(Schedule.model_validate_json(schedule_json), timezone)


def next_due_ms(config: Config, cohort: Cohort, schedule: Schedule, after_ms: int) -> int | None:
    t = sched_math.next_after(trigger_of(config, cohort, schedule), sched_math.from_ms(after_ms))
    return None if t is None else sched_math.to_ms(t)


def _all_schedules(config: Config) -> dict[tuple[str, str], tuple[Cohort, Schedule, str]]:
    return {
        (c.id, s.id): (c, s, fingerprint(config, c, s)) for c in config.cohorts for s in c.schedules
    }


async def sync_schedules(tx: Tx, config: Config, now_ms: int) -> bool:
    """Bring ``checkin_schedules`` in line with the configuration: add new schedules (their
    first run is the first after now), take changed ones' new times (keeping a pause), remove
    dropped ones (their history stays). Cheap when nothing changed. True if it changed."""
    wanted = _all_schedules(config)
    overall = hashlib.sha256(
        json.dumps(sorted((f"{k[0]}/{k[1]}", v[2]) for k, v in wanted.items())).encode()
    ).hexdigest()
    if await state_store.get_value_tx(tx, "checkins.fingerprint") == overall:
        return False
    have = await store.schedule_states(tx)
    for key, (cohort, schedule, fp) in wanted.items():
        known = have.get(key)
        if known is not None and known.fingerprint == fp:
            continue
        await store.put_schedule(
            tx, cohort.id, schedule.id, fp, next_due_ms(config, cohort, schedule, now_ms)
        )
    for key in have.keys() - wanted.keys():
        await store.remove_schedule(tx, *key)
    await state_store.set_value(tx, "checkins.fingerprint", overall)
    return True


# --- firing --------------------------------------------------------------------------------------


def _find(config: Config, cohort_id: str, schedule_id: str) -> tuple[Cohort, Schedule] | None:
    cohort = config.cohort(cohort_id)
    if cohort is None:
        return None
    schedule = next((s for s in cohort.schedules if s.id == schedule_id), None)
    return None if schedule is None else (cohort, schedule)


def checkin_text(lang: str, schedule: Schedule) -> str:
    if schedule.text:
        return schedule.text
    if schedule.message:
        key = f"checkins.messages.{schedule.message}"
        if key in i18n.catalogue(lang) or key in i18n.catalogue(i18n.FALLBACK):
            return i18n.t(lang, key)
        log.warning("No catalogue text %s for schedule %s", key, schedule.id)
        return schedule.message
    return ""  # a poll without text: its question is shown once, by the poll itself


async def fire(
    ctx: BaseContext, cohort: Cohort, schedule: Schedule, due_ms: int, status: str, now_ms: int
) -> int | None:
    """Post one check-in (once: None if this run was handled before)."""
    # What a run sends is keyed by the run (late or not): a restored bot firing it again
    # recognises what it had sent (storage/outbox.py).
    with ctx.about(f"checkin:{cohort.id}:{schedule.id}:{due_ms}"):
        return await _fire(ctx, cohort, schedule, due_ms, status, now_ms)


async def _fire(
    ctx: BaseContext, cohort: Cohort, schedule: Schedule, due_ms: int, status: str, now_ms: int
) -> int | None:
    room = ctx.services.room_of(f"cohort:{cohort.id}")
    run_id = await store.insert_run(ctx.tx, cohort.id, schedule.id, due_ms, status, now_ms, room)
    if run_id is None or room is None:
        if room is None:
            log.warning("Check-in %s/%s: the cohort has no room yet", cohort.id, schedule.id)
        return None
    config = ctx.config
    lang = config.cohort_language(cohort)
    tz = timezone_of(config, cohort, schedule)
    text = checkin_text(lang, schedule)
    lines = [text] if text else []
    if status == "late":
        when = i18n.format_datetime(lang, due_ms, tz)
        lines.append(i18n.t(lang, "checkins.late", when=when))
    if schedule.follow_up is not None:
        lines.append(i18n.t(lang, "plans.follow_up.announced"))
    elif schedule.poll is not None:
        lines.append(i18n.t(lang, "checkins.vote_in_poll"))
    elif schedule.survey is None:
        lines.append(i18n.t(lang, "checkins.answer_in_thread"))
    else:
        survey = config.survey(schedule.survey)
        lines.append(i18n.t(lang, "checkins.survey_sent", title=survey.title if survey else ""))
    body = "\n".join(lines)
    html = "<br>".join(escape(line) for line in lines)
    root = await ctx.send(
        room,
        messages.text(body, html_body=html),
        purpose="checkin_root",
        ref=str(run_id),
    )
    remind_at = (
        due_ms + parse_duration(schedule.remind_after) * 1000 if schedule.remind_after else None
    )
    if remind_at is not None and remind_at <= now_ms:
        remind_at = now_ms + parse_duration(schedule.remind_after or "1d") * 1000
    await store.set_run_root(ctx.tx, run_id, root, remind_at)
    if schedule.poll is not None:
        spec = schedule.poll
        poll_id = await store.create_poll(
            ctx.tx,
            run_id,
            cohort.id,
            room,
            0,
            spec.question,
            list(spec.answers),
            now_ms + parse_duration(spec.close_after) * 1000,
        )
        start = await ctx.send(
            room,
            polls.start_content(spec.question, spec.answers, disclosed=spec.disclosed),
            event_type=polls.START_TYPES[0],
            purpose="poll_start",
            ref=str(poll_id),
        )
        await store.set_poll_start_outbox(ctx.tx, poll_id, start)
    if schedule.survey is not None:
        survey = config.survey(schedule.survey)
        if survey is not None:
            await surveys.open_round(ctx, survey, cohort, run_id, now_ms)
    if schedule.follow_up == "plans":
        await plan_follow_up.open_follow_up(ctx, cohort, schedule, run_id, now_ms)
    return run_id


async def tell_facilitators(ctx: BaseContext, cohort: Cohort, body: str) -> None:
    for user in cohort.facilitators:
        await direct.tell(ctx, user, body)


@periodic("checkins", next_due=store.next_due)
async def tick(ctx: BaseContext, now_ms: int) -> None:
    """Fire what is due, send reminders, close polls."""
    config = ctx.config
    await sync_schedules(ctx.tx, config, now_ms)
    for state in await store.due_schedules(ctx.tx, now_ms):
        found = _find(config, state.cohort_id, state.schedule_id)
        if found is None or state.next_due is None:
            continue
        cohort, schedule = found
        await run_due(ctx, cohort, schedule, state.next_due, now_ms)
    await remind(ctx, now_ms)
    for poll in await store.polls_to_close(ctx.tx, now_ms):
        if poll.end_outbox is None:
            await send_poll_end(ctx, poll, now_ms)
        else:  # the end was sent but never came back: close with the time it was due
            await close_poll(ctx, poll, poll.close_at - END_ECHO_WAIT_MS, now_ms)


async def run_due(
    ctx: BaseContext, cohort: Cohort, schedule: Schedule, first_due: int, now_ms: int
) -> None:
    """Handle every run of one schedule due up to now, by its policy."""
    config = ctx.config
    trigger = trigger_of(config, cohort, schedule)
    tz = timezone_of(config, cohort, schedule)
    policy = sched_math.policy_of(schedule)
    first = sched_math.from_ms(first_due, tz)
    dues = [first, *sched_math.runs_between(trigger, first, sched_math.from_ms(now_ms, tz))]
    dues = dues[-MAX_CATCH_UP:]
    lang = config.cohort_language(cohort)
    not_posted: list[str] = []
    for due in dues:
        due_ms = sched_math.to_ms(due)
        decision = sched_math.decide(due_ms, now_ms, policy, sched_math.is_quiet(schedule, due))
        if decision in ("fire", "late"):
            await fire(
                ctx, cohort, schedule, due_ms, "posted" if decision == "fire" else "late", now_ms
            )
            continue
        inserted = await store.insert_run(ctx.tx, cohort.id, schedule.id, due_ms, decision, now_ms)
        if inserted is not None and decision in ("missed", "skipped"):
            not_posted.append(i18n.format_datetime(lang, due_ms, tz))
    if not_posted:
        key = "checkins.missed" if schedule.missed == "late" else "checkins.skipped"
        await tell_facilitators(
            ctx,
            cohort,
            i18n.t(lang, key, schedule=schedule.id, cohort=cohort.name, when=", ".join(not_posted)),
        )
    after = max(now_ms, sched_math.to_ms(dues[-1]))
    await store.set_next_due(
        ctx.tx, cohort.id, schedule.id, next_due_ms(config, cohort, schedule, after)
    )


@on_sent("checkin_root")
async def _remember_root(tx: Tx, item: OutboxItem, event_id: str) -> None:
    if item.ref is not None:
        await store.set_root_event(tx, int(item.ref), event_id)


@on_sent("poll_start")
async def _remember_poll(tx: Tx, item: OutboxItem, event_id: str) -> None:
    if item.ref is not None:
        await store.set_poll_start_event(tx, int(item.ref), event_id)


# --- answers in the thread, and reminders --------------------------------------------------------


@listener("m.room.message")
async def checkin_reply(ctx: EventContext) -> None:
    """Remember who answered a check-in in its thread (not what they wrote)."""
    if ctx.place != Place.COHORT:
        return
    root = ctx.event.thread_root
    if root is None:
        reply = ctx.event.relates_to.get("m.in_reply_to")
        root = reply.get("event_id") if isinstance(reply, dict) else None
    if not isinstance(root, str):
        return
    run = await store.run_by_root(ctx.tx, root)
    if run is not None:
        await store.add_reply(ctx.tx, run.id, ctx.event.sender)


async def remind(ctx: BaseContext, now_ms: int) -> None:
    """Once per run: mention the participants who have not answered, in the thread."""
    for run in await store.due_reminders(ctx.tx, now_ms):
        await store.set_reminded(ctx.tx, run.id, now_ms)
        cohort = ctx.config.cohort(run.cohort_id)
        if cohort is None or run.room_id is None:
            continue
        answered = await store.repliers(ctx.tx, run.id) | await surveys.done_users_of_run(
            ctx.tx, run.id
        )
        missing = [u for u in cohort.participants if u not in answered]
        if not missing:
            continue
        lang = ctx.config.cohort_language(cohort)
        root = EventID(run.root_event or f"$outbox:{run.root_outbox}")
        # m.text, not m.notice: a notice never notifies, even those it mentions. People are
        # mentioned as Element does: a pill (a matrix.to link) with their display name.
        names = [ctx.services.display_name(run.room_id, u) for u in missing]
        pills = ", ".join(messages.pill(u, n) for u, n in zip(missing, names, strict=True))
        # Keyed by the run, not the text: a restored bot reminding again is recognised.
        with ctx.about(f"checkin-reminder:{run.cohort_id}:{run.schedule_id}:{run.due_at}"):
            await ctx.send(
                run.room_id,
                messages.text(
                    i18n.t(lang, "checkins.reminder", people=", ".join(names)),
                    html_body=escape(i18n.t(lang, "checkins.reminder", people="\0")).replace(
                        "\0", pills
                    ),
                    thread_root=root,
                    mentions=[UserID(u) for u in missing],
                ),
            )


# --- polls ---------------------------------------------------------------------------------------


def _poll_start(poll: store.Poll) -> polls.PollStart:
    return polls.PollStart(
        poll.question,
        tuple(polls.Answer(polls.answer_id(i), a) for i, a in enumerate(poll.answers)),
    )


async def _open_poll_of(ctx: EventContext) -> store.Poll | None:
    """The bot's still open poll that the event refers to, if any."""
    target = polls.referenced_event(ctx.event.content)
    poll = None if target is None else await store.poll_by_start(ctx.tx, target)
    return poll if poll is not None and poll.closed_at is None else None


@listener(polls.RESPONSE_TYPES[0])
@listener(polls.RESPONSE_TYPES[1])
async def poll_response(ctx: EventContext) -> None:
    poll = await _open_poll_of(ctx)
    if poll is None:
        return  # not one of ours, or after the end: not counted (Element ignores it too)
    selections = polls.response_selections(ctx.event.content)
    await store.add_poll_response(
        ctx.tx,
        poll.id,
        ctx.event.event_id,
        ctx.event.sender,
        ctx.event.origin_server_ts,
        selections,
    )
    if poll.run_id is not None:
        await store.add_reply(ctx.tx, poll.run_id, ctx.event.sender)


@listener(polls.END_TYPES[0])
@listener(polls.END_TYPES[1])
async def poll_end(ctx: EventContext) -> None:
    """A poll's end: the bot's own end event coming back (it carries the server timestamp
    Element tallies up to), or a person ending it (counts only from facilitators and admins,
    who may redact)."""
    poll = await _open_poll_of(ctx)
    if poll is None:
        return
    roles = ctx.config.roles_in_cohort(ctx.event.sender, poll.cohort_id)
    end = polls.end_time(
        ctx.services.user_id,
        [polls.End(ctx.event.sender, ctx.event.origin_server_ts)],
        lambda _user: bool(roles & MANAGERS),
    )
    if end is None:
        log.info("Ignoring a poll end from %s: not allowed to end it", ctx.event.sender)
        return
    await close_poll(ctx, poll, end, ctx.event.origin_server_ts)


# How long a poll the bot ended waits for its end event to come back before it is closed anyway.
END_ECHO_WAIT_MS = 10 * 60 * 1000


async def send_poll_end(ctx: BaseContext, poll: store.Poll, now_ms: int) -> None:
    """End the poll in the room. Its tally waits for the end event's echo: Element counts every
    vote up to the end event's own server timestamp, which is later than now."""
    cohort = ctx.config.cohort(poll.cohort_id)
    lang = ctx.config.cohort_language(cohort) if cohort else ctx.lang
    end = await ctx.send(
        poll.room_id,
        polls.end_content(poll.start_ref, i18n.t(lang, "checkins.poll_closed")),
        event_type=polls.END_TYPES[0],
    )
    await store.set_poll_end_sent(ctx.tx, poll.id, end, now_ms + END_ECHO_WAIT_MS)


async def close_poll(ctx: BaseContext, poll: store.Poll, end_ts: int, now_ms: int) -> polls.Tally:
    """Tally as Element does (votes up to ``end_ts``), keep only the counts, and report the
    result once: in the room, Element's own poll tile shows the final result (and the end
    event's tile); the numbers go to the cohort's facilitators in their direct chat."""
    start = _poll_start(poll)
    responses = [
        polls.Response(sender, ts, sel)
        for sender, ts, sel in await store.poll_responses(ctx.tx, poll.id)
    ]
    result = polls.tally(start, responses, end_ts)
    cohort = ctx.config.cohort(poll.cohort_id)
    lang = ctx.config.cohort_language(cohort) if cohort else ctx.lang
    lines = [
        i18n.t(
            lang,
            "checkins.poll_results",
            question=poll.question,
            cohort=cohort.name if cohort else poll.cohort_id,
            votes=i18n.t(lang, "checkins.votes", count=result.voters),
        ),
        *polls.result_lines(start, result),
    ]
    if result.spoiled:
        lines.append(i18n.t(lang, "checkins.poll_spoiled", count=result.spoiled))
    if cohort is not None:
        await tell_facilitators(ctx, cohort, "\n".join(lines))
    await store.close_poll(
        ctx.tx,
        poll.id,
        end_ts,
        now_ms,
        {"counts": result.counts, "voters": result.voters, "spoiled": result.spoiled},
    )
    return result


# --- !schedule -----------------------------------------------------------------------------------


@command(
    "schedule",
    args=[Arg("schedule_action", required=False), Arg("schedule_id", required=False)],
    places=(Place.COHORT,),
    aliases={"sv": ["schema"]},
)
async def schedule_command(ctx: CommandContext, args: dict[str, Any]) -> None:
    cohort = ctx.cohort
    assert cohort is not None
    now_ms = clock.now_ms()
    await sync_schedules(ctx.tx, ctx.config, now_ms)
    action = (args.get("schedule_action") or "").casefold()
    if not action:
        await _list(ctx, cohort, now_ms)
        return
    actions = {"run": "run", "kör": "run", "pause": "pause", "pausa": "pause"}
    actions |= {"resume": "resume", "återuppta": "resume"}
    if action not in actions or not args.get("schedule_id"):
        assert ctx.spec is not None
        await ctx.reply(ctx.t("errors.usage", usage=ctx.spec.usage(ctx.lang)))
        return
    if not ctx.roles & MANAGERS:
        await ctx.reply(ctx.t("checkins.not_manager"))
        return
    found = _find(ctx.config, cohort.id, args["schedule_id"])
    if found is None:
        ids = ", ".join(s.id for s in cohort.schedules) or "–"
        await ctx.reply(ctx.t("checkins.unknown_schedule", id=args["schedule_id"], ids=ids))
        return
    _, schedule = found
    what = actions[action]
    if what == "run":
        await fire(ctx, cohort, schedule, now_ms, "manual", now_ms)
        await ctx.reply(ctx.t("checkins.ran", id=schedule.id))
    elif what == "pause":
        await store.set_paused(ctx.tx, cohort.id, schedule.id, True)
        await ctx.reply(ctx.t("checkins.paused", id=schedule.id))
    else:
        # Runs that fell in the pause are not made up for: the next is the first after now.
        nxt = next_due_ms(ctx.config, cohort, schedule, now_ms)
        await store.set_paused(ctx.tx, cohort.id, schedule.id, False, nxt)
        await ctx.reply(
            ctx.t(
                "checkins.resumed", id=schedule.id, next=_local(ctx.config, cohort, schedule, nxt)
            )
        )


def _local(config: Config, cohort: Cohort, schedule: Schedule, ms: int | None) -> str:
    if ms is None:
        return "–"
    tz = timezone_of(config, cohort, schedule)
    return i18n.format_datetime(config.cohort_language(cohort), ms, tz)


async def _list(ctx: CommandContext, cohort: Cohort, now_ms: int) -> None:
    if not cohort.schedules:
        await ctx.reply(ctx.t("checkins.none"))
        return
    states = await store.schedule_states(ctx.tx)
    lines = [
        ctx.t(
            "checkins.list_title", cohort=cohort.name, timezone=ctx.config.cohort_timezone(cohort)
        )
    ]
    for schedule in cohort.schedules:
        state = states.get((cohort.id, schedule.id))
        paused = state is not None and state.paused
        upcoming: list[str] = []
        t = (
            state.next_due
            if state is not None
            else next_due_ms(ctx.config, cohort, schedule, now_ms)
        )
        while t is not None and len(upcoming) < 3:
            upcoming.append(_local(ctx.config, cohort, schedule, t))
            t = next_due_ms(ctx.config, cohort, schedule, t)
        key = "checkins.list_paused" if paused else "checkins.list_line"
        lines.append(
            ctx.t(key, id=schedule.id, when=", ".join(upcoming) or ctx.t("checkins.list_no_more"))
        )
    await ctx.reply("\n".join(lines))
