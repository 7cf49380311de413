"""Builders for the content of events the bot sends (Element-native shapes)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from bot.types import EventID, UserID


def escape(text: str) -> str:
    """Escape user text for org.matrix.custom.html (quotes too: it may land in attributes)."""
    return html.escape(text, quote=True)


def notice(
    body: str,
    *,
    html_body: str | None = None,
    reply_to: EventID | None = None,
    thread_root: EventID | None = None,
    mentions: Iterable[UserID] = (),
    msgtype: str = "m.notice",
) -> dict[str, Any]:
    """A bot message. ``html_body`` must be built from escaped pieces only.

    In a thread the reply fallback points at ``reply_to`` (or the root) so clients without
    threads still show the context.
    """
    content: dict[str, Any] = {
        "msgtype": msgtype,
        "body": body,
        "m.mentions": {"user_ids": sorted(set(mentions))} if mentions else {},
    }
    if html_body is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = html_body
    if thread_root is not None:
        content["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": reply_to or thread_root},
        }
    elif reply_to is not None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return content


def text(
    body: str,
    *,
    html_body: str | None = None,
    reply_to: EventID | None = None,
    thread_root: EventID | None = None,
    mentions: Iterable[UserID] = (),
) -> dict[str, Any]:
    """A message someone must be notified of: a person's words relayed (a question, an answer)
    or something addressed to them (a reminder, a survey in their direct chat).

    Not an m.notice: the default push rule ``.m.rule.suppress_notices`` comes before
    ``.m.rule.is_user_mention``, so a notice never notifies anyone, mentions included.
    """
    return notice(
        body,
        html_body=html_body,
        reply_to=reply_to,
        thread_root=thread_root,
        mentions=mentions,
        msgtype="m.text",
    )


def reaction(event_id: EventID, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


def edit(original: EventID, new_content: dict[str, Any]) -> dict[str, Any]:
    """An m.replace edit of one of the bot's own messages."""
    content = dict(new_content)
    content.pop("m.relates_to", None)
    fallback = dict(content)
    fallback["body"] = "* " + str(content.get("body", ""))
    if "formatted_body" in content:
        fallback["formatted_body"] = "* " + str(content["formatted_body"])
    fallback["m.new_content"] = content
    # An edit pings nobody again: only new mentions belong at the top level (spec v1.7).
    fallback["m.mentions"] = {}
    fallback["m.relates_to"] = {"rel_type": "m.replace", "event_id": original}
    return fallback
