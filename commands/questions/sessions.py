"""A request's sessions (``!session add|list|remove|participants``, ``!tillfälle``) and the
evaluation survey sent to its participants when the last session ends; its summary (no names,
``min_group`` as for every survey) goes to the asker's thread and the advisers' when the survey
closes or everyone has answered (``commands/surveys`` closes it)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot import i18n, messages
from bot.context import BaseContext, CommandContext
from bot.registry import Arg, ArgKind, command, periodic
from bot.types import EventID, UserID
from commands.questions.advisers import ADVISERS_ONLY, IN_ADVISER_ROOM, thread_question
from commands.questions.contact import USER_ID
from commands.surveys import rounds
from config import Role
from storage import questions as store
from storage import state as state_store
from storage.questions import Question, Session

ADD = ("add", "lägg", "ny")
LIST = ("list", "lista")
REMOVE = ("remove", "ta-bort", "bort")
PARTICIPANTS = ("participants", "deltagare")
LENGTH = re.compile(r"(\d{1,3})(m|min|h)", re.IGNORECASE)
DEFAULT_MINUTES = 120


@dataclass(frozen=True)
class NewSession:
    starts_at: int
    minutes: int
    place: str


def parse_new(text: str, timezone: str) -> NewSession | None:
    """``2027-03-10 14:00 [90m|2h] [place]`` in local time; None if it is not that."""
    parts = text.split(maxsplit=2)
    if len(parts) < 2:
        return None
    try:
        when = datetime.strptime(f"{parts[0]} {parts[1]}", "%Y-%m-%d %H:%M")
    except ValueError:
        return None
    rest = parts[2] if len(parts) > 2 else ""
    minutes = DEFAULT_MINUTES
    first, _, after = rest.partition(" ")
    length = LENGTH.fullmatch(first)
    if length is not None:
        n = int(length[1])
        minutes = n * 60 if length[2].lower() == "h" else n
        rest = after
    if not 0 < minutes <= 24 * 60:
        return None
    local = when.replace(tzinfo=ZoneInfo(timezone))
    return NewSession(int(local.timestamp() * 1000), minutes, rest.strip()[:200])


def describe(lang: str, session: Session | NewSession, timezone: str) -> str:
    start = i18n.format_datetime(lang, session.starts_at, timezone)
    end = i18n.format_datetime(lang, session.starts_at + session.minutes * 60_000, timezone)
    same_day = start[:10] == end[:10]
    text = f"{start}–{end[11:] if same_day else end}"
    return f"{text} ({session.place})" if session.place else text


def _timezone(ctx: BaseContext, question: Question) -> str:
    cohort = ctx.config.cohort(question.cohort_id) if question.cohort_id else None
    return ctx.config.cohort_timezone(cohort) if cohort else ctx.config.bot.timezone


@command(
    "session",
    args=[Arg("action"), Arg("details", ArgKind.REST, required=False)],
    roles=ADVISERS_ONLY,
    places=IN_ADVISER_ROOM,
    aliases={"sv": ["tillfälle"]},
)
async def session_command(ctx: CommandContext, args: dict[str, Any]) -> None:
    question = await thread_question(ctx)
    if question is None:
        return
    action = str(args["action"]).casefold()
    details = str(args.get("details") or "").strip()
    tz = _timezone(ctx, question)
    if action in ADD:
        new = parse_new(details, tz)
        if new is None:
            await ctx.reply(ctx.t("sessions.usage"))
            return
        if await store.round_of(ctx.tx, question.id) is not None:
            await ctx.reply(ctx.t("sessions.evaluated", number=question.id))
            return
        await store.add_session(ctx.tx, question.id, new.starts_at, new.minutes, new.place)
        await _tell_asker(ctx, question, tz)
    elif action in REMOVE:
        found = await store.sessions_of(ctx.tx, question.id)
        index = int(details) if details.isdigit() else 0
        if not 1 <= index <= len(found):
            await ctx.reply(ctx.t("sessions.no_such", number=details[:20], count=len(found)))
            return
        await store.remove_session(ctx.tx, found[index - 1].id)
        await _tell_asker(ctx, question, tz)
    elif action in PARTICIPANTS:
        await _participants(ctx, question, details)
        return
    elif action not in LIST:
        await ctx.reply(ctx.t("sessions.usage"))
        return
    await ctx.reply(await _listing(ctx, question, ctx.lang, tz))


async def _listing(ctx: BaseContext, question: Question, lang: str, tz: str) -> str:
    found = await store.sessions_of(ctx.tx, question.id)
    if not found:
        return i18n.t(lang, "sessions.none", number=question.id)
    lines = [f"{i}. {describe(lang, s, tz)}" for i, s in enumerate(found, 1)]
    title = i18n.t(lang, "sessions.title", number=question.id, count=len(found))
    return "\n".join(
        [title, *messages.bounded_lines(lines, lambda n: i18n.t(lang, "lists.more", count=n))]
    )


async def _tell_asker(ctx: CommandContext, question: Question, tz: str) -> None:
    """The asker's thread gets the sessions as they now stand, as a message that notifies
    them (dates they need to keep)."""
    lang = ctx.config.language_of(question.cohort_id)
    await ctx.send(
        question.origin_room,
        messages.text(
            await _listing(ctx, question, lang, tz),
            thread_root=EventID(question.origin_event),
            mentions=[UserID(question.asker)],
        ),
    )


async def _participants(ctx: CommandContext, question: Question, details: str) -> None:
    mentioned = (ctx.event.content.get("m.mentions") or {}).get("user_ids") or []
    users = {w for w in details.split() if USER_ID.fullmatch(w)} | {
        u for u in mentioned if isinstance(u, str) and u != ctx.services.user_id
    }
    known = {u for u in users if ctx.config.global_roles(u) & {Role.PARTICIPANT, Role.FACILITATOR}}
    if users - known:
        await ctx.reply(ctx.t("sessions.unknown_people", people=", ".join(sorted(users - known))))
        return
    if known:
        await store.set_participants(ctx.tx, question.id, known)
    chosen = await _evaluated_people(ctx, question)
    names = messages.bounded_lines(chosen, lambda n: ctx.t("lists.more", count=n))
    await ctx.reply(
        ctx.t("sessions.participants", number=question.id, count=len(chosen))
        + (" " + ", ".join(names) if names else "")
    )


async def _evaluated_people(ctx: BaseContext, question: Question) -> list[str]:
    """Who gets the evaluation: those named with !session participants, else the asker's
    cohort's participants (for a private request, the asker)."""
    named = await store.participants_of(ctx.tx, question.id)
    if named:
        return named
    cohort = ctx.config.cohort(question.cohort_id) if question.cohort_id else None
    if question.private or cohort is None:
        return [question.asker]
    return list(cohort.participants)


