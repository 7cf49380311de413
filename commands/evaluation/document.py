"""The evaluation report as a document: sections of labelled figures, tables and charts, in the
report's language. One model, written as Markdown, HTML (one self-contained, printable file) or
DOCX (for the people who write the final report). Pure.

No names, no user ids and no message text reach it: the figures carry none (free-text answers
of anonymous surveys only with ``--with-free-text``). Every piece of configured text (cohort,
category, theme, survey and criterion names) is escaped in HTML and Markdown.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import i18n
from commands.evaluation import charts
from commands.evaluation.figures import Hidden
from config.model import INDICATORS

Kind = str  # "count" | "share" | "hours" | "number" | "text"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Chart:
    title: str
    png: bytes


@dataclass
class Section:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: list[str]
    sections: list[Section]


class Writer:
    """Formats figures for people in one language."""

    def __init__(self, lang: str, min_group: int) -> None:
        self.lang, self.min_group = lang, min_group

    def t(self, key: str, **params: Any) -> str:
        return i18n.t(self.lang, f"report.{key}", **params)

    def value(self, value: Any, kind: Kind = "count") -> str:
        if isinstance(value, Hidden):
            return self.t("hidden", min_group=self.min_group)
        if value is None:
            return "–"
        if kind == "share":
            return i18n.format_percent(self.lang, float(value))
        if kind == "hours":
            return self.t("hours", hours=i18n.format_number(self.lang, float(value), 2))
        if kind == "number":
            return i18n.format_number(self.lang, float(value), 2)
        if kind == "text":
            return str(value)
        return i18n.format_number(self.lang, float(value), 0)


def _numbers(values: Sequence[Any]) -> list[float | None]:
    return [
        float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in values
    ]


SECTIONS: dict[str, list[tuple[str, Kind]]] = {
    "participation": [
        ("members", "count"),
        ("active", "count"),
        ("active_share", "share"),
        ("messages", "count"),
        ("top_tenth_share", "share"),
    ],
    "exchange": [
        ("threads", "count"),
        ("peer_replies", "count"),
        ("peer_reply_share", "share"),
        ("files", "count"),
        ("links", "count"),
        ("materials_items", "count"),
        ("materials_shared_with_network", "count"),
    ],
    "questions": [
        ("asked", "count"),
        ("answered", "count"),
        ("private", "count"),
        ("first_response_median_hours", "hours"),
        ("first_response_p90_hours", "hours"),
        ("answer_median_hours", "hours"),
        ("answer_p90_hours", "hours"),
        ("answered_within_reminder_share", "share"),
        ("backlog_at_end", "count"),
        ("reopened", "count"),
    ],
    "materials": [("items", "count"), ("searches", "count"), ("searches_without_hits", "count")],
    "checkins": [("runs", "count"), ("reply_rate", "share")],
    "practice": [
        ("items_made", "count"),
        ("items_done", "count"),
        ("items_dropped", "count"),
        ("follow_up_asked", "count"),
        ("follow_up_response_rate", "share"),
    ],
    "surveys": [
        ("rounds", "count"),
        ("response_rate", "share"),
        ("self_assessment_change", "number"),
    ],
}
INDICATOR_KINDS = INDICATORS  # share, hours or number: how a criterion's value reads


def criteria_table(w: Writer, criteria: Sequence[dict[str, Any]]) -> Table:
    rows = []
    for c in criteria:
        kind = INDICATOR_KINDS[c["indicator"]]
        bound = w.t(f"criteria.{c['direction']}", value=w.value(c["threshold"], kind))
        met = {True: w.t("criteria.met"), False: w.t("criteria.not_met")}.get(
            c["met"], w.t("criteria.unknown")
        )
        trend = w.t(f"criteria.trend_{c['trend']}") if c["trend"] else "–"
        rows.append([c["name"], w.value(c["value"], kind), bound, met, trend])
    header = [w.t(f"criteria.{k}") for k in ("name", "value", "threshold", "result", "trend")]
    return Table(w.t("section.criteria"), header, rows)


def build(
    report: dict[str, Any],
    lang: str,
    *,
    cohort_name: str | None,
    phase_name: str | None,
    created: str,
    with_charts: bool = True,
) -> Document:
    w = Writer(lang, int(report["min_group"]))
    period = report["period"]
    subtitle = [
        w.t("period", first=period["from"], last=period["to"]),
        w.t("cohort", name=cohort_name) if cohort_name else w.t("whole_network"),
        *([w.t("phase", name=phase_name)] if phase_name else []),
        w.t("created", when=created, min_group=w.min_group),
    ]
    criteria = criteria_table(w, report["criteria"])
    criteria.title = ""  # the section's title says it
    sections = [Section(w.t("section.criteria"), tables=[criteria])]
    if not report["criteria"]:
        sections[0].tables = []
        sections[0].paragraphs.append(w.t("criteria.none"))
    for name, rows in SECTIONS.items():
        data = report[name]
        section = Section(
            w.t(f"section.{name}"),
            rows=[(w.t(f"row.{name}.{key}"), w.value(data[key], kind)) for key, kind in rows],
        )
        _details(w, name, data, section, with_charts)
        sections.append(section)
    sections.append(
        Section(
            w.t("section.definitions"),
            paragraphs=[
                w.t(f"definition.{k}", min_group=w.min_group, min_group_minus=w.min_group - 1)
                for k in DEFINITIONS
            ],
        )
    )
    return Document(w.t("title"), subtitle, sections)


DEFINITIONS = ("members", "message", "exchange", "shares", "period", "hidden", "questions")


def _details(
    w: Writer, name: str, data: dict[str, Any], section: Section, with_charts: bool
) -> None:
    month = w.t("table.month")
    if name == "participation":
        months = data["by_month"]
        section.tables.append(
            Table(
                w.t("table.by_month"),
                [month, w.t("row.participation.active"), w.t("row.participation.messages")],
                [[m["month"], w.value(m["active"]), w.value(m["messages"])] for m in months],
            )
        )
        if with_charts and months:
            section.charts.append(
                Chart(
                    w.t("chart.activity"),
                    charts.column_chart(
                        w.t("chart.activity"),
                        [m["month"] for m in months],
                        {
                            w.t("row.participation.messages"): _numbers(
                                [m["messages"] for m in months]
                            ),
                        },
                        y_label=w.t("row.participation.messages"),
                    ),
                )
            )
            section.charts.append(
                Chart(
                    w.t("chart.active"),
                    charts.line_chart(
                        w.t("chart.active"),
                        [m["month"] for m in months],
                        {w.t("row.participation.active"): _numbers([m["active"] for m in months])},
                        y_label=w.t("row.participation.active"),
                    ),
                )
            )
    elif name == "questions":
        _counts_table(w, section, w.t("table.by_category"), data["by_category"])
        _counts_table(w, section, w.t("table.by_asker_role"), data["by_asker_role"], "role.")
        section.tables.append(
            Table(
                w.t("table.by_month"),
                [month, w.t("row.questions.asked")],
                [[m["month"], w.value(m["asked"])] for m in data["by_month"]],
            )
        )
        buckets = list(data["answer_buckets"])
        section.tables.append(
            Table(
                w.t("table.times"),
                [w.t("table.time"), w.t("table.first_response"), w.t("table.answer")],
                [
                    [
                        w.t(f"bucket.{i}"),
                        w.value(data["first_response_buckets"][b], "share"),
                        w.value(data["answer_buckets"][b], "share"),
                    ]
                    for i, b in enumerate(buckets)
                ],
            )
        )
        if with_charts:
            shares = _numbers([data["answer_buckets"][b] for b in buckets])
            if any(v is not None for v in shares):
                section.charts.append(
                    Chart(
                        w.t("chart.answer_times"),
                        charts.bar_chart(
                            w.t("chart.answer_times"),
                            [w.t(f"bucket.{i}") for i in range(len(buckets))],
                            [None if v is None else round(100 * v, 1) for v in shares],
                            unit="%",
                        ),
                    )
                )
            cats = {k: v for k, v in data["by_category"].items() if isinstance(v, int)}
            if cats:
                section.charts.append(
                    Chart(
                        w.t("chart.categories"),
                        charts.bar_chart(
                            w.t("chart.categories"), list(cats), [float(v) for v in cats.values()]
                        ),
                    )
                )
    elif name == "materials":
        _counts_table(w, section, w.t("table.by_type"), data["by_type"], "kind.")
        _counts_table(w, section, w.t("table.by_theme"), data["by_theme"])
        words = data["unmet_words"]
        section.tables.append(
            Table(
                w.t("table.unmet"),
                [w.t("table.word"), w.t("table.count")],
                [[x["word"], w.value(x["count"])] for x in words],
            )
        )
    elif name == "checkins":
        months = data["by_month"]
        section.tables.append(
            Table(
                w.t("table.by_month"),
                [month, w.t("row.checkins.runs"), w.t("row.checkins.reply_rate")],
                [
                    [m["month"], w.value(m["runs"]), w.value(m["reply_rate"], "share")]
                    for m in months
                ],
            )
        )
        if with_charts and any(m["runs"] for m in months):
            section.charts.append(
                Chart(
                    w.t("chart.checkins"),
                    charts.line_chart(
                        w.t("chart.checkins"),
                        [m["month"] for m in months],
                        {
                            w.t("row.checkins.reply_rate"): [
                                None if v is None else round(100 * v, 1)
                                for v in _numbers([m["reply_rate"] for m in months])
                            ]
                        },
                        y_label="%",
                    ),
                )
            )
    elif name == "surveys":
        if data["by_round"]:
            section.tables.append(
                Table(
                    w.t("table.rounds"),
                    [
                        w.t("table.survey"),
                        w.t("table.opened"),
                        w.t("table.invited"),
                        w.t("table.responded"),
                        w.t("row.surveys.response_rate"),
                    ],
                    [
                        [
                            r["survey"],
                            r["opened"],
                            w.value(r["invited"]),
                            w.value(r["responded"]),
                            w.value(r["response_rate"], "share"),
                        ]
                        for r in data["by_round"]
                    ],
                )
            )
        for pooled in data["by_survey"]:
            title = w.t("table.pooled", survey=pooled["survey"], rounds=pooled["rounds"])
            questions = pooled["questions"]
            if questions is None:
                section.paragraphs.append(f"{title}: {w.t('hidden', min_group=w.min_group)}")
                continue
            panels = []
            for q in questions:
                if "counts" in q:
                    counts = list(q["counts"].items())
                    section.tables.append(
                        Table(
                            f"{pooled['survey']}: {q['question']}",
                            [w.t("table.answer_choice"), w.t("table.count")],
                            [[label, w.value(v)] for label, v in counts],
                        )
                    )
                    panels.append((q["question"], [(label, int(v)) for label, v in counts]))
                elif q.get("answers"):
                    section.paragraphs.extend(f"{q['question']}: {a}" for a in q["answers"])
            if with_charts and panels:
                section.charts.append(Chart(title, charts.survey_chart(title, panels)))


def _counts_table(
    w: Writer, section: Section, title: str, counts: dict[str, Any], label_key: str = ""
) -> None:
    def label(key: str) -> str:
        if label_key and i18n.has(w.lang, f"report.{label_key}{key}"):
            return w.t(f"{label_key}{key}")
        return key

    section.tables.append(
        Table(
            title,
            [w.t("table.what"), w.t("table.count")],
            [[label(k), w.value(v)] for k, v in counts.items()],
        )
    )


# --- writers -----------------------------------------------------------------------------------


def _md(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", " ".join(text.split()))


def markdown(doc: Document) -> str:
    out = [f"# {_md(doc.title)}", "", *(f"{_md(s)}  " for s in doc.subtitle), ""]
    for section in doc.sections:
        out += [f"## {_md(section.title)}", ""]
        out += [f"- {_md(label)}: {_md(value)}" for label, value in section.rows]
        if section.rows:
            out.append("")
        for table in section.tables:
            out += [f"**{_md(table.title)}**", ""] if table.title else []
            out.append("| " + " | ".join(_md(h) for h in table.header) + " |")
            out.append("|" + " --- |" * len(table.header))
            out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in table.rows]
            out.append("")
        out += [*(_md(p) + "\n" for p in section.paragraphs)]
    return "\n".join(out).rstrip() + "\n"


CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; max-width: 56em; margin: 2em auto;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc;
       page-break-after: avoid; }
table { border-collapse: collapse; margin: 0.5em 0 1em; page-break-inside: avoid; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eef2f6; } td.n { text-align: right; }
dl.figures { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.5em; }
dl.figures dt { font-weight: normal; } dl.figures dd { margin: 0; font-weight: bold; }
figure { margin: 1em 0; page-break-inside: avoid; } img { max-width: 100%; }
@media print { body { margin: 0; max-width: none; } }
"""


