"""The materials catalogue's pure parts: folding, hashtags, links, file events, query words,
and rendering (chat listings, themes, exports). No I/O here; everything is tested as is.

Every piece of user text that goes into HTML passes through :func:`bot.messages.escape`.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from bot import i18n, messages
from bot.messages import escape
from config import Theme
from storage.materials import MAX_TAGS, TAG_MAX, Item

FILE_MSGTYPES = {"m.file": "file", "m.image": "image", "m.video": "video", "m.audio": "audio"}
# What an item keeps of the text it was made from (a message may hold 64 KiB of it), and what a
# listing shows of it. Tags: MAX_TAGS per item, TAG_MAX characters each (storage.materials).
TITLE_MAX = 200
DESCRIPTION_MAX = 1000
FILENAME_MAX = 255
MIMETYPE_MAX = 100
URL_MAX = 2000
NAME_SHOWN = 100  # who shared an item
DESCRIPTION_SHOWN = 300
SNIPPET_SHOWN = 240
QUERY_SHOWN = 100  # a person's search words or theme name, repeated in an answer
# Every listing (search results, recent, tag, mine, a theme, the themes) is built item by item
# and stops before the message would pass this many bytes of content, with a last line saying
# how many more there are. Bounded by size, not only by count: the rest of
# messages.MAX_CONTENT_BYTES is for the reply or thread relation and the mentions.
LISTING_BUDGET = messages.MAX_CONTENT_BYTES - 1_000
SNIPPET_START, SNIPPET_END = "\x02", "\x03"

# A hashtag: '#' not glued to a word, a URL fragment or an entity, then a letter or digit and
# more of them (with - and _). A room alias (#room:server) is not a tag.
_HASHTAG = re.compile(r"(?<![\w#/&])#(\w[\w-]*)(?![\w-]*:\w)")
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_~"
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without diacritics, as FTS5's ``unicode61 remove_diacritics 2`` sees it:
    ``Förskola`` -> ``forskola``, ``Läsförståelse`` -> ``lasforstaelse``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _tag(word: str) -> tuple[str, str] | None:
    tag = word.strip("-_")[:TAG_MAX]
    if not tag or not any(c.isalpha() for c in tag):
        return None  # '#12' is a question number, not a tag
    return fold(tag), tag


def hashtags(text: str) -> list[tuple[str, str]]:
    """The hashtags in ``text`` as (folded, as written), each once, in order: the first
    MAX_TAGS of them, each cut to TAG_MAX characters (a message may hold thousands)."""
    found: dict[str, str] = {}
    for match in _HASHTAG.finditer(text):
        tag = _tag(match[1])
        if tag is not None:
            found.setdefault(*tag)
            if len(found) >= MAX_TAGS:
                break
    return list(found.items())


def parse_tags(text: str) -> list[tuple[str, str]] | None:
    """The tags of ``!tag #a #b`` (the '#' is optional); None if a word is not a tag."""
    found: dict[str, str] = {}
    for word in re.split(r"[\s,]+", text.strip()):
        if not word:
            continue
        body = word.removeprefix("#")
        tag = _tag(body) if re.fullmatch(r"[\w-]+", body) else None
        if tag is None:
            return None
        found.setdefault(*tag)
    return list(found.items()) or None


def strip_reply_fallback(body: str) -> str:
    """A message body without the quoted lines of an old-style reply fallback."""
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class Link:
    url: str
    context: str  # the message around the link, as its description


def _trim_url(url: str) -> str:
    while url:
        if url[-1] in _TRAILING:
            url = url[:-1]
        elif url[-1] in ")]}":
            opening = {")": "(", "]": "[", "}": "{"}[url[-1]]
            if url.count(url[-1]) > url.count(opening):
                url = url[:-1]
            else:
                break
        else:
            break
    return url


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return (
            parts.scheme.lower() in ("http", "https")
            and bool(parts.hostname)
            and len(url) <= URL_MAX
        )
    except ValueError:
        return False


