"""The plans as a file (``natverk plans export``): every plan with its items as they stand and
their history (what changed when), for the school's own quality work. Markdown, CSV, HTML and
DOCX, written by the report's writers (``commands/evaluation/document.py``). Pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from bot import i18n
from commands.evaluation import document
from commands.plans import render
from storage.plans import Item, Plan

FORMATS = ("md", "csv", "html", "docx")


def build(
    lang: str,
    timezone: str,
    plans: Sequence[tuple[Plan, str, Sequence[Item]]],
    history: Sequence[dict[str, Any]],
    names: render.Names,
    created: str,
) -> document.Document:
    """``plans``: (plan, its cohort's name, its items)."""

    def t(key: str, **params: Any) -> str:
        return i18n.t(lang, f"plans.export.{key}", **params)

    sections = []
    for plan, cohort_name, items in plans:
        title = render.plan_title(lang, plan, cohort_name, names)
        header = [t("number"), t("what"), t("who"), t("due"), t("status"), t("comment")]
        rows = [
            [
                f"#{i.id}",
                i.text,
                render.person(lang, i.who, names),
                i.due or "",
                i18n.t(lang, f"plans.status.{i.status}"),
                i.comment,
            ]
            for i in items
        ]
        changes = [h for h in history if h["plan_id"] == plan.id]
        log = [
            [
                i18n.format_datetime(lang, h["at"], timezone),
                f"#{h['item_id']}",
                t(f"change.{h['change']}"),
                _what(lang, h),
                render.person(lang, h["by"], names),
            ]
            for h in changes
        ]
        sections.append(
            document.Section(
                title,
                tables=[
                    document.Table(t("items"), header, rows),
                    document.Table(
                        t("history"),
                        [t("when"), t("number"), t("change_title"), t("what"), t("by")],
                        log,
                    ),
                ],
            )
        )
    if not sections:
        sections.append(document.Section(t("empty")))
    return document.Document(t("title"), [t("created", when=created)], sections)


def _what(lang: str, h: dict[str, Any]) -> str:
    if h["change"] == "status":
        status = i18n.t(lang, f"plans.status.{h['status']}")
        return f"{status}: {h['comment']}" if h["comment"] else status
    return str(h["text"] or "")


def csv_file(doc: document.Document) -> str:
    """One row per item (its plan first); the history is in the other formats."""
    out = io.StringIO()
    writer = csv.writer(out)
    header_written = False
    for section in doc.sections:
        for table in section.tables[:1]:
            if not header_written:
                writer.writerow(["plan", *table.header])
                header_written = True
            for row in table.rows:
                writer.writerow([_cell(section.title), *(_cell(c) for c in row)])
    return out.getvalue()


def _cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


WRITERS: dict[str, Callable[[document.Document], str | bytes]] = {
    **document.WRITERS,
    "csv": csv_file,
}
