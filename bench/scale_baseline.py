"""The baseline for the scale benchmark: a bare matrix-nio script in a process of its own.

Each mode prints one line when its work is done, then waits for a line on stdin (so that its
memory can be read from outside) and exits:

- ``create SPEC``: the rooms in the JSON file SPEC, one after another, with the calls natverk
  makes for a new room (resolve the alias; create the room with its alias, name, preset,
  history visibility, guest access and invites; read its state; raise the moderators in its
  power levels), then the admins' direct chats; prints ``created``. Then one full-state sync with
  natverk's sync filter, so that it holds the same rooms in memory as the bot; prints
  ``synced <next_batch>``.
- ``resync TOKEN``: what any bot that keeps room state in memory does at a restart: one
  full-state sync from TOKEN; prints ``synced <next_batch>``.
- ``catchup SPEC``: a sync from natverk's stored token (the bot's own account on a device of
  its own), back-filling each limited timeline with ``/messages`` to the start of the
  backlog, until every expected event id has been received; prints ``received N``.

The homeserver, user id, device id, access token and sync filter come from the environment
(``SB_*``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    MessageDirection,
    RoomCreateResponse,
    RoomGetStateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomPutStateResponse,
    RoomResolveAliasResponse,
    SyncResponse,
)


def _client() -> AsyncClient:
    client = AsyncClient(
        os.environ["SB_HOMESERVER"],
        os.environ["SB_USER"],
        config=AsyncClientConfig(max_limit_exceeded=None, max_timeouts=None),
    )
    client.restore_login(os.environ["SB_USER"], os.environ["SB_DEVICE"], os.environ["SB_TOKEN"])
    return client


def _filter() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(os.environ["SB_FILTER"])
    return loaded


async def _full_sync(client: AsyncClient, since: str | None) -> SyncResponse:
    resp = await client.sync(timeout=0, since=since, full_state=True, sync_filter=_filter())
    if not isinstance(resp, SyncResponse):
        raise SystemExit(f"baseline: sync failed: {resp}")
    return resp


async def create(spec: dict[str, Any]) -> None:
    client = _client()
    try:
        server = client.user_id.partition(":")[2]
        for room in spec["rooms"]:
            resolved = await client.room_resolve_alias(f"#{room['alias']}:{server}")
            if isinstance(resolved, RoomResolveAliasResponse):
                continue
            created = await client.room_create(
                alias=room["alias"],
                name=room["name"],
                preset=RoomPreset.private_chat,
                invite=room["invite"],
                power_level_override=room["power_level_override"],
                initial_state=room["initial_state"],
            )
            if not isinstance(created, RoomCreateResponse):
                raise SystemExit(f"baseline: cannot create {room['alias']}: {created}")
            state = await client.room_get_state(created.room_id)
            if not isinstance(state, RoomGetStateResponse):
                raise SystemExit(f"baseline: cannot read the state of {room['alias']}: {state}")
            power = next(e["content"] for e in state.events if e["type"] == "m.room.power_levels")
            power["users"] = {**power.get("users", {}), **room["power"]}
            put = await client.room_put_state(created.room_id, "m.room.power_levels", power)
            if not isinstance(put, RoomPutStateResponse):
                raise SystemExit(f"baseline: cannot set power levels in {room['alias']}: {put}")
        for user in spec["direct"]:
            created = await client.room_create(
                is_direct=True,
                invite=[user],
                preset=RoomPreset.trusted_private_chat,
                name=spec["display_name"],
            )
            if not isinstance(created, RoomCreateResponse):
                raise SystemExit(f"baseline: cannot open a direct chat: {created}")
        print("created", flush=True)
        resp = await _full_sync(client, None)
        print(f"synced {resp.next_batch}", flush=True)
        sys.stdin.readline()
    finally:
        await client.close()


async def resync(token: str) -> None:
    client = _client()
    try:
        resp = await _full_sync(client, token)
        print(f"synced {resp.next_batch}", flush=True)
        sys.stdin.readline()
    finally:
        await client.close()


async def _backfill(client: AsyncClient, room_id: str, token: str, since_ts: int) -> list[str]:
    ids: list[str] = []
    while True:
        resp = await client.room_messages(
            room_id, start=token, direction=MessageDirection.back, limit=100
        )
        if not isinstance(resp, RoomMessagesResponse):
            raise SystemExit(f"baseline: back-fill failed: {resp}")
        for event in resp.chunk:
            if int(event.source.get("origin_server_ts", 0)) < since_ts:
                return ids
            ids.append(str(event.event_id))
        if not resp.chunk or not resp.end:
            return ids
        token = resp.end


async def catchup(spec: dict[str, Any]) -> None:
    expected = set(spec["expected"])
    client = _client()
    received: set[str] = set()
    try:
        since: str = spec["token"]
        full_state = True
        while not expected <= received:
            resp = await client.sync(
                timeout=0 if full_state else 30_000,
                since=since,
                full_state=full_state,
                sync_filter=_filter(),
            )
            if not isinstance(resp, SyncResponse):
                raise SystemExit(f"baseline: sync failed: {resp}")
            for room_id, info in resp.rooms.join.items():
                received.update(str(e.event_id) for e in info.timeline.events)
                if info.timeline.limited and info.timeline.prev_batch:
                    received.update(
                        await _backfill(
                            client, room_id, info.timeline.prev_batch, int(spec["since_ts"])
                        )
                    )
            since, full_state = resp.next_batch, False
        print(f"received {len(expected & received)}", flush=True)
        sys.stdin.readline()
    finally:
        await client.close()


def main() -> None:
    # nio logs every 404 of an alias looked up before its room is created; natverk silences
    # nio.responses the same way (bot/cli.py).
    logging.getLogger("nio.responses").setLevel(logging.CRITICAL)
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "create":
        asyncio.run(create(json.loads(Path(arg).read_text("utf-8"))))
    elif mode == "resync":
        asyncio.run(resync(arg))
    elif mode == "catchup":
        asyncio.run(catchup(json.loads(Path(arg).read_text("utf-8"))))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
