"""Messages to one person in their direct chat with the bot, opening it when there is none."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot import messages
from bot.context import BaseContext
from bot.types import RoomID, UserID

Work = Callable[[BaseContext, RoomID], Awaitable[None]]


@dataclass
class Opening:
    """Per bot: people whose direct chat is being created, with what to do once it exists."""

    waiting: dict[str, list[Work]] = field(default_factory=dict)


def send_direct(ctx: BaseContext, user: str, work: Work) -> Awaitable[None] | None:
    """Run ``work(ctx, room)`` now if the person has a direct chat with the bot; otherwise
    open one after this transaction commits and run ``work`` in a new transaction."""
    room = ctx.services.direct_room_of(UserID(user))
    if room is not None:
        return work(ctx, room)
    services = ctx.services
    opening = services.local(Opening).waiting
    if user in opening:
        opening[user].append(work)
        return None
    opening[user] = [work]

    async def later() -> None:
        try:
            opened = await services.open_direct(UserID(user))
        finally:
            works = opening.pop(user, [])
        if opened is None:
            return

        async def run(c: BaseContext) -> None:
            for each in works:
                await each(c, opened)

        await services.in_transaction(run)

    ctx.after_commit(later)
    return None


async def tell(ctx: BaseContext, user: str, body: str, html_body: str | None = None) -> None:
    """A message to the person in their direct chat, which notifies them (m.text). Queued in
    this transaction, addressed to the person when they have no chat yet: the sender opens it,
    so a crash loses nothing."""
    room = ctx.services.direct_room_of(UserID(user))
    await ctx.send(room or user, messages.text(body, html_body=html_body))
