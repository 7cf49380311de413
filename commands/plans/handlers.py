"""``!plan`` (``!handlingsplan``): a cohort's action plans, in its room or a direct chat.

Facilitators manage their team's plan and its items; participants add items they are
responsible for (to the cohort's plan) and update those; advisers and admins read every plan.
Each change edits the plan's summary message in the cohort room in place.
"""

from __future__ import annotations

from typing import Any

from bot import clock, messages
from bot.context import BaseContext, CommandContext
from bot.registry import Arg, ArgKind, command, on_sent
from bot.types import EventID, Place
from commands.materials.parse import fold
from commands.plans import render
from commands.plans.status import Status, may_move, parse
from config import Cohort, Role
from storage import Tx
from storage import plans as store
from storage.outbox import OutboxItem
from storage.plans import WHOLE_COHORT, Item, Plan

SUBCOMMANDS = {
    "add": "add",
    "ny": "add",
    "lagg": "add",
    "status": "status",
    "edit": "edit",
    "andra": "edit",
    "remove": "remove",
    "bort": "remove",
    "show": "show",
    "visa": "show",
    "list": "list",
    "lista": "list",
}
READ_ALL = {Role.ADVISER, Role.ADMIN}


def _names(ctx: BaseContext, cohort: Cohort) -> render.Names:
    room = ctx.services.room_of(f"cohort:{cohort.id}") or ""
    return lambda user: ctx.services.display_name(room, user)


def _cohorts(ctx: CommandContext) -> list[Cohort]:
    """The cohorts this command is about: the room's, or in a direct chat the person's (all of
    them for advisers and admins)."""
    if ctx.cohort is not None:
        return [ctx.cohort]
    if ctx.roles & READ_ALL:
        return list(ctx.config.cohorts)
    return ctx.config.cohorts_of(ctx.event.sender)


async def refresh_summary(ctx: BaseContext, plan: Plan) -> None:
    """Show the plan as it stands: its summary message in the cohort room, sent once and then
    edited in place."""
    cohort = ctx.config.cohort(plan.cohort_id)
    room = ctx.services.room_of(f"cohort:{plan.cohort_id}")
    if cohort is None or room is None:
        return
    lang = ctx.config.cohort_language(cohort)
    names = _names(ctx, cohort)
    title = render.plan_title(lang, plan, cohort.name, names)
    shown = render.summary(lang, title, await store.items(ctx.tx, [plan.id]), names)
    content = messages.notice(shown.body, html_body=shown.html)
    current = await store.plan(ctx.tx, plan.id)
    ref = current.summary_ref if current else None
    if ref is None:
        outbox = await ctx.send(room, content, purpose="plan_summary", ref=str(plan.id))
        await store.set_summary(ctx.tx, plan.id, outbox)
    else:
        await ctx.send(room, messages.edit(EventID(ref), content))


@on_sent("plan_summary")
async def _remember_summary(tx: Tx, item: OutboxItem, event_id: str) -> None:
    if item.ref is not None:
        await store.set_summary_event(tx, int(item.ref), event_id)


@command(
    "plan",
    args=[Arg("plan_action", required=False), Arg("plan_rest", ArgKind.REST, required=False)],
    places=(Place.COHORT, Place.DIRECT),
    aliases={"sv": ["handlingsplan"]},
)
async def plan_command(ctx: CommandContext, args: dict[str, Any]) -> None:
    word = args.get("plan_action")
    rest = (args.get("plan_rest") or "").strip()
    action = SUBCOMMANDS.get(fold(word)) if word else "list"
    if action is None:
        await ctx.reply(ctx.t("plans.usage"))
        return
    if not _cohorts(ctx):
        await ctx.reply(ctx.t("plans.no_cohort"))
        return
    if action in ("list", "show"):
        await _show(ctx, rest if action == "show" else "")
    elif action == "add":
        await _add(ctx, rest)
    else:
        number, _, more = rest.partition(" ")
        if not number.lstrip("#").isdigit():
            await ctx.reply(ctx.t(f"plans.{action}_usage"))
            return
        await _change(ctx, action, int(number.lstrip("#")), more.strip())