def find_links(body: str) -> list[Link]:
    """Every http(s) link in a message, each once, with the rest of the text as context."""
    text = strip_reply_fallback(body)
    urls: list[str] = []
    pieces: list[str] = []
    end = 0
    for match in _URL.finditer(text):
        url = _trim_url(match[0])
        pieces.append(text[end : match.start()])
        end = match.start() + len(url)
        if _valid_url(url) and url not in urls:
            urls.append(url)
    if not urls:
        return []
    context = "".join([*pieces, text[end:]])
    context = re.sub(r"\[([^\]]*)\]\(\s*\)", r"\1", context)  # what is left of [text](url)
    context = re.sub(r"\(\s*\)|\[\s*\]|<\s*>", " ", context)
    context = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(context.split()))
    context = short(context.strip(" :-–—"), DESCRIPTION_MAX)
    return [Link(url, context) for url in urls]


def link_title(url: str) -> str:
    """A readable title for a link: host and path, without the scheme and 'www.'."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    path = parts.path.rstrip("/")
    return short(f"{host}{path}" or url, TITLE_MAX)


@dataclass(frozen=True)
class FileMessage:
    kind: str
    mxc: str
    filename: str
    caption: str
    mimetype: str | None
    size: int | None

    @property
    def title(self) -> str:
        """The caption's first line if there is a caption, else the file name."""
        if self.caption:
            first = self.caption.strip().split("\n", 1)[0]
            return short(first, TITLE_MAX) or short(self.filename, TITLE_MAX)
        return short(self.filename, TITLE_MAX)

    @property
    def description(self) -> str:
        """The caption's further lines, if it has several."""
        rest = self.caption.strip().split("\n", 1)[1:] if self.caption else []
        return short(rest[0], DESCRIPTION_MAX) if rest else ""


def file_message(content: dict[str, Any]) -> FileMessage | None:
    """A file, image, video or audio message (unencrypted); None for anything else.

    Captions follow Matrix v1.10: with a ``filename`` that differs from ``body``, the body is
    the caption; without one, the body is the file name.
    """
    kind = FILE_MSGTYPES.get(str(content.get("msgtype")))
    url = content.get("url")
    if kind is None or not isinstance(url, str) or not url.startswith("mxc://"):
        return None
    body = content.get("body") if isinstance(content.get("body"), str) else ""
    filename = content.get("filename")
    if isinstance(filename, str) and filename.strip():
        caption = body if body != filename else ""
    else:
        filename, caption = body, ""
    raw_info = content.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    mimetype = info.get("mimetype") if isinstance(info.get("mimetype"), str) else None
    size = info.get("size")
    return FileMessage(
        kind=kind,
        mxc=url,
        filename=short(str(filename), FILENAME_MAX) or kind,
        caption=str(caption).strip(),
        mimetype=mimetype[:MIMETYPE_MAX] if mimetype is not None else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


def query_words(text: str) -> list[str]:
    """The folded words of a search, at most ten."""
    return _WORD.findall(fold(text))[:10]


def permalink(room_id: str, event_id: str) -> str:
    """A matrix.to link to a message, which every Matrix client opens."""
    return f"https://matrix.to/#/{quote(room_id, safe='!:.-_')}/{quote(event_id, safe='$:.-_')}"


def local_date(ms: int, timezone: str) -> str:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(timezone)).strftime("%Y-%m-%d")


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


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


