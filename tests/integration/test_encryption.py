"""End-to-end encryption on a real Synapse: people are matrix-nio clients with encryption (their
own crypto stores), as Element users are; the bot reads, answers and relays in encrypted rooms."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from typing import Any

import pytest
from nio import UploadResponse
from nio.crypto import decrypt_attachment

from bot import clock
from bot.app import App
from bot.crosssigning import device_cross_signed_by_owner, query_keys
from bot.demo.homeserver import terminate
from bot.demo.person import Event, Person
from bot.metrics import read_gauges
from bot.session import ENV_PASSWORD, ENV_TOKEN, LoginError
from config import load_config
from storage import encryption as encryption_store
from storage import outbox as outbox_store
from tests.documents import make_pdf
from tests.integration.helpers import body, kill, rel, start_natverk
from tests.integration.test_ask import is_root
from tests.integration.test_checkins import direct_chat_with_bot
from tests.integration.test_materials import indexed
from tests.integration.test_restore import bot_events, natverk, threaded_to
from tests.integration.test_surveys import SELF, answer_all


def encrypted_network(network: Any, **kwargs: Any) -> Any:
    """A network whose cohort and adviser rooms are created encrypted."""
    net = network(**kwargs)
    for cohort in net.data["cohorts"]:
        cohort["encryption"] = True
    net.data["advisers"]["encryption"] = True
    net.data["bot"]["encryption"] = True
    net.write()
    return net


def was_encrypted(p: Person, room: str, event_id: str) -> bool:
    """The person's client received ``event_id`` encrypted (nio marks what it decrypted)."""
    return any(
        e.get("event_id") == event_id and e.get("_decrypted") for e in p.events.get(room, [])
    )


def in_thread(root: str, sender: str) -> Any:
    def match(ev: Event) -> bool:
        return (
            ev.get("sender") == sender
            and ev.get("type") == "m.room.message"
            and rel(ev).get("rel_type") == "m.thread"
            and rel(ev).get("event_id") == root
        )

    return match


async def test_ask_in_encrypted_cohort_reaches_encrypted_advisers_and_answer_comes_back(
    network: Any,
) -> None:
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort_room, adv_room = net.room("cohort:kohort0"), net.room("advisers")
    assert app.client is not None and app.client.olm is not None

    anna = await net.person(net.participants[0][0], cohort_room, encrypted=True)
    adviser = await net.person(net.advisers[0], adv_room, encrypted=True)

    q = await anna.say(cohort_room, "!fråga Hur anpassar jag läxor för en elev med dyslexi?")
    ack = await anna.wait_for_event(cohort_room, in_thread(q, bot), timeout=60)
    assert "#" in body(ack)
    number = int(body(ack).split("#")[1].split(" ")[0])
    # The advisers read the question, decrypted, in their encrypted room.
    root = await adviser.wait_for_event(adv_room, lambda e: is_root(e, number, bot), timeout=60)
    assert "läxor för en elev med dyslexi" in body(root)
    assert was_encrypted(adviser, adv_room, root["event_id"])
    assert was_encrypted(anna, cohort_room, ack["event_id"])

    # The 📨 reaction is encrypted too (as Element sends reactions).
    reaction = await anna.wait_for_event(
        cohort_room,
        lambda e: e.get("type") == "m.reaction" and rel(e).get("event_id") == q,
        timeout=60,
    )
    assert was_encrypted(anna, cohort_room, reaction["event_id"])
    # A claim (👀) edits the advisers' root in place: the edit is encrypted and readable.
    await adviser.react(adv_room, root["event_id"], "👀")
    edit = await adviser.wait_for_event(
        adv_room,
        lambda e: (
            rel(e).get("rel_type") == "m.replace"
            and rel(e).get("event_id") == root["event_id"]
            and "[TAGEN" in str((e["content"].get("m.new_content") or {}).get("body", ""))
        ),
        timeout=60,
    )
    assert was_encrypted(adviser, adv_room, edit["event_id"])

    answer = "Låt eleven lyssna på texten och svara muntligt."
    await adviser.say(adv_room, answer, thread_root=root["event_id"])
    relayed = await anna.wait_for_event(
        cohort_room, lambda e: in_thread(q, bot)(e) and answer in body(e), timeout=60
    )
    assert was_encrypted(anna, cohort_room, relayed["event_id"])
    assert relayed["content"]["m.mentions"] == {"user_ids": [anna.user_id]}
    # Nothing was left undecrypted.
    assert await encryption_store.count(app.database) == 0
    # bot.encryption: the direct chat the bot opened with the admin is encrypted.
    admin_dm = app.direct[net.admin.user_id]
    state = await app.client.room_get_state(admin_dm)
    assert any(e.get("type") == "m.room.encryption" for e in state.events)