def html_page(doc: Document) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="sv"><head><meta charset="utf-8">',
        f"<title>{e(doc.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(doc.title)}</h1>",
        *(f"<p>{e(s)}</p>" for s in doc.subtitle),
    ]
    for section in doc.sections:
        parts.append(f"<section><h2>{e(section.title)}</h2>")
        if section.rows:
            parts.append('<dl class="figures">')
            parts += [f"<dt>{e(label)}</dt><dd>{e(value)}</dd>" for label, value in section.rows]
            parts.append("</dl>")
        for table in section.tables:
            caption = f"<caption>{e(table.title)}</caption>" if table.title else ""
            parts.append(f"<table>{caption}<thead><tr>")
            parts += [f"<th>{e(h)}</th>" for h in table.header]
            parts.append("</tr></thead><tbody>")
            for row in table.rows:
                parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
            parts.append("</tbody></table>")
        for chart in section.charts:
            data = base64.b64encode(chart.png).decode("ascii")
            parts.append(
                f'<figure><img alt="{e(chart.title, quote=True)}" src="data:image/png;base64,'
                f'{data}"><figcaption>{e(chart.title)}</figcaption></figure>'
            )
        parts += [f"<p>{e(p)}</p>" for p in section.paragraphs]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def docx_file(doc: Document) -> bytes:
    import docx  # python-docx
    from docx.shared import Cm

    out = docx.Document()
    out.core_properties.title = doc.title
    out.add_heading(doc.title, level=0)
    for line in doc.subtitle:
        out.add_paragraph(line)
    for section in doc.sections:
        out.add_heading(section.title, level=1)
        if section.rows:
            grid = out.add_table(rows=0, cols=2)
            grid.style = "Table Grid"
            for label, value in section.rows:
                cells = grid.add_row().cells
                cells[0].text, cells[1].text = label, value
        for table in section.tables:
            if table.title:
                out.add_paragraph().add_run(table.title).bold = True
            grid = out.add_table(rows=1, cols=len(table.header))
            grid.style = "Table Grid"
            for cell, text in zip(grid.rows[0].cells, table.header, strict=True):
                cell.text = text
            for row in table.rows:
                for cell, text in zip(grid.add_row().cells, row, strict=True):
                    cell.text = text
        for chart in section.charts:
            out.add_picture(io.BytesIO(chart.png), width=Cm(15))
            out.add_paragraph(chart.title)
        for paragraph in section.paragraphs:
            out.add_paragraph(paragraph)
    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue()


WRITERS: dict[str, Callable[[Document], str | bytes]] = {
    "md": markdown,
    "html": html_page,
    "docx": docx_file,
}
