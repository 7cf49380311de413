"""``!privacy`` (``!integritet``): what the bot keeps about a person and who sees it; ``export``
sends their data as a JSON file in their direct chat (as ``natverk user export``); ``erase``
gives a confirmation code, and ``erase CODE`` within ten minutes erases them (as ``natverk user
erase``). The erasure is durable: confirmed in the command's transaction, done after it (again
by the periodic pass if the bot stopped in between), and told once done."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from functools import partial
from typing import Any

from bot import clock, i18n, messages
from bot.context import BaseContext, CommandContext, Services
from bot.registry import Arg, command, periodic
from bot.types import Place, RoomID, UserID
from bot.uploads import upload_for
from commands.questions.status import unclaimed
from storage import privacy as store
from storage import retention
from storage import state as state_store

log = logging.getLogger(__name__)

CODE_MS = 10 * 60 * 1000
RETENTION_RAN = "retention.ran_at"
RETENTION_EVERY_MS = 3_600_000
CODE_KEY = "privacy-code:"  # + user id: {"code", "expires"}
CODE_SECRET = "privacy.code_secret"  # noqa: S105 - the kv row holding the codes' key
ERASING = "privacy-erasing:"  # + user id: {"room", "lang"}; confirmed, not yet done
EXPORT = ("export", "exportera")
ERASE = ("erase", "radera")
# Unambiguous letters and digits (no 0/O, 1/I/L), as a person types them from the screen.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


@command(
    "privacy",
    args=[Arg("privacy_action", required=False), Arg("code", required=False)],
    aliases={"sv": ["integritet"]},
)
async def privacy_command(ctx: CommandContext, args: dict[str, Any]) -> None:
    action = str(args.get("privacy_action") or "").casefold()
    if not action:
        await ctx.reply(ctx.t("privacy.what", min_group=ctx.config.evaluation.min_group))
        return
    if action not in EXPORT + ERASE:
        await ctx.reply(ctx.t("privacy.usage"))
        return
    if ctx.place != Place.DIRECT:
        await ctx.reply(ctx.t("privacy.direct_only"))
        return
    user = ctx.event.sender
    if action in EXPORT:
        ctx.after_commit(partial(_export, ctx.services, user, ctx.event.room_id, ctx.lang))
        return
    code = str(args.get("code") or "").upper()
    now = clock.now_ms()
    if not code:
        fresh = await _code_for(ctx)
        value = json.dumps({"code": fresh, "expires": now + CODE_MS})
        await state_store.set_value(ctx.tx, CODE_KEY + user, value)
        await ctx.reply(ctx.t("privacy.confirm", code=fresh))
        return
    stored = await state_store.get_value_tx(ctx.tx, CODE_KEY + user)
    expected = json.loads(stored) if stored else None
    if expected is None or expected["expires"] < now or expected["code"] != code:
        await ctx.reply(ctx.t("privacy.wrong_code"))
        return
    await state_store.delete_value(ctx.tx, CODE_KEY + user)
    job = json.dumps({"room": ctx.event.room_id, "lang": ctx.lang})
    await state_store.set_value(ctx.tx, ERASING + user, job)
    await ctx.reply(ctx.t("privacy.erasing"))
    ctx.after_commit(partial(erase, ctx.services, UserID(user)))


async def _code_for(ctx: CommandContext) -> str:
    """The confirmation code of this request: unguessable (a keyed hash of the request's event
    id, the key kept in the database) and the same when the request is handled again after a
    restore, so the code the person was shown still confirms the erasure then."""
    secret = await state_store.get_value_tx(ctx.tx, CODE_SECRET)
    if secret is None:  # made by migration 14; a database copied from before it
        secret = secrets.token_hex(32)
        await state_store.set_value(ctx.tx, CODE_SECRET, secret)
    digest = hmac.new(bytes.fromhex(secret), ctx.event.event_id.encode(), hashlib.sha256).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:6])


async def _export(services: Services, user: str, room: RoomID, lang: str) -> None:
    data = store.to_json(await store.export_user(services.database, user)).encode()
    filename = i18n.t(lang, "privacy.filename") + ".json"
    media = (await upload_for(services, [room], data, "application/json", filename)).get(room)

    async def send(c: BaseContext) -> None:
        if media is None:
            await c.send(room, messages.notice(i18n.t(lang, "privacy.export_failed")))
            return
        await c.send(room, messages.file(media, filename, "application/json", len(data)))
        await c.send(room, messages.notice(i18n.t(lang, "privacy.exported")))

    await services.in_transaction(send)


class _Erasing:
    """The people being erased right now (the command's run and the periodic pass's may
    meet)."""

    def __init__(self) -> None:
        self.users: set[str] = set()


async def erase(services: Services, user: UserID) -> None:
    """Erase a person whose erasure is confirmed, then tell them in the chat they asked in.
    The erasure's own transaction removes every key-value row naming them, this job too."""
    running = services.local(_Erasing).users
    raw = await state_store.get_value(services.database, ERASING + user)
    if raw is None or user in running:
        return  # done already, or being done
    running.add(user)
    try:
        job = json.loads(raw)
        await store.erase_user(services.database, user, unclaimed=unclaimed)
        services.forget_person(user)
    finally:
        running.discard(user)

    async def tell(c: BaseContext) -> None:
        await c.send(RoomID(job["room"]), messages.notice(i18n.t(job["lang"], "privacy.erased")))

    await services.in_transaction(tell)


@periodic("privacy-erasures")
async def finish_erasures(ctx: BaseContext, now_ms: int) -> None:
    """Erasures confirmed before the bot stopped: done now."""
    for key in await state_store.values_with_prefix(ctx.tx, ERASING):
        ctx.after_commit(partial(erase, ctx.services, UserID(key.removeprefix(ERASING))))


@periodic("retention")
async def prune(ctx: BaseContext, now_ms: int) -> None:
    """What is kept no longer than ``retention:`` says, erased (the counts stay); once an hour,
    not every minute (it reads whole tables)."""
    last = await state_store.get_value_tx(ctx.tx, RETENTION_RAN)
    if last is not None and now_ms - int(last) < RETENTION_EVERY_MS:
        return
    await state_store.set_value(ctx.tx, RETENTION_RAN, str(now_ms))
    keep = ctx.config.retention
    counts = await retention.prune(
        ctx.tx,
        questions_before=now_ms - keep.ms("closed_questions"),
        outbox_before=now_ms - keep.ms("outbox"),
        drafts_before=now_ms - keep.ms("survey_drafts"),
        checkin_replies_before=now_ms - keep.ms("checkin_replies"),
    )
    if any(counts.values()):
        log.info("Retention: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