@periodic("request-evaluations")
async def send_evaluations(ctx: BaseContext, now_ms: int) -> None:
    """When a request's last session has ended, its category's survey goes to its people."""
    with_survey = [c.id for c in ctx.config.advisers.categories if c.survey]
    for question_id in await store.evaluations_due(ctx.tx, now_ms, with_survey):
        question = await store.get(ctx.tx, question_id)
        category = ctx.config.category(question.category) if question else None
        survey = ctx.config.survey(category.survey) if category and category.survey else None
        cohort = ctx.config.cohort(question.cohort_id) if question and question.cohort_id else None
        if question is None or survey is None or cohort is None:
            continue
        outside = rounds.outside_window(ctx.config, survey, cohort, now_ms)
        if outside is not None:
            await _tell_outside_window(ctx, question, survey.title, *outside)
            continue  # sent when the survey opens; a closed one only if the YAML reopens it
        people = await _evaluated_people(ctx, question)
        report_to = json.dumps(
            [
                [question.origin_room, question.origin_event],
                [question.adviser_room, question.root_ref],
            ]
        )
        round_id = await rounds.open_round(
            ctx, survey, cohort, None, now_ms, users=people, report_to=report_to
        )
        if round_id is None:
            continue
        await state_store.delete_value(ctx.tx, f"{OUTSIDE_WINDOW}{question.id}")
        await store.set_round(ctx.tx, question.id, round_id)
        await ctx.send(
            question.adviser_room,
            messages.notice(
                ctx.t("sessions.evaluation_sent", title=survey.title, count=len(people)),
                thread_root=EventID(question.root_ref),
            ),
        )


OUTSIDE_WINDOW = "request-evaluation-outside:"


async def _tell_outside_window(
    ctx: BaseContext, question: Question, title: str, why: str, when_ms: int
) -> None:
    """The advisers are told, once per reason and date, why the evaluation waits."""
    key, mark = f"{OUTSIDE_WINDOW}{question.id}", f"{why}:{when_ms}"
    if await state_store.get_value_tx(ctx.tx, key) == mark:
        return
    await state_store.set_value(ctx.tx, key, mark)
    when = i18n.format_datetime(ctx.lang, when_ms, ctx.config.bot.timezone)
    await ctx.send(
        question.adviser_room,
        messages.notice(
            ctx.t(f"sessions.evaluation_{why}", title=title, when=when),
            thread_root=EventID(question.root_ref),
        ),
    )
