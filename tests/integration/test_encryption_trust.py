"""Whom the bot encrypts for, on a real Synapse (issue 14, bot/trust.py).

People are matrix-nio clients with encryption and cross-signing set up, as Element users are.
Some exclude insecure devices as Element can (MSC4153): they share room keys only with devices
their owner has cross-signed. A second login of a person that nobody cross-signed is the
insecure device the bot leaves out by default.
"""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from bot.demo.person import Event, Person
from storage import trust as trust_store
from tests.integration.helpers import body
from tests.integration.test_ask import is_root
from tests.integration.test_checkins import direct_chat_with_bot
from tests.integration.test_encryption import (
    encrypted_network,
    in_thread,
    replies_to,
    was_encrypted,
)


async def help_answer(p: Person, room: str, bot: str) -> Event:
    """``p`` asks for !help; the bot's answer as ``p`` sees it."""
    asked = await p.say(room, "!help")
    await p.wait_until(lambda: bool(replies_to(p, room, asked, bot)), timeout=60)
    return replies_to(p, room, asked, bot)[0]


async def seen_by(device: Person, room: str, event_id: str) -> Event:
    """The event as another device receives it (decrypted, or still encrypted)."""
    return await device.wait_for_event(room, lambda e: e.get("event_id") == event_id, timeout=60)


def withheld_for(device: Person, event: Event) -> list[dict[str, Any]]:
    """The ``m.room_key.withheld`` the device got for the room key of ``event``."""
    session = event["content"].get("session_id")
    return [
        m["content"]
        for m in device.to_device
        if m["type"] == "m.room_key.withheld" and m["content"].get("session_id") == session
    ]


async def second_device(net: Any, user: Any) -> Person:
    """Another login of ``user`` with encryption and no cross-signing: an insecure device."""
    login = await asyncio.to_thread(net.hs.login, user.localpart, user.password)
    store = net.dir / "people" / f"{user.localpart}-2"
    store.mkdir(parents=True, exist_ok=True)
    device = Person(
        net.hs.base_url,
        user.user_id,
        login.access_token,
        login.device_id,
        str(store),
        password=user.password,
        cross_signing=False,
    )
    await device.start()
    net.people[f"{user.user_id}#2"] = device  # closed with the network
    return device


async def test_people_who_exclude_insecure_devices_exchange_messages_with_the_bot(
    network: Any,
) -> None:
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    anna = await net.person(
        net.participants[0][0], cohort_room, encrypted=True, exclude_insecure=True
    )
    adviser = await net.person(net.advisers[0], adv_room, encrypted=True, exclude_insecure=True)

    q = await anna.say(cohort_room, "!fråga Hur lägger vi upp ett åtgärdsprogram?")
    ack = await anna.wait_for_event(cohort_room, in_thread(q, bot), timeout=60)
    assert was_encrypted(anna, cohort_room, ack["event_id"])
    number = int(body(ack).split("#")[1].split(" ")[0])
    root = await adviser.wait_for_event(adv_room, lambda e: is_root(e, number, bot), timeout=60)
    assert "åtgärdsprogram" in body(root) and was_encrypted(adviser, adv_room, root["event_id"])
    answer = "Börja med elevens styrkor och skriv korta, mätbara mål."
    await adviser.say(adv_room, answer, thread_root=root["event_id"])
    relayed = await anna.wait_for_event(
        cohort_room, lambda e: in_thread(q, bot)(e) and answer in body(e), timeout=60
    )
    assert was_encrypted(anna, cohort_room, relayed["event_id"])

    # Both clients shared their room keys with the bot's device only because it is
    # cross-signed by its owner: they hold it as verified (and left nothing undecided).
    assert app.client is not None
    for person in (anna, adviser):
        olm = person.client.olm
        assert olm is not None
        devices = olm.device_store.active_user_devices(bot)
        assert [d.id for d in devices] == [app.client.device_id]
        assert all(olm.is_device_verified(d) for d in devices)
    # And the bot pinned each person's identity on first use.
    pins = await trust_store.load(app.database)
    for person in (anna, adviser):
        assert person.cross_signing_keys is not None
        assert pins[person.user_id] == person.cross_signing_keys.master.public


async def test_room_keys_go_only_to_cross_signed_devices_and_identity_changes_are_told(
    network: Any,
) -> None:
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    user = net.participants[0][0]
    anna = await net.person(user, room, encrypted=True)
    admin = await net.person(net.admin, encrypted=True)
    admin_dm = await direct_chat_with_bot(admin, set())
    phone = await second_device(net, user)  # Anna's second login, never cross-signed
    await phone.wait_until(lambda: room in phone.events, timeout=30)

    # 1. The bot's answer: Anna's signed device reads it; her insecure one is told the key
    #    is withheld because it is not verified (not left waiting for a key).
    first = await help_answer(anna, room, bot)
    assert was_encrypted(anna, room, first["event_id"])
    as_phone = await seen_by(phone, room, first["event_id"])
    assert as_phone["type"] == "m.room.encrypted" and not as_phone.get("_decrypted")
    await phone.wait_until(lambda: bool(withheld_for(phone, as_phone)), timeout=60)
    (withheld,) = withheld_for(phone, as_phone)
    assert withheld["code"] == "m.unverified" and withheld["room_id"] == room

    # 2. Anna verifies her second login (signs it with her self-signing key): the next answer
    #    is under a new room key that it gets.
    await anna.sign_device(phone.client.device_id)
    second = await help_answer(anna, room, bot)
    as_phone = await seen_by(phone, room, second["event_id"])
    assert as_phone.get("_decrypted") and body(as_phone) == body(second)

    # 3. Anna resets her identity (new master key; her first device signed by it, the second
    #    not): the admins are told once, the new key is pinned, the second device is out again.
    assert anna.cross_signing_keys is not None
    old_master = anna.cross_signing_keys.master.public
    new_master = (await anna.reset_cross_signing()).master.public

    def identity_notices() -> list[Event]:
        return [e for e in admin.messages_from(admin_dm, bot) if user.user_id in body(e)]

    await admin.wait_until(lambda: bool(identity_notices()), timeout=60)
    (notice,) = identity_notices()
    assert old_master in body(notice) and new_master in body(notice)
    assert notice["content"]["msgtype"] == "m.notice"
    third = await help_answer(anna, room, bot)
    assert was_encrypted(anna, room, third["event_id"])
    as_phone = await seen_by(phone, room, third["event_id"])
    assert not as_phone.get("_decrypted")
    await phone.wait_until(lambda: bool(withheld_for(phone, as_phone)), timeout=60)
    assert (await trust_store.load(app.database))[user.user_id] == new_master

    # 4. A restart re-reads every identity: nothing is told again (a sentinel answered).
    await net.stop_bot()
    app = await net.start_bot()
    await help_answer(anna, room, bot)
    await app.wait_idle()
    await help_answer(admin, admin_dm, bot)
    assert len(identity_notices()) == 1

    # 5. bot.encrypt_for: all-devices (reloaded): the insecure device gets the room key.
    net.data["bot"]["encrypt_for"] = "all-devices"
    net.config_path.write_text(yaml.safe_dump(net.data, allow_unicode=True), "utf-8")
    assert await app.reload_from_disk() is None
    fourth = await help_answer(anna, room, bot)
    as_phone = await seen_by(phone, room, fourth["event_id"])
    assert as_phone.get("_decrypted")
