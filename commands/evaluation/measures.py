"""What the bot counts for the pilot's evidence, as messages arrive (never their content).

A message is any ``m.room.message`` a member (a participant or facilitator the YAML lists for
the cohort) sends in their cohort room, files included, commands (``!…``) and edits excluded.
A peer reply is a member's reply to (or message in the thread of) another member's message; a
thread is counted when a member first answers in the thread of another member's message. The
bot's messages and replies to oneself never count. Days are the cohort's local days.
"""

from __future__ import annotations

from bot import i18n, messages
from bot.context import BaseContext, EventContext
from bot.registry import listener, periodic, split_command
from bot.types import Place
from commands.materials import parse
from storage import evaluation as store


@listener("m.room.message", places=(Place.COHORT,))
async def count_message(ctx: EventContext) -> None:
    event, cohort = ctx.event, ctx.cohort
    if cohort is None or event.is_edit:
        return
    if event.sender not in (*cohort.participants, *cohort.facilitators):
        return
    body = event.body
    if event.is_text_message and split_command(body) is not None:
        return
    media = event.content.get("msgtype") in messages.MEDIA_TYPES
    await store.record_message(
        ctx.tx,
        store.Message(
            cohort_id=cohort.id,
            user_id=event.sender,
            event_id=event.event_id,
            ts=event.origin_server_ts,
            day=i18n.format_iso_day(event.origin_server_ts, ctx.config.cohort_timezone(cohort)),
            files=int(media),
            links=0 if media else len(parse.find_links(body)),
            replies_to=event.replies_to or event.thread_root,
            thread_root=event.thread_root,
        ),
    )


@periodic("evaluation-retention")
async def prune(ctx: BaseContext, now_ms: int) -> None:
    """Measures older than ``evaluation.retention`` (default 400 days) go."""
    keep_ms = ctx.config.evaluation.retention_seconds * 1000
    before_day = i18n.format_iso_day(now_ms - keep_ms, ctx.config.bot.timezone)
    await store.prune(ctx.tx, before_day=before_day, now_ms=now_ms)
