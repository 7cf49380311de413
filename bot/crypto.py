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

from pathlib import Path

from nio import AsyncClient, Response, SyncResponse


class CryptoClient(AsyncClient):  # type: ignore[misc]
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