def replies_to(p: Person, room: str, event_id: str, sender: str) -> list[Event]:
    return [
        e
        for e in p.messages_from(room, sender)
        if (rel(e).get("m.in_reply_to") or {}).get("event_id") == event_id
    ]


async def until(check: Any, timeout: float = 30) -> None:
    """Poll an async condition (the bot's database) until it holds."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def sentinel(p: Person, room: str, bot: str) -> None:
    """A !help answered: everything the bot had to do before it is done."""
    asked = await p.say(room, "!help")
    await p.wait_until(lambda: bool(replies_to(p, room, asked, bot)), timeout=60)


async def test_private_ask_in_an_encrypted_direct_chat_the_person_opened(network: Any) -> None:
    net = encrypted_network(network, participants=1)
    net.data["bot"]["encryption"] = False  # encrypted by Anna, whatever the YAML says
    net.write()
    await net.start_bot()
    bot = net.bot.user_id
    adv_room = net.room("advisers")
    anna = await net.person(net.participants[0][0], encrypted=True)
    adviser = await net.person(net.advisers[0], adv_room, encrypted=True)
    dm = await anna.open_direct_chat(bot, timeout=60, encrypted=True)

    q = await anna.say(dm, "!fråga Får jag fråga om en enskild elevs utredning?")
    ack = await anna.wait_for_event(dm, in_thread(q, bot), timeout=60)
    number = int(body(ack).split("#")[1].split(" ")[0])
    root = await adviser.wait_for_event(adv_room, lambda e: is_root(e, number, bot), timeout=60)
    assert was_encrypted(adviser, adv_room, root["event_id"])
    await adviser.say(adv_room, "Ja, här i direktchatten.", thread_root=root["event_id"])
    answer = await anna.wait_for_event(
        dm, lambda e: in_thread(q, bot)(e) and "direktchatten" in body(e), timeout=60
    )
    assert was_encrypted(anna, dm, answer["event_id"])


async def test_restarted_bot_with_the_same_store_keeps_reading_and_sending(
    network: Any,
) -> None:
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    cohort_room = net.room("cohort:kohort0")
    assert app.client is not None
    device = app.client.device_id
    anna = await net.person(net.participants[0][0], cohort_room, encrypted=True)
    await sentinel(anna, cohort_room, bot)

    await net.stop_bot()
    # Written while the bot is down, with the room key it already has.
    asked = await anna.say(cohort_room, "!help")
    app = await net.start_bot()
    assert app.client is not None and app.client.device_id == device
    await anna.wait_until(lambda: bool(replies_to(anna, cohort_room, asked, bot)), timeout=60)
    # A new room key after the restart reaches the same device too.
    anna.new_room_key(cohort_room)
    await sentinel(anna, cohort_room, bot)
    answers = replies_to(anna, cohort_room, asked, bot)
    assert len(answers) == 1 and was_encrypted(anna, cohort_room, answers[0]["event_id"])


async def test_a_message_whose_key_arrives_late_is_handled_once_when_it_arrives(
    network: Any,
) -> None:
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    anna = await net.person(net.participants[0][0], room, encrypted=True)
    await sentinel(anna, room, bot)  # both sides know each other's devices

    late, held = await anna.send_key_held_back(room, "!help", held_from=bot)
    await until(lambda: _kept(app, 1))
    assert replies_to(anna, room, late, bot) == []
    # Operators see it waiting (/metrics).
    await read_gauges(app.metrics, app.database, app.config, clock.now_ms())
    assert app.metrics.registry.get_sample_value("natverk_undecrypted_waiting") == 1
    await anna.release_key(held)
    await anna.wait_until(lambda: bool(replies_to(anna, room, late, bot)), timeout=60)
    await app.run_periodic()  # a periodic pass finds nothing more to do with it
    await sentinel(anna, room, bot)
    assert len(replies_to(anna, room, late, bot)) == 1
    assert await encryption_store.count(app.database) == 0


async def test_a_withheld_key_tells_the_sender_once(network: Any) -> None:
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    anna = await net.person(net.participants[0][0], room, encrypted=True)
    await sentinel(anna, room, bot)

    unread, held = await anna.send_key_held_back(room, "!help", held_from=bot)
    await until(lambda: _kept(app, 1))
    await anna.withhold_key(held)
    await anna.wait_until(lambda: bool(replies_to(anna, room, unread, bot)), timeout=60)
    [notice] = replies_to(anna, room, unread, bot)
    # Swedish cohort; a message that notifies the sender, mentioning them.
    assert "kunde inte läsa ditt meddelande" in body(notice)
    assert notice["content"]["msgtype"] == "m.text"
    assert notice["content"]["m.mentions"] == {"user_ids": [anna.user_id]}
    await app.run_periodic(offset_ms=3600_000)
    # The key arriving after all does not make the bot handle it beside a resent copy.
    await anna.release_key(held)
    await sentinel(anna, room, bot)
    assert len(replies_to(anna, room, unread, bot)) == 1
    assert await encryption_store.count(app.database) == 0


async def test_a_key_that_never_comes_tells_the_sender_once_after_the_wait(
    network: Any,
) -> None:
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    anna = await net.person(net.participants[0][0], room, encrypted=True)
    await sentinel(anna, room, bot)

    unread, _held = await anna.send_key_held_back(room, "!help", held_from=bot)
    await until(lambda: _kept(app, 1))
    await app.run_periodic()  # within the wait: nothing yet
    await sentinel(anna, room, bot)
    assert replies_to(anna, room, unread, bot) == []
    await app.run_periodic(offset_ms=5 * 60_000)
    await app.run_periodic(offset_ms=10 * 60_000)
    await anna.wait_until(lambda: bool(replies_to(anna, room, unread, bot)), timeout=60)
    await sentinel(anna, room, bot)
    assert len(replies_to(anna, room, unread, bot)) == 1


async def _kept(app: Any, n: int) -> bool:
    return bool(await encryption_store.count(app.database) >= n)


async def test_kill_9_while_syncs_bring_new_room_keys_then_restart_answers_each_once(
    network: Any,
) -> None:
    """The real `natverk run` process, killed with -9 in a stream of commands that each come
    with a new room key (to-device, in the same sync as the command): after the restart every
    command is answered exactly once, none is lost for want of its key."""
    net = encrypted_network(network, participants=1)
    bot = net.bot.user_id
    proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
    try:
        anna = await net.person(net.participants[0][0], encrypted=True)
        await anna.wait_until(lambda: bool(anna.invites), timeout=60)
        room = next(iter(anna.invites))
        await anna.join(room)
        await sentinel(anna, room, bot)
        asked = []
        for _ in range(20):
            anna.new_room_key(room)
            asked.append(await anna.say(room, "!help"))
        await anna.wait_until(
            lambda: sum(bool(replies_to(anna, room, a, bot)) for a in asked) >= 3, timeout=60
        )
        kill(proc)
        answered = sum(bool(replies_to(anna, room, a, bot)) for a in asked)
        assert answered < len(asked), "the kill must land mid-stream"

        proc = start_natverk(net.config_path, net.bot.password, net.dir / "bot.log")
        await anna.wait_until(
            lambda: all(replies_to(anna, room, a, bot) for a in asked), timeout=120
        )
        await sentinel(anna, room, bot)
        counts = [len(replies_to(anna, room, a, bot)) for a in asked]
        assert counts == [1] * len(asked), counts
        # Every answer reached Anna encrypted, and she could read it.
        assert all(
            was_encrypted(anna, room, replies_to(anna, room, a, bot)[0]["event_id"]) for a in asked
        )
    finally:
        terminate(proc, grace=15)


async def test_a_lost_crypto_store_means_a_new_device_that_reads_and_sends(
    network: Any,
) -> None:
    """The database kept, the crypto store lost: the bot does not reuse the device whose keys
    the homeserver holds for a store that is gone; it logs in as a new device (the password is
    set) and people's clients encrypt for that one."""
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    assert app.client is not None
    old_device = app.client.device_id
    anna = await net.person(net.participants[0][0], room, encrypted=True)
    await sentinel(anna, room, bot)
    await net.stop_bot()

    shutil.rmtree(net.dir / "natverk.db.crypto")
    app = await net.start_bot()
    assert app.client is not None and app.client.device_id != old_device
    await sentinel(anna, room, bot)  # Anna's app learns of the new device and encrypts for it
    assert await encryption_store.count(app.database) == 0
    # The old device is deleted (by password), and the new one is cross-signed again: to
    # Anna's client the bot has exactly one device, signed by its owner.
    query = await query_keys(anna.client, [bot])
    assert list(query["device_keys"][bot]) == [app.client.device_id]
    assert device_cross_signed_by_owner(query, bot, app.client.device_id)


