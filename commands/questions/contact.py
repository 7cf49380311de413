"""``!contact @person [text]`` (``!kontakt``): an adviser opens a request with a member, for
follow-ups the agency starts. It is a private question, as if the person had asked in their
direct chat with the bot: the opening message goes there, the person answers in its thread,
and the advisers get a thread root like any other question."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Any

from bot import clock, i18n, messages
from bot.context import CommandContext
from bot.registry import Arg, ArgKind, command, on_sent
from bot.types import EventID, UserID
from commands.questions import bridge
from commands.questions.advisers import ADVISERS_ONLY, IN_ADVISER_ROOM
from commands.questions.status import Status
from config import Role
from storage import Tx
from storage import questions as store
from storage.outbox import OutboxItem
from storage.questions import Question

USER_ID = re.compile(r"@[^\s:]+:\S+")
PILL = re.compile(r'<a href="https://matrix\.to/#/(@[^"]+)">(.*?)</a>', re.DOTALL)


def addressee(content: dict[str, Any], rest: str) -> tuple[str | None, str]:
    """(the person, the text) of ``!contact …``: a written user id first, else the person an
    Element mention ("pill") names, whose display name then heads ``rest``."""
    first, _, after = rest.strip().partition(" ")
    if USER_ID.fullmatch(first):
        return first, after.strip()
    mentioned = (content.get("m.mentions") or {}).get("user_ids") or []
    if len(mentioned) != 1 or not isinstance(mentioned[0], str):
        return None, rest.strip()
    user = mentioned[0]
    for target, label in PILL.findall(str(content.get("formatted_body") or "")):
        shown = html.unescape(re.sub(r"<[^>]+>", "", label)).strip()
        if target == user and shown and rest.strip().startswith(shown):
            return user, rest.strip()[len(shown) :].strip(" :,")
    return user, rest.strip()


@command(
    "contact",
    args=[Arg("person_text", ArgKind.REST)],
    roles=ADVISERS_ONLY,
    places=IN_ADVISER_ROOM,
    aliases={"sv": ["kontakt"]},
)
async def contact(ctx: CommandContext, args: dict[str, Any]) -> None:
    person, text = addressee(ctx.event.content, args["person_text"])
    config = ctx.config
    if person is None or not ({Role.PARTICIPANT, Role.FACILITATOR} & config.global_roles(person)):
        await ctx.reply(ctx.t("contact.not_member", person=(person or args["person_text"])[:80]))
        return
    category = next(
        (
            c
            for c in config.advisers.categories
            if c.room is not None
            and ctx.services.room_of(bridge.adviser_room_key(c)) == ctx.event.room_id
        ),
        config.default_category(),
    )
    if ctx.event.sender not in config.handlers_of(category):
        await ctx.reply(ctx.t("contact.not_adviser", category=category.name))
        return
    cohorts = config.cohorts_of(person)
    cohort = cohorts[0] if cohorts else None
    lang = config.language_of(cohort.id if cohort else None)
    number = await store.next_id(ctx.tx)
    wording = text or ctx.t("contact.no_text")
    opening = messages.text(
        i18n.t(lang, "contact.opening", number=number, text=wording)
        if text
        else i18n.t(lang, "contact.opening_plain", number=number),
        mentions=[UserID(person)],
    )
    # To the person's direct chat (opened by the sender if there is none yet).
    room = ctx.services.direct_room_of(UserID(person)) or person
    now = clock.now_ms()
    # The advisers spoke first: the request waits for the person, not for an answer (no
    # reminder); it is not counted as a question asked (``opened_by``).
    question = Question(
        id=number,
        asker=person,
        cohort_id=cohort.id if cohort else None,
        private=True,
        category=category.id,
        origin_room=room,
        origin_event="",  # the opening's, below
        adviser_room=ctx.event.room_id,
        root_outbox=0,
        text=wording,
        created_at=now,
        asker_role=Role.FACILITATOR
        if Role.FACILITATOR in config.global_roles(person)
        else Role.PARTICIPANT,
        status=Status.ANSWERED,
        answered_at=now,
        first_response_at=now,
        opened_by=ctx.event.sender,
    )
    root = await bridge.root_content(ctx, question)
    # Both copies must fit, also edited later (the root holds the text twice, and HTML),
    # before anything is sent or stored.
    if not (messages.fits_edited(opening) and messages.fits_edited(root)):
        await ctx.reply(ctx.t("questions.too_long", length=len(text), most=bridge.MOST_CHARS))
        return
    origin = await ctx.send(room, opening, purpose="contact_origin", ref=str(number))
    root_outbox = await ctx.send(
        ctx.event.room_id, root, purpose="question_root", ref=str(number), owner=ctx.event.sender
    )
    question = replace(question, origin_event=f"$outbox:{origin}", root_outbox=root_outbox)
    assert await store.create(ctx.tx, question) == number
    await ctx.reply(ctx.t("contact.opened", number=number, person=person))


@on_sent("contact_origin")
async def _remember_origin(tx: Tx, item: OutboxItem, event_id: str) -> None:
    """The opening's real event id: the person's answers in its thread find the request."""
    if item.ref is not None:
        await store.set_origin_event(tx, int(item.ref), EventID(event_id))