def shown(item: Item, who: str, timezone: str) -> Shown:
    """What a listing shows of an item: every piece bounded (also for items recorded before
    the bounds, or by hand in the database)."""
    link = permalink(item.room_id, item.event_id)
    filename = item.filename if item.filename and item.filename != item.title else None
    return Shown(
        title=short(item.title, TITLE_MAX),
        link=item.url[:URL_MAX] if item.kind == "link" and item.url else link,
        permalink=link,
        who=short(who, NAME_SHOWN),
        when=local_date(item.created_at, timezone),
        tags=tuple(t[:TAG_MAX] for t in item.tags[:MAX_TAGS]),
        description=short(item.description, DESCRIPTION_SHOWN),
        filename=short(filename, FILENAME_MAX) if filename else None,
        snippet=short(item.snippet, SNIPPET_SHOWN) if SNIPPET_START in item.snippet else "",
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
        lines.append(f"   {short(s.description, DESCRIPTION_SHOWN)}")
    if s.snippet:
        lines.append(f"   {_plain_snippet(s.snippet)}")
    lines.append(f"   {s.link}" + (f" · {original}: {s.permalink}" if s.is_link else ""))

    parts = [f'<a href="{escape(s.link)}"><b>{escape(s.title)}</b></a>']
    if s.filename:
        parts.append(f" ({escape(s.filename)})")
    parts.append(f" — {escape(meta)}")
    if s.description:
        parts.append(f"<br>{escape(short(s.description, DESCRIPTION_SHOWN))}")
    if s.snippet:
        parts.append(f"<br><i>{_html_snippet(s.snippet)}</i>")
    if s.is_link:
        parts.append(f'<br><a href="{escape(s.permalink)}">{escape(original)}</a>')
    return lines, f"<li>{''.join(parts)}</li>"


@dataclass(frozen=True)
class Page:
    """A listing as one message: its text, its HTML, and how many of the items it lists."""

    body: str
    html: str
    shown: int


def fitting(count: int, render: Callable[[int], Page], budget: int = LISTING_BUDGET) -> Page:
    """The longest listing that fits: ``render(n)`` is the message with the first ``n`` of
    ``count`` items (and, for ``n < count``, a last line saying how many more there are). Items
    are added one by one; the listing stops at the first that would take the message's
    content over ``budget`` bytes (as :func:`bot.messages.size` counts them)."""
    page = render(0)
    for n in range(1, count + 1):
        longer = render(n)
        if not messages.fits(messages.notice(longer.body, html_body=longer.html), budget):
            break
        page = longer
    return page


def left_out_line(lang: str, count: int) -> str:
    return i18n.t(lang, "materials.left_out", count=count)


def render_page(
    lang: str,
    heading: str | Callable[[int], str],
    items: Sequence[Shown],
    first: int,
    footer: str = "",
    left_out: Callable[[int], str] | None = None,
    budget: int = LISTING_BUDGET,
) -> Page:
    """A page of a listing, as many of ``items`` as fit in ``budget`` bytes. ``heading`` may
    depend on how many are shown. ``footer`` ends a page that shows them all;
    ``left_out(count of items not shown)`` one that does not (by default a line saying how many
    more there are)."""
    rendered = [_item_lines(lang, number, s) for number, s in enumerate(items, start=first)]
    closing_line = left_out or partial(left_out_line, lang)

    def render(n: int) -> Page:
        title = heading(n) if callable(heading) else heading
        closing = footer if n == len(items) else closing_line(len(items) - n)
        lines = [line for item_lines, _ in rendered[:n] for line in item_lines]
        body = "\n".join([title, *lines, *([closing] if closing else [])])
        html = f"<p>{escape(title)}</p>"
        if n:
            html += f'<ol start="{first}">{"".join(li for _, li in rendered[:n])}</ol>'
        if closing:
            html += f"<p>{escape(closing)}</p>"
        return Page(body, html, n)

    return fitting(len(items), render, budget)


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
    budget: int = LISTING_BUDGET,
) -> Page:
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

    def render(n: int) -> Page:
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
        return Page("\n".join(body), "".join(html), n)

    return fitting(total, render, budget)


def render_theme_list(
    lang: str, themes: Sequence[Theme], usage: str, budget: int = LISTING_BUDGET
) -> Page:
    """The themes, each with its number of entry materials, as many as fit in ``budget``."""
    if not themes:
        text = i18n.t(lang, "materials.no_themes")
        return Page(text, f"<p>{escape(text)}</p>", 0)
    title = i18n.t(lang, "materials.themes_title")
    hint = i18n.t(lang, "materials.themes_hint", usage=usage)
    lines = [
        (
            f"• {t.name} ({t.id}) — {len(t.entries)}",
            f"<li><b>{escape(t.name)}</b> (<code>{escape(t.id)}</code>) — {len(t.entries)}</li>",
        )
        for t in themes
    ]

    def render(n: int) -> Page:
        closing = [left_out_line(lang, len(lines) - n)] if n < len(lines) else []
        body = "\n".join([title, *(line for line, _ in lines[:n]), *closing, hint])
        items = "".join(li for _, li in lines[:n])
        html = f"<p>{escape(title)}</p>" + (f"<ul>{items}</ul>" if items else "")
        html += "".join(f"<p>{escape(line)}</p>" for line in [*closing, hint])
        return Page(body, html, n)

    return fitting(len(lines), render, budget)


