"""Opening a survey round and starting each person's questionnaire in their direct chat: what
check-ins (``commands/checkins``) ask of surveys, and what the survey commands use too."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from bot import direct, i18n, messages
from bot.context import BaseContext
from bot.types import RoomID
from commands.surveys import questionnaire as qn
from config import Cohort, Config
from config.model import Survey, parse_duration
from storage import Tx
from storage import plans as plan_store
from storage import surveys as store

log = logging.getLogger(__name__)


def local_ms(config: Config, cohort: Cohort, when: Any) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(config.cohort_timezone(cohort)))
    return int(when.timestamp() * 1000)


def outside_window(
    config: Config, survey: Survey, cohort: Cohort, now: int
) -> tuple[str, int] | None:
    """Why the survey cannot be opened at ``now``: ("not_open", opens) or ("closed", closes),
    with that time in ms; None if it can."""
    if survey.opens is not None and now < (opens := local_ms(config, cohort, survey.opens)):
        return "not_open", opens
    if survey.closes is not None and (closes := local_ms(config, cohort, survey.closes)) <= now:
        return "closed", closes
    return None


# --- opening a round -----------------------------------------------------------------------------


async def open_round(
    ctx: BaseContext,
    survey: Survey,
    cohort: Cohort,
    run_id: int | None,
    now: int,
    *,
    users: list[str] | None = None,
    report_to: str | None = None,
) -> int | None:
    """Open ``survey`` for the cohort's participants (or ``users``) and start their
    questionnaires; ``report_to``: where its results go (see ``storage.surveys.Round``)."""
    users = list(cohort.participants) if users is None else users
    outside = outside_window(ctx.config, survey, cohort, now)
    if outside is not None:
        log.info("Survey %s is %s; not started for %s", survey.id, outside[0], cohort.id)
        return None
    closes_at = now + parse_duration(survey.open_for) * 1000
    if survey.closes is not None:
        closes_at = min(closes_at, local_ms(ctx.config, cohort, survey.closes))
    remind_at = now + parse_duration(survey.remind_after) * 1000 if survey.remind_after else None
    if remind_at is not None and remind_at >= closes_at:
        remind_at = None
    round_id = await store.open_round(
        ctx.tx,
        survey.id,
        cohort.id,
        run_id,
        survey.anonymous,
        now,
        closes_at,
        remind_at,
        users,
        report_to=report_to,
    )
    for user in users:
        await start_next(ctx, user)
    return round_id


async def done_users_of_run(tx: Tx, run_id: int) -> set[str]:
    rnd = await store.round_of_run(tx, run_id)
    if rnd is None:
        return set()
    return {i.user_id for i in await store.invites(tx, rnd.id) if i.state == "done"}


async def start_next(ctx: BaseContext, user: str) -> None:
    """Unless the person is in the middle of a questionnaire (or of a plan follow-up, which
    starts this when it ends), start their next waiting one."""
    if await store.current_invite(ctx.tx, user) is not None:
        return
    if await plan_store.current_ask(ctx.tx, user) is not None:
        return
    if await store.next_waiting(ctx.tx, user) is None:
        return

    async def work(c: BaseContext, room: RoomID) -> None:
        if await store.current_invite(c.tx, user) is not None:
            return
        invite = await store.next_waiting(c.tx, user)
        if invite is None:
            return
        found = await survey_of(c, invite)
        if found is None:
            return
        rnd, survey, lang = found
        await store.save_progress(c.tx, invite.round_id, user, "asking", 0, {})
        closes = show_time(c.config, rnd.cohort_id, rnd.closes_at)
        intro = [i18n.t(lang, "surveys.intro", title=survey.title, closes=closes)]
        if survey.intro:
            intro.append(survey.intro)
        intro.append(
            i18n.t(lang, "surveys.anonymous" if survey.anonymous else "surveys.not_anonymous")
        )
        await c.send(room, messages.text("\n".join(intro)))  # notifies: a new survey
        await ask(c, room, survey, 0, lang)

    pending = direct.send_direct(ctx, user, work)
    if pending is not None:
        await pending


def show_time(config: Config, cohort_id: str, ms: int) -> str:
    cohort = config.cohort(cohort_id)
    tz = config.cohort_timezone(cohort) if cohort else config.bot.timezone
    return i18n.format_datetime(config.language_of(cohort_id), ms, tz)


async def survey_of(
    ctx: BaseContext, invite: store.Invite
) -> tuple[store.Round, Survey, str] | None:
    rnd = await store.get_round(ctx.tx, invite.round_id)
    survey = ctx.config.survey(rnd.survey_id) if rnd else None
    if rnd is None or survey is None:
        return None
    return rnd, survey, ctx.config.language_of(rnd.cohort_id)


async def ask(
    ctx: BaseContext, room: RoomID, survey: Survey, position: int, lang: str, prefix: str = ""
) -> None:
    q = survey.questions[position]
    text = qn.render_question(q, position, len(survey.questions), lang)
    await ctx.send(room, messages.notice(f"{prefix}\n{text}" if prefix else text))


# --- answering -----------------------------------------------------------------------------------
