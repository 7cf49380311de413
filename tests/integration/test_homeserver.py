"""The embedded Synapse the tests and the demo run on: users, rooms, restarts, rate limits."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from nio import (
    AsyncClient,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from bot.demo.homeserver import EmbeddedSynapse, MatrixHTTPError, RegisteredUser


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncClient]]:
    """Collects the nio clients a test makes and closes them afterwards."""
    made: list[AsyncClient] = []
    yield made
    for client in made:
        await client.close()


def _client(hs: EmbeddedSynapse, user: RegisteredUser, made: list[AsyncClient]) -> AsyncClient:
    client = AsyncClient(hs.base_url, user.user_id)
    made.append(client)
    return client


async def _wait_for_message(client: AsyncClient, room_id: str, body: str) -> RoomMessageText:
    """Sync until ``body`` shows up in ``room_id`` (20 s at most)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        resp = await client.sync(timeout=2000)
        assert isinstance(resp, SyncResponse), resp
        room = resp.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            if isinstance(event, RoomMessageText) and event.body == body:
                return event
    raise AssertionError(f"{body!r} never arrived in {room_id}")


def _send(hs: EmbeddedSynapse, user: RegisteredUser, room_id: str, txn: str) -> dict[str, Any]:
    room = urllib.parse.quote(room_id, safe="")
    return hs.request(
        "PUT",
        f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}",
        user.access_token,
        {"msgtype": "m.text", "body": f"burst {txn}"},
    )


def _burst(
    hs: EmbeddedSynapse, user: RegisteredUser, room_id: str, n: int
) -> tuple[int, MatrixHTTPError | None]:
    """Send up to ``n`` messages as fast as possible; stop at the first refusal (Synapse holds
    each 429 for 0.5 s). Returns (messages accepted, the refusal or None)."""
    for i in range(n):
        try:
            _send(hs, user, room_id, f"{user.localpart}-{i}")
        except MatrixHTTPError as err:
            return i, err
    return n, None


def _create_room(hs: EmbeddedSynapse, user: RegisteredUser) -> str:
    return str(
        hs.request("POST", "/_matrix/client/v3/createRoom", user.access_token, {})["room_id"]
    )


async def test_users_log_in_with_nio_and_see_each_others_messages(
    synapse: EmbeddedSynapse,
    make_user: Callable[..., RegisteredUser],
    clients: list[AsyncClient],
) -> None:
    alice_user, bob_user = make_user("alice"), make_user("bob")
    assert alice_user.user_id.endswith(f":{synapse.server_name}")
    assert alice_user.user_id != bob_user.user_id

    alice = _client(synapse, alice_user, clients)
    login = await alice.login(alice_user.password, device_name="test")
    assert isinstance(login, LoginResponse), login
    assert login.device_id != alice_user.device_id  # a login is a new device

    bob = _client(synapse, bob_user, clients)
    bob.restore_login(bob_user.user_id, bob_user.device_id, bob_user.access_token)
    first = await bob.sync(timeout=0)
    assert isinstance(first, SyncResponse), first

    created = await alice.room_create(name="Kohort", invite=[bob_user.user_id])
    assert isinstance(created, RoomCreateResponse), created
    joined = await bob.join(created.room_id)
    assert isinstance(joined, JoinResponse), joined

    sent = await alice.room_send(
        created.room_id, "m.room.message", {"msgtype": "m.text", "body": "hej Bob"}
    )
    assert isinstance(sent, RoomSendResponse), sent
    seen = await _wait_for_message(bob, created.room_id, "hej Bob")
    assert seen.sender == alice_user.user_id
    assert seen.event_id == sent.event_id


def test_helper_login_and_errors(
    synapse: EmbeddedSynapse, make_user: Callable[..., RegisteredUser]
) -> None:
    user = make_user("helper")
    again = synapse.login(user.localpart, user.password)
    assert (again.user_id, again.password) == (user.user_id, user.password)
    assert again.device_id != user.device_id
    whoami = synapse.request("GET", "/_matrix/client/v3/account/whoami", again.access_token)
    assert whoami["device_id"] == again.device_id
    with pytest.raises(MatrixHTTPError) as bad:
        synapse.login(user.localpart, "wrong password")
    assert (bad.value.status, bad.value.errcode) == (403, "M_FORBIDDEN")


async def test_restart_keeps_users_rooms_and_tokens(
    synapse: EmbeddedSynapse,
    make_user: Callable[..., RegisteredUser],
    clients: list[AsyncClient],
) -> None:
    user = make_user("restart")
    room_id = _create_room(synapse, user)
    _send(synapse, user, room_id, "before-restart")
    url = synapse.base_url

    synapse.restart()
    assert synapse.base_url == url and synapse.running

    client = _client(synapse, user, clients)
    login = await client.login(user.password)
    assert isinstance(login, LoginResponse), login
    rooms = await client.joined_rooms()
    assert room_id in getattr(rooms, "rooms", []), rooms
    # The token from before the restart still works too.
    whoami = synapse.request("GET", "/_matrix/client/v3/account/whoami", user.access_token)
    assert whoami["user_id"] == user.user_id
    synced = await client.sync(timeout=0)
    assert isinstance(synced, SyncResponse), synced
    bodies = [getattr(e, "body", None) for e in synced.rooms.join[room_id].timeline.events]
    assert "burst before-restart" in bodies


def test_relaxed_server_does_not_limit_an_ordinary_user(synapse: EmbeddedSynapse) -> None:
    # Registered without override_ratelimit: only the relaxed config protects this user.
    user = synapse.register_user("relaxed_" + str(time.monotonic_ns())[-8:], "pw-relaxed")
    room_id = _create_room(synapse, user)
    assert _burst(synapse, user, room_id, 15) == (15, None)


async def test_strict_server_limits_a_burst_unless_exempted(
    strict_synapse: EmbeddedSynapse,
) -> None:
    hs = strict_synapse
    admin = hs.register_user("hsadmin", "pw-hsadmin", admin=True)
    limited = hs.register_user("limited", "pw-limited")
    exempt = hs.register_user("exempt", "pw-exempt")
    hs.override_ratelimit(admin.access_token, exempt.user_id)

    limited_room, exempt_room = _create_room(hs, limited), _create_room(hs, exempt)
    accepted, refusal = await asyncio.to_thread(_burst, hs, limited, limited_room, 15)
    # Default rc_message is 0.2/s with a burst of 10, and createRoom took one of those.
    assert refusal is not None, "Synapse's default rc_message should refuse part of 15"
    assert (refusal.status, refusal.errcode) == (429, "M_LIMIT_EXCEEDED")
    assert isinstance(refusal.retry_after_ms, int) and refusal.retry_after_ms > 0
    assert 8 <= accepted < 15  # the burst allowance went through first
    assert await asyncio.to_thread(_burst, hs, exempt, exempt_room, 15) == (15, None)
