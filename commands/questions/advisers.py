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
from commands.questions import bridge
from commands.questions.status import WAITING, Move, Status, after
from config import Role
from storage import questions as store
from storage import state as state_store
from storage.questions import Question

ADVISERS_ONLY = {Role.ADVISER}
IN_ADVISER_ROOM = (Place.ADVISERS,)


def _may_handle(ctx: EventContext, question: Question) -> bool:
    category = ctx.config.category(question.category)
    return ctx.event.sender in bridge.advisers_for(ctx.config, category)


async def _thread_question(ctx: CommandContext) -> Question | None:
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
    question = await _thread_question(ctx)
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
    question = await _thread_question(ctx)
    if question is not None:
        # Remembered as a note, so a reply quoting it is known as one (never relayed).
        await store.add_link(ctx.tx, ctx.event.event_id, question.id, "note", ctx.event.sender)
        await store.responded(ctx.tx, question.id, clock.now_ms())
        await ctx.react("📝")


@command("close", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["stäng"]})
async def close(ctx: CommandContext, args: dict[str, Any]) -> None:
    question = await _thread_question(ctx)
    if question is None:
        return
    if await bridge.move(ctx, question, Move.CLOSE):
        await ctx.reply(ctx.t("questions.closed", number=question.id))
    else:
        await _not_now(ctx, question)


@command("reopen", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["öppna"]})
async def reopen(ctx: CommandContext, args: dict[str, Any]) -> None:
    question = await _thread_question(ctx)
    if question is None:
        return
    if await bridge.move(ctx, question, Move.REOPEN):
        await ctx.reply(ctx.t("questions.reopened", number=question.id))
    else:
        await _not_now(ctx, question)


@command("publish", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["publicera"]})
async def publish(ctx: CommandContext, args: dict[str, Any]) -> None:
    question = await _thread_question(ctx)
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


@command("queue", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["kö"]})
async def queue(ctx: CommandContext, args: dict[str, Any]) -> None:
    found = await store.waiting(ctx.tx, [ctx.event.room_id], WAITING)
    if not found:
        await ctx.reply(ctx.t("questions.queue_empty"))
        return
    now = clock.now_ms()
    lines = []
    for t in found:
        category = ctx.config.category(t.category)
        claimer = ctx.services.display_name(t.adviser_room, t.claimed_by) if t.claimed_by else ""
        lines.append(
            ctx.t(
                "questions.queue_line",
                number=t.id,
                age=i18n.format_duration(ctx.lang, now - t.created_at),
                category=category.name if category else t.category,
                status=bridge.status_text(ctx.lang, t, claimer),
            )
        )
    title = ctx.t("questions.queue_title", count=len(found))
    lines = messages.bounded_lines(lines, lambda n: ctx.t("lists.more", count=n))
    html = "".join(f"<li>{escape(line)}</li>" for line in lines)
    await ctx.reply("\n".join([title, *lines]), html_body=f"<p>{escape(title)}</p><ul>{html}</ul>")


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
        ctx.tx, event.event_id, question.id, "answer", event.sender, question.origin_room, outbox_id
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
    """One reminder per question left unanswered longer than advisers.reminder_after."""
    limit = now_ms - ctx.config.advisers.reminder_after_seconds * 1000
    for question in await store.due_reminders(ctx.tx, limit, WAITING):
        on_duty = sorted(bridge.advisers_for(ctx.config, ctx.config.category(question.category)))
        body = ctx.t(
            "questions.reminder",
            number=question.id,
            age=i18n.format_duration(ctx.lang, now_ms - question.created_at),
            advisers=", ".join(on_duty),
        )
        await ctx.send(
            question.adviser_room,
            messages.text(
                body, reply_to=EventID(question.root_ref), mentions=[UserID(u) for u in on_duty]
            ),
        )
        await store.update(ctx.tx, question.id, reminded_at=now_ms)
