"""Reconciling the rooms with the YAML: resolve or create, invite, give moderators power.

Nobody is ever kicked automatically from a cohort room: differences are reported to the admins
instead. The advisers' rooms are the exception: their history is shared and holds every case,
private ones included, so only the bot and the admins may invite there, and anyone else in
them is removed at once (and the admins are told).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from nio import (
    AsyncClient,
    JoinResponse,
    MatrixRoom,
    RoomCreateResponse,
    RoomGetStateResponse,
    RoomPreset,
    RoomResolveAliasResponse,
)

from config import Config

log = logging.getLogger(__name__)

# The reason shown in the room (and in Element's timeline) when the bot removes someone.
KICK_REASON = "Only the configured advisers may be in this room / Endast rådgivarna får vara här"

# The state event that makes a room end-to-end encrypted (Megolm, as Element sets it).
ENCRYPTION_STATE: dict[str, Any] = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}

MODERATOR = 50
INVITER = 75  # in the advisers' rooms: the admins (and the bot, at 100) may invite, advisers not
ADMIN = 100


@dataclass(frozen=True)
class WantedRoom:
    key: str  # 'cohort:<id>', 'advisers', 'category:<id>'
    target: str  # '#alias:server' or '!id:server'
    name: str
    members: frozenset[str]
    moderators: frozenset[str]
    history_visibility: str
    topic: str = ""
    restricted: bool = False  # advisers' rooms: only the bot and admins invite; strangers go
    admins: frozenset[str] = frozenset()
    encryption: bool = False  # end-to-end encrypted (switched on if not; never off again)


def wanted_rooms(config: Config) -> list[WantedRoom]:
    """The rooms the configuration asks for, pure."""
    admins = frozenset(config.admins)
    adv = config.advisers
    shared_members = set(adv.members)
    rooms: list[WantedRoom] = []
    for cat in adv.categories:
        if cat.room is None:
            shared_members.update(cat.members)
        else:
            rooms.append(
                WantedRoom(
                    key=f"category:{cat.id}",
                    target=cat.room,
                    name=cat.name,
                    members=frozenset(cat.members),
                    moderators=frozenset(cat.members) | admins,
                    # Advisers who join later read the open cases: deliberate.
                    history_visibility="shared",
                    restricted=True,
                    admins=admins,
                    encryption=cat.encryption,
                )
            )
    rooms.insert(
        0,
        WantedRoom(
            key="advisers",
            target=adv.room,
            name=adv.name,
            members=frozenset(shared_members),
            moderators=frozenset(shared_members) | admins,
            history_visibility="shared",
            restricted=True,
            admins=admins,
            encryption=adv.encryption,
        ),
    )
    for cohort in config.cohorts:
        members = frozenset(cohort.facilitators) | frozenset(cohort.participants)
        rooms.append(
            WantedRoom(
                key=f"cohort:{cohort.id}",
                target=cohort.room,
                name=cohort.name,
                members=members,
                moderators=frozenset(cohort.facilitators) | admins,
                # Participants see what was said since they were invited, not before.
                history_visibility="invited",
                encryption=cohort.encryption,
            )
        )
    return rooms


@dataclass
class RoomReport:
    """What reconciliation found that needs a person: shown to admins."""

    unexpected_members: dict[str, list[str]] = field(default_factory=dict)  # target -> users
    removed_members: dict[str, list[str]] = field(default_factory=dict)  # advisers' rooms
    failures: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.unexpected_members and not self.removed_members and not self.failures


# Synapse's default rc_invites.per_room burst: a room made with more invites is refused unless
# the bot is exempted from rate limits (then it is made again with this many).
CREATE_INVITES = 10


def initial_state(wanted: WantedRoom) -> list[dict[str, Any]]:
    """The state a new room of the bot's is created with: encryption if asked, its history
    visibility, no guests."""
    return [
        *([ENCRYPTION_STATE] if wanted.encryption else []),
        {
            "type": "m.room.history_visibility",
            "state_key": "",
            "content": {"history_visibility": wanted.history_visibility},
        },
        {
            "type": "m.room.guest_access",
            "state_key": "",
            "content": {"guest_access": "forbidden"},
        },
    ]


def members_from_state(events: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    joined: set[str] = set()
    invited: set[str] = set()
    for ev in events:
        if ev.get("type") != "m.room.member":
            continue
        membership = (ev.get("content") or {}).get("membership")
        if membership == "join":
            joined.add(str(ev.get("state_key")))
        elif membership == "invite":
            invited.add(str(ev.get("state_key")))
    return joined, invited


async def only_between(client: AsyncClient, room_id: str, people: set[str]) -> bool:
    """Whether nobody but ``people`` is in (or invited to) the room (e.g. a direct chat)."""
    state = await client.room_get_state(room_id)
    if not isinstance(state, RoomGetStateResponse):
        return False
    joined, invited = members_from_state(state.events)
    return joined | invited <= people


def power_levels_update(
    current: dict[str, Any], wanted: WantedRoom, bot: str, level: int = MODERATOR
) -> dict[str, Any] | None:
    """The new m.room.power_levels content, or None if it is already as ``wanted`` needs:
    moderators at ``level`` at least; in a restricted room, inviting needs :data:`INVITER`,
    which only the admins (and the bot) have."""
    users = {str(k): int(v) for k, v in (current.get("users") or {}).items()}
    default = int(current.get("users_default", 0))
    content = dict(current)
    changed = False
    for user in sorted(wanted.moderators):
        if users.get(user, default) < level:
            users[user] = level
            changed = True
    if wanted.restricted:
        if int(current.get("invite", 0)) < INVITER:
            content["invite"] = INVITER
            changed = True
        for user in sorted(wanted.admins):
            if users.get(user, default) < INVITER:
                users[user] = INVITER
                changed = True
        for user, power in sorted(users.items()):
            if power >= INVITER and user != bot and user not in wanted.admins:
                users[user] = level  # an adviser raised by hand could invite anyone
                changed = True
        if default >= INVITER:
            content["users_default"] = 0
            changed = True
    if not changed:
        return None
    return {**content, "users": users}


def unwanted_members(
    wanted: WantedRoom, joined: set[str], invited: set[str], bot: str
) -> list[str]:
    """Who is in (or invited to) a restricted room without belonging there."""
    if not wanted.restricted:
        return []
    return sorted((joined | invited) - wanted.members - wanted.admins - {bot})


class RoomManager:
    def __init__(self, client: AsyncClient, user_id: str) -> None:
        self.client = client
        self.user_id = user_id

    async def ensure(
        self, wanted: WantedRoom, known_room_id: str | None, report: RoomReport, admins: set[str]
    ) -> str | None:
        """Make ``wanted`` exist, with the bot in it; return its room id."""
        created = False
        room_id = known_room_id
        if room_id is None:
            room_id, created = await self._find_or_create(wanted, report)
        if room_id is None:
            return None
        # The creator of a room is in it: joining one just created would only cost a request
        # (200 of them at a network's first start).
        if not created and room_id not in self.client.rooms:
            joined = await self.client.join(room_id)
            if not isinstance(joined, JoinResponse):
                report.failures.append(f"{wanted.target}: cannot join ({joined.message})")
                return None
        state = await self.client.room_get_state(room_id)
        if not isinstance(state, RoomGetStateResponse):
            report.failures.append(f"{wanted.target}: cannot read room state")
            return room_id
        joined_members, invited = members_from_state(state.events)
        for user in sorted(wanted.members - joined_members - invited):
            resp = await self.client.room_invite(room_id, user)
            if hasattr(resp, "status_code"):
                report.failures.append(f"{wanted.target}: cannot invite {user} ({resp.message})")
        await self._power(room_id, wanted, state.events, report)
        if wanted.encryption:
            await self._encrypt(room_id, wanted, state.events, report)
        if wanted.restricted:
            removed = []
            for user in unwanted_members(wanted, joined_members, invited, self.user_id):
                resp = await self.client.room_kick(room_id, user, KICK_REASON)
                if hasattr(resp, "status_code"):
                    report.failures.append(
                        f"{wanted.target}: cannot remove {user} ({resp.message})"
                    )
                else:
                    removed.append(user)
            if removed:
                report.removed_members[wanted.target] = removed
            return room_id
        extra = sorted(joined_members - wanted.members - admins - {self.user_id})
        if extra:
            report.unexpected_members[wanted.target] = extra
        return room_id

    async def _find_or_create(
        self, wanted: WantedRoom, report: RoomReport
    ) -> tuple[str | None, bool]:
        """The room's id (None if it cannot be had), and whether it was created just now."""
        if wanted.target.startswith("!"):
            return wanted.target, False
        resolved = await self.client.room_resolve_alias(wanted.target)
        if isinstance(resolved, RoomResolveAliasResponse):
            return str(resolved.room_id), False
        localpart, _, server = wanted.target[1:].partition(":")
        if server != self.user_id.partition(":")[2]:
            report.failures.append(f"{wanted.target}: alias not found on its server")
            return None, False
        invites = sorted(wanted.members)
        created = await self._create(wanted, localpart, invites)
        if not isinstance(created, RoomCreateResponse) and len(invites) > CREATE_INVITES:
            # Synapse refuses a room made with more invites than its per-room burst (10 by
            # default) unless the bot is exempted from rate limits: the others are invited
            # one by one (ensure), as in any room.
            created = await self._create(wanted, localpart, invites[:CREATE_INVITES])
        if not isinstance(created, RoomCreateResponse):
            report.failures.append(f"{wanted.target}: cannot create ({created.message})")
            return None, False
        log.info("Created %s as %s", wanted.target, created.room_id)
        self._created(str(created.room_id), wanted.encryption)
        return str(created.room_id), True

    async def _create(self, wanted: WantedRoom, localpart: str, invites: list[str]) -> Any:
        return await self.client.room_create(
            alias=localpart,
            name=wanted.name,
            topic=wanted.topic or None,
            preset=RoomPreset.private_chat,
            invite=invites,
            # A restricted room is born so: nobody invited with it can invite in the meantime.
            power_level_override={"invite": INVITER} if wanted.restricted else None,
            initial_state=initial_state(wanted),
        )

    async def _power(
        self,
        room_id: str,
        wanted: WantedRoom,
        state_events: list[dict[str, Any]],
        report: RoomReport,
    ) -> None:
        current = next(
            (
                e.get("content") or {}
                for e in state_events
                if e.get("type") == "m.room.power_levels"
            ),
            None,
        )
        if current is None:
            return
        update = power_levels_update(current, wanted, self.user_id)
        if update is None:
            return
        resp = await self.client.room_put_state(room_id, "m.room.power_levels", update)
        if hasattr(resp, "status_code"):
            report.failures.append(f"{wanted.target}: cannot set power levels ({resp.message})")

    async def _encrypt(
        self,
        room_id: str,
        wanted: WantedRoom,
        state_events: list[dict[str, Any]],
        report: RoomReport,
    ) -> None:
        """Switch end-to-end encryption on in an existing room (it can never be switched off)."""
        if any(e.get("type") == "m.room.encryption" for e in state_events):
            return
        resp = await self.client.room_put_state(
            room_id, "m.room.encryption", ENCRYPTION_STATE["content"]
        )
        if hasattr(resp, "status_code"):
            report.failures.append(f"{wanted.target}: cannot switch on encryption ({resp.message})")
        else:
            log.info("Switched on end-to-end encryption in %s", wanted.target)
            room = self.client.rooms.get(room_id)
            if room is not None:
                room.encrypted = True  # encrypt from now on, not only after the next sync

    async def create_direct(self, user_id: str, name: str, encryption: bool = False) -> str | None:
        created = await self.client.room_create(
            is_direct=True,
            invite=[user_id],
            preset=RoomPreset.trusted_private_chat,
            name=name,
            initial_state=[ENCRYPTION_STATE] if encryption else (),
        )
        if not isinstance(created, RoomCreateResponse):
            log.warning("Cannot open a direct chat with %s: %s", user_id, created.message)
            return None
        self._created(str(created.room_id), encryption)
        return str(created.room_id)

    def _created(self, room_id: str, encryption: bool) -> None:
        """A room the bot just made. A plain one is known to nio at once, so messages go out
        before the next sync as they always did; an encrypted one waits for the sync that
        shows its members (invited ones too), or its first room key would miss them."""
        if not encryption and getattr(self.client, "olm", None) is not None:
            self.client.rooms.setdefault(room_id, MatrixRoom(room_id, self.user_id))
