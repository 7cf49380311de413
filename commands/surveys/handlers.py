"""Surveys: a questionnaire in each participant's direct chat, one question at a time, and a
summary (with a bar chart) for facilitators and advisers when the survey closes.

Progress lives in SQLite (``survey_invites``), so an interrupted questionnaire resumes where it
stopped, across restarts too. See storage/surveys.py for how anonymous answers are kept apart.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from bot import clock, direct, i18n, messages
from bot.context import BaseContext, CommandContext, EventContext
from bot.images import post_images
from bot.messages import escape
from bot.registry import Arg, command, listener, periodic
from bot.types import EventID, Place, RoomID, UserID
from commands.surveys import questionnaire as qn
from commands.surveys import rounds
from commands.surveys import self_assessment as progress
from commands.surveys.chart import survey_results_chart
from config import Config, Role
from config.model import Survey
from storage import surveys as store

log = logging.getLogger(__name__)

SEE_RESULTS = {Role.FACILITATOR, Role.ADVISER, Role.ADMIN}
MANAGERS = {Role.FACILITATOR, Role.ADMIN}


@listener("m.room.message")
async def answer(ctx: EventContext) -> None:
    event = ctx.event
    if ctx.place != Place.DIRECT or not event.is_text_message or event.is_edit:
        return
    if event.thread_root is not None:
        return  # thread messages in a direct chat belong to private questions (!ask)
    invite = await store.current_invite(ctx.tx, event.sender)
    if invite is None:
        return
    found = await rounds.survey_of(ctx, invite)
    if found is None:
        return
    _, survey, lang = found
    room = event.room_id
    if invite.state == "stopped":
        await store.save_progress(
            ctx.tx, invite.round_id, invite.user_id, "asking", invite.position, invite.draft
        )
        await rounds.ask(
            ctx, room, survey, invite.position, lang, i18n.t(lang, "surveys.welcome_back")
        )
        return
    q = survey.questions[invite.position]
    try:
        value = qn.parse_answer(q, event.body)
    except qn.InvalidAnswerError:
        await ctx.send(
            room, messages.notice(i18n.t(lang, "surveys.invalid", valid=qn.valid_choices(q, lang)))
        )
        return
    draft = dict(invite.draft)
    draft[q.id] = value
    await _advance(ctx, invite, survey, lang, room, draft, invite.position + 1)


async def _advance(
    ctx: BaseContext,
    invite: store.Invite,
    survey: Survey,
    lang: str,
    room: RoomID,
    draft: dict[str, Any],
    position: int,
) -> None:
    if position < len(survey.questions):
        await store.save_progress(
            ctx.tx, invite.round_id, invite.user_id, "asking", position, draft
        )
        await rounds.ask(ctx, room, survey, position, lang)
        return
    rnd = await store.get_round(ctx.tx, invite.round_id)
    anonymous = rnd.anonymous if rnd else True
    await store.submit(ctx.tx, invite.round_id, invite.user_id, anonymous, draft)
    thanks = i18n.t(lang, "surveys.thanks", title=survey.title)
    if survey.self_assessment:
        thanks += " " + i18n.t(lang, "progress.hint")
    await ctx.send(room, messages.notice(thanks))
    await rounds.start_next(ctx, invite.user_id)


async def _current(ctx: CommandContext) -> tuple[store.Invite, Survey, str] | None:
    invite = await store.current_invite(ctx.tx, ctx.event.sender)
    found = await rounds.survey_of(ctx, invite) if invite else None
    if invite is None or found is None:
        await ctx.reply(ctx.t("surveys.nothing"))
        return None
    return invite, found[1], found[2]


@command("skip", places=(Place.DIRECT,), aliases={"sv": ["hoppa"]})
async def skip(ctx: CommandContext, args: dict[str, Any]) -> None:
    current = await _current(ctx)
    if current is None:
        return
    invite, survey, lang = current
    draft = dict(invite.draft)
    draft.pop(survey.questions[invite.position].id, None)
    await _advance(ctx, invite, survey, lang, ctx.event.room_id, draft, invite.position + 1)


@command("back", places=(Place.DIRECT,), aliases={"sv": ["tillbaka"]})
async def back(ctx: CommandContext, args: dict[str, Any]) -> None:
    current = await _current(ctx)
    if current is None:
        return
    invite, survey, lang = current
    position = max(0, invite.position - 1)
    await store.save_progress(
        ctx.tx, invite.round_id, invite.user_id, "asking", position, invite.draft
    )
    q = survey.questions[position]
    prefix = ""
    if q.id in invite.draft:
        prefix = i18n.t(lang, "surveys.previous", answer=qn.show_value(q, invite.draft[q.id]))
    await rounds.ask(ctx, ctx.event.room_id, survey, position, lang, prefix)


@command("stop", places=(Place.DIRECT,), aliases={"sv": ["stopp"]})
async def stop(ctx: CommandContext, args: dict[str, Any]) -> None:
    current = await _current(ctx)
    if current is None:
        return
    invite, _survey, lang = current
    await store.save_progress(
        ctx.tx, invite.round_id, invite.user_id, "stopped", invite.position, invite.draft
    )
    await ctx.reply(i18n.t(lang, "surveys.stopped"))


# --- !survey -------------------------------------------------------------------------------------


@command(
    "survey",
    args=[Arg("survey_action", required=False), Arg("survey_id", required=False)],
    places=(Place.DIRECT, Place.ADVISERS, Place.COHORT),
    aliases={"sv": ["enkät"]},
)
async def survey_command(ctx: CommandContext, args: dict[str, Any]) -> None:
    action = (args.get("survey_action") or "").casefold()
    if not action:
        await _resume(ctx)
        return
    if action in ("results", "resultat") and args.get("survey_id"):
        await _results_command(ctx, args["survey_id"])
        return
    if action == "start" and args.get("survey_id"):
        await _start_command(ctx, args["survey_id"])
        return
    assert ctx.spec is not None
    await ctx.reply(ctx.t("errors.usage", usage=ctx.spec.usage(ctx.lang)))


async def _resume(ctx: CommandContext) -> None:
    if ctx.place != Place.DIRECT:
        await ctx.reply(ctx.t("surveys.in_direct_chat"))
        return
    user = ctx.event.sender
    invite = await store.current_invite(ctx.tx, user)
    if invite is None:
        if await store.next_waiting(ctx.tx, user) is None:
            await ctx.reply(ctx.t("surveys.nothing"))
            return
        await rounds.start_next(ctx, user)
        return
    found = await rounds.survey_of(ctx, invite)
    if found is None:
        return
    _, survey, lang = found
    await store.save_progress(
        ctx.tx, invite.round_id, user, "asking", invite.position, invite.draft
    )
    await rounds.ask(
        ctx, ctx.event.room_id, survey, invite.position, lang, i18n.t(lang, "surveys.welcome_back")
    )


async def _start_command(ctx: CommandContext, survey_id: str) -> None:
    if ctx.place != Place.COHORT or ctx.cohort is None or not ctx.roles & MANAGERS:
        await ctx.reply(ctx.t("surveys.start_where"))
        return
    survey = ctx.config.survey(survey_id)
    if survey is None:
        await ctx.reply(ctx.t("surveys.unknown", id=survey_id, ids=_ids(ctx.config)))
        return
    round_id = await rounds.open_round(ctx, survey, ctx.cohort, None, clock.now_ms())
    key = "surveys.started" if round_id is not None else "surveys.not_open"
    await ctx.reply(ctx.t(key, title=survey.title))


def _ids(config: Config) -> str:
    return ", ".join(s.id for s in config.surveys) or "–"


async def _results_command(ctx: CommandContext, survey_id: str) -> None:
    if ctx.place == Place.COHORT:
        await ctx.reply(ctx.t("surveys.results_where"))
        return
    roles = ctx.config.global_roles(ctx.event.sender)
    if not roles & SEE_RESULTS:
        await ctx.reply(
            ctx.t("errors.not_allowed", command=ctx.spec.name if ctx.spec else "survey")
        )
        return
    survey = ctx.config.survey(survey_id)
    if survey is None:
        await ctx.reply(ctx.t("surveys.unknown", id=survey_id, ids=_ids(ctx.config)))
        return
    rounds = await store.rounds_of(ctx.tx, survey.id)
    if not {Role.ADVISER, Role.ADMIN} & roles:
        mine = {c.id for c in ctx.config.cohorts if ctx.event.sender in c.facilitators}
        rounds = [r for r in rounds if r.cohort_id in mine]
    if not rounds:
        await ctx.reply(ctx.t("surveys.no_rounds", title=survey.title))
        return
    await send_results(ctx, survey, rounds, [ctx.event.room_id], ctx.lang)


# --- results -------------------------------------------------------------------------------------


async def results_text(
    ctx: BaseContext, survey: Survey, rounds: list[store.Round], lang: str
) -> tuple[str, qn.Summary, list[str]]:
    """The results of ``rounds`` as text (no names), their summary and the cohorts' names.
    With fewer answers than the survey's ``min_group`` only how many answered is shown: no
    figure, no free text (they would be close to one person's answers)."""
    invited = 0
    for rnd in rounds:
        invited += len(await store.invites(ctx.tx, rnd.id))
    answers = [r.answers for r in await store.responses(ctx.tx, [r.id for r in rounds])]
    names = sorted(
        {(c.name if (c := ctx.config.cohort(r.cohort_id)) else r.cohort_id) for r in rounds}
    )
    if len(answers) < survey.min_group:
        summary = qn.Summary(survey, invited, len(answers), [])  # the title and the rate only
        few = i18n.t(
            lang, "surveys.too_few", title=survey.title, count=len(answers),
            min_group=survey.min_group,
        )  # fmt: skip
        text = f"{qn.render_summary(summary, lang, names)}\n{few}"
    else:
        summary = qn.summarize(survey, invited, answers)
        text = qn.render_summary(summary, lang, names)
    if survey.self_assessment:
        text += await _progress_of(ctx, survey, rounds, lang)
    return text, summary, names


async def send_results(
    ctx: BaseContext,
    survey: Survey,
    rounds: list[store.Round],
    rooms: list[RoomID],
    lang: str,
    *,
    thread_root: str | None = None,
) -> None:
    """The results (:func:`results_text`) and a bar chart, to each room (in ``thread_root``'s
    thread: then without the chart)."""
    text, summary, names = await results_text(ctx, survey, rounds, lang)
    html = "<br>".join(escape(line) for line in text.splitlines())
    root = EventID(thread_root) if thread_root else None
    for room in rooms:
        await ctx.send(room, messages.notice(text, html_body=html, thread_root=root))
    questions = [(qs.question.text, qs.counts) for qs in summary.questions if qs.counts]
    if not questions or not rooms or root is not None:
        return
    title = i18n.t(lang, "surveys.results_title", title=survey.title, cohorts=", ".join(names))
    post_images(ctx, rooms, [(f"{survey.id}.png", partial(survey_results_chart, title, questions))])


async def _invite_to_plan(ctx: BaseContext, survey: Survey, rnd: store.Round) -> None:
    """A self-assessment round closed: each facilitator of the cohort gets, in a direct chat,
    the cohort's change and an invitation to add to or revise the action plan, quoting the
    questions with the lowest scores (only with min_group answers, as every group figure)."""
    cohort = ctx.config.cohort(rnd.cohort_id)
    if cohort is None or not cohort.facilitators:
        return
    lang = ctx.config.cohort_language(cohort)
    change = await progress.cohort_text(ctx, survey, cohort, lang)
    answers = [r.answers for r in await store.responses(ctx.tx, [rnd.id])]
    lines = [change, "", i18n.t(lang, "progress.plan_invitation")]
    if len(answers) >= survey.min_group:
        summary = qn.summarize(survey, len(answers), answers)
        scales = sorted(
            (qs for qs in summary.questions if qs.question.type == "scale" and qs.mean is not None),
            key=lambda qs: qs.mean or 0.0,
        )[:3]
        lines += [
            i18n.t(
                lang,
                "progress.lowest",
                question=qs.question.text,
                mean=i18n.format_number(lang, qs.mean or 0.0),
            )
            for qs in scales
        ]
    body = "\n".join(messages.bounded_lines(lines, lambda n: i18n.t(lang, "lists.more", count=n)))
    for facilitator in cohort.facilitators:
        await direct.tell(ctx, facilitator, body)


async def _progress_of(
    ctx: BaseContext, survey: Survey, rounds: list[store.Round], lang: str
) -> str:
    """A self-assessment's results add each cohort's change since its previous round."""
    texts = []
    for cohort_id in sorted({r.cohort_id for r in rounds}):
        cohort = ctx.config.cohort(cohort_id)
        if cohort is not None:
            texts.append(await progress.cohort_text(ctx, survey, cohort, lang))
    return "".join(f"\n\n{t}" for t in texts)


async def _result_rooms(ctx: BaseContext, cohort_id: str) -> list[RoomID]:
    rooms: list[RoomID] = []
    advisers = ctx.services.room_of("advisers")
    if advisers is not None:
        rooms.append(advisers)
    cohort = ctx.config.cohort(cohort_id)
    for user in cohort.facilitators if cohort else []:
        room = ctx.services.direct_room_of(UserID(user))
        if room is not None:
            rooms.append(room)
    return rooms


@periodic("surveys", next_due=store.next_due)
async def tick(ctx: BaseContext, now: int) -> None:
    """Remind once, close what is due (with results), start waiting questionnaires."""
    for rnd in await store.rounds_to_remind(ctx.tx, now):
        await store.set_round(ctx.tx, rnd.id, reminded_at=now)
        survey = ctx.config.survey(rnd.survey_id)
        if survey is None:
            continue
        lang = ctx.config.language_of(rnd.cohort_id)
        body = i18n.t(
            lang,
            "surveys.reminder",
            title=survey.title,
            closes=rounds.show_time(ctx.config, rnd.cohort_id, rnd.closes_at),
        )
        for invite in await store.invites(ctx.tx, rnd.id):
            if invite.state not in ("done", "expired"):
                await direct.tell(ctx, invite.user_id, body)
    for rnd in await store.rounds_to_close(ctx.tx, now):
        await store.close_round(ctx.tx, rnd.id, now)
        survey = ctx.config.survey(rnd.survey_id)
        if survey is None:
            continue
        closed = await store.get_round(ctx.tx, rnd.id)
        assert closed is not None
        if closed.report_to is not None:  # e.g. a request's evaluation: to its threads
            lang = ctx.config.language_of(closed.cohort_id)
            for room, root in json.loads(closed.report_to):
                await send_results(ctx, survey, [closed], [room], lang, thread_root=root)
            continue
        rooms = await _result_rooms(ctx, rnd.cohort_id)
        await send_results(ctx, survey, [closed], rooms, ctx.config.bot.language)
        if survey.self_assessment:
            await _invite_to_plan(ctx, survey, closed)
    # Every waiting questionnaire, also of people without a direct chat yet: if the bot died
    # between deciding to start one and opening the chat, this tick opens it again.
    for user in await store.waiting_users(ctx.tx):
        await rounds.start_next(ctx, user)
