"""The bot's matrix-nio client with end-to-end encryption, and its crypto store's folder.

matrix-nio stores what a sync response carries for encryption while it parses the response
(inside ``AsyncClient.sync()``): the Olm session that decrypted a to-device message, then the
room key that message held, each in a commit of its own in the crypto store. A crash between
the two commits would keep the advanced Olm session without the room key: the homeserver
delivers the to-device message again after the restart, but the Olm session can no longer
decrypt it, and every message of that room key is lost. :class:`CryptoClient` makes the whole
response's crypto work one transaction of the crypto store: all of it is stored, or none and
the message decrypts again when it is delivered again.
"""

from __future__ import annotations

import json
from pathlib import Path

from nio import Api, AsyncClient, Response, SyncResponse

from bot.session import Client


class CryptoClient(Client):
    async def receive_response(self, response: Response) -> None:
        store = self.store
        if not isinstance(response, SyncResponse) or store is None:
            await super().receive_response(response)
            return
        # Nothing in nio's sync handling waits on I/O (the bot registers no callbacks), so no
        # other task writes to the crypto store inside this transaction.
        with store.database.atomic():
            await super().receive_response(response)


def crypto_store(path: Path) -> Path:
    """The crypto store's folder, created readable by the bot's user only (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


async def store_lost(client: AsyncClient) -> bool:
    """The stored device's crypto store is gone: the store is new (its keys were never
    uploaded) while the homeserver holds keys for the device. A device made before encryption
    was on has no keys there: its new store simply uploads them."""
    olm = client.olm
    if olm is None or olm.account.shared:
        return False
    # The token is in the path nio builds (Synapse refuses it in a header as well).
    method, path, data = Api.keys_query(client.access_token, {client.user_id})
    resp = await client.send(method, path, data, headers={"Content-Type": "application/json"})
    if resp.status != 200:
        raise RuntimeError(f"querying the bot's own device keys failed: HTTP {resp.status}")
    body = json.loads(await resp.text())
    devices = (body.get("device_keys") or {}).get(client.user_id) or {}
    return client.device_id in devices
