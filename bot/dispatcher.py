"""Decoded event -> command or listener, with an error boundary around every handler."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot import i18n
from bot.context import AfterCommit, CommandContext, Services
from bot.registry import Registry, UsageError, split_command
from bot.syncer import OWN_HANDLED
from bot.types import Place, RoomEvent, RoomID
from config import Role
from storage import outbox as outbox_store
from storage.causes import CAUSE, Cause

if TYPE_CHECKING:
    from bot.metrics import Metrics
    from config import Cohort
    from storage import Tx

log = logging.getLogger(__name__)

PlaceOf = Callable[[RoomID], tuple[Place, "Cohort | None"]]


class Dispatcher:
    def __init__(
        self,
        services: Services,
        registry: Registry,
        place_of: PlaceOf,
        metrics: Metrics | None = None,
    ) -> None:
        self.services = services
        self.registry = registry
        self.place_of = place_of
        self.metrics = metrics

    def context(self, tx: Tx, event: RoomEvent) -> CommandContext:
        config = self.services.config
        place, cohort = self.place_of(event.room_id)
        if cohort is not None:
            roles = config.roles_in_cohort(event.sender, cohort.id)
            lang = config.cohort_language(cohort)
        else:
            roles = config.global_roles(event.sender)
            lang = config.bot.language
        return CommandContext(
            services=self.services,
            tx=tx,
            event=event,
            place=place,
            cohort=cohort,
            roles=frozenset(roles),
            lang=lang,
        )

    async def dispatch(self, tx: Tx, event: RoomEvent) -> list[AfterCommit]:
        """Handle one event inside the caller's transaction; return work for after commit.

        What it queues is keyed by the event (storage/outbox.py), and so is the work after
        the commit."""
        own = event.sender == self.services.user_id
        if own and event.type not in OWN_HANDLED:
            return []
        if self.metrics is not None:
            self.metrics.event(event.type)
        tx.cause = Cause(event.event_id)
        ctx = self.context(tx, event)
        try:
            await self._handle(ctx, own)
        finally:
            tx.cause = None
        return [
            _caused(task, f"{event.event_id}+{i}") for i, task in enumerate(ctx.after_commit_tasks)
        ]

    async def _handle(self, ctx: CommandContext, own: bool) -> None:
        event = ctx.event
        # In the advisers' room only advisers and admins are answered; listeners still see
        # everyone's messages (and report strangers to the admins).
        speaks = ctx.place != Place.ADVISERS or bool({Role.ADVISER, Role.ADMIN} & ctx.roles)
        if speaks and not own and event.is_text_message and not event.is_edit:
            parsed = split_command(event.body)
            if parsed is not None:
                await self._command(ctx, *parsed)
                return
        for spec in self.registry.listeners_for(event.type, ctx.place):
            await self._guarded(
                ctx, spec.name, spec.handler, tell_user=False, savepoint=spec.writes
            )

    async def _command(self, ctx: CommandContext, word: str, rest: str) -> None:
        outcome, name = await self._run_command(ctx, word, rest)
        if self.metrics is not None and outcome is not None:
            self.metrics.command(name, outcome)

    async def _run_command(
        self, ctx: CommandContext, word: str, rest: str
    ) -> tuple[str | None, str]:
        """Run it; (outcome, command name) for the metrics (never the word as typed)."""
        if ctx.place == Place.OTHER and Role.ADMIN not in ctx.roles:
            return None, ""  # rooms the bot does not manage: only admins may talk to it there
        spec = self.registry.find(word)
        if spec is None:
            await ctx.reply(ctx.t("errors.unknown_command", command=word[:50]))
            return "usage", "unknown"
        ctx.spec = spec
        name = spec.display_name(ctx.lang)
        if ctx.place not in spec.places:
            places = ", ".join(ctx.t(f"places.{p}") for p in sorted(spec.places))
            await ctx.reply(ctx.t("errors.wrong_place", command=name, places=places))
            return "refused", spec.name
        if not spec.allowed(ctx.roles):
            await ctx.reply(ctx.t("errors.not_allowed", command=name))
            return "refused", spec.name
        try:
            args = spec.parse(rest)
        except UsageError:
            await ctx.reply(ctx.t("errors.usage", usage=spec.usage(ctx.lang)))
            return "usage", spec.name
        ok = await self._guarded(ctx, spec.name, lambda c: spec.handler(c, args), tell_user=True)
        return "ok" if ok else "error", spec.name

    async def _guarded(
        self,
        ctx: CommandContext,
        name: str,
        run: Callable[[CommandContext], Awaitable[None]],
        *,
        tell_user: bool,
        savepoint: bool = True,
    ) -> bool:
        """Run a handler; a failure is logged with a reference (and told the user if
        ``tell_user``) and undoes what the handler wrote (its savepoint; without ``savepoint``,
        for a listener that writes nothing, only its work for after the commit)."""
        before = len(ctx.after_commit_tasks)
        try:
            if savepoint:
                async with ctx.tx.savepoint():
                    await run(ctx)
                    if ctx.tx.recovered_rows:  # only after a restore
                        await outbox_store.apply_recovered(ctx.tx)
            else:
                await run(ctx)  # a listener that writes nothing (queues nothing either)
            return True
        except Exception:
            ref = secrets.token_hex(4).upper()
            log.exception(
                "Handler %s failed on %s (ref %s)",
                name,
                ctx.event.event_id,
                ref,
                extra={"ref": ref, "event_id": ctx.event.event_id, "handler": name},
            )
            del ctx.after_commit_tasks[before:]
            if tell_user:
                await ctx.reply(i18n.t(ctx.lang, "errors.internal", ref=ref))
            return False


def _caused(task: AfterCommit, name: str) -> AfterCommit:
    """``task`` with the rows it queues (in transactions of its own) keyed by ``name``."""

    async def run() -> None:
        token = CAUSE.set(Cause(name))
        try:
            await task()
        finally:
            CAUSE.reset(token)

    return run
