"""The follow-up of the plans (a schedule with ``follow_up: plans``): each owner of open items
is asked about them in a direct chat, one item at a time (``1``-``4`` or a word, then an
optional comment in the same message), resumable across restarts. The statuses update from the
answers; a reminder goes once to owners who have not answered; when everyone has answered, or
the follow-up closes, the facilitators and the advisers get a summary with a chart.

A follow-up waits while the person is answering a survey, and a survey waits for it.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from bot import clock, direct, i18n, messages
from bot.context import BaseContext, EventContext
from bot.images import post_images
from bot.registry import listener, periodic, split_command
from bot.types import Place, RoomID, UserID
from commands.evaluation import charts
from commands.plans import render
from commands.plans.handlers import refresh_summary
from commands.plans.status import ANSWERS, OPEN, follow_up_answer
from commands.surveys import rounds as surveys
from config import Cohort, Config
from config.model import Schedule, parse_duration
from storage import plans as store
from storage import surveys as survey_store
from storage.plans import WHOLE_COHORT


def owner_of(item: store.Item, plan: store.Plan, cohort: Cohort) -> str | None:
    """Who answers for an item: the person responsible, else the plan's owner, else (the
    cohort's plan) its first facilitator."""
    if item.who and not item.who.startswith(store.FORMER_MEMBER):
        return item.who
    if plan.owner != WHOLE_COHORT and not plan.owner.startswith(store.FORMER_MEMBER):
        return plan.owner
    return cohort.facilitators[0] if cohort.facilitators else None


async def open_follow_up(
    ctx: BaseContext, cohort: Cohort, schedule: Schedule, run_id: int | None, now: int
) -> int:
    """Ask each owner of open items; the number of people asked."""
    plans = {p.id: p for p in await store.plans(ctx.tx, [cohort.id])}
    asks: dict[str, list[int]] = {}
    for item in await store.items(ctx.tx, list(plans)):
        if item.status in OPEN:
            owner = owner_of(item, plans[item.plan_id], cohort)
            if owner is not None:
                asks.setdefault(owner, []).append(item.id)
    if not asks:
        return 0
    closes = now + parse_duration(schedule.open_for) * 1000
    remind = now + parse_duration(schedule.remind_after) * 1000 if schedule.remind_after else None
    followup = await store.open_followup(ctx.tx, cohort.id, run_id, now, closes, remind, asks)
    if followup is None:
        return 0
    for user in asks:
        await start_next(ctx, user)
    return len(asks)


def _lang(config: Config, cohort_id: str) -> str:
    return config.language_of(cohort_id)


async def start_next(ctx: BaseContext, user: str) -> None:
    """Unless the person is answering a survey or a follow-up, start their next one."""
    if await store.current_ask(ctx.tx, user) is not None:
        return
    if await survey_store.current_invite(ctx.tx, user) is not None:
        return  # a survey first; the periodic pass starts this after it
    if await store.next_waiting(ctx.tx, user) is None:
        return

    async def work(c: BaseContext, room: RoomID) -> None:
        if await store.current_ask(c.tx, user) is not None:
            return
        ask = await store.next_waiting(c.tx, user)
        fu = await store.followup(c.tx, ask.followup_id) if ask else None
        if ask is None or fu is None:
            return
        lang = _lang(c.config, fu.cohort_id)
        await store.save_ask(c.tx, ask.followup_id, user, state="asking", position=0, answers={})
        closes = i18n.format_datetime(lang, fu.closes_at, c.config.bot.timezone)
        intro = i18n.t(lang, "plans.follow_up.intro", count=len(ask.items), closes=closes)
        await c.send(room, messages.text(intro))  # notifies: they are asked something
        await _ask(c, room, ask, 0, lang)

    pending = direct.send_direct(ctx, user, work)
    if pending is not None:
        await pending


async def _ask(ctx: BaseContext, room: RoomID, ask: store.Ask, position: int, lang: str) -> None:
    while position < len(ask.items):
        item = await store.item(ctx.tx, ask.items[position])
        if item is not None and item.status in OPEN:
            question = render.follow_up_question(lang, item, position + 1, len(ask.items))
            await ctx.send(room, messages.notice(question))
            return
        position += 1  # removed or closed since: nothing to ask
    await _finish(ctx, room, ask, lang)


@listener("m.room.message", places=(Place.DIRECT,))
async def answer(ctx: EventContext) -> None:
    event = ctx.event
    if not event.is_text_message or event.is_edit or split_command(event.body) is not None:
        return
    if event.thread_root is not None or event.replies_to is not None:
        return  # a detail to a private question, say: not an answer here
    ask = await store.current_ask(ctx.tx, event.sender)
    if ask is None or await survey_store.current_invite(ctx.tx, event.sender) is not None:
        return
    fu = await store.followup(ctx.tx, ask.followup_id)
    if fu is None:
        return
    lang = _lang(ctx.config, fu.cohort_id)
    status, comment = _read(event.body)
    if status is None:
        await ctx.reply(i18n.t(lang, "plans.follow_up.invalid"))
        return
    item_id = ask.items[ask.position]
    item = await store.item(ctx.tx, item_id)
    answers = {**ask.answers, str(item_id): {"status": str(status), "comment": comment}}
    if item is not None:
        await store.set_status(
            ctx.tx, item_id, status, comment or item.comment, event.sender, clock.now_ms()
        )
        plan = await store.plan(ctx.tx, item.plan_id)
        if plan is not None:
            await refresh_summary(ctx, plan)
    position = ask.position + 1
    await store.save_ask(
        ctx.tx,
        ask.followup_id,
        event.sender,
        state="asking",
        position=position,
        answers=answers,
    )
    current = await store.current_ask(ctx.tx, event.sender)
    assert current is not None
    await _ask(ctx, event.room_id, current, position, lang)


