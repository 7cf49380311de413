"""The privacy notice (``privacy.notice``): posted once in each room the bot manages (cohort
rooms, the advisers' room, a category's own room) right after the bot has it, and sent once to
each participant, facilitator and adviser in a direct chat (the one the bot has with them, else
one opened for it).

A periodic task does both, each notice queued in the same transaction as its record, so a
crash neither loses nor repeats one. Rooms without a record get it, which is also what gives
rooms that existed before this feature theirs. The direct chats are trickled: at most
``per_pass`` per pass (about one a minute), and none while the outbox has that many messages
waiting, so a first start of a large network does not queue thousands of direct-chat openings
ahead of people's answers.

In a room the notice is an m.notice (it does not ping everyone in a cohort: each of them gets
their own copy); in a direct chat an m.text, so the person is notified of it (Element notifies
every m.text in a one-to-one room; an m.notice never notifies).
"""

from __future__ import annotations

import logging

from bot import i18n, messages
from bot.context import BaseContext
from bot.registry import periodic
from bot.rooms import wanted_rooms
from bot.types import UserID
from config import Config
from storage import outbox as outbox_store
from storage import privacy_notice as store

log = logging.getLogger(__name__)

PURPOSE = "privacy_notice"


def notice_text(config: Config, lang: str) -> str:
    """The notice in ``lang``: the network's text (see PrivacyNotice.configured), else the
    built-in one with this network's figures."""
    notice = config.privacy.notice
    own = None if notice is None else notice.configured(lang)
    if own is not None:
        return own.strip()
    keep = config.retention
    return i18n.t(
        lang,
        "privacy.notice",
        min_group=config.evaluation.min_group,
        questions_days=max(1, keep.ms("closed_questions") // 86_400_000),
        checkins_days=max(1, keep.ms("checkin_replies") // 86_400_000),
    )


def recipients(config: Config) -> list[tuple[str, str]]:
    """(user id, language) of everyone the notice is sent to, in the YAML's order: the
    participants and facilitators of each cohort in its language, then the advisers in the
    bot's. Admins only (who run the bot) are not sent it."""
    found: dict[str, str] = {}
    for cohort in config.cohorts:
        lang = config.cohort_language(cohort)
        for user in [*cohort.facilitators, *cohort.participants]:
            found.setdefault(user, lang)
    categories = [u for c in config.advisers.categories for u in c.members]
    for user in [*config.advisers.members, *categories]:
        found.setdefault(user, config.bot.language)
    found.pop(config.bot.user_id, None)
    return list(found.items())


@periodic("privacy-notice")
async def post_privacy_notices(ctx: BaseContext, now_ms: int) -> None:
    notice = ctx.config.privacy.notice
    if notice is None:
        return
    budget = notice.per_pass
    if await outbox_store.pending_count(ctx.tx) >= budget:
        return  # the outbox is backed up: people's answers first, the notices next pass
    cfg = ctx.config
    posted = await store.rooms_with_notice(ctx.tx)
    for wanted in wanted_rooms(cfg):
        room_id = ctx.services.room_of(wanted.key)
        if room_id is None or room_id in posted:
            continue
        if budget == 0:
            return
        cohort = cfg.cohort(wanted.key.removeprefix("cohort:"))
        lang = cfg.cohort_language(cohort) if wanted.key.startswith("cohort:") else None
        text = notice_text(cfg, lang or cfg.bot.language)
        await ctx.send(room_id, messages.notice(text), purpose=PURPOSE)
        await store.record_room(ctx.tx, room_id, now_ms)
        budget -= 1
    people = dict(recipients(cfg))
    for user in (await store.people_without_notice(ctx.tx, people))[:budget]:
        # The person's direct chat if the bot has one; else addressed to them, and the
        # sender opens one.
        room = ctx.services.direct_room_of(UserID(user)) or user
        await ctx.send(room, messages.text(notice_text(cfg, people[user])), purpose=PURPOSE)
        await store.record_person(ctx.tx, user, now_ms)
