"""The materials catalogue: what is shared in cohort rooms, found again with ``!materials``.

Indexing (listeners, cohort rooms only): every file, image, video and audio message becomes an
item, and so does every http(s) link in an ordinary message, with the text around it as its
description. Hashtags become tags. Edits update an item, redactions remove it. Replying to an
item with ``!tag``, ``!describe``, ``!share`` or ``!unshare`` adds to it.

Document text (PDF, DOCX, ODT, text, Markdown) is fetched outside the sync transaction: the item
is recorded as ``pending``; after the commit the file is downloaded and its text extracted in a
worker thread, and the result is stored at once in a transaction of its own. The text is
therefore searchable within seconds of the upload; titles, captions and tags at once. The item
stays ``pending`` until its text is stored, so the periodic task picks up anything left over
(after a crash or restart, a failed download, or a failed store). An encrypted file (``file``
with key, iv and hash instead of ``url``, in an encrypted room) is catalogued the same way; its
key is kept on the pending item only until the text is stored or skipped.

Visibility: a cohort sees its own items, those of cohorts with ``share_materials: true`` and
items a facilitator or adviser shared with ``!share``. A direct chat sees the cohorts the person
belongs to, the same way.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from bot import i18n, messages
from bot.context import CommandContext, EventContext
from bot.registry import Arg, ArgKind, command, listener, split_command
from bot.types import EventID, Place, RoomEvent, redacted_event_id
from commands.materials import documents, parse, render
from commands.materials import extract as extract_text
from config import Role
from storage import evaluation as evaluation_store
from storage import materials as store
from storage.materials import Item, Listing, NewItem, PendingText

log = logging.getLogger(__name__)

PAGE = 5
THEME_ITEMS = 5
EDITORS = {Role.FACILITATOR, Role.ADVISER}

# Subcommand words (folded) of !materials, in both languages.
SUBCOMMANDS = {
    "search": "search",
    "sok": "search",
    "recent": "recent",
    "senaste": "recent",
    "nya": "recent",
    "tag": "tag",
    "tagg": "tag",
    "mine": "mine",
    "mina": "mine",
    "theme": "theme",
    "tema": "theme",
    "teman": "theme",
    "themes": "theme",
    "more": "more",
    "mer": "more",
}


# --- visibility --------------------------------------------------------------------------------


def visible_cohorts(ctx: EventContext) -> list[str]:
    """The cohorts whose items the reader sees here (items shared one by one come on top)."""
    config = ctx.config
    own = [ctx.cohort] if ctx.cohort is not None else config.cohorts_of(ctx.event.sender)
    return sorted({c.id for c in own} | {c.id for c in config.shared_cohorts()})


def _shown(ctx: EventContext, item: Item) -> render.Shown:
    name = item.uploader_name or ctx.services.display_name(item.room_id, item.uploader)
    return render.shown(item, name, ctx.config.bot.timezone, ctx.lang)


# --- !materials ----------------------------------------------------------------------------------


@command(
    "materials",
    args=[Arg("what", required=False), Arg("words", ArgKind.REST, required=False)],
    places=(Place.COHORT, Place.DIRECT),
    aliases={"sv": ["material"]},
)
async def materials(ctx: CommandContext, args: dict[str, Any]) -> None:
    what, words = args["what"], args["words"] or ""
    if what is None:
        await ctx.reply(ctx.t("materials.usage"))
        return
    sub = SUBCOMMANDS.get(parse.fold(what))
    if sub is None:  # '!material läsförståelse' searches
        sub, words = "search", f"{what} {words}".strip()
    if sub == "more":
        await _more(ctx)
    elif sub == "theme":
        await _theme(ctx, words)
    else:
        await _list(ctx, Listing(sub, words, 0))


async def _fetch(ctx: EventContext, listing: Listing, limit: int) -> list[Item] | None:
    """Items of a listing; None if its words do not make a query."""
    cohorts = visible_cohorts(ctx)
    offset = listing.next_offset
    if listing.mode == "search":
        words = parse.query_words(listing.query)
        if not words:
            return None
        return await store.search(ctx.tx, words, cohorts, limit, offset)
    if listing.mode == "tag":
        tags = parse.parse_tags(listing.query)
        if tags is None:
            return None
        return await store.listing(ctx.tx, cohorts, limit, offset, tags=[f for f, _ in tags])
    uploader = ctx.event.sender if listing.mode == "mine" else None
    return await store.listing(ctx.tx, cohorts, limit, offset, uploader=uploader)


async def _count(ctx: EventContext, listing: Listing) -> int:
    """How many items a listing has in all."""
    cohorts = visible_cohorts(ctx)
    if listing.mode == "search":
        return await store.count_search(ctx.tx, parse.query_words(listing.query), cohorts)
    if listing.mode == "tag":
        tags = [f for f, _ in parse.parse_tags(listing.query) or []]
        return await store.count_listing(ctx.tx, cohorts, tags=tags)
    uploader = ctx.event.sender if listing.mode == "mine" else None
    return await store.count_listing(ctx.tx, cohorts, uploader=uploader)


def _query_shown(listing: Listing) -> str:
    return messages.short(listing.query.strip(), parse.QUERY_SHOWN)


def _heading(ctx: EventContext, listing: Listing, first: int, last: int) -> str:
    key = f"materials.heading.{listing.mode}"
    return ctx.t(key, query=_query_shown(listing), first=first, last=last)


async def _list(ctx: CommandContext, listing: Listing) -> None:
    """One page of a listing: at most PAGE items, and only as many as fit in one message; the
    next ``!materials more`` goes on after the last one shown."""
    items = await _fetch(ctx, listing, PAGE + 1)
    if items is None:
        await ctx.reply(ctx.t(f"materials.usage_{listing.mode}"))
        return
    more, items = len(items) > PAGE, items[:PAGE]
    room, sender = ctx.event.room_id, ctx.event.sender
    if listing.mode == "search" and listing.next_offset == 0:
        await _count_search(ctx, bool(items), parse.query_words(listing.query))
    if not items:
        await store.remember(ctx.tx, sender, room, listing)
        key = "materials.nothing_more" if listing.next_offset else f"materials.none.{listing.mode}"
        await ctx.reply(ctx.t(key, query=_query_shown(listing)))
        return
    offset, first = listing.next_offset, listing.next_offset + 1
    total = await _count(ctx, listing) if more else offset + len(items)
    more_command = _more_command(ctx)
    page = render.render_page(
        ctx.lang,
        lambda n: _heading(ctx, listing, first, first + n - 1),
        [_shown(ctx, i) for i in items],
        first,
        footer=ctx.t("materials.more_hint", command=more_command) if more else "",
        # the number of items after the last one shown, this page's and the later ones
        left_out=lambda k: ctx.t(
            "materials.left_out_more", count=total - offset - len(items) + k, command=more_command
        ),
    )
    # (max(..., 1): never stuck on an item too big to show at all; the bounds rule that out)
    following = Listing(listing.mode, listing.query, offset + max(page.shown, 1))
    await store.remember(ctx.tx, sender, room, following)
    await ctx.reply(page.body, html_body=page.html)


async def _count_search(ctx: CommandContext, found: bool, words: list[str]) -> None:
    """For the pilot's evidence: a search in the room's cohort (in a direct chat: the person's
    first cohort), and the folded words of one that found nothing. Never who searched."""
    cohort = ctx.cohort or next(iter(ctx.config.cohorts_of(ctx.event.sender)), None)
    if cohort is None:
        return
    day = i18n.format_iso_day(ctx.event.origin_server_ts, ctx.config.cohort_timezone(cohort))
    await evaluation_store.record_search(ctx.tx, cohort.id, day, found, words)


def _more_command(ctx: CommandContext) -> str:
    assert ctx.spec is not None
    return f"!{ctx.spec.display_name(ctx.lang)} {ctx.t('materials.more_word')}"


async def _more(ctx: CommandContext) -> None:
    last = await store.last_listing(ctx.tx, ctx.event.sender, ctx.event.room_id)
    if last is None or last.mode not in ("search", "recent", "tag", "mine"):
        await ctx.reply(ctx.t("materials.nothing_to_continue"))
        return
    await _list(ctx, last)


async def _theme(ctx: CommandContext, name: str) -> None:
    config = ctx.config
    cohorts = [ctx.cohort] if ctx.cohort is not None else config.cohorts_of(ctx.event.sender)
    themes = config.themes_for(cohorts)
    assert ctx.spec is not None
    usage = f"!{ctx.spec.display_name(ctx.lang)} {ctx.t('materials.theme_word')}"
    if not name.strip():
        listed = render.render_theme_list(ctx.lang, themes, usage)
        await ctx.reply(listed.body, html_body=listed.html)
        return
    found = render.find_themes(themes, name)
    if len(found) != 1:
        key = "materials.theme_unknown" if not found else "materials.theme_ambiguous"
        names = ", ".join(f"{t.id} ({t.name})" for t in (found or themes))
        names = messages.short(names, messages.LISTING_BYTES // 4)
        shown_name = messages.short(name.strip(), parse.QUERY_SHOWN)
        await ctx.reply(ctx.t(key, name=shown_name, themes=names or "—"))
        return
    theme = found[0]
    keys = render.theme_keys(theme)
    items = await store.with_any_tag(ctx.tx, visible_cohorts(ctx), keys, THEME_ITEMS + 1)
    hint = ""
    if len(items) > THEME_ITEMS:
        command_word = f"!{ctx.spec.display_name(ctx.lang)} {ctx.t('materials.tag_word')}"
        hint = ctx.t("materials.theme_more", command=command_word, tag=keys[0])
    shown = [_shown(ctx, i) for i in items[:THEME_ITEMS]]
    page = render.render_theme(ctx.lang, theme, shown, hint)
    await ctx.reply(page.body, html_body=page.html)


# --- replies to an item: !tag, !describe, !share, !unshare ---------------------------------------


def reply_target(event: RoomEvent) -> EventID | None:
    """The event a message replies to (a real reply, or the root of its thread)."""
    rel = event.relates_to
    in_reply = rel.get("m.in_reply_to")
    target = in_reply.get("event_id") if isinstance(in_reply, dict) else None
    if rel.get("rel_type") == "m.thread" and (rel.get("is_falling_back") or not target):
        target = rel.get("event_id")
    return EventID(target) if isinstance(target, str) else None


async def _replied_items(ctx: CommandContext) -> list[Item] | None:
    target = reply_target(ctx.event)
    if target is None:
        await ctx.reply(ctx.t("materials.reply_needed"))
        return None
    items = await store.of_event(ctx.tx, ctx.event.room_id, target)
    if not items:
        await ctx.reply(ctx.t("materials.not_an_item"))
        return None
    return items


async def _editable_items(ctx: CommandContext) -> list[Item] | None:
    """The items replied to, if the sender may change them: uploader, facilitator, adviser."""
    items = await _replied_items(ctx)
    if items is None:
        return None
    if ctx.event.sender not in {i.uploader for i in items} and not EDITORS & ctx.roles:
        await ctx.reply(ctx.t("materials.not_yours", title=items[0].title))
        return None
    return items


@command(
    "tag",
    args=[Arg("tags", ArgKind.REST)],
    places=(Place.COHORT,),
    aliases={"sv": ["tagga"]},
)
async def tag(ctx: CommandContext, args: dict[str, Any]) -> None:
    tags = parse.parse_tags(args["tags"])
    if tags is None:
        await ctx.reply(ctx.t("materials.bad_tags"))
        return
    items = await _editable_items(ctx)
    if items is None:
        return
    for item in items:
        await store.add_tags(ctx.tx, item.id, tags)
    updated = await store.get(ctx.tx, items[0].id)
    kept = updated.tags if updated else ()
    answer = ctx.t("materials.tagged", title=items[0].title, tags=" ".join(f"#{t}" for t in kept))
    if {f for f, _ in tags} - {parse.fold(t) for t in kept}:
        answer += " " + ctx.t("materials.tags_limit", count=store.MAX_TAGS)
    await ctx.reply(answer)


@command(
    "describe",
    args=[Arg("text", ArgKind.REST)],
    places=(Place.COHORT,),
    aliases={"sv": ["beskriv"]},
)
async def describe(ctx: CommandContext, args: dict[str, Any]) -> None:
    items = await _editable_items(ctx)
    if items is None:
        return
    description = messages.short(args["text"], parse.DESCRIPTION_MAX)
    for item in items:
        await store.update(ctx.tx, item.id, description=description, described=True)
        tags = parse.hashtags(description)
        if tags:
            await store.add_tags(ctx.tx, item.id, tags)
    await ctx.reply(ctx.t("materials.described", title=items[0].title))


async def _set_shared(ctx: CommandContext, shared: bool) -> None:
    items = await _replied_items(ctx)
    if items is None:
        return
    for item in items:
        await store.update(ctx.tx, item.id, shared=shared)
    key = "materials.shared" if shared else "materials.unshared"
    await ctx.reply(ctx.t(key, title=items[0].title))


@command("share", roles=EDITORS, places=(Place.COHORT,), aliases={"sv": ["dela"]})
async def share(ctx: CommandContext, args: dict[str, Any]) -> None:
    await _set_shared(ctx, True)


@command("unshare", roles=EDITORS, places=(Place.COHORT,), aliases={"sv": ["sluta-dela"]})
async def unshare(ctx: CommandContext, args: dict[str, Any]) -> None:
    await _set_shared(ctx, False)


# --- indexing ------------------------------------------------------------------------------------


def _uploader_name(ctx: EventContext) -> str:
    return ctx.services.display_name(ctx.event.room_id, ctx.event.sender)


def _text_state(file: parse.FileMessage) -> tuple[str, str | None]:
    """Whether a file's text is to be extracted ('pending'), or why not."""
    if file.kind != "file" or extract_text.document_kind(file.mimetype, file.filename) is None:
        return "none", None
    limit = extract_text.LIMITS.max_download
    if file.size is not None and file.size > limit:
        return "skipped", f"larger than {limit} bytes ({file.size})"
    return "pending", None


