"""``!report`` (``!rapport``): the evaluation's criteria and key charts in chat, for admins and
advisers, in a direct chat or the advisers' room; and the optional monthly digest."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import date
from functools import partial
from typing import Any

from bot import clock, i18n, messages
from bot.context import BaseContext, CommandContext, Services
from bot.images import post_images
from bot.messages import escape
from bot.registry import Arg, command, periodic
from bot.types import EventID, Place, RoomID
from commands.evaluation import charts, document, evidence, report
from config import Role
from storage import state as state_store

READERS = {Role.ADMIN, Role.ADVISER}


def this_month(now_ms: int, timezone: str) -> tuple[date, date]:
    today = date.fromisoformat(i18n.format_iso_day(now_ms, timezone))
    return today.replace(day=1), today


def last_month(now_ms: int, timezone: str) -> tuple[date, date]:
    first, _ = this_month(now_ms, timezone)
    end = date.fromordinal(first.toordinal() - 1)
    return end.replace(day=1), end


@command(
    "report",
    args=[Arg("phase", required=False)],
    roles=READERS,
    places=(Place.DIRECT, Place.ADVISERS),
    aliases={"sv": ["rapport"]},
)
async def report_command(ctx: CommandContext, args: dict[str, Any]) -> None:
    phase = args.get("phase")
    now = clock.now_ms()
    if phase is not None and ctx.config.phase(phase) is None:
        phases = ", ".join(p.id for p in ctx.config.evaluation.phases) or "–"
        await ctx.reply(ctx.t("report.chat_unknown", phase=phase, phases=phases))
        return
    first, last = (None, None) if phase else this_month(now, ctx.config.bot.timezone)
    job = Job([ctx.event.room_id], phase, first, last, ctx.event.event_id, ctx.event.thread_root)
    await queue_report(ctx, job)


REPORT_JOB = "report-job:"


@dataclass(frozen=True)
class Job:
    """A report to post: computed after the transaction that asked for it (a year of a
    national network takes most of a second to read: never inside the sync transaction)."""

    rooms: list[RoomID]
    phase: str | None = None
    first: date | None = None
    last: date | None = None
    reply_to: EventID | None = None  # the command it answers
    thread_root: EventID | None = None

    def dumps(self, lang: str) -> str:
        job = asdict(self)
        job.update(lang=lang, first=_iso(self.first), last=_iso(self.last))
        return json.dumps(job)

    @staticmethod
    def loads(raw: str) -> tuple[Job, str]:
        job = json.loads(raw)
        lang = job.pop("lang")
        for key in ("first", "last"):
            job[key] = date.fromisoformat(job[key]) if job[key] else None
        return Job(**job), lang


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


async def queue_report(ctx: BaseContext, job: Job) -> None:
    """Write the job with the decision (durable: a stop before it is posted leaves it for the
    periodic pass after the restart) and post it after the commit."""
    key = f"{REPORT_JOB}{clock.now_ms():015d}:{secrets.token_hex(4)}"
    await state_store.set_value(ctx.tx, key, job.dumps(ctx.lang))
    ctx.after_commit(partial(run_report_job, ctx.services, key))


@periodic("report-jobs")
async def retry_reports(ctx: BaseContext, now_ms: int) -> None:
    """Reports asked for but not posted (the bot stopped in between): posted now."""
    for key in await state_store.values_with_prefix(ctx.tx, REPORT_JOB):
        ctx.after_commit(partial(run_report_job, ctx.services, key))


async def run_report_job(services: Services, key: str) -> None:
    """Compute the figures outside any write transaction (the fold takes a short one of its
    own; the reading is done on the reader connection), then post them and finish the job in
    one transaction; a job already finished (by another run) posts nothing."""
    raw = await state_store.get_value(services.database, key)
    if raw is None:
        return
    job, lang = Job.loads(raw)
    config = services.config
    try:
        got: dict[str, Any] | None = await report.figures_of(
            services.database,
            config,
            now_ms=clock.now_ms(),
            phase=job.phase,
            first=job.first,
            last=job.last,
        )
    except evidence.PeriodError:
        got = None  # e.g. a phase removed from the YAML meanwhile: nothing to post

    async def post(ctx: BaseContext) -> None:
        if await state_store.get_value_tx(ctx.tx, key) is None:
            return  # posted meanwhile
        await state_store.delete_value(ctx.tx, key)
        if got is not None:
            await send_report(replace(ctx, lang=lang), got, job)

    await services.in_transaction(post)


async def send_report(ctx: BaseContext, got: dict[str, Any], job: Job) -> None:
    """The criteria table (text and HTML) and the key charts, to each room of the job (as an
    answer to the command, if it answers one)."""
    w = document.Writer(ctx.lang, int(got["min_group"]))
    period = got["period"]
    title = ctx.t("report.chat_title", first=period["from"], last=period["to"])
    table = document.criteria_table(w, got["criteria"])
    p, q = got["participation"], got["questions"]
    key_rows = [
        (w.t("row.participation.members"), w.value(p["members"])),
        (w.t("row.participation.active"), w.value(p["active"])),
        (w.t("row.participation.messages"), w.value(p["messages"])),
        (w.t("row.questions.asked"), w.value(q["asked"])),
        (w.t("row.questions.answered"), w.value(q["answered"])),
        (
            w.t("row.questions.first_response_median_hours"),
            w.value(q["first_response_median_hours"], "hours"),
        ),
    ]
    lines = [title, ""]
    lines += [" · ".join(row) for row in table.rows] or [ctx.t("report.criteria.none")]
    lines += [""] + [f"{label}: {value}" for label, value in key_rows]
    body = "\n".join(messages.bounded_lines(lines, lambda n: ctx.t("lists.more", count=n)))
    html = f"<p><b>{escape(title)}</b></p>"
    if table.rows:
        head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
        cells = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
        )
        html += f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"
    html += "<ul>" + "".join(f"<li>{escape(a)}: {escape(b)}</li>" for a, b in key_rows) + "</ul>"
    if not messages.fits(messages.notice(body, html_body=html)):
        html = "<br>".join(escape(line) for line in body.splitlines())
    for room in job.rooms:
        await ctx.send(
            room,
            messages.notice(
                body, html_body=html, reply_to=job.reply_to, thread_root=job.thread_root
            ),
        )
    images = []
    buckets = list(q["answer_buckets"])
    shares = [q["answer_buckets"][b] for b in buckets]
    if all(isinstance(v, float) for v in shares) and q["answered"]:
        images.append(
            (
                "svarstider.png",
                partial(
                    charts.bar_chart,
                    w.t("chart.answer_times"),
                    [w.t(f"bucket.{i}") for i in range(len(buckets))],
                    [round(100 * float(v), 1) for v in shares],
                    unit="%",
                ),
            )
        )
    months = p["by_month"]
    if any(isinstance(m["messages"], int) and m["messages"] for m in months):
        images.append(
            (
                "aktivitet.png",
                partial(
                    charts.column_chart,
                    w.t("chart.activity"),
                    [m["month"] for m in months],
                    {
                        w.t("row.participation.messages"): [
                            float(m["messages"]) if isinstance(m["messages"], int) else None
                            for m in months
                        ]
                    },
                ),
            )
        )
    post_images(ctx, job.rooms, images)


@periodic("evaluation-digest")
async def monthly_digest(ctx: BaseContext, now_ms: int) -> None:
    """With ``evaluation.digest: monthly``: last month's report in the advisers' room, once,
    in the first days of a month."""
    if ctx.config.evaluation.digest != "monthly":
        return
    room = ctx.services.room_of("advisers")
    if room is None:
        return
    first, last = last_month(now_ms, ctx.config.bot.timezone)
    key = f"evaluation.digest:{first.isoformat()[:7]}"
    if await state_store.get_value_tx(ctx.tx, key) is not None:
        return
    await state_store.set_value(ctx.tx, key, str(now_ms))
    await queue_report(ctx, Job([room], first=first, last=last))
