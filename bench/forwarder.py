"""The baseline for the relay benchmarks: a bare matrix-nio forwarder in a process of its own.

It sees a message that starts with the marker in one room and sends its body to the paired
room, and nothing else. Run as ``python -m bench.forwarder PAIRS_JSON`` with the homeserver,
user id, device id and access token in the environment (``FWD_*``); it prints ``ready`` once
its first sync is done, so history is not forwarded. With ``FWD_STORE`` (a folder) it has
end-to-end encryption, as a bare matrix-nio bot has it (``sync_forever`` does the key work).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomMessageText, SyncResponse

MARKER = "fwd:"  # the forwarder relays only messages that start with this


async def forward(pairs: dict[str, str]) -> None:
    store = os.environ.get("FWD_STORE")  # set: end-to-end encryption, its store there
    client = AsyncClient(
        os.environ["FWD_HOMESERVER"],
        os.environ["FWD_USER"],
        store_path=store or "",
        config=AsyncClientConfig(
            max_limit_exceeded=None, max_timeouts=None, encryption_enabled=bool(store)
        ),
    )
    client.restore_login(os.environ["FWD_USER"], os.environ["FWD_DEVICE"], os.environ["FWD_TOKEN"])
    if client.olm is not None and client.should_upload_keys:
        await client.keys_upload()  # before "ready": the people's apps encrypt for it

    async def on_message(room: Any, event: RoomMessageText) -> None:
        target = pairs.get(room.room_id)
        if target is None or event.sender == client.user_id or not event.body.startswith(MARKER):
            return
        # The message as it came (a person's m.text, so its reader is notified, as natverk's
        # relays are), with the m.mentions every well-behaved bot sends (MATRIX_NOTES).
        msgtype = str(event.source.get("content", {}).get("msgtype", "m.text"))
        await client.room_send(
            target,
            "m.room.message",
            {"msgtype": msgtype, "body": event.body, "m.mentions": {}},
            ignore_unverified_devices=True,  # what bots do (and natverk), encrypted or not
        )

    first = await client.sync(timeout=0)
    if not isinstance(first, SyncResponse):
        raise SystemExit(f"forwarder: first sync failed: {first}")
    client.add_event_callback(on_message, RoomMessageText)
    print("ready", flush=True)
    try:
        await client.sync_forever(timeout=30_000)
    finally:
        await client.close()


def main() -> None:
    asyncio.run(forward(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