async def test_a_lost_crypto_store_without_the_password_stops_with_what_to_do(
    network: Any, monkeypatch: Any
) -> None:
    net = encrypted_network(network, participants=1)
    await net.start_bot()
    await net.stop_bot()
    shutil.rmtree(net.dir / "natverk.db.crypto")
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    app = App(load_config(net.config_path), net.config_path)
    with pytest.raises(LoginError, match=r"crypto store of device \w+ is missing"):
        await app.start()


async def test_encrypted_messages_sent_while_the_bot_is_down_are_back_filled_and_decrypted(
    network: Any,
) -> None:
    """The sync timeline is limited to 3 events, so most of what Anna wrote while the bot was
    down comes through /messages: decrypted there too, each handled once; the one whose key
    was held back is kept from the back-fill and handled when its key comes."""
    import bot.app as app_module

    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    anna = await net.person(net.participants[0][0], room, encrypted=True)
    await sentinel(anna, room, bot)
    await net.stop_bot()

    late, held = await anna.send_key_held_back(room, "!help", held_from=bot)
    asked = [await anna.say(room, "!help") for _ in range(8)]
    original = app_module.SYNC_FILTER
    app_module.SYNC_FILTER = {**original, "room": {**original["room"], "timeline": {"limit": 3}}}
    try:
        app = await net.start_bot()
        await anna.wait_until(
            lambda: all(replies_to(anna, room, a, bot) for a in asked), timeout=90
        )
    finally:
        app_module.SYNC_FILTER = original
    assert app.syncer is not None and app.syncer.backfilled >= 5
    assert await encryption_store.count(app.database) == 1
    await anna.release_key(held)
    await anna.wait_until(lambda: bool(replies_to(anna, room, late, bot)), timeout=60)
    await sentinel(anna, room, bot)
    assert [len(replies_to(anna, room, a, bot)) for a in [late, *asked]] == [1] * 9


