"""Keys of what the bot sends, and a restored bot recognising what it had already sent: two
bots on identical configurations stand for the bot before the restore (A) and the bot started
from an older backup (B), which handles the same events again."""

from __future__ import annotations

from typing import Any

from bot import clock
from storage import restore as restore_store
from storage.outbox import KEY_FIELD
from tests.handlers.harness import Bot
from tests.handlers.test_questions import ask, in_room, root_of

LATER = 2 * 60 * 1000


def soon(data: dict[str, Any]) -> None:
    data["advisers"]["reminder_after"] = "1m"


async def restored(bot: Bot, found_on: Bot) -> None:
    """``bot`` starts after a restore, having found what ``found_on`` sent (as bot/restore.py
    reads it from the rooms)."""
    found = {s.content[KEY_FIELD]: (s.event_id, s.room_id) for s in found_on.sent}
    pending = restore_store.PendingRestore(0, 0, {})
    async with bot.db.transaction() as tx:
        await restore_store.record_recovery(tx, pending, found, {})
    await bot.app._load_recovered()


async def test_each_message_of_one_event_has_its_own_key_named_by_the_event(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1)
    q = await ask(bot, "!fråga Hur gör jag?")
    keys = [s.content[KEY_FIELD] for s in bot.sent]
    assert len(keys) >= 3  # the 📨, the notice with the number, the advisers' root
    assert keys == [f"{q}/{n}" for n in range(len(keys))]


async def test_the_same_event_from_the_same_state_gets_the_same_keys(make_bot: Any) -> None:
    a, b = await make_bot(participants=1), await make_bot(participants=1)
    for bot in (a, b):
        await ask(bot, "!fråga Hur gör jag?")
        root = root_of(bot, 1)
        await bot.react(bot.room("advisers"), bot.people.advisers[0], root.event_id, "👀")
    assert [s.content[KEY_FIELD] for s in a.sent] == [s.content[KEY_FIELD] for s in b.sent]


async def test_a_reminder_is_keyed_by_its_question_not_by_when_it_is_sent(make_bot: Any) -> None:
    a, b = await make_bot(participants=1, change=soon), await make_bot(participants=1, change=soon)
    for bot, offset in ((a, LATER), (b, 10 * LATER)):
        q = await ask(bot, "!fråga Hur gör jag?")
        await bot.periodic(offset_ms=offset)
    reminders = [in_room(bot, bot.room("advisers"), "Påminnelse") for bot in (a, b)]
    assert reminders[0][0].body != reminders[1][0].body  # it says how long it has waited
    assert reminders[0][0].content[KEY_FIELD] == reminders[1][0].content[KEY_FIELD]
    assert reminders[0][0].content[KEY_FIELD] == f"reminder:{q}/0"


async def test_a_restored_bot_sends_nothing_it_had_sent_and_goes_on_from_there(
    make_bot: Any,
) -> None:
    a, b = await make_bot(participants=1, change=soon), await make_bot(participants=1, change=soon)
    adviser, advisers = a.people.advisers[0], a.room("advisers")
    q = await ask(a, "!fråga Hur gör jag?")
    root = root_of(a, 1)
    await a.react(advisers, adviser, root.event_id, "👀")
    await a.periodic(offset_ms=LATER)
    assert in_room(a, advisers, "Påminnelse")

    # B: the backup was taken before all this; what A sent is found in the rooms.
    await restored(b, found_on=a)
    assert await ask(b, "!fråga Hur gör jag?") == q  # the same event, handled again
    await b.react(advisers, adviser, root.event_id, "👀")  # on the root as it is in the room
    await b.periodic(offset_ms=3 * LATER)
    assert b.sent == []
    status = await b.db.fetchone("SELECT root_event, status, reminded_at FROM questions")
    assert status["root_event"] == root.event_id and status["status"] == "claimed"
    assert status["reminded_at"] is not None
    assert await b.db.fetchone("SELECT * FROM restored_events") is None  # all used

    # What happens next is new, and reaches the thread of the question asked since the backup.
    await b.say(advisers, adviser, "Så här gör du.", thread=root.event_id)
    answers = [s for s in b.sent if "Så här gör du." in s.body]
    assert len(answers) == 1
    assert answers[0].room_id == b.room("cohort:kohort0")
    assert answers[0].relates_to["event_id"] == q
    assert answers[0].content[KEY_FIELD] not in {s.content[KEY_FIELD] for s in a.sent}