async def _index_file(ctx: EventContext, file: parse.FileMessage) -> None:
    assert ctx.cohort is not None
    event = ctx.event
    state, reason = _text_state(file)
    added = await store.add(
        ctx.tx,
        NewItem(
            cohort_id=ctx.cohort.id,
            room_id=event.room_id,
            event_id=event.event_id,
            kind=file.kind,
            title=file.title,
            filename=file.filename,
            description=file.description,
            mxc=file.mxc,
            mimetype=file.mimetype,
            size=file.size,
            uploader=event.sender,
            uploader_name=_uploader_name(ctx),
            created_at=event.origin_server_ts,
            text_state=state,
            text_reason=reason,
            tags=tuple(parse.hashtags(file.caption)),
            file_key=file.key,
        ),
    )
    item_id = await store.id_of(ctx.tx, event.event_id) if added else None
    if item_id is not None and reason is not None:
        log.warning("Material %d: text not extracted: %s", item_id, reason)
    if item_id is not None and state == "pending":
        pending = PendingText(item_id, file.mxc, file.mimetype, file.filename, file.size, file.key)
        ctx.after_commit(partial(documents.fetch_text, ctx.services, pending))


async def _index_links(ctx: EventContext, event_id: str, body: str, ts: int) -> None:
    """Bring the link items of a message in line with its (possibly edited) text."""
    assert ctx.cohort is not None
    links = parse.find_links(body)
    tags = tuple(parse.hashtags(parse.strip_reply_fallback(body)))
    existing = {i.part: i for i in await store.of_event(ctx.tx, ctx.event.room_id, event_id)}
    for link in links:
        old = existing.pop(link.url, None)
        if old is None:
            await store.add(
                ctx.tx,
                NewItem(
                    cohort_id=ctx.cohort.id,
                    room_id=ctx.event.room_id,
                    event_id=event_id,
                    part=link.url,
                    kind="link",
                    title=parse.link_title(link.url),
                    description=link.context,
                    url=link.url,
                    uploader=ctx.event.sender,
                    uploader_name=_uploader_name(ctx),
                    created_at=ts,
                    tags=tags,
                ),
            )
            continue
        if not old.described and old.description != link.context:
            await store.update(ctx.tx, old.id, description=link.context)
        await store.set_hashtags(ctx.tx, old.id, tags)
    for gone in existing.values():
        if gone.kind == "link":
            await store.delete(ctx.tx, gone.id)