async def test_a_device_made_before_encryption_uploads_its_keys_and_reads(
    network: Any, monkeypatch: Any
) -> None:
    """The bot started with an access token whose device never had encryption (as a bot
    upgraded to this version): the same device, its keys uploaded from its new crypto store."""
    net = encrypted_network(network, participants=1)
    monkeypatch.setenv(ENV_TOKEN, net.bot.access_token)
    app = await net.start_bot()
    assert app.client is not None and app.client.olm is not None
    assert app.client.device_id == net.bot.device_id
    assert app.client.olm.account.shared
    room = net.room("cohort:kohort0")
    anna = await net.person(net.participants[0][0], room, encrypted=True)
    await sentinel(anna, room, net.bot.user_id)


async def test_reloading_with_encryption_switches_it_on_in_the_existing_room(network: Any) -> None:
    net = network(participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    anna = await net.person(net.participants[0][0], room, encrypted=True)
    plain = await anna.say(room, "!help")
    await anna.wait_until(lambda: bool(replies_to(anna, room, plain, bot)), timeout=60)
    assert not was_encrypted(anna, room, replies_to(anna, room, plain, bot)[0]["event_id"])

    net.data["cohorts"][0]["encryption"] = True
    net.write()
    assert await app.reload_from_disk() is None
    await anna.wait_for_event(room, lambda e: e.get("type") == "m.room.encryption", timeout=60)
    asked = await anna.say(room, "!help")  # Anna's app encrypts from now on
    await anna.wait_until(lambda: bool(replies_to(anna, room, asked, bot)), timeout=60)
    assert was_encrypted(anna, room, asked)  # her own message went out encrypted
    assert was_encrypted(anna, room, replies_to(anna, room, asked, bot)[0]["event_id"])

    # Taken out of the YAML again: the room stays encrypted (it cannot be switched off).
    net.data["cohorts"][0]["encryption"] = False
    net.write()
    assert await app.reload_from_disk() is None
    again = await anna.say(room, "!help")
    await anna.wait_until(lambda: bool(replies_to(anna, room, again, bot)), timeout=60)
    assert was_encrypted(anna, room, replies_to(anna, room, again, bot)[0]["event_id"])


async def test_an_encrypted_file_is_never_relayed_with_its_key_into_a_plain_room(
    network: Any,
) -> None:
    """An encrypted cohort, a plain advisers' room: a file Anna shares in her question's
    thread carries its key in the encrypted event; relayed as it is, the key would be readable
    by anyone reading the advisers' room's events, the homeserver included. It is not sent
    (reported as a refused message), and the thread goes on."""
    net = network(participants=1)
    net.data["cohorts"][0]["encryption"] = True
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    room, adv = net.room("cohort:kohort0"), net.room("advisers")
    anna = await net.person(net.participants[0][0], room, encrypted=True)
    adviser = await net.person(net.advisers[0], adv)
    q = await anna.say(room, "!fråga Vilket stöd passar eleven i bifogade utredning?")
    ack = await anna.wait_for_event(room, in_thread(q, bot), timeout=60)
    number = int(body(ack).split("#")[1].split(" ")[0])
    root = await adviser.wait_for_event(adv, lambda e: is_root(e, number, bot), timeout=60)

    secret_file = {
        "url": "mxc://localhost/encrypted",
        "key": {
            "kty": "oct",
            "alg": "A256CTR",
            "ext": True,
            "key_ops": ["encrypt", "decrypt"],
            "k": "c2VjcmV0LWtleS1vZi10aGUtZmlsZS0wMTIzNDU2Nzg",
        },
        "iv": "AAAAAAAAAAAAAAAAAAAAAA",
        "hashes": {"sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"},
        "v": "v2",
    }
    await anna.send(
        room,
        {
            "msgtype": "m.file",
            "body": "utredning.pdf",
            "file": secret_file,
            "info": {"mimetype": "application/pdf", "size": 10},
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": q,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": q},
            },
        },
    )

    async def refused() -> bool:
        return (await outbox_store.counts(app.database)).get("failed") == 1

    await until(refused)
    await anna.say(room, "Eleven har svårt med arbetsminnet.", thread_root=q)
    await adviser.wait_for_event(
        adv,
        lambda e: rel(e).get("event_id") == root["event_id"] and "arbetsminnet" in body(e),
        timeout=60,
    )
    assert not any("file" in e.get("content", {}) for e in adviser.events[adv])


