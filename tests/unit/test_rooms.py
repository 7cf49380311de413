"""Reconciling one room with a fake homeserver client: which requests the bot makes."""

from __future__ import annotations

from typing import Any, cast

from nio import (
    AsyncClient,
    JoinResponse,
    RoomCreateResponse,
    RoomGetStateResponse,
    RoomPutStateResponse,
    RoomResolveAliasError,
    RoomResolveAliasResponse,
)

from bot.rooms import RoomManager, RoomReport, WantedRoom

BOT = "@natverk:localhost"
ROOM = "!r:localhost"


class FakeClient:
    """Records each request; knows the alias only if ``exists``."""

    def __init__(self, exists: bool) -> None:
        self.exists = exists
        self.calls: list[str] = []
        self.rooms: dict[str, Any] = {}
        self.invited: list[str] = []  # by the room's creation

    async def room_resolve_alias(self, alias: str) -> Any:
        self.calls.append("resolve")
        if self.exists:
            return RoomResolveAliasResponse(alias, ROOM, [])
        return RoomResolveAliasError("not found", "M_NOT_FOUND")

    async def room_create(self, **kwargs: Any) -> Any:
        self.calls.append("create")
        self.invited = list(kwargs["invite"])
        return RoomCreateResponse(ROOM)

    async def join(self, room_id: str) -> Any:
        self.calls.append("join")
        return JoinResponse(room_id)

    async def room_get_state(self, room_id: str) -> Any:
        self.calls.append("state")
        events = [
            {"type": "m.room.member", "state_key": BOT, "content": {"membership": "join"}},
            {"type": "m.room.power_levels", "state_key": "", "content": {"users": {}}},
        ] + [
            {"type": "m.room.member", "state_key": user, "content": {"membership": "invite"}}
            for user in self.invited
        ]
        return RoomGetStateResponse(events, room_id)

    async def room_put_state(self, room_id: str, event_type: str, content: Any) -> Any:
        self.calls.append(f"put {event_type}")
        return RoomPutStateResponse("$p", room_id)

    async def room_invite(self, room_id: str, user_id: str) -> Any:
        self.calls.append(f"invite {user_id}")
        return object()


WANTED = WantedRoom(
    key="cohort:a",
    target="#a:localhost",
    name="A",
    members=frozenset({"@anna:localhost"}),
    moderators=frozenset({"@fia:localhost"}),
    history_visibility="invited",
)


async def test_a_room_just_created_is_not_joined_again() -> None:
    client = FakeClient(exists=False)
    report = RoomReport()
    room = await RoomManager(cast(AsyncClient, client), BOT).ensure(WANTED, None, report, set())
    assert room == ROOM
    assert client.calls == ["resolve", "create", "state", "put m.room.power_levels"]
    assert report.empty()


async def test_an_existing_room_the_bot_is_not_in_is_joined() -> None:
    client = FakeClient(exists=True)
    report = RoomReport()
    room = await RoomManager(cast(AsyncClient, client), BOT).ensure(WANTED, None, report, set())
    assert room == ROOM
    assert client.calls == [
        "resolve",
        "join",
        "state",
        "invite @anna:localhost",
        "put m.room.power_levels",
    ]
