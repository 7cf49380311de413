"""Files the bot posts (charts, a person's export, a request's summary): uploaded after the
handler's transaction, once for each kind of room they go to. An encrypted room gets an
encrypted attachment, as Element sends one: the homeserver's media repository holds only
ciphertext, and the key travels inside the encrypted event. A plain room gets a plain upload
(an encrypted attachment's key would be readable there by anyone, the homeserver included)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.context import Services
from bot.messages import MediaRef
from bot.types import RoomID


async def upload_for(
    services: Services, rooms: Iterable[RoomID], data: bytes, mime: str, filename: str
) -> dict[RoomID, MediaRef]:
    """The media to put in each room's message; a room whose upload failed is left out."""
    wanted = {room: services.room_encrypted(room) for room in rooms}
    uploaded: dict[bool, MediaRef | None] = {}
    for encrypted in sorted(set(wanted.values())):
        uploaded[encrypted] = await services.upload(data, mime, filename, encrypted=encrypted)
    return {
        room: media
        for room, encrypted in wanted.items()
        if (media := uploaded[encrypted]) is not None
    }
