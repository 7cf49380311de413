"""The advisers' side of the bridge: answers, notes, claims, !close, !reopen, !queue,
!publish, and reminders for questions nobody has answered."""

from __future__ import annotations

from typing import Any

from bot import i18n, messages
from bot.context import BaseContext, CommandContext, EventContext
from bot.messages import escape
from bot.registry import Arg, ArgKind, command, listener, periodic
from bot.rooms import KICK_REASON, wanted_rooms
from bot.types import EventID, Place, UserID, redacted_event_id
from commands.questions import bridge as questions
from config import Role
from storage import questions as ticket_store
from storage import state as state_store
from storage.questions import Ticket

ADVISERS_ONLY = {Role.ADVISER}
IN_ADVISER_ROOM = (Place.ADVISERS,)


def _may_handle(ctx: EventContext, ticket: Ticket) -> bool:
    category = ctx.config.category(ticket.category)
    return ctx.event.sender in questions.advisers_for(ctx.config, category)


async def _thread_ticket(ctx: CommandContext) -> Ticket | None:
    """The question whose thread the command was written in; answers the adviser if none."""
    root = ctx.event.thread_root
    ticket = await ticket_store.by_root(ctx.tx, ctx.event.room_id, root) if root else None
    if ticket is None:
        await ctx.reply(ctx.t("questions.not_in_thread"))
        return None
    if not _may_handle(ctx, ticket):
        await ctx.reply(ctx.t("questions.not_your_category", number=ticket.id))
        return None
    return ticket


@command("claim", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["ta"]})
async def claim(ctx: CommandContext, args: dict[str, Any]) -> None:
    ticket = await _thread_ticket(ctx)
    if ticket is None:
        return
    await questions.set_status(ctx, ticket, "claimed", claimed_by=ctx.event.sender)
    await ctx.react("✅")


@command(
    "note",
    args=[Arg("text", ArgKind.REST)],
    roles=ADVISERS_ONLY,
    places=IN_ADVISER_ROOM,
    aliases={"sv": ["anteckning"]},
)
async def note(ctx: CommandContext, args: dict[str, Any]) -> None:
    """Internal: stays in the advisers' thread, never reaches the asker."""
    ticket = await _thread_ticket(ctx)
    if ticket is not None:
        # Remembered as a note, so a reply quoting it is known as one (never relayed).
        await ticket_store.add_link(ctx.tx, ctx.event.event_id, ticket.id, "note", ctx.event.sender)
        await ctx.react("📝")


@command("close", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["stäng"]})
async def close(ctx: CommandContext, args: dict[str, Any]) -> None:
    ticket = await _thread_ticket(ctx)
    if ticket is None:
        return
    await questions.set_status(ctx, ticket, "closed", claimed_by=ticket.claimed_by)
    await ctx.reply(ctx.t("questions.closed", number=ticket.id))


@command("reopen", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["öppna"]})
async def reopen(ctx: CommandContext, args: dict[str, Any]) -> None:
    ticket = await _thread_ticket(ctx)
    if ticket is None:
        return
    status = "claimed" if ticket.claimed_by else questions.status_after_unclaim(ticket)
    await questions.set_status(ctx, ticket, status, claimed_by=ticket.claimed_by)
    await ctx.reply(ctx.t("questions.reopened", number=ticket.id))


@command("publish", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["publicera"]})
async def publish(ctx: CommandContext, args: dict[str, Any]) -> None:
    ticket = await _thread_ticket(ctx)
    if ticket is None:
        return
    if ticket.private or not ticket.answered_at:
        await ctx.reply(ctx.t("questions.cannot_publish", number=ticket.id))
        return
    await ticket_store.update(ctx.tx, ticket.id, published=1)
    # The question becomes a question-and-answer entry in the cohort's materials catalogue.
    from commands.materials.handlers import add_published_answer

    await add_published_answer(ctx, ticket)
    await ctx.reply(ctx.t("questions.published", number=ticket.id))


@command("queue", roles=ADVISERS_ONLY, places=IN_ADVISER_ROOM, aliases={"sv": ["kö"]})
async def queue(ctx: CommandContext, args: dict[str, Any]) -> None:
    tickets = await ticket_store.open_tickets(ctx.tx, [ctx.event.room_id])
    if not tickets:
        await ctx.reply(ctx.t("questions.queue_empty"))
        return
    now = ticket_store.now_ms()
    lines = []
    for t in tickets:
        category = ctx.config.category(t.category)
        claimer = ctx.services.display_name(t.adviser_room, t.claimed_by) if t.claimed_by else ""
        lines.append(
            ctx.t(
                "questions.queue_line",
                number=t.id,
                age=questions.age_text(ctx.lang, now - t.created_at),
                category=category.name if category else t.category,
                status=questions.status_text(ctx.lang, t, claimer),
            )
        )
    title = ctx.t("questions.queue_title", count=len(tickets))
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


