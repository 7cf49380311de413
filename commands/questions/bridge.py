"""The adviser bridge as a service: rendering a question for the advisers, relaying details
and answers, status changes. Used by the !ask commands (ask.py) and the advisers' (advisers.py).

Every message crosses from one side to the other through the outbox; the link table maps a
person's event to the bot's copy so edits and redactions follow.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot import clock, i18n, messages
from bot.messages import escape
from bot.registry import on_sent
from bot.types import EventID, UserID
from commands.questions import stages
from commands.questions.status import Move, Status, after
from storage import Tx
from storage import questions as store
from storage.outbox import OutboxItem
from storage.questions import Question

if TYPE_CHECKING:
    from bot.context import BaseContext, EventContext
    from config import Category, Config

CLAIM_KEYS = ("👀", "👀️")
ACK_KEY = "📨"


def status_text(lang: str, question: Question, claimer_name: str | None) -> str:
    if question.status == Status.CLAIMED:
        return i18n.t(lang, "questions.status.claimed", name=claimer_name or question.claimed_by)
    return i18n.t(lang, f"questions.status.{question.status}")


def render_root(
    lang: str,
    question: Question,
    *,
    category_name: str,
    where: str,
    asker_name: str,
    claimer_name: str | None,
    asked_at: str,
    stage: str | None = None,
) -> tuple[str, str]:
    """The advisers' thread root for a question: plain body and HTML (user text escaped);
    ``stage``: where a staged request stands."""
    status = status_text(lang, question, claimer_name)
    head = f"[{status}] #{question.id} · {category_name} · {where} · {asker_name}"
    when = i18n.t(lang, "questions.asked_at", when=asked_at)
    text = question.text or i18n.t(lang, "questions.withdrawn_text")
    body = f"{head}\n{text}\n{when}"
    html = (
        f"<p><b>[{escape(status)}]</b> #{question.id} · {escape(category_name)} · "
        f"{escape(where)} · {escape(asker_name)}</p>"
        f"<blockquote>{escape(text).replace(chr(10), '<br>')}</blockquote>"
        f"<p><i>{escape(when)}</i></p>"
    )
    if stage is not None:
        body += f"\n{stage}"
        html += f"<p><b>{escape(stage)}</b></p>"
    return body, html


async def root_content(ctx: BaseContext, question: Question) -> dict[str, object]:
    config = ctx.config
    category = config.category(question.category)
    stage = None
    if category is not None and category.stages:
        history = await store.stages_of(ctx.tx, question.id)
        pos = stages.position(category, question, history)
        if pos is not None:
            stage = stages.describe(ctx.lang, category, pos, config.bot.timezone)
    cohort = config.cohort(question.cohort_id) if question.cohort_id else None
    if question.private:
        where = ctx.t("questions.private_where")
    else:
        where = cohort.name if cohort else (question.cohort_id or "?")
    names = ctx.services
    body, html = render_root(
        ctx.lang,
        question,
        category_name=category.name if category else question.category,
        where=where,
        asker_name=names.display_name(question.origin_room, question.asker),
        claimer_name=(
            names.display_name(question.adviser_room, question.claimed_by)
            if question.claimed_by
            else None
        ),
        asked_at=i18n.format_datetime(ctx.lang, question.created_at, config.bot.timezone),
        stage=stage,
    )
    return messages.text(body, html_body=html)  # a new question: advisers are notified


async def refresh_root(ctx: BaseContext, question_id: int) -> None:
    """Edit the advisers' thread root in place to show the current status."""
    question = await store.get(ctx.tx, question_id)
    if question is None:
        return
    await ctx.send(
        question.adviser_room,
        messages.edit(EventID(question.root_ref), await root_content(ctx, question)),
    )


def adviser_room_key(category: Category) -> str:
    return f"category:{category.id}" if category.room else "advisers"


def pick_category(config: Config, text: str) -> tuple[Category | None, str, str | None]:
    """Split ``'teknik Hur …'`` into (category, question, unknown word).

    The first word is a category if it names one (id or name, any case). A first word ending
    in ':' that names none is an unknown category; otherwise the whole text is the question.
    """
    first, _, rest = text.strip().partition(" ")
    word = first.rstrip(":").casefold()
    for cat in config.advisers.categories:
        if word and word in (cat.id.casefold(), cat.name.casefold()):
            return cat, rest.strip(), None
    if first.endswith(":") and len(first) > 1:
        return None, rest.strip(), first.rstrip(":")
    return config.default_category(), text.strip(), None