async def _show(ctx: CommandContext, whose: str) -> None:
    mentioned = list(_mentions(ctx)) + render.USER_ID.findall(whose)
    found: list[tuple[str, list[Item]]] = []
    for cohort in _cohorts(ctx):
        lang = ctx.lang
        names = _names(ctx, cohort)
        for plan in await store.plans(ctx.tx, [cohort.id]):
            if mentioned and plan.owner not in mentioned:
                continue
            items = await store.items(ctx.tx, [plan.id])
            found.append((render.plan_title(lang, plan, cohort.name, names), items))
    names = _names(ctx, _cohorts(ctx)[0])
    shown = render.listing(ctx.lang, found, names)
    await ctx.reply(shown.body, html_body=shown.html)


def _mentions(ctx: CommandContext) -> list[str]:
    m = ctx.event.content.get("m.mentions")
    users = m.get("user_ids") if isinstance(m, dict) else None
    return [u for u in users or [] if isinstance(u, str) and u != ctx.services.user_id]


def _facilitates(ctx: CommandContext, cohort: Cohort) -> bool:
    return ctx.event.sender in cohort.facilitators


async def _add(ctx: CommandContext, rest: str) -> None:
    parsed = render.parse_new_item(rest, _mentions(ctx))
    if isinstance(parsed, str):
        await ctx.reply(ctx.t(parsed, most=render.TEXT_MAX))
        return
    sender = ctx.event.sender
    cohorts = [c for c in _cohorts(ctx) if sender in (*c.facilitators, *c.participants)]
    if not cohorts:
        await ctx.reply(ctx.t("plans.read_only"))
        return
    cohort = cohorts[0]
    now = clock.now_ms()
    if _facilitates(ctx, cohort):
        plan = await store.plan_of(ctx.tx, cohort.id, sender, now)
        who = parsed.who
    else:
        if parsed.who not in (None, sender):
            await ctx.reply(ctx.t("plans.only_own"))
            return
        plan = await store.plan_of(ctx.tx, cohort.id, WHOLE_COHORT, now)
        who = sender
    number = await store.add_item(ctx.tx, plan.id, parsed.text, who, parsed.due, sender, now)
    await refresh_summary(ctx, plan)
    await ctx.reply(ctx.t("plans.added", number=number))


async def _may_change(ctx: CommandContext, item: Item, plan: Plan) -> str | None:
    """None if the sender may change the item; else the message key saying why not."""
    cohort = ctx.config.cohort(plan.cohort_id)
    if cohort is None or cohort not in _cohorts(ctx):
        return "plans.not_found"
    sender = ctx.event.sender
    if plan.owner == sender:
        return None
    if plan.owner == WHOLE_COHORT and sender in cohort.facilitators:
        return None
    if item.who == sender or (item.created_by == sender and sender in cohort.participants):
        return None
    if ctx.roles & READ_ALL and not ctx.roles & {Role.FACILITATOR, Role.PARTICIPANT}:
        return "plans.read_only"
    return "plans.not_yours"


async def _change(ctx: CommandContext, action: str, number: int, rest: str) -> None:
    item = await store.item(ctx.tx, number)
    plan = await store.plan(ctx.tx, item.plan_id) if item else None
    if item is None or plan is None:
        await ctx.reply(ctx.t("plans.not_found", number=number))
        return
    refused = await _may_change(ctx, item, plan)
    if refused is not None:
        await ctx.reply(ctx.t(refused, number=number))
        return
    now, sender = clock.now_ms(), ctx.event.sender
    if action == "status":
        word, _, comment = rest.partition(" ")
        status = parse(word) if word else None
        if status is None:
            await ctx.reply(ctx.t("plans.status_usage"))
            return
        if status != item.status and not may_move(item.status, status):
            await ctx.reply(
                ctx.t(
                    "plans.cannot_move", number=number, status=ctx.t(f"plans.status.{item.status}")
                )
            )
            return
        comment = messages.short(comment, render.COMMENT_MAX)
        await store.set_status(ctx.tx, item.id, status, comment, sender, now)
        key = "plans.status_set"
    elif action == "edit":
        text = " ".join(rest.split())
        if not text:
            await ctx.reply(ctx.t("plans.edit_usage"))
            return
        if len(text) > render.TEXT_MAX:
            await ctx.reply(ctx.t("plans.too_long", most=render.TEXT_MAX))
            return
        await store.edit_item(ctx.tx, item.id, text, sender, now)
        key = "plans.edited"
    else:
        await store.remove_item(ctx.tx, item.id, sender, now)
        key = "plans.removed"
    await refresh_summary(ctx, plan)
    await ctx.reply(ctx.t(key, number=number))


__all__ = ["Status", "plan_command", "refresh_summary"]