@listener("m.room.member", places=IN_ADVISER_ROOM)
async def adviser_room_member(ctx: EventContext) -> None:
    """Someone invited to or joining an advisers' room who is not configured for it is removed
    at once, and the admins are told: the room's history holds every case, private ones too.
    (Only the bot and admins may invite there; this catches what power levels cannot, e.g. an
    admin's mistaken invite or a room whose levels were changed by hand.)"""
    event = ctx.event
    user = event.state_key
    membership = event.content.get("membership")
    if not user or user == ctx.services.user_id:
        return
    key = f"removing:{event.room_id}:{user}"
    if membership not in ("invite", "join", "knock"):
        await state_store.delete_value(ctx.tx, key)  # gone: a later invite is news again
        return
    wanted = next(
        (w for w in wanted_rooms(ctx.config) if ctx.services.room_of(w.key) == event.room_id),
        None,
    )
    if wanted is None or not wanted.restricted or user in wanted.members | wanted.admins:
        return
    if await state_store.get_value_tx(ctx.tx, key) is not None:
        return  # already being removed (an invite and its join in one sync)
    await state_store.set_value(ctx.tx, key, event.event_id)
    await ctx.kick(event.room_id, user, KICK_REASON)
    await ctx.notify_admins(
        ctx.t("rooms.removed_now", user=user, room=wanted.target, by=event.sender)
    )


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
    ticket = await ticket_store.by_root(ctx.tx, event.room_id, root)
    if ticket is None or not _may_handle(ctx, ticket) or ticket.status == "withdrawn":
        return
    content = await _answer_content(ctx, ticket)
    if content is None:
        return  # nothing to relay (empty, quotes a note, too long: the adviser was told)
    outbox_id = await ctx.send(ticket.origin_room, content, owner=event.sender)
    await ticket_store.add_link(
        ctx.tx, event.event_id, ticket.id, "answer", event.sender, ticket.origin_room, outbox_id
    )
    fields: dict[str, Any] = {"answered_at": ticket.answered_at or ticket_store.now_ms()}
    if ticket.status in ("open", "claimed"):
        fields["status"] = "answered"
    await ticket_store.update(ctx.tx, ticket.id, **fields)
    await questions.refresh_root(ctx, ticket.id)


async def _answer_content(
    ctx: EventContext, ticket: Ticket, text: str | None = None
) -> dict[str, object] | None:
    lang = _asker_lang(ctx, ticket)
    if ctx.config.advisers.attribution == "name":
        name = ctx.services.display_name(ctx.event.room_id, ctx.event.sender)
        prefix = i18n.t(lang, "questions.answer_from_name", name=name, number=ticket.id)
    else:
        prefix = i18n.t(lang, "questions.answer_from_team", number=ticket.id)
    return await questions.relay_copy(
        ctx, prefix, ticket.origin_event, text=text, mentions=[UserID(ticket.asker)]
    )


def _asker_lang(ctx: BaseContext, ticket: Ticket) -> str:
    cohort = ctx.config.cohort(ticket.cohort_id) if ticket.cohort_id else None
    return ctx.config.cohort_language(cohort) if cohort else ctx.config.bot.language


async def _answer_edit(ctx: EventContext) -> None:
    found = await questions.edited_copy(ctx, "answer")
    if found is None:
        return
    ticket, copy, text = found
    content = await _answer_content(ctx, ticket, text)
    if content is not None:
        await ctx.send(
            ticket.origin_room,
            messages.edit(EventID(f"$outbox:{copy}"), content),
            owner=ctx.event.sender,
        )


@listener("m.reaction", places=IN_ADVISER_ROOM)
async def claim_by_reaction(ctx: EventContext) -> None:
    if Role.ADVISER not in ctx.roles:
        return
    rel = ctx.event.relates_to
    if rel.get("rel_type") != "m.annotation" or rel.get("key") not in questions.CLAIM_KEYS:
        return
    ticket = await ticket_store.by_root(ctx.tx, ctx.event.room_id, str(rel.get("event_id")))
    if ticket is None or not _may_handle(ctx, ticket) or ticket.status in ("closed", "withdrawn"):
        return
    await ticket_store.add_link(ctx.tx, ctx.event.event_id, ticket.id, "claim", ctx.event.sender)
    await questions.set_status(ctx, ticket, "claimed", claimed_by=ctx.event.sender)


@listener("m.room.redaction", places=IN_ADVISER_ROOM)
async def adviser_redaction(ctx: EventContext) -> None:
    target = redacted_event_id(ctx.event)
    link = await ticket_store.link(ctx.tx, target) if target else None
    if link is None or target is None:
        return
    ticket = await ticket_store.get(ctx.tx, link.ticket_id)
    await ticket_store.remove_link(ctx.tx, target)
    if ticket is None:
        return
    if link.kind == "claim":
        if ticket.claimed_by == link.author and ticket.status == "claimed":
            await questions.set_status(ctx, ticket, questions.status_after_unclaim(ticket))
    elif link.kind == "answer" and link.target_outbox is not None:
        await ctx.redact(ticket.origin_room, f"$outbox:{link.target_outbox}")


# --- reminders ---------------------------------------------------------------------------------


@periodic("question-reminders")
async def remind(ctx: BaseContext, now_ms: int) -> None:
    """One reminder per question left unanswered longer than advisers.reminder_after."""
    limit = now_ms - ctx.config.advisers.reminder_after_seconds * 1000
    for ticket in await ticket_store.due_reminders(ctx.tx, limit):
        on_duty = sorted(questions.advisers_for(ctx.config, ctx.config.category(ticket.category)))
        body = ctx.t(
            "questions.reminder",
            number=ticket.id,
            age=questions.age_text(ctx.lang, now_ms - ticket.created_at),
            advisers=", ".join(on_duty),
        )
        await ctx.send(
            ticket.adviser_room,
            messages.text(
                body, reply_to=EventID(ticket.root_ref), mentions=[UserID(u) for u in on_duty]
            ),
        )
        await ticket_store.update(ctx.tx, ticket.id, reminded_at=now_ms)
