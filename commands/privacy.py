"""``!privacy`` (``!integritet``): what the bot keeps about a person and who sees it; ``export``
sends their data as a JSON file in their direct chat (as ``natverk user export``); ``erase``
gives a confirmation code, and ``erase CODE`` within ten minutes erases them (as ``natverk user
erase``). The erasure is durable: confirmed in the command's transaction, done after it (again
by the periodic pass if the bot stopped in between), and told once done."""

from __future__ import annotations

import json
import logging
import secrets
from functools import partial
from typing import Any

from bot import clock, i18n, messages
from bot.context import BaseContext, CommandContext, Services
from bot.registry import Arg, command, periodic
from bot.rooms import wanted_rooms
from bot.types import Place, RoomID, UserID
from commands.questions.status import unclaimed
from config import Config
from storage import privacy as store
from storage import retention
from storage import state as state_store

log = logging.getLogger(__name__)

CODE_MS = 10 * 60 * 1000
RETENTION_RAN = "retention.ran_at"
RETENTION_EVERY_MS = 3_600_000
CODE_KEY = "privacy-code:"  # + user id: {"code", "expires"}
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
        fresh = "".join(secrets.choice(ALPHABET) for _ in range(6))
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


async def _export(services: Services, user: str, room: RoomID, lang: str) -> None:
    data = store.to_json(await store.export_user(services.database, user)).encode()
    filename = i18n.t(lang, "privacy.filename") + ".json"
    uri = await services.upload(data, "application/json", filename)

    async def send(c: BaseContext) -> None:
        if uri is None:
            await c.send(room, messages.notice(i18n.t(lang, "privacy.export_failed")))
            return
        await c.send(room, messages.file(uri, filename, "application/json", len(data)))
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
        services.forget_direct(user)
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


NOTICE_ROOM = "privacy-notice-room:"  # + room id: when the notice was posted there
NOTICE_PERSON = "privacy-notice:"  # + user id: when it was sent to them


def notice_text(config: Config, lang: str) -> str | None:
    """The privacy notice in ``lang`` (the configured text, else the built-in one); None when
    ``privacy.notice`` is false."""
    notice = config.privacy.notice
    if notice is False:
        return None
    own = notice.sv if lang == "sv" else notice.en
    return own or i18n.t(lang, "privacy.notice", min_group=config.evaluation.min_group)


def person_language(config: Config, user: str) -> str:
    """The language of the first cohort a person is in; the bot's for advisers and admins."""
    cohort = next(
        (c for c in config.cohorts if user in c.facilitators or user in c.participants), None
    )
    return config.cohort_language(cohort)


@periodic("privacy-notice")
async def send_notices(ctx: BaseContext, now_ms: int) -> None:
    """The privacy notice, once in each room the bot manages (as soon as it exists) and once in
    a direct chat to each person the YAML names (``privacy.notice.per_minute`` a pass; the
    sender opens the chats). Whether it was sent is recorded with the message, in one
    transaction: a restart neither repeats nor loses one."""
    config = ctx.config
    if config.privacy.notice is False:
        return
    posted = await state_store.values_with_prefix(ctx.tx, NOTICE_ROOM)
    for wanted in wanted_rooms(config):
        room = ctx.services.room_of(wanted.key)
        if room is None or NOTICE_ROOM + room in posted:
            continue
        cohort = config.cohort(wanted.key.removeprefix("cohort:"))
        text = notice_text(config, config.cohort_language(cohort))
        assert text is not None
        await ctx.send(room, messages.notice(text))
        await state_store.set_value(ctx.tx, NOTICE_ROOM + room, str(now_ms))
    told = await state_store.values_with_prefix(ctx.tx, NOTICE_PERSON)
    people = sorted(u for u in config.known_users() - {config.bot.user_id})
    due = [u for u in people if NOTICE_PERSON + u not in told]
    for user in due[: config.privacy.notice.per_minute]:
        text = notice_text(config, person_language(config, user))
        assert text is not None
        # m.text: the first message of a new direct chat is one the person should see.
        await ctx.send(RoomID(user), messages.text(text))
        await state_store.set_value(ctx.tx, NOTICE_PERSON + user, str(now_ms))
