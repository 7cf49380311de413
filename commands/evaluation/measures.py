"""What the bot counts for the pilot's evidence, as messages arrive (never their content).

A message is any ``m.room.message`` a member (a participant or facilitator the YAML lists for
the cohort) sends in their cohort room, files included, commands (``!…``) and edits excluded.
A peer reply is a member's reply to (or message in the thread of) another member's message; a
thread is counted when a member first answers in the thread of another member's message. The
bot's messages and replies to oneself never count. Days are the cohort's local days.
"""

from __future__ import annotations

import functools

from bot import i18n, messages
from bot.context import BaseContext, EventContext
from bot.registry import listener, periodic
from bot.types import Place, RoomEvent
from commands.materials import parse
from config import Cohort, Config, Role
from storage import evaluation as store

MEMBERS = frozenset({Role.PARTICIPANT, Role.FACILITATOR})


@listener("m.room.message", places=(Place.COHORT,), writes=False)
async def count_message(ctx: EventContext) -> None:
    """On the path of every message: is it a member's (``ctx.roles``: in this cohort), and one
    append (no write: no savepoint around it). What it counts is worked out by
    :func:`message_of` for the whole transaction just before it commits, and counted by
    :func:`fold` about once a minute. Commands never reach a listener in a cohort room (the
    dispatcher answers them instead)."""
    cohort = ctx.cohort
    if cohort is not None and not MEMBERS.isdisjoint(ctx.roles):
        store.record_later(ctx.tx, message_of).append((ctx.event, cohort, ctx.config))


def message_of(item: tuple[RoomEvent, Cohort, Config]) -> store.MessageRow | None:
    """What the measures keep of a member's message (None for an edit), the fields of
    ``store.Message``: ids, time, local day, whether it is a file, how many links, what it
    answers. Never its text."""
    event, cohort, config = item
    if event.is_edit:
        return None
    ts = event.origin_server_ts
    media = not event.is_text_message and event.content.get("msgtype") in messages.MEDIA_TYPES
    body = event.body
    replies_to = thread_root = None
    if event.relates_to:  # most messages relate to none
        thread_root = event.thread_root
        replies_to = event.replies_to or thread_root
    return (
        cohort.id,
        event.sender,
        event.event_id,
        ts,
        _day_of_quarter(ts // QUARTER_MS, cohort.timezone or config.bot.timezone),
        int(media),
        0 if media or "://" not in body else len(parse.find_links(body)),
        replies_to,
        thread_root,
    )


QUARTER_MS = 900_000  # every time zone's offset is a whole number of quarter hours


@functools.lru_cache(maxsize=4096)
def _day_of_quarter(quarter: int, timezone: str) -> str:
    """The local day of every moment of a quarter hour (``i18n.format_iso_day``): a day starts
    at a quarter hour in every zone."""
    return i18n.format_iso_day(quarter * QUARTER_MS, timezone)


@periodic("evaluation-fold")
async def fold(ctx: BaseContext, now_ms: int) -> None:
    """The messages recorded since the last minute, counted (off the path of every message)."""
    await store.fold(ctx.tx)


@periodic("evaluation-retention")
async def prune(ctx: BaseContext, now_ms: int) -> None:
    """Measures older than ``evaluation.retention`` (default 400 days) go."""
    keep_ms = ctx.config.evaluation.retention_seconds * 1000
    before_day = i18n.format_iso_day(now_ms - keep_ms, ctx.config.bot.timezone)
    await store.prune(ctx.tx, before_day=before_day, now_ms=now_ms)
