"""!ask and !mine: participants' side of the adviser bridge."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot import clock, messages
from bot.context import CommandContext, EventContext
from bot.messages import escape
from bot.registry import Arg, ArgKind, command, listener, split_command
from bot.types import EventID, Place, RoomEvent, redacted_event_id
from commands.questions import bridge
from commands.questions.status import Status
from config import Role
from storage import questions as store
from storage.questions import Question

ASKERS = {Role.PARTICIPANT, Role.FACILITATOR}


@command(
    "ask",
    args=[Arg("question", ArgKind.REST)],
    roles=ASKERS,
    places=(Place.COHORT, Place.DIRECT),
    aliases={"sv": ["fråga"]},
)
async def ask(ctx: CommandContext, args: dict[str, Any]) -> None:
    category, wording, unknown = bridge.pick_category(ctx.config, args["question"])
    if category is None:
        names = ", ".join(f"{c.id} ({c.name})" for c in ctx.config.advisers.categories)
        await ctx.reply(ctx.t("questions.unknown_category", category=unknown, categories=names))
        return
    if not wording:
        assert ctx.spec is not None
        await ctx.reply(ctx.t("errors.usage", usage=ctx.spec.usage(ctx.lang)))
        return
    private = ctx.place == Place.DIRECT
    cohort = ctx.cohort
    if cohort is None:
        mine = ctx.config.cohorts_of(ctx.event.sender)
        cohort = mine[0] if mine else None
    adviser_room = ctx.services.room_of(bridge.adviser_room_key(category))
    if adviser_room is None:
        raise RuntimeError(f"no adviser room for category {category.id}")

    question = Question(
        id=await store.next_id(ctx.tx),
        asker=ctx.event.sender,
        cohort_id=cohort.id if cohort else None,
        private=private,
        category=category.id,
        origin_room=ctx.event.room_id,
        origin_event=ctx.event.event_id,
        adviser_room=adviser_room,
        root_outbox=0,
        text=wording,
        created_at=clock.now_ms(),
        asker_role=(Role.FACILITATOR if Role.FACILITATOR in ctx.roles else Role.PARTICIPANT),
    )
    root = await bridge.root_content(ctx, question)
    if not messages.fits_edited(root):
        # Refused before anything is stored or acknowledged: the asker is never told "sent"
        # for a copy the homeserver would refuse (its question stays in the room, unchanged).
        await ctx.reply(ctx.t("questions.too_long", length=len(wording), most=bridge.MOST_CHARS))
        return
    root_outbox = await ctx.send(
        adviser_room,
        root,
        purpose="question_root",
        ref=str(question.id),
        owner=ctx.event.sender,
    )
    number = await store.create(ctx.tx, replace(question, root_outbox=root_outbox))
    assert number == question.id
    await ctx.react(bridge.ACK_KEY)
    key = "questions.sent_private" if private else "questions.sent"
    await ctx.send(
        ctx.event.room_id,
        messages.notice(
            ctx.t(key, number=number, category=category.name),
            thread_root=ctx.event.event_id,
        ),
    )


@command("mine", roles=ASKERS, places=(Place.COHORT, Place.DIRECT), aliases={"sv": ["mina"]})
async def mine(ctx: CommandContext, args: dict[str, Any]) -> None:
    """In a direct chat: all of the asker's questions. In a cohort room: only the public
    ones asked there (private questions never show in a shared room)."""
    found = await store.of_asker(ctx.tx, ctx.event.sender)
    if ctx.place == Place.COHORT:
        found = [t for t in found if not t.private and t.origin_room == ctx.event.room_id]
    if not found:
        await ctx.reply(ctx.t("questions.mine_none"))
        return
    lines = [
        ctx.t(
            "questions.mine_line",
            number=t.id,
            status=bridge.status_text(ctx.lang, t, None),
            question=messages.short(t.text or ctx.t("questions.withdrawn_text"), 80),
        )
        for t in found
    ]
    title = ctx.t("questions.mine_title")
    lines = messages.bounded_lines(lines, lambda n: ctx.t("lists.more", count=n))
    html = "".join(f"<li>{escape(line)}</li>" for line in lines)
    await ctx.reply("\n".join([title, *lines]), html_body=f"<p>{escape(title)}</p><ul>{html}</ul>")


def _question_text(body: str) -> str:
    """The question in an (edited) '!ask [category] …' body."""
    parsed = split_command(body)
    return parsed[1] if parsed else body


# --- the participant's side: details, edits and redactions ------------------------------------


ASKER_SIDE = (Place.COHORT, Place.DIRECT)


@listener("m.room.message", places=ASKER_SIDE)
async def asker_message(ctx: EventContext) -> None:
    event = ctx.event
    if event.is_edit:
        await _asker_edit(ctx, event)
        return
    root = event.thread_root
    if root is None or split_command(event.body) is not None:
        return
    question = await store.by_origin(ctx.tx, root)
    if question is None or question.asker != event.sender or question.status == Status.WITHDRAWN:
        return
    name = ctx.services.display_name(event.room_id, event.sender)
    content = await bridge.relay_copy(
        ctx, ctx.t("questions.detail_from", name=name, number=question.id), question.root_ref
    )
    if content is None:
        return
    outbox_id = await ctx.send(question.adviser_room, content, owner=event.sender)
    await store.add_link(
        ctx.tx,
        event.event_id,
        question.id,
        "detail",
        event.sender,
        question.adviser_room,
        outbox_id,
    )


async def _asker_edit(ctx: EventContext, event: RoomEvent) -> None:
    original = event.relates_to.get("event_id")
    new = event.content.get("m.new_content")
    if not isinstance(original, str) or not isinstance(new, dict):
        return
    text = str(new.get("body", ""))
    question = await store.by_origin(ctx.tx, original)
    if question is not None and question.asker == event.sender:
        _, wording, _ = bridge.pick_category(ctx.config, _question_text(text))
        if wording and not messages.fits_edited(
            await bridge.root_content(ctx, replace(question, text=wording))
        ):
            await ctx.reply(
                ctx.t("questions.edit_too_long", length=len(wording), most=bridge.MOST_CHARS)
            )
            return  # the advisers keep the question as it was
        if wording:
            await store.update(ctx.tx, question.id, text=wording)
            await bridge.refresh_root(ctx, question.id)
        return
    found = await bridge.edited_copy(ctx, "detail")
    if found is None:
        return
    question, copy, text = found
    name = ctx.services.display_name(event.room_id, event.sender)
    prefix = ctx.t("questions.detail_from", name=name, number=question.id)
    content = await bridge.relay_copy(ctx, prefix, question.root_ref, text=text)
    if content is not None:
        await ctx.send(
            question.adviser_room,
            messages.edit(EventID(f"$outbox:{copy}"), content),
            owner=event.sender,
        )


@listener("m.room.redaction", places=ASKER_SIDE)
async def asker_redaction(ctx: EventContext) -> None:
    target = redacted_event_id(ctx.event)
    if target is None:
        return
    question = await store.by_origin(ctx.tx, target)
    if question is not None:
        # The question is withdrawn: its text is erased here and the advisers' copy removed.
        await store.update(ctx.tx, question.id, status=Status.WITHDRAWN, text="")
        await ctx.redact(question.adviser_room, question.root_ref)
        return
    link = await store.link(ctx.tx, target)
    if link is not None and link.kind == "detail" and link.target_outbox is not None:
        await ctx.redact(link.target_room or "", f"$outbox:{link.target_outbox}")
        await store.remove_link(ctx.tx, target)
