"""Who may be in the bot's rooms, beyond what power levels enforce.

The advisers' rooms hold every case in their shared history, private questions too: anyone
invited or joining who is not configured for such a room is removed at once. (Cohort rooms are
never policed this way: the admins are told about unlisted members, see ``bot/rooms.py``.)
"""

from __future__ import annotations

from bot.context import EventContext
from bot.registry import listener
from bot.rooms import KICK_REASON, wanted_rooms
from bot.types import Place
from storage import state as state_store


@listener("m.room.member", places=(Place.ADVISERS,))
async def adviser_room_member(ctx: EventContext) -> None:
    """Someone invited to or joining an advisers' room who is not configured for it is removed
    at once, and the admins are told: the room's history holds every case, private ones too.
    (Only the bot and admins may invite there; this catches what power levels cannot, e.g. an
    admin's mistaken invite or a room whose levels were changed by hand.)"""
    event = ctx.event
    user = event.state_key
    membership = event.content.get("membership")
    if not user or user == ctx.services.user_id:
        return
    key = f"removing:{event.room_id}:{user}"
    if membership not in ("invite", "join", "knock"):
        await state_store.delete_value(ctx.tx, key)  # gone: a later invite is news again
        return
    wanted = next(
        (w for w in wanted_rooms(ctx.config) if ctx.services.room_of(w.key) == event.room_id),
        None,
    )
    if wanted is None or not wanted.restricted or user in wanted.members | wanted.admins:
        return
    if await state_store.get_value_tx(ctx.tx, key) is not None:
        return  # already being removed (an invite and its join in one sync)
    await state_store.set_value(ctx.tx, key, event.event_id)
    await ctx.kick(event.room_id, user, KICK_REASON)
    await ctx.notify_admins(
        ctx.t("rooms.removed_now", user=user, room=wanted.target, by=event.sender)
    )
