"""Direct chats the bot opens: one per person, however many parts of the bot ask at once."""

from __future__ import annotations

import asyncio
from typing import Any

from nio import RoomCreateResponse

from bot.types import UserID
from storage import state as state_store


async def test_two_tasks_opening_a_persons_direct_chat_at_once_make_one_room(
    make_bot: Any,
) -> None:
    # E.g. the sender (the privacy notice, addressed to the person) and a questionnaire's
    # first question, both finding no chat yet: two rooms would leave the person in the one
    # the bot no longer reads.
    bot = await make_bot()
    person = UserID(bot.people.participants[0][0])
    created: list[str] = []

    async def room_create(**kwargs: Any) -> RoomCreateResponse:
        await asyncio.sleep(0.01)  # the homeserver takes a while: the other task runs
        created.append(f"!new{len(created) + 1}:test")
        return RoomCreateResponse(created[-1])

    bot.client.room_create = room_create
    first, second = await asyncio.gather(bot.app.open_direct(person), bot.app.open_direct(person))
    assert created == ["!new1:test"]
    assert first == second == "!new1:test"
    assert (await state_store.direct_rooms(bot.db))[person] == "!new1:test"
    assert not bot.app._opening  # nothing left behind
