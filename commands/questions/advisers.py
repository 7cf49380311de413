"""The advisers' side of the bridge: answers, notes, claims, !close, !reopen, !queue,
!publish, and reminders for questions nobody has answered."""

from __future__ import annotations

from typing import Any

from bot import clock, i18n, messages
from bot.context import BaseContext, CommandContext, EventContext
from bot.messages import escape
from bot.registry import Arg, ArgKind, command, listener, periodic
from bot.types import EventID, Place, UserID, redacted_event_id
from commands.materials.service import PublishedAnswer, add_published_answer
from commands.questions import bridge, stages, summary
from commands.questions import queue as queues
from commands.questions.status import WAITING, Move, Status, after
from config import Role
from storage import questions as store
from storage import state as state_store
from storage.questions import Question, StageEntry

ADVISERS_ONLY = {Role.ADVISER}
IN_ADVISER_ROOM = (Place.ADVISERS,)


def _may_handle(ctx: EventContext, question: Question) -> bool:
    category = ctx.config.category(question.category)
    return ctx.event.sender in ctx.config.handlers_of(category)


async def thread_question(ctx: CommandContext) -> Question | None:
    """The question whose thread the command was written in; answers the adviser if none."""
    root = ctx.event.thread_root
    question = await store.by_root(ctx.tx, ctx.event.room_id, root) if root else None
    if question is None:
        await ctx.reply(ctx.t("questions.not_in_thread"))
        return None
    if not _may_handle(ctx, question):
        await ctx.reply(ctx.t("questions.not_your_category", number=question.id))
        return None
    return question


async def _not_now(ctx: CommandContext, question: Question) -> None:
    status = bridge.status_text(ctx.lang, question, None)
    await ctx.reply(ctx.t("questions.not_now", number=question.id, status=status))


@command("claim", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["ta"]})
async def claim(ctx: CommandContext, args: dict[str, Any]) -> None:
    question = await thread_question(ctx)
    if question is None:
        return
    if await bridge.move(ctx, question, Move.CLAIM, by=ctx.event.sender):
        await ctx.react("✅")
    else:
        await _not_now(ctx, question)


@command(
    "note",
    args=[Arg("text", ArgKind.REST)],
    roles=ADVISERS_ONLY,
    places=IN_ADVISER_ROOM,
    aliases={"sv": ["anteckning"]},
)
async def note(ctx: CommandContext, args: dict[str, Any]) -> None:
    """Internal: stays in the advisers' thread, never reaches the asker."""
    question = await thread_question(ctx)
    if question is not None:
        # Remembered as a note, so a reply quoting it is known as one (never relayed).
        await store.add_link(ctx.tx, ctx.event.event_id, question.id, "note", ctx.event.sender)
        await store.responded(ctx.tx, question.id, clock.now_ms())
        await ctx.react("📝")


@command("close", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["stäng"]})
async def close(ctx: CommandContext, args: dict[str, Any]) -> None:
    question = await thread_question(ctx)
    if question is None:
        return
    if await bridge.move(ctx, question, Move.CLOSE):
        await ctx.reply(ctx.t("questions.closed", number=question.id))
    else:
        await _not_now(ctx, question)


@command("reopen", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["öppna"]})
async def reopen(ctx: CommandContext, args: dict[str, Any]) -> None:
    question = await thread_question(ctx)
    if question is None:
        return
    if await bridge.move(ctx, question, Move.REOPEN):
        await ctx.reply(ctx.t("questions.reopened", number=question.id))
    else:
        await _not_now(ctx, question)


@command("publish", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["publicera"]})
async def publish(ctx: CommandContext, args: dict[str, Any]) -> None:
    question = await thread_question(ctx)
    if question is None:
        return
    if question.private or not question.answered_at:
        await ctx.reply(ctx.t("questions.cannot_publish", number=question.id))
        return
    await store.update(ctx.tx, question.id, published=1)
    # The question becomes a question-and-answer entry in the cohort's materials catalogue.
    if question.cohort_id is not None and question.text:
        category = ctx.config.category(question.category)
        entry = PublishedAnswer(
            cohort_id=question.cohort_id,
            room_id=question.origin_room,
            event_id=question.origin_event,
            question=question.text,
            category_name=category.name if category else question.category,
            publisher=ctx.event.sender,
            publisher_name=ctx.services.display_name(ctx.event.room_id, ctx.event.sender),
        )
        await add_published_answer(ctx.tx, entry)
    await ctx.reply(ctx.t("questions.published", number=question.id))


