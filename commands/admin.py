"""Admin commands: !reload."""

from __future__ import annotations

from typing import Any

from bot.context import CommandContext
from bot.registry import command
from bot.types import Place
from config import ConfigError, Role, load_config

MAX_ERRORS_SHOWN = 15


@command(
    "reload",
    roles={Role.ADMIN},
    places=(Place.COHORT, Place.ADVISERS, Place.DIRECT, Place.OTHER),
    aliases={"sv": ["läsom"]},
)
async def reload_config(ctx: CommandContext, args: dict[str, Any]) -> None:
    try:
        new = load_config(ctx.services.config_path)
    except ConfigError as err:
        lines = [
            ctx.t("commands.reload.failed"),
            *(str(p) for p in err.problems[:MAX_ERRORS_SHOWN]),
        ]
        if len(err.problems) > MAX_ERRORS_SHOWN:
            lines.append(ctx.t("commands.reload.more", count=len(err.problems) - MAX_ERRORS_SHOWN))
        await ctx.reply("\n".join(lines))
        return
    await ctx.reply(
        ctx.t(
            "commands.reload.ok",
            cohorts=ctx.t("counts.cohorts", count=len(new.cohorts)),
            advisers=ctx.t("counts.advisers", count=len(new.all_advisers())),
        )
    )

    async def apply() -> None:
        await ctx.services.apply_config(new)

    ctx.after_commit(apply)