# --- export ------------------------------------------------------------------------------------

FORMATS = ("md", "csv", "html")


@dataclass(frozen=True)
class ExportTheme:
    theme: Theme
    cohort_name: str | None  # None: a network theme


@dataclass(frozen=True)
class Catalogue:
    """What an export shows: a heading, themes and the items, in the export's language."""

    lang: str
    heading: str
    timezone: str
    themes: Sequence[ExportTheme]
    items: Sequence[Item]
    cohort_names: dict[str, str]
    exported_at: str

    def who(self, item: Item) -> str:
        return item.uploader_name or item.uploader

    def link(self, item: Item) -> str:
        if item.kind == "link" and item.url:
            return item.url
        return permalink(item.room_id, item.event_id)

    def theme_items(self, theme: Theme) -> list[Item]:
        keys = set(theme_keys(theme))
        return [i for i in self.items if keys & {fold(t) for t in i.tags}]

    def by_tag(self) -> list[tuple[str, list[Item]]]:
        groups: dict[str, tuple[str, list[Item]]] = {}
        for item in self.items:
            for tag in item.tags:
                groups.setdefault(fold(tag), (tag, []))[1].append(item)
        return [groups[k] for k in sorted(groups)]

    def untagged(self) -> list[Item]:
        return [i for i in self.items if not i.tags]

    def theme_name(self, et: ExportTheme) -> str:
        return f"{et.theme.name} ({et.cohort_name})" if et.cohort_name else et.theme.name

    def t(self, key: str, **params: Any) -> str:
        return i18n.t(self.lang, f"materials.export.{key}", **params)


def _md(text: str) -> str:
    """Markdown-safe inline text: no markup characters take effect."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", " ".join(text.split()))


def _md_item(cat: Catalogue, item: Item) -> str:
    meta = [cat.who(item), local_date(item.created_at, cat.timezone)]
    if len(cat.cohort_names) > 1:
        meta.append(cat.cohort_names.get(item.cohort_id, item.cohort_id))
    if item.tags:
        meta.append(_tags_text(item.tags))
    line = f"- [{_md(item.title)}](<{cat.link(item)}>) — {_md(' · '.join(meta))}"
    if item.description:
        line += f"  \n  {_md(short(item.description, 500))}"
    return line


def export_markdown(cat: Catalogue) -> str:
    out = [
        f"# {_md(cat.heading)}",
        "",
        _md(cat.t("summary", count=len(cat.items), when=cat.exported_at)),
        "",
    ]
    if cat.themes:
        out += [f"## {_md(cat.t('themes'))}", ""]
        for et in cat.themes:
            out += [f"### {_md(cat.theme_name(et))}", ""]
            for e in et.theme.entries:
                desc = f" — {_md(e.description)}" if e.description else ""
                out.append(f"- [{_md(e.title)}](<{e.url}>){desc}")
            items = cat.theme_items(et.theme)
            if items:
                out += ["", f"**{_md(cat.t('theme_items'))}**", ""]
                out += [_md_item(cat, i) for i in items]
            out.append("")
    groups = cat.by_tag()
    if groups:
        out += [f"## {_md(cat.t('by_tag'))}", ""]
        for tag, items in groups:
            out += [f"### \\#{_md(tag)}", "", *(_md_item(cat, i) for i in items), ""]
    untagged = cat.untagged()
    if untagged:
        out += [f"## {_md(cat.t('untagged'))}", "", *(_md_item(cat, i) for i in untagged), ""]
    if not cat.items:
        out += [_md(cat.t("empty")), ""]
    return "\n".join(out)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = (
    "id",
    "cohort",
    "kind",
    "title",
    "filename",
    "description",
    "tags",
    "shared_by",
    "shared_by_id",
    "date",
    "mimetype",
    "size",
    "url",
    "permalink",
    "shared_with_network",
    "text",
)


def export_csv(cat: Catalogue) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i in cat.items:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    i.id,
                    i.cohort_id,
                    i.kind,
                    i.title,
                    i.filename,
                    i.description,
                    " ".join(f"#{t}" for t in i.tags),
                    cat.who(i),
                    i.uploader,
                    local_date(i.created_at, cat.timezone),
                    i.mimetype,
                    i.size,
                    i.url,
                    permalink(i.room_id, i.event_id),
                    "yes" if i.shared else "no",
                    i.text_state if i.text_reason is None else f"{i.text_state}: {i.text_reason}",
                )
            ]
        )
    return buffer.getvalue()


_CSS = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;
line-height:1.5;color:#1d1d1f}h1{font-size:1.7rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
h3{margin-bottom:.3rem}ul{padding-left:1.2rem}li{margin:.35rem 0}.meta{color:#555;font-size:.9rem}
.tag{background:#eef;border-radius:.3rem;padding:0 .3rem;margin-right:.2rem;font-size:.85rem}
.desc{display:block;font-size:.95rem}.entry{font-weight:600}
"""