async def _edit(ctx: EventContext) -> None:
    event = ctx.event
    original = event.relates_to.get("event_id")
    new = event.content.get("m.new_content")
    if not isinstance(original, str) or not isinstance(new, dict):
        return
    items = await store.of_event(ctx.tx, event.room_id, original)
    if any(i.uploader != event.sender for i in items):
        return  # only the author can edit a message; clients ignore anyone else's edit
    file = parse.file_message(new)
    if file is not None:
        for item in items:
            if item.kind not in parse.FILE_MSGTYPES.values():
                continue
            await store.update(
                ctx.tx,
                item.id,
                title=file.title,
                filename=file.filename,
                description=file.description,
            )
            await store.set_hashtags(ctx.tx, item.id, parse.hashtags(file.caption))
            if file.mxc != item.mxc:  # the file itself was replaced
                state, reason = _text_state(file)
                await store.update(
                    ctx.tx,
                    item.id,
                    mxc=file.mxc,
                    mimetype=file.mimetype,
                    size=file.size,
                    text_state=state,
                    text_reason=reason,
                    file_key=file.key if state == "pending" else None,
                )
                await store.clear_text(ctx.tx, item.id)
                if state == "pending":
                    pending = PendingText(
                        item.id, file.mxc, file.mimetype, file.filename, file.size, file.key
                    )
                    ctx.after_commit(partial(documents.fetch_text, ctx.services, pending))
        return
    if new.get("msgtype") in ("m.text", "m.emote"):
        body = new.get("body")
        if isinstance(body, str) and split_command(body) is None:
            await _index_links(ctx, original, body, event.origin_server_ts)


@listener("m.room.message")
async def index_message(ctx: EventContext) -> None:
    if ctx.place != Place.COHORT or ctx.cohort is None:
        return
    event = ctx.event
    if event.is_edit:
        await _edit(ctx)
        return
    file = parse.file_message(event.content)
    if file is not None:
        await _index_file(ctx, file)
    elif event.content.get("msgtype") in ("m.text", "m.emote") and "http" in event.body:
        await _index_links(ctx, event.event_id, event.body, event.origin_server_ts)


@listener("m.room.redaction")
async def remove_redacted(ctx: EventContext) -> None:
    if ctx.place != Place.COHORT:
        return
    target = redacted_event_id(ctx.event)
    if target is not None:
        await store.delete_event(ctx.tx, ctx.event.room_id, target)
