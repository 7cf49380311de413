"""!help: generated from the registry, in the room's language, showing only what the reader
may run in this place."""

from __future__ import annotations

from typing import Any

from bot.context import CommandContext
from bot.messages import escape
from bot.registry import command


@command("help", aliases={"sv": ["hjälp"]})
async def show_help(ctx: CommandContext, args: dict[str, Any]) -> None:
    specs = sorted(
        ctx.services.registry.visible(ctx.roles, ctx.place),
        key=lambda s: s.display_name(ctx.lang),
    )
    if not specs:
        await ctx.reply(ctx.t("commands.help.none"))
        return
    title = ctx.t("commands.help.title")
    rows = [(spec.usage(ctx.lang), ctx.t(spec.help_key)) for spec in specs]
    body = "\n".join([title, *(f"{usage} — {text}" for usage, text in rows)])
    items = "".join(f"<li><code>{escape(u)}</code> — {escape(t)}</li>" for u, t in rows)
    await ctx.reply(body, html_body=f"<p>{escape(title)}</p><ul>{items}</ul>")
