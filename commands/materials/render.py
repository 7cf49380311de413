"""How the catalogue shows in chat: items, pages that fit one message, themes. Pure.

Every piece of user text that goes into HTML passes through :func:`bot.messages.escape`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from bot import i18n, messages
from bot.messages import escape
from commands.materials.parse import (
    DESCRIPTION_SHOWN,
    FILENAME_MAX,
    NAME_SHOWN,
    SNIPPET_END,
    SNIPPET_SHOWN,
    SNIPPET_START,
    TITLE_MAX,
    URL_MAX,
    fold,
    permalink,
)
from config import Theme
from storage.materials import MAX_TAGS, TAG_MAX, Item

# --- chat listings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """An item as a listing shows it."""

    title: str
    link: str  # the web link for a link item, else the permalink
    permalink: str
    who: str
    when: str
    tags: tuple[str, ...]
    description: str = ""
    filename: str | None = None
    snippet: str = ""
    is_link: bool = False


def shown(item: Item, who: str, timezone: str, lang: str) -> Shown:
    """What a listing shows of an item: every piece bounded (also for items recorded before
    the bounds, or by hand in the database)."""
    link = permalink(item.room_id, item.event_id)
    filename = item.filename if item.filename and item.filename != item.title else None
    return Shown(
        title=messages.short(item.title, TITLE_MAX),
        link=item.url[:URL_MAX] if item.kind == "link" and item.url else link,
        permalink=link,
        who=messages.short(who, NAME_SHOWN),
        when=i18n.format_date(lang, item.created_at, timezone),
        tags=tuple(t[:TAG_MAX] for t in item.tags[:MAX_TAGS]),
        description=messages.short(item.description, DESCRIPTION_SHOWN),
        filename=messages.short(filename, FILENAME_MAX) if filename else None,
        snippet=messages.short(item.snippet, SNIPPET_SHOWN)
        if SNIPPET_START in item.snippet
        else "",
        is_link=item.kind == "link",
    )


def _tags_text(tags: Iterable[str]) -> str:
    return " ".join(f"#{t}" for t in tags)


def _plain_snippet(snippet: str) -> str:
    return snippet.replace(SNIPPET_START, "").replace(SNIPPET_END, "")


def _html_snippet(snippet: str) -> str:
    return escape(snippet).replace(SNIPPET_START, "<b>").replace(SNIPPET_END, "</b>")


def _item_lines(lang: str, number: int, s: Shown) -> tuple[list[str], str]:
    """One listed item: its plain lines and its HTML ``<li>``."""
    original = i18n.t(lang, "materials.original")
    head = s.title + (f" ({s.filename})" if s.filename else "")
    meta = " · ".join(part for part in (s.who, s.when, _tags_text(s.tags)) if part)
    lines = [f"{number}. {head} — {meta}"]
    if s.description:
        lines.append(f"   {messages.short(s.description, DESCRIPTION_SHOWN)}")
    if s.snippet:
        lines.append(f"   {_plain_snippet(s.snippet)}")
    lines.append(f"   {s.link}" + (f" · {original}: {s.permalink}" if s.is_link else ""))

    parts = [f'<a href="{escape(s.link)}"><b>{escape(s.title)}</b></a>']
    if s.filename:
        parts.append(f" ({escape(s.filename)})")
    parts.append(f" — {escape(meta)}")
    if s.description:
        parts.append(f"<br>{escape(messages.short(s.description, DESCRIPTION_SHOWN))}")
    if s.snippet:
        parts.append(f"<br><i>{_html_snippet(s.snippet)}</i>")
    if s.is_link:
        parts.append(f'<br><a href="{escape(s.permalink)}">{escape(original)}</a>')
    return lines, f"<li>{''.join(parts)}</li>"


def left_out_line(lang: str, count: int) -> str:
    return i18n.t(lang, "materials.left_out", count=count)


def render_page(
    lang: str,
    heading: str | Callable[[int], str],
    items: Sequence[Shown],
    first: int,
    footer: str = "",
    left_out: Callable[[int], str] | None = None,
    budget: int = messages.LISTING_BYTES,
) -> messages.Page:
    """A page of a listing, as many of ``items`` as fit in ``budget`` bytes. ``heading`` may
    depend on how many are shown. ``footer`` ends a page that shows them all;
    ``left_out(count of items not shown)`` one that does not (by default a line saying how many
    more there are)."""
    rendered = [_item_lines(lang, number, s) for number, s in enumerate(items, start=first)]
    closing_line = left_out or partial(left_out_line, lang)

    def render(n: int) -> messages.Page:
        title = heading(n) if callable(heading) else heading
        closing = footer if n == len(items) else closing_line(len(items) - n)
        lines = [line for item_lines, _ in rendered[:n] for line in item_lines]
        body = "\n".join([title, *lines, *([closing] if closing else [])])
        html = f"<p>{escape(title)}</p>"
        if n:
            html += f'<ol start="{first}">{"".join(li for _, li in rendered[:n])}</ol>'
        if closing:
            html += f"<p>{escape(closing)}</p>"
        return messages.Page(body, html, n)

    return messages.fitting(len(items), render, budget)


# --- themes ------------------------------------------------------------------------------------


def theme_keys(theme: Theme) -> list[str]:
    """The folded tags whose items belong to a theme: its id and its ``tags``."""
    keys = [fold(theme.id), *(fold(t) for t in theme.tags)]
    return list(dict.fromkeys(keys))


def find_themes(themes: Sequence[Theme], name: str) -> list[Theme]:
    """Themes whose id or name matches ``name`` (folded; a unique prefix of the name will do)."""
    wanted = fold(name.strip().removeprefix("#"))
    exact = [t for t in themes if wanted in (fold(t.id), fold(t.name))]
    if exact:
        return exact
    return [t for t in themes if fold(t.name).startswith(wanted) or fold(t.id).startswith(wanted)]


def render_theme(
    lang: str,
    theme: Theme,
    items: Sequence[Shown],
    more_hint: str = "",
    budget: int = messages.LISTING_BYTES,
) -> messages.Page:
    """A theme: its curated entry materials, then the newest items tagged with it; as many of
    them (entries first) as fit in ``budget`` bytes, then a line saying how many more."""
    title = i18n.t(lang, "materials.theme_title", name=theme.name)
    tag_line = _tags_text(theme_keys(theme))
    entries = [
        (
            f"• {e.title} — {e.url}" + (f"\n  {e.description}" if e.description else ""),
            f'<li><a href="{escape(e.url)}">{escape(e.title)}</a>'
            + (f" — {escape(e.description)}" if e.description else "")
            + "</li>",
        )
        for e in theme.entries
    ]
    listed = [_item_lines(lang, number, s) for number, s in enumerate(items, start=1)]
    total = len(entries) + len(listed)

    def render(n: int) -> messages.Page:
        body = [title]
        html = [f"<p><b>{escape(title)}</b></p>"]
        if entries:
            heading = i18n.t(lang, "materials.theme_entries")
            shown_entries = entries[:n]
            body += [heading, *(line for line, _ in shown_entries)]
            html.append(
                f"<p>{escape(heading)}</p><ul>{''.join(li for _, li in shown_entries)}</ul>"
            )
        shown_items = listed[: max(0, n - len(entries))]
        if items:
            tagged = i18n.t(lang, "materials.theme_items", tags=tag_line)
            body += [tagged, *(line for lines, _ in shown_items for line in lines)]
            html.append(f"<p>{escape(tagged)}</p>")
            if shown_items:
                html.append(f'<ol start="1">{"".join(li for _, li in shown_items)}</ol>')
        else:
            none = i18n.t(lang, "materials.theme_no_items", tags=tag_line)
            body.append(none)
            html.append(f"<p>{escape(none)}</p>")
        closing = [left_out_line(lang, total - n)] if n < total else []
        for line in [*closing, *([more_hint] if more_hint else [])]:
            body.append(line)
            html.append(f"<p>{escape(line)}</p>")
        return messages.Page("\n".join(body), "".join(html), n)

    return messages.fitting(total, render, budget)


def render_theme_list(
    lang: str, themes: Sequence[Theme], usage: str, budget: int = messages.LISTING_BYTES
) -> messages.Page:
    """The themes, each with its number of entry materials, as many as fit in ``budget``."""
    if not themes:
        text = i18n.t(lang, "materials.no_themes")
        return messages.Page(text, f"<p>{escape(text)}</p>", 0)
    title = i18n.t(lang, "materials.themes_title")
    hint = i18n.t(lang, "materials.themes_hint", usage=usage)
    lines = [
        (
            f"• {t.name} ({t.id}) — {len(t.entries)}",
            f"<li><b>{escape(t.name)}</b> (<code>{escape(t.id)}</code>) — {len(t.entries)}</li>",
        )
        for t in themes
    ]

    def render(n: int) -> messages.Page:
        closing = [left_out_line(lang, len(lines) - n)] if n < len(lines) else []
        body = "\n".join([title, *(line for line, _ in lines[:n]), *closing, hint])
        items = "".join(li for _, li in lines[:n])
        html = f"<p>{escape(title)}</p>" + (f"<ul>{items}</ul>" if items else "")
        html += "".join(f"<p>{escape(line)}</p>" for line in [*closing, hint])
        return messages.Page(body, html, n)

    return messages.fitting(len(lines), render, budget)
