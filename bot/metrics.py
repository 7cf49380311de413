"""Prometheus metrics (``prometheus-client``) and a health check, served at ``/metrics`` and
``/health`` on ``metrics.listen`` (off without it), by aiohttp (already there for nio).

No label ever holds a person, a room or a text: event kinds are a fixed list (anything else is
``other``), commands are their registered names (an unknown word is ``unknown``), categories are
the configuration's ids. Gauges that come from the database are read when scraped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from config import Config
    from storage import Database

log = logging.getLogger(__name__)

KINDS = frozenset(
    {
        "m.room.message",
        "m.reaction",
        "m.room.redaction",
        "m.room.member",
        "m.poll.response",
        "org.matrix.msc3381.poll.response",
        "m.poll.end",
        "org.matrix.msc3381.poll.end",
        "m.room.encrypted",
    }
)
HEALTHY_SYNC_S = 120.0


class Metrics:
    """One bot's metrics (a registry of its own: two bots in one process, as in the tests,
    never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("natverk_events", "Events handled, by kind", ["kind"], registry=r)
        self.commands = Counter(
            "natverk_commands", "Commands, by name and outcome", ["command", "outcome"], registry=r
        )
        self.send_seconds = Histogram(
            "natverk_send_seconds", "Time to hand one outbox row to the homeserver", registry=r
        )
        self.send_failures = Counter("natverk_send_failures", "Failed send attempts", registry=r)
        self.outbox_pending = Gauge("natverk_outbox_pending", "Outbox rows not sent", registry=r)
        self.sync_age = Gauge(
            "natverk_sync_age_seconds", "Seconds since the last successful sync", registry=r
        )
        self.questions = Gauge(
            "natverk_questions_waiting",
            "Questions waiting for the advisers, by category and whether overdue",
            ["category", "overdue"],
            registry=r,
        )
        self.checkin_runs = Gauge(
            "natverk_checkin_runs", "Check-in runs, by status", ["status"], registry=r
        )
        self.extraction_failures = Gauge(
            "natverk_text_extraction_failures",
            "Catalogued files whose text could not be read",
            registry=r,
        )
        self.undecrypted = Gauge(
            "natverk_undecrypted_waiting",
            "Encrypted messages the bot cannot decrypt yet, waiting for their room key",
            registry=r,
        )
        self.unreadable_members = Gauge(
            "natverk_members_without_signed_device",
            "People in the bot's encrypted rooms with no device cross-signed by them: with "
            "bot.encrypt_for: cross-signed they cannot read what the bot sends there",
            registry=r,
        )
        self.last_sync = 0.0  # time.monotonic() of the last successful sync
        # One child per kind, made now: ``labels()`` (a lock and a lookup) is not on the path
        # of every event.
        self._event_kinds = {kind: self.events.labels(kind) for kind in (*KINDS, "other")}

    def event(self, kind: str) -> None:
        self._event_kinds.get(kind, self._event_kinds["other"]).inc()

    def command(self, name: str, outcome: str) -> None:
        self.commands.labels(name, outcome).inc()

    def synced(self) -> None:
        self.last_sync = time.monotonic()

    def sync_age_seconds(self) -> float:
        return time.monotonic() - self.last_sync if self.last_sync else float("inf")


async def read_gauges(metrics: Metrics, db: Database, config: Config, now_ms: int) -> None:
    """The gauges that come from the database, as of now."""
    from storage import encryption
    from storage import metrics as store

    metrics.outbox_pending.set(await store.outbox_pending(db))
    metrics.questions.clear()
    for category in config.advisers.categories:
        for overdue in ("no", "yes"):
            metrics.questions.labels(category.id, overdue).set(0)
    for category_id, created_at in await store.unanswered(db):
        of = config.category(category_id)
        if of is None:
            continue
        due = created_at + config.advisers.reminder_seconds(of) * 1000
        metrics.questions.labels(category_id, "yes" if due <= now_ms else "no").inc()
    metrics.checkin_runs.clear()
    for status, count in await store.checkin_runs(db):
        metrics.checkin_runs.labels(status).set(count)
    metrics.extraction_failures.set(await store.extraction_failures(db))
    metrics.undecrypted.set(await encryption.count(db))
    metrics.sync_age.set(min(metrics.sync_age_seconds(), 1e9))


class Server:
    """``/metrics`` and ``/health`` on ``host:port``."""

    def __init__(
        self,
        metrics: Metrics,
        listen: str,
        *,
        gauges: Callable[[], Awaitable[None]],
        sender_running: Callable[[], bool],
    ) -> None:
        self.metrics, self.gauges, self.sender_running = metrics, gauges, sender_running
        host, _, port = listen.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self.healthy_within_s = HEALTHY_SYNC_S
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("Metrics and health on http://%s:%d/", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            await self.gauges()
        except Exception:
            log.exception("Reading the gauges failed")
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def _health(self, request: web.Request) -> web.Response:
        age = self.metrics.sync_age_seconds()
        sending = self.sender_running()
        ok = age < self.healthy_within_s and sending
        state = "ok" if ok else "unhealthy"
        sender = "running" if sending else "stopped"
        text = f"{state}: last sync {age:.0f} s ago, sender {sender}\n"
        return web.Response(status=200 if ok else 503, text=text)