async def test_a_pdf_shared_encrypted_is_found_by_a_word_inside_it(network: Any) -> None:
    """Bertil's client encrypts the PDF before uploading it (the homeserver holds ciphertext
    only) and sends its key, iv and hash in the encrypted event's ``file`` object, as Element
    does. The bot downloads, verifies, decrypts and reads it; a word only inside the PDF finds
    it, and the key is not kept once the text is read."""
    net = encrypted_network(network, participants=2)
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    bertil = await net.person(net.participants[0][0], room, encrypted=True)
    cecilia = await net.person(net.participants[0][1], room, encrypted=True)

    pdf = make_pdf("Elevhälsoteamets rutiner", "Vi följer upp extraanpassningarna varje månad.")
    resp, keys = await bertil.client.upload(
        io.BytesIO(pdf),
        content_type="application/pdf",
        filename="rutiner.pdf",
        encrypt=True,
        filesize=len(pdf),
    )
    assert isinstance(resp, UploadResponse), resp
    assert keys is not None
    event = await bertil.send(
        room,
        {
            "msgtype": "m.file",
            "body": "Rutiner för elevhälsan",
            "filename": "rutiner.pdf",
            "file": {"url": resp.content_uri, **keys},
            "info": {"mimetype": "application/pdf", "size": len(pdf)},
        },
    )
    (row,) = await indexed(app, event, timeout=60)
    assert (row["title"], row["filename"], row["mxc"]) == (
        "Rutiner för elevhälsan",
        "rutiner.pdf",
        resp.content_uri,
    )
    assert app.db is not None

    async def read() -> bool:
        assert app.db is not None
        found = await app.db.fetchone(
            "SELECT text_state, file_key FROM materials WHERE event_id = ?", (event,)
        )
        return found is not None and found["text_state"] != "pending"

    await until(read, timeout=60)
    row = await app.db.fetchone(
        "SELECT text_state, text_reason, file_key FROM materials WHERE event_id = ?", (event,)
    )
    assert row is not None
    assert (row["text_state"], row["text_reason"], row["file_key"]) == ("done", None, None)
    # The homeserver has only ciphertext: the word is nowhere in what it serves.
    stored = await app.download(resp.content_uri, 1_000_000)
    assert stored is not None and len(stored) == len(pdf) and b"extraanpass" not in stored

    asked = await cecilia.say(room, "!material sök extraanpassningarna")
    await cecilia.wait_until(lambda: bool(replies_to(cecilia, room, asked, bot)), timeout=60)
    (answer,) = replies_to(cecilia, room, asked, bot)
    assert "Rutiner för elevhälsan (rutiner.pdf)" in body(answer), body(answer)
    assert f"https://matrix.to/#/{room}/{event}" in body(answer)
    assert was_encrypted(cecilia, room, answer["event_id"])


