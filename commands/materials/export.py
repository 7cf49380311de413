"""The catalogue as a file (``natverk catalogue export``): Markdown, CSV or one HTML page
grouped by theme and tag. Pure: the caller reads the items from storage."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import i18n, messages
from bot.messages import escape
from commands.materials.parse import fold, permalink
from commands.materials.render import _tags_text, theme_keys
from config import Config, Theme
from storage.materials import Item

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
    meta = [cat.who(item), i18n.format_date(cat.lang, item.created_at, cat.timezone)]
    if len(cat.cohort_names) > 1:
        meta.append(cat.cohort_names.get(item.cohort_id, item.cohort_id))
    if item.tags:
        meta.append(_tags_text(item.tags))
    line = f"- [{_md(item.title)}](<{cat.link(item)}>) — {_md(' · '.join(meta))}"
    if item.description:
        line += f"  \n  {_md(messages.short(item.description, 500))}"
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
                    i18n.format_date(cat.lang, i.created_at, cat.timezone),
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
    meta = [cat.who(item), i18n.format_date(cat.lang, item.created_at, cat.timezone)]
    if len(cat.cohort_names) > 1:
        meta.append(cat.cohort_names.get(item.cohort_id, item.cohort_id))
    if item.filename and item.filename != item.title:
        meta.append(item.filename)
    size = i18n.format_size(cat.lang, item.size) if item.size is not None else ""
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


def cohort_ids(config: Config, cohort_id: str | None) -> list[str] | None:
    """Whose items an export shows: one cohort's view (its own items and those shared with the
    network), or None for the whole network. ValueError for an unknown cohort."""
    if cohort_id is None:
        return None
    cohort = config.cohort(cohort_id)
    if cohort is None:
        raise ValueError(f"no cohort {cohort_id!r}")
    return sorted({cohort.id} | {c.id for c in config.shared_cohorts()})


def for_network(
    config: Config, items: Sequence[Item], cohort_id: str | None, fmt: str, at_ms: int
) -> str:
    """The export file of one cohort (``cohort_id``) or of the whole network, in ``fmt``."""
    cohort = config.cohort(cohort_id) if cohort_id is not None else None
    lang = config.cohort_language(cohort)
    names = {c.id: c.name for c in config.cohorts}
    if cohort is not None:
        heading = i18n.t(lang, "materials.export.cohort", name=cohort.name)
        themes = [ExportTheme(t, None) for t in config.themes_for([cohort])]
    else:
        whole = i18n.t(lang, "materials.export.whole_network")
        heading = i18n.t(lang, "materials.export.network", name=whole)
        themes = [ExportTheme(t, None) for t in config.themes] + [
            ExportTheme(t, c.name) for c in config.cohorts for t in c.themes
        ]
    catalogue = Catalogue(
        lang=lang,
        heading=heading,
        timezone=config.bot.timezone,
        themes=themes,
        items=items,
        cohort_names=names if cohort is None else {cohort.id: cohort.name},
        exported_at=i18n.format_datetime(lang, at_ms, config.bot.timezone),
    )
    return export(catalogue, fmt)
