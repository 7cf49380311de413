"""``!report`` (``!rapport``): the evaluation's criteria and key charts in chat, for admins and
advisers, in a direct chat or the advisers' room; and the optional monthly digest."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

from bot import clock, i18n, messages
from bot.context import BaseContext, CommandContext
from bot.images import post_images
from bot.messages import escape
from bot.registry import Arg, command, periodic
from bot.types import Place, RoomID
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
    await send_report(ctx, [ctx.event.room_id], phase=phase, first=first, last=last, reply=ctx)


async def send_report(
    ctx: BaseContext,
    rooms: list[RoomID],
    *,
    phase: str | None = None,
    first: date | None = None,
    last: date | None = None,
    reply: CommandContext | None = None,
) -> None:
    """The criteria table (text and HTML) and the key charts, to each room (as an answer to
    the command, with ``reply``)."""
    now = clock.now_ms()
    try:
        got = await report.figures_of(
            ctx.tx, ctx.config, now_ms=now, phase=phase, first=first, last=last
        )
    except evidence.PeriodError:
        return
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
    content = messages.notice(body, html_body=html)
    if reply is not None:
        await reply.reply(body, html_body=html)
    else:
        for room in rooms:
            await ctx.send(room, content)
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
    post_images(ctx, rooms, images)


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
    await send_report(ctx, [room], first=first, last=last)
