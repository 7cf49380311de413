"""Staged requests: ``!stage ID [comment]`` (``!steg``) in a request's thread in the advisers'
room, and one reminder when the next stage is overdue. Where a request stands, and what is due,
is worked out in stages.py."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from bot import clock, i18n, messages
from bot.context import BaseContext, CommandContext, Services
from bot.registry import Arg, ArgKind, command, periodic
from bot.types import EventID, RoomID, UserID
from bot.uploads import upload_for
from commands.questions import bridge, stages, summary
from commands.questions.advisers import ADVISERS_ONLY, IN_ADVISER_ROOM, thread_question
from commands.questions.status import Move, Status
from commands.surveys import handlers as survey_results
from storage import questions as store
from storage import state as state_store
from storage import surveys as survey_store

# A request still under way: its stages and deadlines count.
UNDER_WAY = (Status.OPEN, Status.CLAIMED, Status.ANSWERED)


@command(
    "stage",
    args=[Arg("stage", required=False), Arg("comment", ArgKind.REST, required=False)],
    roles=ADVISERS_ONLY,
    places=IN_ADVISER_ROOM,
    aliases={"sv": ["steg"]},
)
async def stage(ctx: CommandContext, args: dict[str, Any]) -> None:
    """Move the request on (or back) to a stage; without one, show its stages and history.
    The comment is internal: it stays in the advisers' thread and the history."""
    question = await thread_question(ctx)
    if question is None:
        return
    category = ctx.config.category(question.category)
    if category is None or not category.stages:
        await ctx.reply(ctx.t("stages.none", number=question.id))
        return
    history = await store.stages_of(ctx.tx, question.id)
    tz = ctx.config.bot.timezone
    wanted = args.get("stage")
    if wanted is None:
        lines = [
            ctx.t("stages.history_line", stage=name, when=i18n.format_datetime(ctx.lang, at, tz))
            for name, at in stages.timeline(category, question, history)
        ]
        ids = ", ".join(s.id for s in category.stages)
        lines = messages.bounded_lines(lines, lambda n: ctx.t("lists.more", count=n))
        await ctx.reply(
            "\n".join([ctx.t("stages.history", number=question.id, stages=ids), *lines])
        )
        return
    target = category.stage(wanted)
    if target is None:
        ids = ", ".join(s.id for s in category.stages)
        await ctx.reply(ctx.t("stages.unknown", stage=wanted[:50], stages=ids))
        return
    if question.status == Status.WITHDRAWN:
        await ctx.reply(ctx.t("stages.withdrawn", number=question.id))
        return
    here = stages.position(category, question, history)
    if here is not None and here.stage.id == target.id:
        await ctx.reply(ctx.t("stages.already", number=question.id, stage=target.name))
        return
    now = clock.now_ms()
    comment = str(args.get("comment") or "")[:2000]
    entry_id = await store.enter_stage(
        ctx.tx, question.id, target.id, now, ctx.event.sender, comment
    )
    await store.responded(ctx.tx, question.id, now)
    last = target.id == category.stages[-1].id
    if last and question.status != Status.CLOSED:
        await bridge.move(ctx, question, Move.CLOSE)
    elif not last and question.status == Status.CLOSED:
        await bridge.move(ctx, question, Move.REOPEN)
    else:
        await bridge.refresh_root(ctx, question.id)
    # The asker's thread: a short notice of the stage (never the comment).
    entry = store.StageEntry(entry_id, question.id, target.id, now, ctx.event.sender, "", None)
    pos = stages.position(category, question, [*history, entry])
    assert pos is not None
    lang = ctx.config.language_of(question.cohort_id)
    notice = i18n.t(
        lang,
        "stages.to_asker",
        number=question.id,
        stage=target.name,
        index=pos.index + 1,
        count=len(category.stages),
    )
    await ctx.send(
        question.origin_room,
        messages.notice(notice, thread_root=EventID(question.origin_event)),
    )
    await ctx.reply(stages.describe(ctx.lang, category, pos, tz))


@periodic("stage-reminders")
async def remind_stages(ctx: BaseContext, now_ms: int) -> None:
    """One reminder per stage: when the next stage of a request under way is overdue, the
    advisers on duty are told in its thread, naming the stage and when it was due."""
    staged = {c.id: c for c in ctx.config.advisers.categories if c.stages}
    if not staged:
        return
    tz = ctx.config.bot.timezone
    under_way = await store.in_categories(ctx.tx, list(staged), UNDER_WAY)
    histories = await store.stages_of_many(ctx.tx, [q.id for q in under_way])
    for question in under_way:
        category = staged[question.category]
        pos = stages.position(category, question, histories.get(question.id, []))
        if pos is None or pos.next is None or pos.due is None or pos.reminded:
            continue
        if not pos.overdue(now_ms):
            continue
        on_duty = ctx.config.on_duty(category)
        body = ctx.t(
            "stages.overdue",
            number=question.id,
            stage=pos.next.name,
            when=i18n.format_datetime(ctx.lang, pos.due, tz),
            advisers=", ".join(on_duty),
        )
        await ctx.send(
            question.adviser_room,
            messages.text(
                body,
                thread_root=EventID(question.root_ref),
                mentions=[UserID(u) for u in on_duty],
            ),
        )
        await store.stage_reminded(ctx.tx, question.id, pos.entry_id, now_ms)


MIMETYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "md": "text/markdown",
}


@command(
    "summary",
    args=[Arg("format", required=False)],
    roles=ADVISERS_ONLY,
    places=IN_ADVISER_ROOM,
    aliases={"sv": ["sammanfattning"]},
)
async def summary_command(ctx: CommandContext, args: dict[str, Any]) -> None:
    """The request's documentation (question, stages with dates, answers; never the internal
    notes) as a file in the asker's thread, and a copy in the advisers' thread."""
    question = await thread_question(ctx)
    if question is None:
        return
    kind = str(args.get("format") or "docx").casefold().removeprefix(".")
    if kind not in summary.FORMATS:
        await ctx.reply(ctx.t("summary.formats", format=kind[:20]))
        return
    if question.status == Status.WITHDRAWN:
        await ctx.reply(ctx.t("stages.withdrawn", number=question.id))
        return
    # A job, written with the command: done (and deleted) in the transaction that sends the
    # files; if the bot stops before, the periodic pass below does it after the restart.
    job = {"question": question.id, "kind": kind, "command": ctx.event.event_id, "lang": ctx.lang}
    key = f"{SUMMARY_JOB}{question.id}:{ctx.event.event_id}"
    await state_store.set_value(ctx.tx, key, json.dumps(job))
    ctx.after_commit(partial(run_summary_job, ctx.services, key))


SUMMARY_JOB = "summary-job:"


@periodic("request-summaries")
async def retry_summaries(ctx: BaseContext, now_ms: int) -> None:
    """Documentation asked for but not sent (the bot stopped in between): written now."""
    for key in await state_store.values_with_prefix(ctx.tx, SUMMARY_JOB):
        ctx.after_commit(partial(run_summary_job, ctx.services, key))


async def run_summary_job(services: Services, key: str) -> None:
    """Gather, write (in a worker thread), upload, then send and finish the job in one
    transaction; a job already finished (by another run) sends nothing."""
    found: list[tuple[dict[str, Any], summary.Documentation, store.Question]] = []

    async def gather(c: BaseContext) -> None:
        raw = await state_store.get_value_tx(c.tx, key)
        question = await store.get(c.tx, json.loads(raw)["question"]) if raw else None
        if raw is not None and question is not None:
            found.append((json.loads(raw), await documentation(c, question), question))
        elif raw is not None:
            await state_store.delete_value(c.tx, key)

    await services.in_transaction(gather)
    if not found:
        return
    job, doc, question = found[0]
    kind, config = job["kind"], services.config
    lang, tz = config.language_of(question.cohort_id), config.bot.timezone
    filename = f"{i18n.t(job['lang'], 'summary.filename', number=doc.number)}.{kind}"
    render = summary.docx if kind == "docx" else summary.markdown
    data = await asyncio.to_thread(render, doc, lang, tz)
    threads = (
        (RoomID(question.origin_room), question.origin_event),
        (RoomID(question.adviser_room), question.root_ref),
    )
    # Encrypted for an encrypted room, plain for a plain one (bot/uploads.py).
    media = await upload_for(
        services, [room for room, _ in threads], data, MIMETYPES[kind], filename
    )
    complete = all(room in media for room, _ in threads)

    async def send(c: BaseContext) -> None:
        if await state_store.get_value_tx(c.tx, key) is None:
            return  # done meanwhile
        await state_store.delete_value(c.tx, key)
        if complete:  # both threads get it, or neither (and the advisers are told it failed)
            for room, root in threads:
                file = messages.file(
                    media[room], filename, MIMETYPES[kind], len(data), thread_root=EventID(root)
                )
                await c.send(room, file)
        said = "summary.sent" if complete else "summary.failed"
        tell = messages.notice(
            i18n.t(job["lang"], said, number=doc.number),
            thread_root=EventID(question.root_ref),
            reply_to=EventID(job["command"]),
        )
        await c.send(question.adviser_room, tell)

    await services.in_transaction(send)


async def documentation(ctx: BaseContext, question: store.Question) -> summary.Documentation:
    """What the request's documentation holds, as it stands now."""
    category = ctx.config.category(question.category)
    timeline = (
        stages.timeline(category, question, await store.stages_of(ctx.tx, question.id))
        if category is not None
        else []
    )
    return summary.Documentation(
        number=question.id,
        category=category.name if category else question.category,
        question=question.text,
        asked_at=question.created_at,
        stages=timeline,
        answers=await store.answers_of(ctx.tx, question.id),
        evaluation=await _evaluation(ctx, question),
    )


async def _evaluation(ctx: BaseContext, question: store.Question) -> list[str]:
    """The evaluation survey's results as the asker got them (``min_group`` applied); a line
    saying it is under way while it is open; nothing without one."""
    lang = ctx.config.language_of(question.cohort_id)
    round_id = await store.round_of(ctx.tx, question.id)
    rnd = await survey_store.get_round(ctx.tx, round_id) if round_id is not None else None
    survey = ctx.config.survey(rnd.survey_id) if rnd is not None else None
    if rnd is None or survey is None:
        return []
    if rnd.closed_at is None:
        return [i18n.t(lang, "summary.evaluation_open", title=survey.title)]
    text, _, _ = await survey_results.results_text(ctx, survey, [rnd], lang)
    return text.splitlines()