def _read(text: str) -> tuple[Any, str]:
    """(status, comment) from ``"2 vi har börjat"`` or ``"inte påbörjad, i höst"``."""
    words = text.split()
    for n in (3, 2, 1):
        if len(words) >= n:
            status = follow_up_answer(" ".join(words[:n]).rstrip(".,:;"))
            if status is not None:
                rest = " ".join(words[n:]).lstrip(".,:;- ").strip()
                return status, messages.short(rest, render.COMMENT_MAX)
    return None, ""


async def _finish(ctx: BaseContext, room: RoomID, ask: store.Ask, lang: str) -> None:
    await store.save_ask(
        ctx.tx,
        ask.followup_id,
        ask.user_id,
        state="done",
        position=len(ask.items),
        answers=ask.answers,
    )
    await ctx.send(room, messages.notice(i18n.t(lang, "plans.follow_up.thanks")))
    everyone = await store.asks(ctx.tx, ask.followup_id)
    if all(a.state == "done" for a in everyone):
        await close(ctx, ask.followup_id, clock.now_ms())
    await surveys.start_next(ctx, ask.user_id)  # a survey that waited for this


async def close(ctx: BaseContext, followup_id: int, now: int) -> None:
    """Close once and send the summary to the facilitators and the advisers."""
    if not await store.close_followup(ctx.tx, followup_id, now):
        return
    fu = await store.followup(ctx.tx, followup_id)
    cohort = ctx.config.cohort(fu.cohort_id) if fu else None
    if fu is None or cohort is None:
        return
    lang = ctx.config.cohort_language(cohort)
    plans = await store.plans(ctx.tx, [cohort.id])
    asked = await store.asks(ctx.tx, followup_id)
    asked_items = {i for a in asked for i in a.items}
    room = ctx.services.room_of(f"cohort:{cohort.id}") or ""
    names = lambda user: ctx.services.display_name(room, user)  # noqa: E731
    lines = [
        i18n.t(
            lang,
            "plans.follow_up.summary_title",
            cohort=cohort.name,
            answered=sum(1 for a in asked if a.state == "done"),
            asked=len(asked),
        )
    ]
    per_plan: dict[str, Counter[str]] = {}
    for plan in plans:
        items = [i for i in await store.items(ctx.tx, [plan.id]) if i.id in asked_items]
        if not items:
            continue
        counts = Counter(i.status for i in items)
        title = render.plan_title(lang, plan, cohort.name, names)
        per_plan[title] = counts
        shown = ", ".join(
            f"{i18n.t(lang, f'plans.answer.{key}')}: {counts.get(status, 0)}"
            for key, status in ANSWERS
        )
        lines.append(f"{title}: {shown}")
    body = "\n".join(messages.bounded_lines(lines, lambda n: i18n.t(lang, "lists.more", count=n)))
    for facilitator in cohort.facilitators:
        await direct.tell(ctx, facilitator, body)
    advisers = ctx.services.room_of("advisers")
    if advisers is not None:
        await ctx.send(advisers, messages.notice(body))
    if per_plan:
        draw = partial(
            charts.column_chart,
            i18n.t(lang, "plans.follow_up.chart", cohort=cohort.name),
            list(per_plan),
            {
                i18n.t(lang, f"plans.answer.{key}"): [
                    float(c.get(status, 0)) for c in per_plan.values()
                ]
                for key, status in ANSWERS
            },
        )
        rooms = [
            r
            for r in [
                advisers,
                *(ctx.services.direct_room_of(UserID(f)) for f in cohort.facilitators),
            ]
            if r
        ]
        post_images(ctx, rooms, [("uppfoljning.png", draw)])


@periodic("plans-followups", next_due=store.next_due)
async def tick(ctx: BaseContext, now: int) -> None:
    """Close follow-ups whose time is up; remind, once, the owners who have not answered;
    start follow-ups that waited for a survey."""
    for fu in await store.due_followups(ctx.tx, now):
        if fu.closes_at <= now:
            await close(ctx, fu.id, now)
            continue
        await store.set_reminded(ctx.tx, fu.id, now)
        lang = _lang(ctx.config, fu.cohort_id)
        for ask in await store.asks(ctx.tx, fu.id):
            if ask.state in ("waiting", "asking"):
                closes = i18n.format_datetime(lang, fu.closes_at, ctx.config.bot.timezone)
                await direct.tell(
                    ctx, ask.user_id, i18n.t(lang, "plans.follow_up.reminder", closes=closes)
                )
    for user in await store.waiting_users(ctx.tx):
        await start_next(ctx, user)