async def test_without_a_restore_no_row_is_looked_up(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    await bot.app._load_recovered()
    assert bot.db.recovered is None  # the sender and the outbox never look
    await ask(bot, "!fråga Hur gör jag?")
    assert len(bot.sent) >= 3


async def test_what_no_row_used_a_week_after_the_restore_is_forgotten(make_bot: Any) -> None:
    a, b = await make_bot(participants=1), await make_bot(participants=1)
    await ask(a, "!fråga Hur gör jag?")
    await restored(b, found_on=a)
    assert b.db.recovered
    with clock.frozen(clock.now_ms() + restore_store.KEEP_RECOVERED_MS + 1):
        b.db.recovered = None
        await b.app._load_recovered()
    assert b.db.recovered is None
    assert await b.db.fetchone("SELECT * FROM restored_events") is None


async def test_an_erasure_confirmed_since_the_backup_is_done_again_with_the_code_shown(
    make_bot: Any,
) -> None:
    """The backup still holds the person; the restored bot handles their request and their
    confirmation again, and the code they were shown still confirms it."""
    a, b = await make_bot(participants=1), await make_bot(participants=1)
    secret = await a.db.fetchone("SELECT value FROM kv WHERE key = 'privacy.code_secret'")
    async with b.db.transaction() as tx:  # B is a copy of A's database, taken earlier
        await tx.execute(
            "UPDATE kv SET value = ? WHERE key = 'privacy.code_secret'", (secret["value"],)
        )
    person = a.people.participants[0][0]
    for bot in (a, b):
        await ask(bot, "!fråga Om Kalle i klass 3")
    a.client.sent.clear()
    b.client.sent.clear()
    dm = a.dm(person)
    asked = a.reply_to(await a.say(dm, person, "!integritet radera")).body
    code = asked.split("!integritet radera ")[1].split()[0]
    await a.say(dm, person, f"!integritet radera {code}")
    await a.run_after_commit()
    assert not await a.db.fetchone("SELECT * FROM questions WHERE asker = ?", (person,))

    await restored(b, found_on=a)
    b.dm(person)
    await b.say(dm, person, "!integritet radera")
    await b.say(dm, person, f"!integritet radera {code}")
    await b.run_after_commit()
    assert not await b.db.fetchone("SELECT * FROM questions WHERE asker = ?", (person,))
    assert b.sent == []  # the code, "erasing" and "erased" were sent once, before


async def test_a_check_in_posted_since_the_backup_is_not_posted_again_late(
    make_bot: Any,
) -> None:
    """The restored bot finds the run due and posts it, late (its text says so): keyed by the
    run, it is recognised as the check-in posted on time before the restore."""
    schedule = {
        "id": "v",
        "cron": "0 9 * * *",
        "missed": "late",
        "grace": "12h",
        "text": "Hur går det?",
    }

    def with_checkin(data: dict[str, Any]) -> None:
        data["cohorts"][0]["schedules"] = [schedule]

    nine = 1_796_716_800_000  # 2026-12-08 09:00 in Stockholm
    a, b = await make_bot(change=with_checkin), await make_bot(change=with_checkin)
    for bot, at in ((a, nine + 5_000), (b, nine + 3 * 3_600_000)):
        with clock.frozen(nine - 60_000):
            await bot.periodic()  # the schedule is taken in: next run at 09:00
        if bot is b:
            await restored(b, found_on=a)
        with clock.frozen(at):
            await bot.periodic()
    (on_time,) = [s for s in a.sent if "Hur går det?" in s.body]
    assert "Skickad sent" not in on_time.body  # the late one would say so
    assert not [s for s in b.sent if "Hur går det?" in s.body]
    run = await b.db.fetchone("SELECT status, root_event FROM checkin_runs")
    assert run["status"] == "late" and run["root_event"] == on_time.event_id
