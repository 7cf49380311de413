"""Document text (PDF, DOCX, ODT, text, Markdown), read outside the sync transaction.

An uploaded document is recorded as ``pending``; after the commit it is downloaded and its text
extracted in a worker thread (``extract.py``), and the result is stored at once in a transaction
of its own, so it is searchable within seconds. An encrypted file is first checked against its
SHA-256 and decrypted with the key its event carried; storing the text or the reason it was
skipped drops that key. The item stays ``pending`` until its text is
stored, and the periodic pass picks up anything left over (after a crash or restart, a failed
download, or a failed store). What is in flight is per bot (``Services.local``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial

from bot.context import BaseContext, Services
from bot.registry import periodic
from commands.materials import extract as extract_text
from storage import materials as store
from storage.materials import PendingText

log = logging.getLogger(__name__)

PENDING_BATCH = 10
DOWNLOAD_TRIES = 3


@dataclass(frozen=True)
class TextResult:
    mxc: str
    text: str | None
    reason: str | None  # why there is no text


@dataclass
class TextWork:
    """Per running bot: documents being fetched, and results waiting to be stored."""

    in_flight: set[int] = field(default_factory=set)
    results: dict[int, TextResult] = field(default_factory=dict)
    failures: dict[int, int] = field(default_factory=dict)
    one_at_a_time: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))


def text_work(services: Services) -> TextWork:
    return services.local(TextWork)


async def _text_of(services: Services, pending: PendingText) -> TextResult:
    limits = extract_text.LIMITS
    kind = extract_text.document_kind(pending.mimetype, pending.filename)
    if kind is None:
        return TextResult(pending.mxc, None, "not a text document")
    try:
        data = await services.download(pending.mxc, limits.max_download)
    except FileNotFoundError:
        return TextResult(pending.mxc, None, "the file is no longer on the server")
    except ValueError as err:
        return TextResult(pending.mxc, None, str(err))
    if data is None:
        return TextResult(pending.mxc, None, f"larger than {limits.max_download} bytes")
    try:
        if pending.file_key is not None:  # an encrypted attachment: verify, then decrypt
            data = await extract_text.decrypt_async(data, pending.file_key)
        return TextResult(pending.mxc, await extract_text.extract_async(data, kind, limits), None)
    except extract_text.ExtractionError as err:
        return TextResult(pending.mxc, None, str(err))


async def fetch_text(services: Services, pending: PendingText) -> None:
    """Download and read one document, and store its text at once (in a transaction of its
    own). Until then the item stays pending: if the bot stops first, or storing fails, the
    periodic task stores the result or starts again."""
    work = text_work(services)
    if pending.id in work.in_flight or pending.id in work.results:
        return
    if await _read(services, work, pending):
        try:
            await services.in_transaction(_store_results)
        except Exception:  # the periodic task tries again (the item is still pending)
            log.exception("Material %d: storing its text failed", pending.id)


async def _read(services: Services, work: TextWork, pending: PendingText) -> bool:
    """Download and extract one document into ``work.results``; False if it is left for a
    later try (a failed download)."""
    work.in_flight.add(pending.id)
    try:
        async with work.one_at_a_time:
            try:
                result = await _text_of(services, pending)
            except Exception as err:  # network trouble: leave it pending, try again later
                tries = work.failures[pending.id] = work.failures.get(pending.id, 0) + 1
                log.warning("Material %d: download failed (%s), try %d", pending.id, err, tries)
                if tries < DOWNLOAD_TRIES:
                    return False
                result = TextResult(pending.mxc, None, f"download failed {tries} times")
        if result.reason is not None:
            log.warning("Material %d: text not extracted: %s", pending.id, result.reason)
        work.results[pending.id] = result
        return True
    finally:
        work.in_flight.discard(pending.id)


async def _store_results(ctx: BaseContext) -> None:
    """Store the texts read so far (each once: they leave ``results`` as they are taken)."""
    work = text_work(ctx.services)
    done, work.results = work.results, {}
    for item_id, result in done.items():
        work.failures.pop(item_id, None)
        if result.text is not None:
            await store.set_text(ctx.tx, item_id, result.mxc, result.text)
        else:
            await store.skip_text(ctx.tx, item_id, result.mxc, result.reason or "unknown")


@periodic("materials_text")
async def store_document_texts(ctx: BaseContext, now_ms: int) -> None:
    """Store extracted texts not stored yet; start on documents still pending (e.g. after a
    restart or a failed download)."""
    work = text_work(ctx.services)
    await _store_results(ctx)
    for pending in await store.pending_text(ctx.tx, PENDING_BATCH + len(work.in_flight)):
        if pending.id not in work.in_flight:
            ctx.after_commit(partial(fetch_text, ctx.services, pending))
