"""The first start after a restore (bot/restore.py): what the bot finds of its own since the
backup, read from the rooms as the homeserver's /messages gives them, newest first."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from nio import AsyncClient, JoinedRoomsResponse, RoomMessagesResponse

from bot import restore
from storage import Database
from storage import restore as restore_store
from storage import state as state_store
from storage.outbox import KEY_FIELD, REDACTS_KEY_FIELD

BOT, ANNA, BERTIL = "@bot:x", "@anna:x", "@bertil:x"
TAKEN = 1_000_000_000


def ev(n: int, sender: str, content: dict[str, Any], ts: int, **more: Any) -> Any:
    source = {
        "type": "m.room.message",
        "event_id": f"$e{n}",
        "sender": sender,
        "origin_server_ts": ts,
        "content": content,
        **more,
    }
    return SimpleNamespace(source=source)


class Rooms:
    """/joined_rooms and /messages (backwards, in pages of two) over fixed timelines."""

    def __init__(self, timelines: dict[str, list[Any]]) -> None:
        self.timelines = timelines  # oldest first
        self.filters: dict[str, Any] = {}

    async def room_resolve_alias(self, alias: str) -> Any:
        return SimpleNamespace(room_id={"#new:x": "!new-cohort", "#gone:x": "!left"}[alias])

    async def joined_rooms(self) -> JoinedRoomsResponse:
        return JoinedRoomsResponse(list(self.timelines))

    async def room_messages(
        self, room_id: str, start: str | None, direction: Any, limit: int, message_filter: Any
    ) -> RoomMessagesResponse:
        self.filters[room_id] = message_filter
        newest_first = list(reversed(self.timelines[room_id]))
        at = int(start or 0)
        chunk = newest_first[at : at + 2]
        end = str(at + 2) if at + 2 < len(newest_first) else None
        return RoomMessagesResponse(room_id, chunk, str(at), end)  # type: ignore[arg-type]


async def test_the_bots_keyed_events_since_the_backup_and_new_direct_chats_are_found(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        async with db.transaction() as tx:
            await state_store.set_value(
                tx, restore_store.PENDING, f'{{"backup_taken_at": {TAKEN}, "restored_at": 0}}'
            )
            await state_store.set_direct_room(tx, BERTIL, "!old-dm")
        late = TAKEN + 5_000
        rooms = Rooms(
            {
                "!cohort": [
                    ev(1, BOT, {KEY_FIELD: "$long-ago/0"}, TAKEN - restore.SKEW_MS - 1),
                    ev(2, BOT, {KEY_FIELD: "$a/0"}, TAKEN - 1_000),  # within the skew
                    ev(3, BOT, {KEY_FIELD: "$b/0"}, late),
                    ev(4, BOT, {}, late),  # redacted: no key
                    ev(5, BOT, {REDACTS_KEY_FIELD: "$b/1", "redacts": "$gone"}, late),
                    ev(6, BOT, {KEY_FIELD: "$b/2"}, late),
                ],
                "!new-dm": [
                    ev(7, ANNA, {"membership": "join"}, late, type="m.room.member"),
                    ev(
                        11,
                        BOT,
                        {"membership": "join"},
                        late + 1,
                        type="m.room.member",
                        state_key=BOT,
                    ),
                    ev(
                        8,
                        ANNA,
                        {"membership": "invite", "is_direct": True},
                        late,
                        type="m.room.member",
                        state_key=BOT,
                    ),
                    ev(9, BOT, {KEY_FIELD: "$c/0"}, late),
                ],
                # A cohort added to the configuration after the backup, its room made since.
                "!new-cohort": [ev(10, BOT, {KEY_FIELD: "$d/0"}, late)],
            }
        )
        found = await restore.recover(
            cast(AsyncClient, rooms),
            db,
            BOT,
            {"!cohort"},
            {BERTIL},
            {"cohort:new": "#new:x", "cohort:gone": "#gone:x"},  # not in the database
        )
        assert found is not None
        assert found.found == {
            "$a/0": ("$e2", "!cohort"),
            "$b/0": ("$e3", "!cohort"),
            "$b/1": ("$gone", "!cohort"),
            "$b/2": ("$e6", "!cohort"),
            "$c/0": ("$e9", "!new-dm"),
            "$d/0": ("$e10", "!new-cohort"),
        }
        assert found.directs == {ANNA: "!new-dm"}
        assert await state_store.managed_rooms(db) == {"cohort:new": "!new-cohort"}
        assert rooms.filters["!new-cohort"]["senders"] == [BOT]
        # A room the database knows: only the bot's own events are read.
        assert rooms.filters["!cohort"]["senders"] == [BOT]
        assert rooms.filters["!new-dm"] is None
        assert await restore_store.recovered_events(db) == {
            k: e for k, (e, _) in found.found.items()
        }
        assert (await state_store.direct_rooms(db))[ANNA] == "!new-dm"
        # Known from the bot's join (a long timeline there since is back-filled).
        assert await state_store.joined_rooms(db) == {"!new-dm": late + 1}
        # Recovered once: the next start finds no restore pending.
        assert await restore_store.pending_restore(db) is None
        assert await restore.recover(cast(AsyncClient, rooms), db, BOT, set(), set()) is None
    finally:
        await db.close()
