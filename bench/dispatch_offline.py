"""Events per second through the syncer and dispatcher, offline: recorded-shape sync responses
replayed into a real SQLite database, no network. Baseline: the same responses through the
dedup-and-checkpoint path alone (no dispatch), in the same run."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from nio import SyncResponse

from bot.context import AfterCommit
from bot.dispatcher import Dispatcher
from bot.registry import REGISTRY, load_command_modules
from bot.syncer import Syncer
from bot.types import Place, RoomEvent, RoomID, UserID
from config import Config
from storage import Database, Tx

ROOM = "!cohort:localhost"
BOT = "@natverk:localhost"


def make_config() -> Config:
    return Config.model_validate(
        {
            "homeserver": "http://127.0.0.1:1",
            "bot": {"user_id": BOT},
            "admins": ["@admin:localhost"],
            "advisers": {"room": "#adv:localhost", "members": ["@adv:localhost"]},
            "cohorts": [
                {
                    "id": "c",
                    "name": "C",
                    "room": "#c:localhost",
                    "participants": [f"@p{i}:localhost" for i in range(50)],
                }
            ],
        }
    )


def sync_response(batch: int, size: int) -> SyncResponse:
    events: list[dict[str, Any]] = []
    for i in range(size):
        n = batch * size + i
        body = "!help" if n % 4 == 0 else f"Hej, här är meddelande {n}"
        events.append(
            {
                "type": "m.room.message",
                "event_id": f"$e{n}",
                "sender": f"@p{n % 50}:localhost",
                "origin_server_ts": 1_700_000_000_000 + n,
                "content": {"msgtype": "m.text", "body": body},
            }
        )
    raw = {
        "next_batch": f"s{batch}",
        "rooms": {
            "join": {
                ROOM: {
                    "timeline": {"events": events, "limited": False, "prev_batch": "p"},
                    "state": {"events": []},
                }
            }
        },
    }
    resp = SyncResponse.from_dict(raw)
    assert isinstance(resp, SyncResponse)
    return resp


class Services:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.config_path = Path("bench.yaml")
        self.user_id = UserID(BOT)
        self.registry = REGISTRY

    def direct_room_of(self, user_id: UserID) -> RoomID | None:
        return None

    async def apply_config(self, new: Config) -> None:
        return None


async def run(batches: int, size: int, dispatch: bool) -> float:
    load_command_modules()
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db")
        services = Services(make_config())
        cohort = services.config.cohorts[0]
        dispatcher = Dispatcher(services, REGISTRY, lambda room: (Place.COHORT, cohort))

        async def nothing(tx: Tx, ev: RoomEvent) -> list[AfterCommit]:
            return []

        syncer = Syncer(None, db, BOT, dispatcher.dispatch if dispatch else nothing)  # type: ignore[arg-type]
        syncer.joined = {ROOM: 0}
        responses = [sync_response(b, size) for b in range(batches)]
        start = time.perf_counter()
        for resp in responses:
            await syncer.process(resp, had_token=True)
        elapsed = time.perf_counter() - start
        await db.close()
        return batches * size / elapsed


def main(batches: int = 200, size: int = 50) -> None:
    base = asyncio.run(run(batches, size, dispatch=False))
    full = asyncio.run(run(batches, size, dispatch=True))
    print(f"\n== dispatcher offline: {batches} sync responses x {size} events ==")
    print(f"baseline (dedup + checkpoint only)  {base:9.0f} events/s")
    print(f"natverk (decode + dispatch + outbox) {full:9.0f} events/s")
    print(f"ratio natverk/baseline throughput    {full / base:9.2f}")