async def move(ctx: BaseContext, question: Question, step: Move, by: str | None = None) -> bool:
    """Make ``step`` (``by`` the adviser claiming) and show the new status in the advisers'
    thread root; False if the step is not allowed from the question's status."""
    claimed_by = by if step is Move.CLAIM else None if step is Move.UNCLAIM else question.claimed_by
    status = after(
        step, question.status, claimed=claimed_by is not None, answered=bool(question.answered_at)
    )
    if status is None:
        return False
    now = clock.now_ms()
    times: dict[str, int | None] = {}
    if step is Move.CLAIM:
        times["claimed_at"] = question.claimed_at or now
        await store.responded(ctx.tx, question.id, now)
    elif step is Move.CLOSE:
        times["closed_at"] = now
    elif step is Move.REOPEN:
        times = {"closed_at": None, "reopened": question.reopened + 1}
    await store.update(ctx.tx, question.id, status=status, claimed_by=claimed_by, **times)
    await refresh_root(ctx, question.id)
    return True


def relay_content(
    prefix: str, text: str, thread_root: str, mentions: list[UserID] | None = None
) -> dict[str, object]:
    body = f"{prefix}\n{text}"
    html = f"<p><b>{escape(prefix)}</b></p><p>{escape(text).replace(chr(10), '<br>')}</p>"
    return messages.text(
        body, html_body=html, thread_root=EventID(thread_root), mentions=mentions or ()
    )


NOTE_QUOTE = re.compile(r"^\s*>.*!(note|anteckning)\b", re.IGNORECASE | re.MULTILINE)


async def relay_copy(
    ctx: EventContext,
    prefix: str,
    thread_root: str,
    *,
    text: str | None = None,
    mentions: list[UserID] | None = None,
) -> dict[str, object] | None:
    """The bot's copy of the event (or of ``text``, an edit's new text) for the other side of
    the bridge; None if there is nothing to relay, or if it may not or cannot go (the author is
    then told why in a notice, and nothing is marked as relayed).

    Files, images, video and audio go as themselves (the same media, captioned with
    ``prefix``). Text goes without any reply fallback (``ctx.event.body`` has it stripped), is
    never empty, never quotes an internal note, and must fit the event size limit also when
    edited later; a text too long is refused rather than cut, so nobody reads half an answer
    believing it whole.
    """
    event = ctx.event
    replied = event.replies_to
    if replied is not None:
        link = await store.link(ctx.tx, replied)
        if link is not None and link.kind == "note":
            # A reply to an internal note is part of the advisers' own discussion.
            await ctx.reply(ctx.t("questions.quotes_note"))
            return None
    if text is None:
        media = messages.media_copy(
            event.content, prefix, thread_root=EventID(thread_root), mentions=mentions or ()
        )
        if media is not None:
            return media
        text = event.body
    if not text.strip():
        return None
    if NOTE_QUOTE.search(text):
        await ctx.reply(ctx.t("questions.quotes_note"))
        return None
    content = relay_content(prefix, text, thread_root, mentions=mentions)
    if not messages.fits_edited(content):
        await ctx.reply(ctx.t("questions.relay_too_long", length=len(text), most=MOST_CHARS))
        return None
    return content


# What a relay or question can hold in the worst case of plain ASCII text: it is stored twice in
# an edit (body and m.new_content) and twice more as HTML. Told to people as "about".
MOST_CHARS = messages.MAX_CONTENT_BYTES // 4 - 1_000


async def edited_copy(ctx: EventContext, kind: str) -> tuple[Question, int, str] | None:
    """For an edit of a relayed message of ``kind`` by its author: (question, the outbox id of
    the bot's copy, the new text); None if the edit is not of such a message."""
    event = ctx.event
    original = event.relates_to.get("event_id")
    new = event.content.get("m.new_content")
    if not isinstance(original, str) or not isinstance(new, dict):
        return None
    link = await store.link(ctx.tx, original)
    if link is None or link.kind != kind or link.author != event.sender:
        return None
    question = await store.get(ctx.tx, link.question_id)
    if question is None or link.target_outbox is None:
        return None
    return question, link.target_outbox, str(new.get("body", ""))


@on_sent("question_root")
async def _remember_root(tx: Tx, item: OutboxItem, event_id: str) -> None:
    if item.ref is not None:
        await store.set_root_event(tx, int(item.ref), event_id)
