"""Images the bot posts (charts): uploaded after the transaction commits, then sent in a
transaction of their own, so a failed upload never undoes what was decided."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Sequence

from bot.context import BaseContext
from bot.messages import MediaRef, media_field
from bot.types import RoomID
from bot.uploads import upload_for

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels, from a PNG's IHDR header."""
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def image_content(media: MediaRef, filename: str, png: bytes) -> dict[str, object]:
    width, height = png_size(png)
    return {
        "msgtype": "m.image",
        "body": filename,
        "filename": filename,
        **media_field(media),
        "info": {"mimetype": "image/png", "size": len(png), "w": width, "h": height},
        "m.mentions": {},
    }


Draw = Callable[[], bytes]  # a chart, drawn when it is posted


def post_images(
    ctx: BaseContext, rooms: Sequence[RoomID], images: Sequence[tuple[str, Draw]]
) -> None:
    """After this transaction: draw each (filename, chart) in a worker thread (not in the sync
    transaction, not on the event loop), upload it (once for the plain rooms, once encrypted
    for the encrypted ones: bot/uploads.py) and post it to every room."""
    if not rooms or not images:
        return
    services = ctx.services

    async def upload_and_post() -> None:
        uploaded: list[tuple[str, bytes, dict[RoomID, MediaRef]]] = []
        for filename, draw in images:
            png = await asyncio.to_thread(draw)
            media = await upload_for(services, rooms, png, "image/png", filename)
            if media:
                uploaded.append((filename, png, media))
        if not uploaded:
            return

        async def post(c: BaseContext) -> None:
            for room in rooms:
                for filename, png, media in uploaded:
                    if room in media:
                        await c.send(room, image_content(media[room], filename, png))

        await services.in_transaction(post)

    ctx.after_commit(upload_and_post)
