"""Logging in once and reusing the device: a new login is a new device, and a new device
breaks idempotent sends (the same transaction id would post twice), and with encryption the
device is also the key to the crypto store: ``restore_login`` opens the store of the stored
device id (``load_store``), a first password login creates the store of the new device."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from nio import (
    Api,
    AsyncClient,
    DeleteDevicesAuthResponse,
    DeleteDevicesResponse,
    LoginResponse,
    RoomRedactError,
    RoomRedactResponse,
    WhoamiResponse,
)

from config import Config
from storage import Database
from storage import state as state_store

log = logging.getLogger(__name__)

ENV_PASSWORD = "NATVERK_PASSWORD"  # noqa: S105 - the variable's name, not a password
ENV_TOKEN = "NATVERK_ACCESS_TOKEN"  # noqa: S105


class Client(AsyncClient):  # type: ignore[misc]  # nio has no type information
    """matrix-nio's client, and a redaction that carries content beyond a reason (the outbox
    row's key, see storage/outbox.py): nio's ``room_redact`` sends only the reason."""

    async def room_redact_content(
        self, room_id: str, content: dict[str, Any], tx_id: str
    ) -> RoomRedactResponse | RoomRedactError:
        method, path, _ = Api.room_redact(
            self.access_token, room_id, content["redacts"], tx_id=tx_id
        )
        body = {k: v for k, v in content.items() if k != "redacts"}
        response: RoomRedactResponse | RoomRedactError = await self._send(
            RoomRedactResponse, method, path, Api.to_json(body), response_data=(room_id,)
        )
        return response


class LoginError(RuntimeError):
    """The bot could not log in; the message says what to do."""


def _token_from_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text("utf-8").strip() or None
    except OSError as err:
        raise LoginError(f"cannot read bot.token_file {path}: {err.strerror}") from err


async def _whoami(client: AsyncClient) -> WhoamiResponse | None:
    resp = await client.whoami()
    return resp if isinstance(resp, WhoamiResponse) else None


async def log_in(client: AsyncClient, config: Config, db: Database) -> None:
    """Restore stored credentials, else use a token or a first password login, and store them."""
    user_id = config.bot.user_id
    stored = await state_store.load_credentials(db, user_id)
    if stored is not None and stored.homeserver == config.homeserver:
        client.restore_login(user_id, stored.device_id, stored.access_token)
        if await _whoami(client) is not None:
            log.info("Logged in as %s with stored device %s", user_id, stored.device_id)
            return
        log.warning("The stored access token was refused; trying the configured credentials")
        client.store, client.olm = None, None  # that device's crypto store is not the next's
        await state_store.forget_credentials(db, user_id)

    token = os.environ.get(ENV_TOKEN) or _token_from_file(config.bot.token_file)
    if token:
        # Not restore_login yet: with encryption on it opens the crypto store of the device,
        # which only whoami names.
        client.user_id, client.access_token = user_id, token
        who = await _whoami(client)
        if who is None or who.user_id != user_id or not who.device_id:
            raise LoginError(
                f"the access token from {ENV_TOKEN} or bot.token_file is not valid for {user_id}"
            )
        client.restore_login(user_id, who.device_id, token)
        await state_store.save_credentials(
            db, state_store.Credentials(user_id, config.homeserver, who.device_id, token)
        )
        log.info("Logged in as %s with a given access token (device %s)", user_id, who.device_id)
        return

    password = os.environ.get(ENV_PASSWORD)
    if not password:
        raise LoginError(
            f"no credentials: set {ENV_PASSWORD} for the first login (the token is then kept "
            f"in the database), or {ENV_TOKEN}, or bot.token_file in the configuration"
        )
    resp = await client.login(password, device_name=config.bot.device_name)
    if not isinstance(resp, LoginResponse):
        raise LoginError(f"password login for {user_id} failed: {getattr(resp, 'message', resp)}")
    await state_store.save_credentials(
        db, state_store.Credentials(user_id, config.homeserver, resp.device_id, resp.access_token)
    )
    log.info("Logged in as %s with a password; new device %s stored", user_id, resp.device_id)


async def new_device(client: AsyncClient, config: Config, db: Database) -> None:
    """Log in again as a new device (the stored device's crypto store is lost: its keys on the
    homeserver belong to a store that no longer exists, and a device cannot get new ones)."""
    user_id = config.bot.user_id
    old = client.device_id
    if not os.environ.get(ENV_PASSWORD):
        raise LoginError(
            f"the crypto store of device {old} is missing ({config.bot.crypto_store_path}): "
            f"restore it from the backup (natverk backup writes it beside the database copy), "
            f"or start once with {ENV_PASSWORD} set to log in as a new device"
        )
    # Without a device id, or nio logs in to the same device again.
    client.store, client.olm, client.device_id = None, None, None
    resp = await client.login(os.environ[ENV_PASSWORD], device_name=config.bot.device_name)
    if not isinstance(resp, LoginResponse):
        raise LoginError(f"password login for {user_id} failed: {getattr(resp, 'message', resp)}")
    await state_store.save_credentials(
        db, state_store.Credentials(user_id, config.homeserver, resp.device_id, resp.access_token)
    )
    log.warning(
        "The crypto store of device %s was missing: logged in as the new device %s; messages "
        "encrypted for the old device cannot be read",
        old,
        client.device_id,
    )
    if old:
        await _delete_device(client, old, os.environ[ENV_PASSWORD])


async def _delete_device(client: AsyncClient, device_id: str, password: str) -> None:
    """Delete the device whose store is lost, so people's clients no longer list it (or
    encrypt for it), by the password stage of user-interactive auth. A failure is logged, not
    fatal: the device can be removed from any client's session list."""
    try:
        resp = await client.delete_devices([device_id])
        if isinstance(resp, DeleteDevicesAuthResponse):
            auth = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": client.user_id},
                "password": password,
                "session": resp.session,
            }
            resp = await client.delete_devices([device_id], auth)
    except Exception as err:  # a network error: the new device works all the same
        resp = err
    if isinstance(resp, DeleteDevicesResponse):
        log.info("Deleted the old device %s, whose crypto store was lost", device_id)
    else:
        log.warning(
            "Could not delete the old device %s (%s): remove it from the bot account's "
            "sessions in Element",
            device_id,
            getattr(resp, "message", resp),
        )
