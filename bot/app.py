"""The running bot: login, sync loop, dispatcher, outbox sender and room reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

import aiohttp
from nio import AsyncClientConfig, InviteInfo, SyncError, SyncResponse

from bot import clock, i18n, messages, restore
from bot.context import AfterCommit, BaseContext
from bot.crosssigning import ensure_cross_signing
from bot.crypto import CryptoClient, CryptoStore, crypto_store, store_lost
from bot.decryption import Decryptor
from bot.dispatcher import Dispatcher
from bot.metrics import Metrics, read_gauges
from bot.metrics import Server as MetricsServer
from bot.registry import REGISTRY, PeriodicFn, Registry, load_command_modules
from bot.rooms import RoomManager, RoomReport, only_between, wanted_rooms
from bot.sender import REPORT_PURPOSE, Sender
from bot.session import ENV_PASSWORD, Client, log_in, new_device
from bot.syncer import Syncer
from bot.trust import EncryptFor, IdentitySeen, Trust
from bot.types import Place, RoomID, UserID
from config import Cohort, Config, ConfigError, load_config
from storage import Database, Tx
from storage import outbox as outbox_store
from storage import restore as restore_store
from storage import state as state_store
from storage import trust as trust_store
from storage.causes import CAUSE, Cause
from storage.outbox import OutboxItem

log = logging.getLogger(__name__)
T = TypeVar("T")

SYNC_FILTER: dict[str, Any] = {
    "room": {
        "timeline": {"limit": 100},
        "state": {"lazy_load_members": False},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
    "presence": {"types": []},
    "account_data": {"types": []},
}
LONG_POLL_MS = 30_000
# After a sync that produced replies, the next long poll waits (at most this long) until the
# sender has handed them to the homeserver. A sync request arriving at the same moment would
# compete with them there (Synapse is one process), and every reply a user waits for would
# come later; events that arrive meanwhile are not lost, only fetched a little later. A bare
# matrix-nio bot (sync_forever runs its callbacks before the next sync) behaves the same.
SEND_BEFORE_SYNC = 0.5  # seconds
MIN_PERIODIC_GAP = 0.05  # seconds between periodic passes, however much is due


class App:
    """One natverk bot. ``await start()``, then ``await stop()``."""

    def __init__(self, config: Config, config_path: Path, registry: Registry = REGISTRY):
        load_command_modules()
        self._config = config
        self._config_path = Path(config_path)
        self._registry = registry
        self.db: Database | None = None
        self.client: Client | None = None
        self.sender: Sender | None = None
        self.syncer: Syncer | None = None
        self.metrics = Metrics()
        self.metrics_server: MetricsServer | None = None
        self.dispatcher = Dispatcher(self, registry, self.place_of, self.metrics)
        self.managed: dict[str, str] = {}  # key -> room id
        self.direct: dict[str, str] = {}  # user id -> room id
        self._opening: dict[str, asyncio.Lock] = {}  # user id -> opening their direct chat
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._reconcile_lock = asyncio.Lock()
        self.sync_token: str | None = None
        self.periodic_interval = 60.0
        self._periodic_wake = asyncio.Event()  # set: run the periodic pass now (e.g. reload)
        self.sync_filter: str | dict[str, Any] = SYNC_FILTER
        self._locals: dict[type, object] = {}  # per-bot state of the features (Services.local)
        self._lock: restore_store.RunLock | None = None  # held while running (natverk restore)

    # --- Services -------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config

    @property
    def config_path(self) -> Path:
        return self._config_path

    @property
    def user_id(self) -> UserID:
        return UserID(self._config.bot.user_id)

    @property
    def registry(self) -> Registry:
        return self._registry

    def local(self, kind: type[T]) -> T:
        found = self._locals.get(kind)
        if found is None:
            found = self._locals[kind] = kind()
        return cast(T, found)

    @property
    def database(self) -> Database:
        assert self.db is not None
        return self.db

    def forget_person(self, user_id: UserID) -> None:
        self.direct.pop(user_id, None)
        if isinstance(self.client, CryptoClient) and self.client.trust is not None:
            self.client.trust.forget(user_id)

    def direct_room_of(self, user_id: UserID) -> RoomID | None:
        room = self.direct.get(user_id)
        return RoomID(room) if room else None

    def display_name(self, room_id: str, user_id: str) -> str:
        """A person's display name from the synced room state (no network)."""
        room = self.client.rooms.get(room_id) if self.client else None
        name = room.user_name(user_id) if room is not None else None
        return name or user_id

    def room_of(self, key: str) -> RoomID | None:
        room = self.managed.get(key)
        return RoomID(room) if room else None

    async def download(self, mxc: str, max_bytes: int) -> bytes | None:
        """A file's bytes through the authenticated media API (``/_matrix/client/v1/media``).

        None if the file is larger than ``max_bytes`` (it is not read further);
        FileNotFoundError if the server has no such file; RuntimeError or aiohttp.ClientError
        if the download fails otherwise (worth another try later).
        """
        assert self.client is not None
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        if not mxc.startswith("mxc://") or not server or not media_id or "/" in media_id:
            raise ValueError(f"not an mxc URI: {mxc!r}")
        url = (
            f"{self.client.homeserver}/_matrix/client/v1/media/download/"
            f"{quote(server, safe='')}/{quote(media_id, safe='')}"
        )
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        timeout = aiohttp.ClientTimeout(total=300, sock_read=60)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers, params={"allow_redirect": "true"}) as resp,
        ):
            if resp.status == 404:
                raise FileNotFoundError(mxc)
            if resp.status != 200:
                raise RuntimeError(f"media download failed with HTTP {resp.status}")
            if resp.content_length is not None and resp.content_length > max_bytes:
                return None
            data = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                data += chunk
                if len(data) > max_bytes:
                    return None
            return bytes(data)

    def place_of(self, room_id: RoomID) -> tuple[Place, Cohort | None]:
        for key, rid in self.managed.items():
            if rid != room_id:
                continue
            if key.startswith("cohort:"):
                cohort = self._config.cohort(key.removeprefix("cohort:"))
                if cohort is not None:
                    return Place.COHORT, cohort
            elif key == "advisers" or key.startswith("category:"):
                return Place.ADVISERS, None
        if room_id in self.direct.values():
            return Place.DIRECT, None
        return Place.OTHER, None

    async def apply_config(self, new: Config) -> None:
        old = self._config
        self._config = new
        if new.bot.encrypt_for != old.bot.encrypt_for:
            self._apply_encrypt_for()
        await self.reconcile()
        self._periodic_wake.set()  # new schedules may be due within the minute

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self._config
        for lang in i18n.LANGUAGES:
            i18n.catalogue(lang)  # parsed now (~40 ms each), not on the first user's command
        self._lock = restore_store.RunLock(cfg.bot.database)
        self._lock.acquire()
        try:
            self.db = await Database.open(cfg.bot.database)
            pins = await trust_store.load(self.db)
        except BaseException:
            if self.db is not None:
                await self.db.close()
                self.db = None
            self._lock.release()
            raise
        client = CryptoClient(
            cfg.homeserver,
            cfg.bot.user_id,
            store_path=str(crypto_store(cfg.bot.crypto_store_path)),
            config=AsyncClientConfig(
                max_limit_exceeded=None,
                max_timeouts=None,
                # End-to-end encryption: the device's keys and the room keys it receives live
                # in the crypto store (one SQLite file), opened when the stored device is.
                encryption_enabled=True,
                store=CryptoStore,
                store_sync_tokens=False,  # the bot's own checkpoint is the only sync token
            ),
        )
        client.trust = Trust(EncryptFor(cfg.bot.encrypt_for), cfg.bot.user_id, pins)
        client.after_keys_query = self._record_identities
        self.client = client
        try:
            await log_in(self.client, cfg, self.db)
            if await store_lost(self.client):
                await new_device(self.client, cfg, self.db)
            if self.client.olm is None:
                log.warning("End-to-end encryption is not available: encrypted rooms are unread")
            else:
                # A device made before encryption was on (or a new one) uploads its keys now.
                await self._crypto_upkeep()
        except BaseException:
            await self.close()
            raise
        await self._ensure_display_name()
        await self._upload_filter()
        self.managed = await state_store.managed_rooms(self.db)
        self.direct = await state_store.direct_rooms(self.db)
        restored = await restore.recover(
            self.client,
            self.db,
            cfg.bot.user_id,
            {*self.managed.values(), *self.direct.values()},
            set(self.direct),
            {w.key: w.target for w in wanted_rooms(cfg) if w.key not in self.managed},
        )
        if restored is not None:
            self.managed = await state_store.managed_rooms(self.db)
            self.direct = await state_store.direct_rooms(self.db)
        await self._load_recovered()
        self.sync_token = await state_store.sync_token(self.db)
        self.syncer = Syncer(
            self.client,
            self.db,
            cfg.bot.user_id,
            self.dispatcher.dispatch,
            decryptor=Decryptor(
                self.client,
                lambda: self._config.bot.undecryptable_after_ms,
                self._language_of,
                self.display_name,
            ),
        )
        await self.syncer.load()
        if restored is not None:
            # The first sync hands back every event since the backup: read them all.
            self.syncer.backfill_max_pages = restore.MAX_PAGES
        self.sender = Sender(
            self.client,
            self.db,
            self._registry,
            self.open_direct,
            report=self._report_send_failure,
            metrics=self.metrics,
        )
        # The first sync asks for full state: nio keeps room state only in memory.
        await self._sync_once(timeout=0, full_state=True)
        await self.reconcile()
        await self._ensure_cross_signing()  # encryption only: the device signed by its owner
        self._tasks = [
            asyncio.create_task(self._sync_loop(), name="natverk-sync"),
            asyncio.create_task(self.sender.run(), name="natverk-sender"),
        ]
        if cfg.metrics is not None:
            self.metrics_server = MetricsServer(
                self.metrics,
                cfg.metrics.listen,
                gauges=self._read_gauges,
                sender_running=self._sender_running,
            )
            await self.metrics_server.start()
        log.info("natverk is running as %s", cfg.bot.user_id)
        # Periodic work once now (schedules taken in, reminders due while down), not in a
        # minute; a failure here is logged like any periodic failure, never fatal. The loop
        # starts after it, so its first wait already knows the schedules' next times.
        try:
            await self.run_periodic()
        except Exception:
            log.exception("Periodic work at start failed")
        self._tasks.append(asyncio.create_task(self._periodic_loop(), name="natverk-periodic"))

    # --- cross-signing (issue 14): one place, after login, the first sync and the rooms ----------
    async def _ensure_cross_signing(self) -> None:
        """Sign the bot's device with its own cross-signing keys (bot/crosssigning.py), so
        clients that encrypt only for devices signed by their owner encrypt for it. Nothing
        when encryption is off; never fatal: a failure is logged and the bot goes on."""
        client = self.client
        if client is None or self.db is None or getattr(client, "olm", None) is None:
            return
        try:
            if client.should_upload_keys:
                await client.keys_upload()  # the device keys the signature is about
            await ensure_cross_signing(
                client,
                self.db,
                password=os.environ.get(ENV_PASSWORD),
                replace_master_key=self._config.bot.replace_master_key,
                notify=self._notify_admins_of_cross_signing,
            )
        except Exception:
            log.exception("Cross-signing the bot's device failed; going on without it")
        if self.sender is not None:
            self.sender.wake()

    async def _notify_admins_of_cross_signing(
        self, tx: Tx, key: str, params: dict[str, str]
    ) -> None:
        body = i18n.t(self._config.bot.language, f"crosssigning.{key}", **params)
        await self._notify_admins(tx, body)

    # --- whom room keys go to (bot/trust.py) -------------------------------------------------
    def _apply_encrypt_for(self) -> None:
        """A changed ``bot.encrypt_for`` (reload): every room gets a new room key, shared
        under the new policy."""
        client = self.client
        if not isinstance(client, CryptoClient) or client.trust is None or client.olm is None:
            return
        client.trust.policy = EncryptFor(self._config.bot.encrypt_for)
        for room_id in list(client.olm.outbound_group_sessions):
            client.invalidate_outbound_session(room_id)
        log.info("Room keys now go to: %s", client.trust.policy.value)

    async def _record_identities(self) -> None:
        client = self.client
        if self.db is None or not isinstance(client, CryptoClient) or client.trust is None:
            return
        await client.trust.record(self.db, clock.now_ms(), self._notify_identity_changed)

    async def _notify_identity_changed(self, tx: Tx, seen: IdentitySeen) -> None:
        body = i18n.t(
            self._config.bot.language,
            "trust.identity_changed",
            user=seen.user_id,
            old=seen.previous or "",
            new=seen.master,
        )
        await self._notify_admins(tx, body)

    async def _load_recovered(self) -> None:
        """After a restore: the bot's events since the backup that no row has used yet (a row
        queued with one of their keys is marked sent as it, not sent again)."""
        assert self.db is not None
        self.db.on_recovered = self._sent_hook
        dropped = await restore_store.forget_stale_recovered(self.db, clock.now_ms())
        if dropped:
            log.info("%d events found after a restore a week ago were never used", dropped)
        recovered = await restore_store.recovered_events(self.db)
        if recovered:
            self.db.recovered = recovered
            settled = await restore.settle_pending(self.db)
            log.info(
                "%d events sent before a restore are waiting to be recognised; %d pending "
                "messages of the backup were among them",
                len(recovered),
                settled,
            )

    async def _sent_hook(self, tx: Tx, item: OutboxItem, event_id: str) -> None:
        hook = self._registry.sent_hooks.get(item.purpose or "")
        if hook is not None:
            await hook(tx, item, event_id)

    async def _upload_filter(self) -> None:
        """Store the sync filter on the server once, so each long-poll names it by id."""
        assert self.client is not None
        resp = await self.client.upload_filter(
            room=SYNC_FILTER["room"],
            presence=SYNC_FILTER["presence"],
            account_data=SYNC_FILTER["account_data"],
        )
        self.sync_filter = getattr(resp, "filter_id", None) or SYNC_FILTER

    async def _ensure_display_name(self) -> None:
        assert self.client is not None
        wanted = self._config.bot.display_name
        current = await self.client.get_displayname(self._config.bot.user_id)
        if getattr(current, "displayname", None) != wanted:
            await self.client.set_displayname(wanted)

    async def _read_gauges(self) -> None:
        assert self.db is not None
        await read_gauges(self.metrics, self.db, self._config, clock.now_ms())
        client = self.client
        if isinstance(client, CryptoClient) and client.trust is not None:
            self.metrics.unreadable_members.set(client.trust.without_signed_device())

    def _sender_running(self) -> bool:
        return any(t.get_name() == "natverk-sender" and not t.done() for t in self._tasks)

    async def stop(self) -> None:
        if self.metrics_server is not None:
            await self.metrics_server.stop()
            self.metrics_server = None
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.close()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.db is not None:
            await self.db.close()
        if self._lock is not None:
            self._lock.release()

    async def run_until_stopped(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    # --- sync -----------------------------------------------------------------------------
    async def _sync_loop(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self._sync_once(timeout=LONG_POLL_MS)
                await self._replies_out()
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Sync failed; retrying in %.0f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def _sync_once(self, timeout: int, full_state: bool = False) -> None:
        assert self.client is not None and self.syncer is not None
        resp = await self.client.sync(
            timeout=timeout,
            since=self.sync_token,
            full_state=full_state or None,
            sync_filter=self.sync_filter,
        )
        if isinstance(resp, SyncError):
            raise RuntimeError(f"sync error {resp.status_code}: {resp.message}")
        assert isinstance(resp, SyncResponse)
        for room_id, info in resp.rooms.invite.items():
            await self._on_invite(room_id, info)
        after = await self.syncer.process(resp, had_token=self.sync_token is not None)
        self.sync_token = resp.next_batch
        self.metrics.synced()
        if self.sender is not None:
            self.sender.wake()
        for task in after:
            self._spawn(task())
        await self._crypto_upkeep()

    async def _crypto_upkeep(self) -> None:
        """What matrix-nio's ``sync_forever`` does after each sync, for the bot's own loop:
        send queued to-device messages (key requests, key shares), upload the device's keys
        and new one-time keys, query the device lists of members whose devices changed (or
        that nio does not know yet), claim one-time keys for devices it has no Olm session
        with, and ask for the room keys of events that could not be decrypted. A failure is
        logged and tried again after the next sync."""
        client = self.client
        if client is None or client.olm is None:
            return
        try:
            if client.outgoing_to_device_messages:
                await client.send_to_device_messages()
            if client.should_upload_keys:
                await _checked("keys upload", client.keys_upload())
            if client.should_query_keys:
                await _checked("keys query", client.keys_query())
            if client.should_claim_keys:
                await _checked("keys claim", client.keys_claim(client.get_users_for_key_claiming()))
            if self.syncer is not None and self.syncer.decryptor is not None:
                await self.syncer.decryptor.request_keys()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Encryption upkeep failed; trying again after the next sync")

    def _language_of(self, room_id: str) -> tuple[str, str]:
        """A room's language and time zone (its cohort's, else the bot's)."""
        _place, cohort = self.place_of(RoomID(room_id))
        bot = self._config.bot
        if cohort is None:
            return bot.language, bot.timezone
        return cohort.language or bot.language, cohort.timezone or bot.timezone

    async def _replies_out(self) -> None:
        """Until the sender has handed what is pending to the homeserver (see SEND_BEFORE_SYNC)."""
        assert self.sender is not None
        await asyncio.sleep(0)  # the sender starts now (and clears ``idle`` if it has work)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SEND_BEFORE_SYNC):
                await self.sender.idle.wait()

    async def _periodic_loop(self) -> None:
        while True:
            try:
                delay = await self._until_next_periodic()
            except Exception:
                log.exception("Finding the next periodic work failed")
                delay = self.periodic_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._periodic_wake.wait()
            self._periodic_wake.clear()
            try:
                await self.run_periodic()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Periodic work failed")

    async def _until_next_periodic(self) -> float:
        """Seconds until the periodic pass: a minute, or sooner when a task has something due
        sooner (a check-in at 09:00 fires at 09:00, not up to a minute later)."""
        assert self.db is not None
        now = clock.now_ms()
        dues = [await fn(self.db, now) for fn in self._registry.next_due.values()]
        return periodic_delay(now, dues, self.periodic_interval)

    async def run_periodic(self, offset_ms: int = 0) -> None:
        """Run every registered periodic task once, each in its own transaction.
        ``offset_ms`` moves the clock forward (tests)."""
        assert self.db is not None
        now = clock.now_ms() + offset_ms
        async with self.db.transaction() as tx:
            await state_store.prune_processed(tx, now)
        if self.syncer is not None:
            # Encrypted events whose keys came meanwhile, or whose senders must be told.
            for task in await self.syncer.retry_undecrypted(now):
                self._spawn(task())
            if self.sender is not None:
                self.sender.wake()
        for name, fn in self._registry.periodic.items():
            # What a periodic task queues is keyed by its name and the message (or by the
            # subject the task names: ctx.about), not by when it ran.
            token = CAUSE.set(Cause(f"periodic:{name}", hashed=True))
            try:
                await self.in_transaction(partial(_at, fn, now))
            finally:
                CAUSE.reset(token)
            log.debug("Periodic task %s done", name)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("Background work failed")

        task = asyncio.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_invite(self, room_id: str, info: InviteInfo) -> None:
        """Join rooms we manage, invites from admins, and direct chats from known people."""
        assert self.client is not None and self.db is not None
        inviter, is_direct = None, False
        for ev in info.invite_state:
            # nio moves the content out of ``source`` for invite events: read the attributes.
            if getattr(ev, "state_key", None) == self.user_id and hasattr(ev, "membership"):
                inviter = ev.sender
                is_direct = bool((getattr(ev, "content", None) or {}).get("is_direct"))
        cfg = self._config
        managed = room_id in self.managed.values()
        from_admin = inviter in cfg.admins
        direct_from_member = is_direct and inviter in cfg.known_users()
        if not (managed or from_admin or direct_from_member):
            log.info("Declining an invite to %s from %s", room_id, inviter)
            await self.client.room_leave(room_id)
            return
        resp = await self.client.join(room_id)
        if hasattr(resp, "status_code"):
            log.warning("Joining %s failed: %s", room_id, resp.message)
            return
        if not is_direct or inviter is None or self.direct.get(inviter) == room_id:
            return
        if inviter in self.direct and not await only_between(
            self.client, room_id, {self.user_id, inviter}
        ):
            return  # "direct" with others in it: not private, the known chat stays theirs
        # The person's own direct chat becomes the one the bot uses with them, also when the
        # bot had opened one (e.g. for the privacy notice) that they never looked at.
        async with self.db.transaction() as tx:
            await state_store.set_direct_room(tx, inviter, room_id)
        self.direct[inviter] = room_id

    # --- rooms ----------------------------------------------------------------------------
    async def reconcile(self) -> RoomReport:
        """Bring the rooms in line with the configuration and tell admins what differs."""
        assert self.client is not None and self.db is not None
        async with self._reconcile_lock:
            cfg = self._config
            manager = RoomManager(self.client, cfg.bot.user_id)
            report = RoomReport()
            admins = set(cfg.admins)
            for wanted in wanted_rooms(cfg):
                known = self.managed.get(wanted.key)
                room_id = await manager.ensure(wanted, known, report, admins)
                if room_id is not None and room_id != known:
                    alias = wanted.target if wanted.target.startswith("#") else None
                    await state_store.set_managed_room(self.db, wanted.key, room_id, alias)
                    self.managed[wanted.key] = room_id
            for admin in cfg.admins:
                await self.open_direct(UserID(admin))
            await self._report(report)
            return report

    async def wait_reconciled(self) -> None:
        """Until a reconciliation under way (e.g. after !reload) has finished."""
        async with self._reconcile_lock:
            return

    async def _report(self, report: RoomReport) -> None:
        assert self.db is not None
        summary = json.dumps(
            {
                "unexpected": report.unexpected_members,
                "removed": report.removed_members,
                "failures": report.failures,
            },
            sort_keys=True,
        )
        if summary == await state_store.get_value(self.db, "rooms.last_report"):
            return  # already told the admins this exact thing
        lang = self._config.bot.language
        lines: list[str] = []
        for target, users in sorted(report.unexpected_members.items()):
            lines.append(i18n.t(lang, "rooms.unexpected", room=target, users=", ".join(users)))
        for target, users in sorted(report.removed_members.items()):
            lines.append(i18n.t(lang, "rooms.removed", room=target, users=", ".join(users)))
        lines.extend(i18n.t(lang, "rooms.failure", problem=p) for p in report.failures)
        async with self.db.transaction() as tx:
            await state_store.set_value(tx, "rooms.last_report", summary)
            if lines:
                body = "\n".join([i18n.t(lang, "rooms.report_title"), *lines])
                await self._notify_admins(tx, body)
        if self.sender is not None:
            self.sender.wake()

    async def _report_send_failure(self, tx: Tx, item: OutboxItem, error: str) -> None:
        """A message the sender gave up on: the admins are told which and why, and the person
        whose words it carried is told that they did not arrive (addressed by user id, so
        the sender opens a direct chat if there is none)."""
        lang = self._config.bot.language
        admin_text = i18n.t(
            lang, "errors.send_failed_admin", id=item.id, room=item.room_id, error=error[:300]
        )
        for admin in self._config.admins:
            await outbox_store.enqueue(
                tx, admin, messages.notice(admin_text), purpose=REPORT_PURPOSE
            )
        if item.owner and item.owner not in self._config.admins:
            await outbox_store.enqueue(
                tx,
                item.owner,
                # m.text: the person must notice it (an m.notice never notifies).
                messages.text(i18n.t(lang, "errors.send_failed_owner")),
                purpose=REPORT_PURPOSE,
            )

    async def _notify_admins(self, tx: Tx, body: str) -> None:
        for admin in self._config.admins:
            room = self.direct.get(admin)
            if room is not None:
                await outbox_store.enqueue(tx, room, messages.fit(messages.notice(body)))

    # --- configuration --------------------------------------------------------------------
    async def reload_from_disk(self) -> ConfigError | None:
        """Re-read the YAML (SIGHUP). An invalid file leaves the running config in force."""
        try:
            new = load_config(self._config_path)
        except ConfigError as err:
            log.error("Configuration not reloaded:\n%s", err)
            await self._tell_admins_reload_failed(err)
            return err
        await self.apply_config(new)
        log.info("Configuration reloaded from %s", self._config_path)
        return None

    async def _tell_admins_reload_failed(self, err: ConfigError) -> None:
        assert self.db is not None
        lang = self._config.bot.language
        shown = [str(p) for p in err.problems[:15]]
        if len(err.problems) > 15:
            shown.append(i18n.t(lang, "commands.reload.more", count=len(err.problems) - 15))
        body = "\n".join([i18n.t(lang, "commands.reload.failed"), *shown])
        async with self.db.transaction() as tx:
            await self._notify_admins(tx, body)
        if self.sender is not None:
            self.sender.wake()

    # --- network work for handlers, outside their transaction ----------------------------------
    async def upload(
        self, data: bytes, mime: str, filename: str, *, encrypted: bool = False
    ) -> messages.MediaRef | None:
        """Upload media (a chart, an export); None if the upload failed. Plain: its mxc URI.
        ``encrypted`` (for an encrypted room): matrix-nio encrypts it first (AES-256-CTR, as
        Element sends attachments), the homeserver gets ciphertext and no file name, and the
        answer is the ``file`` object (URI, key, iv, hash) that goes in the encrypted event."""
        assert self.client is not None
        resp, keys = await self.client.upload(
            io.BytesIO(data),
            content_type="application/octet-stream" if encrypted else mime,
            filename=None if encrypted else filename,
            filesize=len(data),
            encrypt=encrypted,
        )
        uri = getattr(resp, "content_uri", None)
        if not isinstance(uri, str):
            log.warning("Uploading %s failed: %s", filename, getattr(resp, "message", resp))
            return None
        if encrypted:
            return {**(keys or {}), "url": uri}
        return uri

    def room_encrypted(self, room_id: RoomID) -> bool:
        """Is the room encrypted, as the last sync showed it?"""
        room = self.client.rooms.get(room_id) if self.client is not None else None
        return bool(room is not None and room.encrypted)

    async def open_direct(self, user_id: UserID) -> RoomID | None:
        """The direct chat with a person, created (and recorded) if there is none yet."""
        assert self.client is not None and self.db is not None
        known = self.direct_room_of(user_id)
        if known is not None:
            return known
        # One opening per person at a time: the sender (a message addressed to them) and a
        # handler's after-commit work (a questionnaire) may both find no chat at once, and
        # two rooms would leave the person in the one the bot no longer reads.
        opening = self._opening.setdefault(user_id, asyncio.Lock())
        try:
            async with opening:
                known = self.direct_room_of(user_id)  # opened by the other task meanwhile
                if known is not None:
                    return known
                manager = RoomManager(self.client, self._config.bot.user_id)
                room_id = await manager.create_direct(
                    user_id, self._config.bot.display_name, encryption=self._config.bot.encryption
                )
                if room_id is None:
                    return None
                async with self.db.transaction() as tx:
                    await state_store.set_direct_room(tx, user_id, room_id)
                self.direct[user_id] = room_id
                return RoomID(room_id)
        finally:
            if not opening.locked():
                self._opening.pop(user_id, None)

    async def in_transaction(self, work: Callable[[BaseContext], Awaitable[None]]) -> None:
        """Run ``work`` in a new transaction (after network work), then send what it queued."""
        assert self.db is not None
        async with self.db.transaction() as tx:
            ctx = BaseContext(services=self, tx=tx, lang=self._config.bot.language)
            await work(ctx)
        for task in ctx.after_commit_tasks:
            self._spawn(task())
        if self.sender is not None:
            self.sender.wake()

    # --- helpers for tests and the demo ----------------------------------------------------
    async def wait_idle(self, timeout: float = 30) -> None:
        """Wait until the outbox has nothing pending."""
        assert self.db is not None

        db = self.db

        async def until_empty() -> None:
            while True:
                if not (await outbox_store.counts(db)).get("pending", 0):
                    return
                await asyncio.sleep(0.05)

        async with asyncio.timeout(timeout):
            await until_empty()


__all__ = ["AfterCommit", "App"]


def periodic_delay(now_ms: int, dues: Iterable[int | None], interval: float) -> float:
    """Seconds to sleep before the next periodic pass: ``interval`` at most, until the
    earliest of ``dues`` if that is sooner, and never less than MIN_PERIODIC_GAP."""
    soonest = min((d for d in dues if d is not None), default=None)
    if soonest is None:
        return interval
    # A hair after the due time: waking a millisecond early would find nothing due yet.
    return max(MIN_PERIODIC_GAP, min(interval, (soonest - now_ms) / 1000 + 0.01))


async def _at(fn: PeriodicFn, now_ms: int, ctx: BaseContext) -> None:
    await fn(ctx, now_ms)


async def _checked(what: str, request: Awaitable[object]) -> None:
    resp = await request
    if hasattr(resp, "status_code"):
        log.warning("Encryption: %s failed: %s", what, getattr(resp, "message", resp))