@command(
    "queue",
    args=[Arg("filter", required=False)],
    roles=ADVISERS_ONLY,
    places=IN_ADVISER_ROOM,
    aliases={"sv": ["kö"]},
)
async def queue(ctx: CommandContext, args: dict[str, Any]) -> None:
    """What is waiting, per category, oldest first; ``mine``, ``overdue``, a status or a
    category narrows it."""
    categories = ctx.config.advisers.categories
    what = queues.parse_filter(args.get("filter"), categories)
    if what is None:
        names = ", ".join(c.id for c in categories)
        await ctx.reply(ctx.t("questions.queue_filters", word=args["filter"], categories=names))
        return
    now = clock.now_ms()
    # Waiting for an answer, and staged requests under way (answered or not).
    staged = {c.id for c in categories if c.stages}
    statuses = WAITING | ({Status.ANSWERED} if staged else set())
    waiting = [
        q
        for q in await store.waiting(ctx.tx, [ctx.event.room_id], statuses)
        if q.status in WAITING or q.category in staged
    ]
    histories = await store.stages_of_many(ctx.tx, [q.id for q in waiting if q.category in staged])
    dues = {q.id: next_due(ctx, q, histories.get(q.id, [])) for q in waiting}

    def is_late(q: Question) -> bool:
        due = dues[q.id]
        return due is not None and due[0] <= now

    found = queues.select(waiting, what, adviser=ctx.event.sender, overdue=is_late)
    if not found:
        await ctx.reply(ctx.t("questions.queue_empty"))
        return
    tz = ctx.config.bot.timezone
    late = [q for q in found if is_late(q)]
    entries: list[tuple[bool, str]] = []  # (a category's heading, text)
    for category_id, group in queues.by_category(found, categories):
        category = ctx.config.category(category_id)
        name = category.name if category else category_id
        overdue_count = sum(1 for q in group if q in late)
        entries.append(
            (True, ctx.t("questions.queue_group", category=name, count=len(group),
                         overdue=overdue_count))
        )  # fmt: skip
        for t in group:
            claimer = (
                ctx.services.display_name(t.adviser_room, t.claimed_by) if t.claimed_by else ""
            )
            line = ctx.t(
                "questions.queue_line",
                number=t.id,
                age=i18n.format_duration(ctx.lang, now - t.created_at),
                category=name,
                status=bridge.status_text(ctx.lang, t, claimer),
            )
            due = dues[t.id]
            if due is not None:
                at, stage_name = due
                when = i18n.format_datetime(ctx.lang, at, tz)
                if stage_name is None:
                    key = "questions.queue_overdue" if at <= now else "questions.queue_due"
                    line += " · " + ctx.t(key, when=when)
                else:
                    key = (
                        "questions.queue_stage_overdue"
                        if at <= now
                        else "questions.queue_stage_due"
                    )
                    line += " · " + ctx.t(key, stage=stage_name, when=when)
            entries.append((False, line))
    title = ctx.t("questions.queue_title", count=len(found), overdue=len(late))
    page = messages.fitting(
        len(entries),
        lambda n: _grouped(title, entries, n, ctx.t("lists.more", count=len(entries) - n)),
    )
    await ctx.reply(page.body, html_body=page.html)


def _grouped(title: str, entries: list[tuple[bool, str]], n: int, more: str) -> messages.Page:
    """The queue with its first ``n`` entries (a category's heading, or a question under it),
    and ``more`` as the last line if some are left out: text and well-formed HTML."""
    body_lines, html = [title], f"<p>{escape(title)}</p>"
    open_list = False
    for heading, text in entries[:n]:
        if heading:
            html += ("</ul>" if open_list else "") + f"<p><b>{escape(text)}</b></p>"
            open_list = False
            body_lines.append(text)
            continue
        if not open_list:
            html += "<ul>"
            open_list = True
        html += f"<li>{escape(text)}</li>"
        body_lines.append(f"  {text}")
    html += "</ul>" if open_list else ""
    if n < len(entries):
        body_lines.append(more)
        html += f"<p>{escape(more)}</p>"
    return messages.Page("\n".join(body_lines), html, n)


def next_due(
    ctx: BaseContext, question: Question, history: list[StageEntry]
) -> tuple[int, str | None] | None:
    """What is due next and when (perhaps already past): the answer, by the category's service
    level (``(when, None)``), or a staged request's next stage (``(when, its name)``, from its
    ``history``), whichever comes first; None if nothing is."""
    found: list[tuple[int, str | None]] = []
    if question.answered_at is None:
        found.append((deadline(ctx, question), None))
    category = ctx.config.category(question.category)
    if category is not None and category.stages:
        pos = stages.position(category, question, history)
        if pos is not None and pos.next is not None and pos.due is not None:
            found.append((pos.due, pos.next.name))
    return min(found, key=lambda d: d[0]) if found else None


# --- listeners in the advisers' room -----------------------------------------------------------


async def _report_stranger(ctx: EventContext) -> None:
    """Someone who is not an adviser wrote in the advisers' room: ignored, admins told once."""
    key = f"stranger:{ctx.event.room_id}:{ctx.event.sender}"
    if await state_store.get_value_tx(ctx.tx, key) is not None:
        return
    await state_store.set_value(ctx.tx, key, "1")
    await ctx.notify_admins(ctx.t("questions.stranger", user=ctx.event.sender))


