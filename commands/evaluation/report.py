"""The evaluation report from the bot's database: ``natverk report`` and ``!report``."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot import i18n
from commands.evaluation import document, evidence, figures
from config import Config
from storage import Database, Tx
from storage import evaluation as store

Reader = Tx | Database
FORMATS = ("html", "docx", "md", "json")


async def figures_of(
    db: Reader,
    config: Config,
    *,
    now_ms: int,
    phase: str | None = None,
    first: date | None = None,
    last: date | None = None,
    cohort: str | None = None,
    with_free_text: bool = False,
) -> dict[str, Any]:
    """Every figure of the report (with hidden ones as :data:`figures.HIDDEN`).

    Raises :class:`evidence.PeriodError` for an unknown phase or cohort or a backwards period.
    """
    await store.fold_now(db)  # the messages of the last minute counted too
    period = evidence.period_of(
        config,
        now_ms=now_ms,
        first_recorded=await store.first_day(db),
        phase=phase,
        first=first,
        last=last,
    )
    ev = await evidence.gather(db, config, period, cohort)
    return figures.compute(ev, with_free_text=with_free_text)


def written(
    report: dict[str, Any], config: Config, fmt: str, lang: str, now_ms: int
) -> str | bytes:
    """The report in ``fmt`` (html, docx, md or json)."""
    if fmt == "json":
        return figures.to_json(report)
    period = report["period"]
    cohort = config.cohort(period["cohort"]) if period["cohort"] else None
    phase = config.phase(period["phase"]) if period["phase"] else None
    doc = document.build(
        report,
        lang,
        cohort_name=cohort.name if cohort else None,
        phase_name=phase.name if phase else None,
        created=i18n.format_datetime(lang, now_ms, config.bot.timezone),
        with_charts=fmt != "md",
    )
    return document.WRITERS[fmt](doc)