async def test_a_questionnaire_is_answered_in_an_encrypted_direct_chat(network: Any) -> None:
    """The bot opens the direct chat encrypted (bot.encryption), asks each question there
    encrypted, reads the encrypted answers and keeps them."""
    net = encrypted_network(network, participants=1)
    net.data["surveys"] = [SELF]
    net.write()
    app = await net.start_bot()
    bot = net.bot.user_id
    room = net.room("cohort:kohort0")
    fac = await net.person(net.facilitators[0], room, encrypted=True)
    bertil = await net.person(net.participants[0][0], room, encrypted=True)

    started = await fac.reply_to(room, await fac.say(room, "!enkät start sjalv"), bot)
    assert "skickades" in body(started)
    dm = await direct_chat_with_bot(bertil, {room})
    await answer_all(bertil, dm, bot, ["4", "Ofta", "Bertils anteckning"])
    from_bot = bertil.messages_from(dm, bot)
    questions = [e for e in from_bot if "Fråga " in body(e)]
    assert len(questions) == 3
    assert all(was_encrypted(bertil, dm, e["event_id"]) for e in from_bot)
    assert app.db is not None
    row = await app.db.fetchone(
        "SELECT COUNT(*) AS n FROM survey_answers a"
        " JOIN survey_responses r ON r.response_id = a.response_id WHERE r.user_id = ?",
        (bertil.user_id,),
    )
    assert row["n"] == 3

    # Bertil's export comes to the encrypted chat as an encrypted attachment: the homeserver's
    # media repository holds ciphertext, which his app decrypts with the key in the event.
    await bertil.say(dm, "!integritet exportera")
    file = await bertil.wait_for_event(
        dm,
        lambda e: e.get("sender") == bot and e["content"].get("msgtype") == "m.file",
        timeout=60,
    )
    assert was_encrypted(bertil, dm, file["event_id"]) and "url" not in file["content"]
    media = file["content"]["file"]
    stored = await app.download(media["url"], 1_000_000)
    assert stored is not None and bertil.user_id.encode() not in stored
    plain = decrypt_attachment(stored, media["key"]["k"], media["hashes"]["sha256"], media["iv"])
    assert json.loads(plain)["user_id"] == bertil.user_id