@listener("m.room.message", places=IN_ADVISER_ROOM)
async def adviser_message(ctx: EventContext) -> None:
    event = ctx.event
    if Role.ADVISER not in ctx.roles:
        if Role.ADMIN not in ctx.roles:
            await _report_stranger(ctx)
        return
    if event.is_edit:
        await _answer_edit(ctx)
        return
    root = event.thread_root
    if root is None or event.body.lstrip().startswith("!"):
        return
    question = await store.by_root(ctx.tx, event.room_id, root)
    if question is None or not _may_handle(ctx, question) or question.status == Status.WITHDRAWN:
        return
    content = await _answer_content(ctx, question)
    if content is None:
        return  # nothing to relay (empty, quotes a note, too long: the adviser was told)
    outbox_id = await ctx.send(question.origin_room, content, owner=event.sender)
    await store.add_link(
        ctx.tx,
        event.event_id,
        question.id,
        "answer",
        event.sender,
        question.origin_room,
        outbox_id,
        text=summary.answer_text(event.content, event.body),
    )
    status = after(Move.ANSWER, question.status)
    now = clock.now_ms()
    await store.update(ctx.tx, question.id, status=status, answered_at=question.answered_at or now)
    await store.responded(ctx.tx, question.id, now)
    await bridge.refresh_root(ctx, question.id)


async def _answer_content(
    ctx: EventContext, question: Question, text: str | None = None
) -> dict[str, object] | None:
    lang = ctx.config.language_of(question.cohort_id)
    if ctx.config.advisers.attribution == "name":
        name = ctx.services.display_name(ctx.event.room_id, ctx.event.sender)
        prefix = i18n.t(lang, "questions.answer_from_name", name=name, number=question.id)
    else:
        prefix = i18n.t(lang, "questions.answer_from_team", number=question.id)
    return await bridge.relay_copy(
        ctx, prefix, question.origin_event, text=text, mentions=[UserID(question.asker)]
    )


async def _answer_edit(ctx: EventContext) -> None:
    found = await bridge.edited_copy(ctx, "answer")
    if found is None:
        return
    question, copy, text = found
    content = await _answer_content(ctx, question, text)
    if content is not None:
        original = str(ctx.event.relates_to.get("event_id"))
        await store.set_link_text(ctx.tx, original, text)
        await ctx.send(
            question.origin_room,
            messages.edit(EventID(f"$outbox:{copy}"), content),
            owner=ctx.event.sender,
        )


@listener("m.reaction", places=IN_ADVISER_ROOM)
async def claim_by_reaction(ctx: EventContext) -> None:
    if Role.ADVISER not in ctx.roles:
        return
    rel = ctx.event.relates_to
    if rel.get("rel_type") != "m.annotation" or rel.get("key") not in bridge.CLAIM_KEYS:
        return
    question = await store.by_root(ctx.tx, ctx.event.room_id, str(rel.get("event_id")))
    if question is None or not _may_handle(ctx, question):
        return
    if after(Move.CLAIM, question.status) is None:
        return
    await store.add_link(ctx.tx, ctx.event.event_id, question.id, "claim", ctx.event.sender)
    await bridge.move(ctx, question, Move.CLAIM, by=ctx.event.sender)


@listener("m.room.redaction", places=IN_ADVISER_ROOM)
async def adviser_redaction(ctx: EventContext) -> None:
    target = redacted_event_id(ctx.event)
    link = await store.link(ctx.tx, target) if target else None
    if link is None or target is None:
        return
    question = await store.get(ctx.tx, link.question_id)
    await store.remove_link(ctx.tx, target)
    if question is None:
        return
    if link.kind == "claim":
        if question.claimed_by == link.author:
            await bridge.move(ctx, question, Move.UNCLAIM)
    elif link.kind == "answer" and link.target_outbox is not None:
        await ctx.redact(question.origin_room, f"$outbox:{link.target_outbox}")


# --- reminders ---------------------------------------------------------------------------------


@periodic("question-reminders")
async def remind(ctx: BaseContext, now_ms: int) -> None:
    """One reminder per question left unanswered longer than its category's service level
    (``reminder_after``), naming the deadline and the advisers on duty."""
    soonest = min(ctx.config.advisers.reminder_seconds(c) for c in ctx.config.advisers.categories)
    candidates = await store.due_reminders(ctx.tx, now_ms - soonest * 1000, WAITING)
    for question in candidates:
        category = ctx.config.category(question.category)
        due = deadline(ctx, question)
        if due > now_ms:
            continue
        on_duty = ctx.config.on_duty(category)
        body = ctx.t(
            "questions.reminder",
            number=question.id,
            age=i18n.format_duration(ctx.lang, now_ms - question.created_at),
            deadline=i18n.format_datetime(ctx.lang, due, ctx.config.bot.timezone),
            advisers=", ".join(on_duty),
        )
        # Keyed by the question, not the text (which says how long it has waited): a
        # restored bot reminding again is recognised as having reminded (storage/outbox.py).
        with ctx.about(f"reminder:{question.origin_event}"):
            await ctx.send(
                question.adviser_room,
                messages.text(
                    body,
                    reply_to=EventID(question.root_ref),
                    mentions=[UserID(u) for u in on_duty],
                ),
            )
        await store.update(ctx.tx, question.id, reminded_at=now_ms)


def deadline(ctx: BaseContext, question: Question) -> int:
    """When the answer is due: asked plus the category's service level."""
    category = ctx.config.category(question.category)
    return question.created_at + ctx.config.advisers.reminder_seconds(category) * 1000