def _html_item(cat: Catalogue, item: Item) -> str:
    meta = [cat.who(item), local_date(item.created_at, cat.timezone)]
    if len(cat.cohort_names) > 1:
        meta.append(cat.cohort_names.get(item.cohort_id, item.cohort_id))
    if item.filename and item.filename != item.title:
        meta.append(item.filename)
    size = human_size(item.size)
    if size:
        meta.append(size)
    tags = "".join(f'<span class="tag">#{escape(t)}</span>' for t in item.tags)
    desc = f'<span class="desc">{escape(item.description)}</span>' if item.description else ""
    return (
        f'<li><a href="{escape(cat.link(item))}">{escape(item.title)}</a> '
        f'<span class="meta">{escape(" · ".join(meta))}</span> {tags}{desc}</li>'
    )


def export_html(cat: Catalogue) -> str:
    summary = cat.t("summary", count=len(cat.items), when=cat.exported_at)
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(cat.lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(cat.heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(cat.heading)}</h1>",
        f'<p class="meta">{escape(summary)}</p>',
    ]
    if cat.themes:
        out.append(f"<h2>{escape(cat.t('themes'))}</h2>")
        for et in cat.themes:
            out.append(f"<h3>{escape(cat.theme_name(et))}</h3><ul>")
            for e in et.theme.entries:
                desc = f'<span class="desc">{escape(e.description)}</span>' if e.description else ""
                out.append(
                    f'<li class="entry"><a href="{escape(e.url)}">{escape(e.title)}</a>{desc}</li>'
                )
            out += [_html_item(cat, i) for i in cat.theme_items(et.theme)]
            out.append("</ul>")
    groups = cat.by_tag()
    if groups:
        out.append(f"<h2>{escape(cat.t('by_tag'))}</h2>")
        for tag, items in groups:
            out.append(f"<h3>#{escape(tag)}</h3><ul>")
            out += [_html_item(cat, i) for i in items]
            out.append("</ul>")
    untagged = cat.untagged()
    if untagged:
        out.append(f"<h2>{escape(cat.t('untagged'))}</h2><ul>")
        out += [_html_item(cat, i) for i in untagged]
        out.append("</ul>")
    if not cat.items:
        out.append(f"<p>{escape(cat.t('empty'))}</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def export(cat: Catalogue, fmt: str) -> str:
    if fmt == "md":
        return export_markdown(cat)
    if fmt == "csv":
        return export_csv(cat)
    if fmt == "html":
        return export_html(cat)
    raise ValueError(f"unknown export format {fmt!r}")
