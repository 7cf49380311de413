"""A request's documentation for the school (``!summary``): the question, its stages with dates
and the answers, as Markdown or DOCX. Never the advisers' internal notes or stage comments (they
are not passed in). Pure: the handler gathers the pieces."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from bot import i18n, messages

FORMATS = ("docx", "md")


@dataclass(frozen=True)
class Documentation:
    number: int
    category: str
    question: str
    asked_at: int
    stages: list[tuple[str, int]] = field(default_factory=list)  # (name, entered at)
    answers: list[tuple[int, str]] = field(default_factory=list)  # (when, text)
    evaluation: list[str] = field(default_factory=list)  # the survey's summary, if any


def answer_text(content: dict[str, object], body: str) -> str:
    """What the asker reads of an answer, for the documentation: its text (``body``, the
    reply fallback stripped), a file by its name."""
    if content.get("msgtype") in messages.MEDIA_TYPES:
        name = content.get("filename") or content.get("body") or ""
        return f"[{name}]"
    return body.strip()


def _sections(doc: Documentation, lang: str, tz: str) -> list[tuple[str, list[str]]]:
    def when(ms: int) -> str:
        return i18n.format_datetime(lang, ms, tz)

    t = i18n.t
    out: list[tuple[str, list[str]]] = [
        (
            t(lang, "summary.request"),
            [
                t(lang, "summary.category", category=doc.category),
                t(lang, "summary.asked", when=when(doc.asked_at)),
            ],
        ),
        (t(lang, "summary.question"), doc.question.split("\n")),
    ]
    if doc.stages:
        out.append((t(lang, "summary.stages"), [f"{when(at)} · {name}" for name, at in doc.stages]))
    answers = [f"{when(at)}: {text}" for at, text in doc.answers]
    out.append((t(lang, "summary.answers"), answers or [t(lang, "summary.no_answers")]))
    if doc.evaluation:
        out.append((t(lang, "summary.evaluation"), doc.evaluation))
    return out


def title(doc: Documentation, lang: str) -> str:
    return i18n.t(lang, "summary.title", number=doc.number, category=doc.category)


def markdown(doc: Documentation, lang: str, tz: str) -> bytes:
    lines = [f"# {_md(title(doc, lang))}", ""]
    for heading, items in _sections(doc, lang, tz):
        lines += [f"## {_md(heading)}", ""]
        lines += [f"- {_md(item)}" for item in items if item.strip()] + [""]
    return "\n".join(lines).encode()


def _md(text: str) -> str:
    """Text as Markdown shows it literally (no markup from what people wrote)."""
    out = text
    for ch in "\\`*_{}[]<>#|":
        out = out.replace(ch, "\\" + ch)
    return out


def docx(doc: Documentation, lang: str, tz: str) -> bytes:
    from docx import Document  # python-docx: imported when a document is written

    word = Document()
    word.add_heading(title(doc, lang), level=1)
    for heading, items in _sections(doc, lang, tz):
        word.add_heading(heading, level=2)
        for item in items:
            word.add_paragraph(item, style="List Bullet")
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()
