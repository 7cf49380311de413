"""Builders for the content of events the bot sends (Element-native shapes)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


def pill(user_id: str, name: str) -> str:
    """A mention as Element makes it: a matrix.to link to the user, showing the name."""
    return f'<a href="https://matrix.to/#/{escape(user_id)}">{escape(name)}</a>'


# --- size: the homeserver refuses events over 64 KiB ------------------------------------------

# Synapse refuses a PDU over 65,536 bytes of canonical JSON. The envelope it adds (auth and prev
# events, hashes, signatures, ids) takes a few kilobytes, and encryption adds a third (base64):
# a content budget of 40,000 bytes leaves room for all of it.
MAX_CONTENT_BYTES = 40_000
SHORTENED = " […]"


def size(content: dict[str, Any]) -> int:
    """Bytes of the content as the homeserver will see it (UTF-8 JSON, no extra spaces)."""
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def fits(content: dict[str, Any], budget: int = MAX_CONTENT_BYTES) -> bool:
    return size(content) <= budget


def fits_edited(content: dict[str, Any]) -> bool:
    """Whether a message the bot may later edit in place still fits then: an edit carries
    the text twice (its fallback and ``m.new_content``)."""
    return fits(edit(EventID("$" + "x" * 43), content))


def short(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters (cut with "…")."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _shorten(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max(0, max_bytes - len(SHORTENED.encode()))].decode("utf-8", "ignore") + SHORTENED


def _shrink(content: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """The same message with its text shortened to ``max_bytes``; the HTML is rebuilt from the
    shortened plain text (cutting HTML could leave it ill-formed), so it stays well-formed."""
    out = dict(content)
    body = _shorten(str(content.get("body", "")), max_bytes)
    out["body"] = body
    if "formatted_body" in out:
        out["formatted_body"] = escape(body).replace("\n", "<br>")
    if isinstance(out.get("m.new_content"), dict):
        out["m.new_content"] = _shrink(out["m.new_content"], max_bytes)
    return out


def fit(content: dict[str, Any], budget: int = MAX_CONTENT_BYTES) -> dict[str, Any]:
    """The last guard before the outbox: a message over the budget is shortened so that it is
    sent at all. Handlers check :func:`fits` first and tell the person; this only catches what
    they did not foresee (and is logged by the outbox)."""
    if fits(content, budget):
        return content
    max_bytes = budget // 2
    while max_bytes > 64:
        shrunk = _shrink(content, max_bytes)
        if fits(shrunk, budget):
            return shrunk
        max_bytes //= 2
    return _shrink(content, 64)


# A listing gets this much of the budget; the rest is for the relations and the mentions.
LISTING_BYTES = MAX_CONTENT_BYTES - 4_000


@dataclass(frozen=True)
class Page:
    """A listing as one message: its text, its HTML, and how many of the items it shows."""

    body: str
    html: str
    shown: int


def fitting(count: int, render: Callable[[int], Page], budget: int = LISTING_BYTES) -> Page:
    """The longest listing that fits in ``budget`` bytes: ``render(n)`` is the message with the
    first ``n`` of ``count`` items (and, for ``n < count``, a last line saying how many more
    there are). Bounded by size, not only by count: one item may be long (user text). A message
    grows with its items, so a binary search finds the longest in log2(count) renderings."""

    def ok(page: Page) -> bool:
        return fits(notice(page.body, html_body=page.html), budget)

    whole = render(count)
    if ok(whole):
        return whole
    fitting_n, too_many = 0, count
    while too_many - fitting_n > 1:
        middle = (fitting_n + too_many) // 2
        if ok(render(middle)):
            fitting_n = middle
        else:
            too_many = middle
    return render(fitting_n)


def bounded_lines(
    lines: Iterable[str], more: Callable[[int], str], budget: int = LISTING_BYTES
) -> list[str]:
    """As many of ``lines`` as fit in ``budget`` bytes, as text and as an HTML list; if some
    are left out, a last line ``more(count_left_out)`` says so."""
    items = list(lines)

    def render(n: int) -> Page:
        shown = items[:n] + ([more(len(items) - n)] if n < len(items) else [])
        html = "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in shown) + "</ul>"
        return Page("\n".join(shown), html, n)

    shown = fitting(len(items), render, budget).shown
    return items[:shown] + ([more(len(items) - shown)] if shown < len(items) else [])


MEDIA_TYPES = ("m.file", "m.image", "m.video", "m.audio")


# Media the bot uploaded: an mxc URI, or for an encrypted room the ``file`` object of an
# encrypted upload (its mxc URI with the key, iv and hash to decrypt it).
MediaRef = str | dict[str, Any]


def media_field(media: MediaRef) -> dict[str, Any]:
    """The content's media field: ``url`` for a plain upload, ``file`` for an encrypted one."""
    return {"url": media} if isinstance(media, str) else {"file": dict(media)}


def file(
    media: MediaRef,
    filename: str,
    mimetype: str,
    size: int,
    *,
    thread_root: EventID | None = None,
) -> dict[str, Any]:
    """A file the bot uploaded (a document, an export), in ``thread_root``'s thread if given."""
    content = notice(filename, thread_root=thread_root, msgtype="m.file")
    content.update(filename=filename, info={"mimetype": mimetype, "size": size})
    content.update(media_field(media))
    return content


def media_copy(
    source: dict[str, Any],
    caption: str,
    *,
    thread_root: EventID | None = None,
    mentions: Iterable[UserID] = (),
) -> dict[str, Any] | None:
    """A file, image, video or audio message relayed as what it is: the same media (``url``, or
    ``file`` in an encrypted room) and ``info``, with ``caption`` as its text and the original
    file name kept in ``filename`` (Matrix v1.10 captions). None if ``source`` has no media."""
    msgtype = source.get("msgtype")
    if msgtype not in MEDIA_TYPES:
        return None
    media: dict[str, Any] = {k: source[k] for k in ("url", "file") if k in source}
    if not media:
        return None
    filename = source.get("filename") or source.get("body") or "file"
    content = text(caption, thread_root=thread_root, reply_to=None, mentions=mentions)
    content.update(media)
    content["msgtype"] = msgtype
    content["filename"] = str(filename)[:255]
    info = source.get("info")
    if isinstance(info, dict):
        content["info"] = {k: info[k] for k in INFO_KEYS if k in info}
    if not fits(content):
        content.pop("info", None)  # a hostile info block: the media goes without it
    return content if fits(content) else None


INFO_KEYS = (
    "mimetype",
    "size",
    "w",
    "h",
    "duration",
    "thumbnail_url",
    "thumbnail_file",
    "thumbnail_info",
)