async def test_a_restore_in_encrypted_rooms_sends_nothing_twice(network: Any) -> None:
    """The bot's messages since the backup are encrypted: the restored bot decrypts them (with
    its own sessions, in its current crypto store) to find their keys, and sends none again."""
    net = encrypted_network(network, participants=1)
    app = await net.start_bot()
    bot = net.bot.user_id
    config = str(net.config_path)
    cohort, advisers = net.room("cohort:kohort0"), net.room("advisers")
    anna = await net.person(net.participants[0][0], cohort, encrypted=True)
    adviser = await net.person(net.advisers[0], advisers, encrypted=True)
    await sentinel(anna, cohort, bot)
    await app.wait_idle()
    taken = natverk("backup", config, str(net.dir / "backup.db"))
    assert taken.returncode == 0, taken.stderr

    # After the backup: a question (acknowledged, its root in the advisers' room) and an answer.
    q = await anna.say(cohort, "!fråga Efter säkerhetskopian, krypterat: hur gör vi?")
    ack = await anna.wait_for_event(cohort, in_thread(q, bot), timeout=60)
    number = int(body(ack).split("#")[1].split(" ")[0])
    root = await adviser.wait_for_event(advisers, lambda e: is_root(e, number, bot), timeout=60)
    await adviser.say(advisers, "Så här gör ni.", thread_root=root["event_id"])
    await anna.wait_for_event(
        cohort, lambda e: in_thread(q, bot)(e) and "Så här gör ni" in body(e), timeout=60
    )
    await app.wait_idle()
    await net.stop_bot()
    people = ((cohort, anna), (advisers, adviser))
    before = {room: await bot_events(p, room, bot) for room, p in people}
    ids_before = {room: {e["event_id"] for e in events} for room, events in before.items()}
    # The server's history, decrypted by the people's clients: the bot's messages are there.
    assert ack["event_id"] in ids_before[cohort] and root["event_id"] in ids_before[advisers]

    restored = natverk("restore", config, str(net.dir / "backup.db"))
    assert restored.returncode == 0, restored.stderr
    app = await net.start_bot()
    asked = await anna.say(cohort, "!help")  # the barrier: everything before it is done
    await anna.wait_until(lambda: bool(replies_to(anna, cohort, asked, bot)), timeout=60)
    await app.wait_idle()
    after = {room: await bot_events(p, room, bot) for room, p in people}
    new = {r: [e for e in after[r] if e["event_id"] not in ids_before[r]] for r in after}
    # Only the answer to !help is new: the question's notice, its 📨, its root in the
    # advisers' room and the relayed answer were recognised, not sent again.
    assert [(rel(e).get("m.in_reply_to") or {}).get("event_id") for e in new[cohort]] == [asked]
    assert new[advisers] == []
    assert len(threaded_to(after[cohort], q)) == 2  # the notice and the answer, once each
