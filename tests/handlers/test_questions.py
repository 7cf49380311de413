"""Questions to the advisers, in-process: roles, places, routing, privacy and status, with the
real dispatcher and a temporary database (the story end to end is in tests/integration)."""

from __future__ import annotations

from typing import Any

from bot import clock
from bot.rooms import wanted_rooms
from tests.handlers.harness import Bot, Sent


async def ask(bot: Bot, text: str, asker: str | None = None, room: str | None = None) -> str:
    return await bot.say(
        room or bot.room("cohort:kohort0"), asker or bot.people.participants[0][0], text
    )


def root_of(bot: Bot, number: int) -> Sent:
    adv = bot.room("advisers")
    return next(
        s
        for s in bot.sent_to(adv)
        if f"#{number} ·" in s.body and "m.new_content" not in s.content and not s.relates_to
    )


async def test_a_question_becomes_a_thread_root_and_its_answer_goes_back_to_the_asker(
    make_bot: Any,
) -> None:
    bot = await make_bot()
    q = await ask(bot, "!fråga Hur gör jag?")
    ack = bot.reply_to(q)
    assert "Fråga #1" in ack.body and ack.content["msgtype"] == "m.notice"
    root = root_of(bot, 1)
    assert root.body.startswith("[NY] #1 · Allmän fråga · Kohort 0 · ")
    assert root.content["msgtype"] == "m.text"
    await bot.say(bot.room("advisers"), bot.people.advisers[0], "Så här.", thread=root.event_id)
    answer = [s for s in bot.sent_to(bot.room("cohort:kohort0")) if "Så här." in s.body]
    assert len(answer) == 1
    assert answer[0].relates_to["event_id"] == q
    assert answer[0].content["m.mentions"] == {"user_ids": [bot.people.participants[0][0]]}


def latest_root_text(bot: Bot, root: Sent) -> str:
    """What a client shows for the root: the newest edit's content, else the original."""
    text = root.body
    for s in bot.sent_to(root.room_id):
        if (
            s.relates_to.get("rel_type") == "m.replace"
            and s.relates_to["event_id"] == root.event_id
        ):
            text = str(s.content["m.new_content"]["body"])
    return text


def redactions_of(bot: Bot, event_id: str) -> list[Sent]:
    return [
        s for s in bot.sent if s.type == "m.room.redaction" and s.content["redacts"] == event_id
    ]


def in_room(bot: Bot, room: str, needle: str) -> list[Sent]:
    return [s for s in bot.sent_to(room) if needle in s.body]


async def test_private_question_in_direct_chat_never_reaches_the_cohort(make_bot: Any) -> None:
    bot = await make_bot(participants=2)
    asker, adviser = bot.people.participants[0][0], bot.people.advisers[0]
    cohort, adv, dm = bot.room("cohort:kohort0"), bot.room("advisers"), bot.dm(asker)

    q = await bot.say(dm, asker, "!ask Jag är osäker på hur jag tar upp en elevs diagnos.")
    ack = bot.reply_to(q)
    assert ack.room_id == dm and "privata" in ack.body and "#1" in ack.body
    root = root_of(bot, 1)
    assert "privat fråga" in root.body and "Kohort 0" not in root.body
    await bot.say(adv, adviser, "Prata först med vårdnadshavarna.", thread=root.event_id)
    got = in_room(bot, dm, "vårdnadshavarna")
    assert len(got) == 1 and got[0].relates_to["event_id"] == q
    assert got[0].content["m.mentions"] == {"user_ids": [asker]}

    # In the cohort room nothing of it shows, and !mine there does not list it.
    mine = await bot.say(cohort, asker, "!mine")
    assert "#1" not in bot.reply_to(mine).body
    assert not in_room(bot, cohort, "vårdnadshavarna") and not in_room(bot, cohort, "diagnos")
    # In the direct chat !mine lists it.
    mine = await bot.say(dm, asker, "!mine")
    assert "#1" in bot.reply_to(mine).body


async def test_categories_route_to_their_own_adviser_rooms(make_bot: Any) -> None:
    tech = "@tekniker:test"

    def categories(data: dict[str, Any]) -> None:
        data["advisers"]["categories"] = [
            {"id": "pedagogik", "name": "Pedagogisk fråga", "default": True},
            {"id": "teknik", "name": "Teknisk fråga", "room": "#h-teknik:test", "members": [tech]},
        ]

    bot = await make_bot(participants=1, change=categories)
    asker = bot.people.participants[0][0]
    cohort, adv, tech_room = (
        bot.room("cohort:kohort0"),
        bot.room("advisers"),
        bot.room("category:teknik"),
    )
    assert adv != tech_room
    # Reconciliation wants the category's own room: its alias, its advisers, strangers removed.
    (wanted,) = [w for w in wanted_rooms(bot.app.config) if w.key == "category:teknik"]
    assert (wanted.target, wanted.members, wanted.restricted) == (
        "#h-teknik:test",
        frozenset({tech}),
        True,
    )

    await bot.say(cohort, asker, "!ask teknik Hur delar jag skärmen i mötet?")
    await bot.say(cohort, asker, "!ask Hur ger jag återkoppling på reflektionsloggar?")
    (root_t,) = in_room(bot, tech_room, "skärmen")
    assert "Teknisk fråga" in root_t.body
    (root_p,) = in_room(bot, adv, "reflektionsloggar")
    assert "Pedagogisk fråga" in root_p.body
    assert not in_room(bot, adv, "skärmen") and not in_room(bot, tech_room, "reflektionsloggar")
    rows = await bot.db.fetchall("SELECT id, category, adviser_room FROM questions ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "teknik", tech_room), (2, "pedagogik", adv)]

    # A general adviser may not handle a question of a category with its own advisers.
    general = bot.people.advisers[0]
    await bot.react(tech_room, general, root_t.event_id, "👀")
    await bot.say(tech_room, general, "Fråga IT.", thread=root_t.event_id)
    reply = bot.reply_to(await bot.say(tech_room, general, "!claim", thread=root_t.event_id))
    assert "#1 hör till en kategori som du inte är rådgivare för" in reply.body
    assert not in_room(bot, cohort, "Fråga IT")
    row = await bot.db.fetchone("SELECT status, claimed_by FROM questions WHERE id = 1")
    assert tuple(row) == ("open", None)
    # The technician answers in their room.
    await bot.say(tech_room, tech, "Dela skärm finns under tre prickar.", thread=root_t.event_id)
    assert len(in_room(bot, cohort, "tre prickar")) == 1

    # An unknown category answers with the list; nothing is sent to the advisers.
    before = len(bot.sent_to(adv)) + len(bot.sent_to(tech_room))
    reply = bot.reply_to(await bot.say(cohort, asker, "!ask ekonomi: Vad kostar det?"))
    assert "ekonomi" in reply.body and "teknik (Teknisk fråga)" in reply.body
    # An empty question gets the usage line.
    reply = bot.reply_to(await bot.say(cohort, asker, "!ask"))
    assert "!fråga" in reply.body
    assert len(bot.sent_to(adv)) + len(bot.sent_to(tech_room)) == before
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM questions"))["n"] == 2


async def test_claim_by_reaction_and_unclaim_by_removing_it(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    adviser, adv = bot.people.advisers[0], bot.room("advisers")
    await ask(bot, "!ask Vilka hjälpmedel finns för läsning?")
    root = root_of(bot, 1)
    reaction = await bot.react(adv, adviser, root.event_id, "👀")
    assert latest_root_text(bot, root).startswith(f"[TAGEN av {adviser}] #1 ")
    row = await bot.db.fetchone("SELECT status, claimed_by FROM questions WHERE id = 1")
    assert tuple(row) == ("claimed", adviser)
    reply = bot.reply_to(await bot.say(adv, adviser, "!queue"))
    assert "TAGEN av" in reply.body and "#1" in reply.body

    await bot.redact(adv, adviser, reaction)
    assert latest_root_text(bot, root).startswith("[NY] #1 ")
    row = await bot.db.fetchone("SELECT status, claimed_by FROM questions WHERE id = 1")
    assert row["status"] == "open"
    # !claim in the thread does the same.
    claim = await bot.say(adv, adviser, "!claim", thread=root.event_id)
    assert latest_root_text(bot, root).startswith("[TAGEN av ")
    assert [
        s.content["m.relates_to"]["key"]
        for s in bot.sent_to(adv)
        if s.type == "m.reaction" and s.relates_to["event_id"] == claim
    ] == ["✅"]


async def test_internal_notes_never_reach_the_cohort(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    adviser, adv, cohort = bot.people.advisers[0], bot.room("advisers"), bot.room("cohort:kohort0")
    await ask(bot, "!ask Hur hanterar jag en kollega som inte vill delta?")
    root = root_of(bot, 1)
    note = await bot.say(adv, adviser, "!note Ring rektorn först, känsligt.", thread=root.event_id)
    (noted,) = [s for s in bot.sent_to(adv) if s.relates_to.get("event_id") == note]
    assert noted.type == "m.reaction" and noted.relates_to["key"] == "📝"
    await bot.say(adv, adviser, "Börja med ett samtal om förväntningar.", thread=root.event_id)
    assert len(in_room(bot, cohort, "förväntningar")) == 1
    assert not [s for s in bot.sent if s.room_id != adv and "rektorn" in str(s.content)]
    rows = await bot.db.fetchall("SELECT content FROM outbox")
    assert rows and not [r for r in rows if "rektorn" in r["content"]]
    link = await bot.db.fetchone("SELECT kind FROM question_links WHERE source_event = ?", (note,))
    assert link is not None and link["kind"] == "note"


async def test_edits_and_redactions_follow_both_ways(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    asker, adviser = bot.people.participants[0][0], bot.people.advisers[0]
    cohort, adv = bot.room("cohort:kohort0"), bot.room("advisers")
    q = await ask(bot, "!ask Hur ofta ska vi ha träffar?")
    root = root_of(bot, 1)

    # The asker edits the question: the advisers' copy changes.
    await bot.edit(cohort, asker, q, "!ask Hur ofta ska vi ha studieträffar under våren?")
    assert "studieträffar under våren" in latest_root_text(bot, root)
    # The asker adds a detail in the thread, then removes it.
    detail = await bot.say(cohort, asker, "Vi är åtta i gruppen.", thread=q)
    (copy,) = in_room(bot, adv, "åtta i gruppen")
    assert copy.relates_to["event_id"] == root.event_id
    await bot.redact(cohort, asker, detail)
    assert [s.room_id for s in redactions_of(bot, copy.event_id)] == [adv]

    # The adviser edits an answer, then removes it: the asker's copy follows.
    answer = await bot.say(adv, adviser, "Varannan vecka.", thread=root.event_id)
    (relayed,) = in_room(bot, cohort, "Varannan vecka")
    await bot.edit(adv, adviser, answer, "Varannan vecka, 60 minuter.")
    (edited,) = [
        s
        for s in bot.sent_to(cohort)
        if s.relates_to.get("rel_type") == "m.replace"
        and s.relates_to["event_id"] == relayed.event_id
    ]
    assert "60 minuter" in edited.content["m.new_content"]["body"]
    await bot.redact(adv, adviser, answer)
    assert [s.room_id for s in redactions_of(bot, relayed.event_id)] == [cohort]

    # Redacting the question removes the advisers' copy.
    await bot.redact(cohort, asker, q)
    assert [s.room_id for s in redactions_of(bot, root.event_id)] == [adv]
    row = await bot.db.fetchone("SELECT status, text FROM questions WHERE id = 1")
    assert tuple(row) == ("withdrawn", "")


async def test_html_injection_is_escaped(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    adviser, adv, cohort = bot.people.advisers[0], bot.room("advisers"), bot.room("cohort:kohort0")
    nasty = '<script>alert(1)</script> <a href="javascript:alert(2)">klick</a> **fet**'
    await ask(bot, f"!ask {nasty}")
    root = root_of(bot, 1)
    assert "alert(1)" in root.body
    html = root.content["formatted_body"]
    assert "<script>" not in html and "<a " not in html
    assert "&lt;script&gt;" in html and "&quot;javascript:alert(2)&quot;" in html
    await bot.say(adv, adviser, f"Svar {nasty}", thread=root.event_id)
    (got,) = in_room(bot, cohort, "Svar <script>")
    assert "<script>" not in got.content["formatted_body"]
    assert "<a " not in got.content["formatted_body"]
    assert "&lt;script&gt;" in got.content["formatted_body"]


async def test_unanswered_questions_get_one_reminder(make_bot: Any) -> None:
    def soon(data: dict[str, Any]) -> None:
        data["advisers"]["reminder_after"] = "1m"

    bot = await make_bot(participants=1, change=soon)
    adviser, adv = bot.people.advisers[0], bot.room("advisers")
    await ask(bot, "!ask Finns det material om autism för förskolan?")
    root = root_of(bot, 1)
    # The question notifies (m.text), but highlights nobody.
    assert root.content["msgtype"] == "m.text" and root.content["m.mentions"] == {}

    await bot.periodic()  # too early: nothing
    assert not in_room(bot, adv, "Påminnelse")
    later = 2 * 60 * 1000
    await bot.periodic(offset_ms=later)
    await bot.periodic(offset_ms=later + 60_000)
    reminders = in_room(bot, adv, "Påminnelse")
    assert len(reminders) == 1
    (reminder,) = reminders
    assert "#1" in reminder.body
    # It pings the advisers on duty: a mention in an m.text (a notice would not notify).
    assert reminder.content["msgtype"] == "m.text"
    assert adviser in reminder.content["m.mentions"]["user_ids"]
    assert reminder.relates_to["m.in_reply_to"]["event_id"] == root.event_id
    row = await bot.db.fetchone("SELECT reminded_at FROM questions WHERE id = 1")
    assert row["reminded_at"] is not None


async def test_close_reopen_and_publish_in_the_thread(make_bot: Any) -> None:
    def by_name(data: dict[str, Any]) -> None:
        data["advisers"]["attribution"] = "name"

    bot = await make_bot(participants=1, change=by_name)
    adviser, adv, cohort = bot.people.advisers[0], bot.room("advisers"), bot.room("cohort:kohort0")
    bot.name(adviser, "Ada Rådgivare")
    q = await ask(bot, "!ask Hur sammanfattar jag en studieträff?")
    root = root_of(bot, 1)
    thread = root.event_id

    reply = bot.reply_to(await bot.say(adv, adviser, "!publish", thread=thread))
    assert "kan inte delas" in reply.body  # not answered yet
    await bot.say(adv, adviser, "Tre meningar: vad, varför, nästa steg.", thread=thread)
    (got,) = in_room(bot, cohort, "Tre meningar")
    assert got.body.startswith("Svar från Ada Rådgivare (fråga #1)")

    reply = bot.reply_to(await bot.say(adv, adviser, "!stäng", thread=thread))
    assert "#1" in reply.body and reply.relates_to["event_id"] == thread
    assert latest_root_text(bot, root).startswith("[KLAR]")
    await bot.say(adv, adviser, "!reopen", thread=thread)
    assert latest_root_text(bot, root).startswith("[BESVARAD]")
    reply = bot.reply_to(await bot.say(adv, adviser, "!publicera", thread=thread))
    assert "delbar" in reply.body
    row = await bot.db.fetchone("SELECT published FROM questions WHERE id = 1")
    assert row is not None and row["published"] == 1
    # Published, the question becomes a question-and-answer entry in the cohort's catalogue.
    rows = await bot.db.fetchall(
        "SELECT cohort_id, room_id, event_id, kind, title, uploader FROM materials"
    )
    assert [tuple(r) for r in rows] == [
        ("kohort0", cohort, q, "answer", "Hur sammanfattar jag en studieträff?", adviser)
    ]

    # Commands about a question only work in its thread.
    reply = bot.reply_to(await bot.say(adv, adviser, "!close"))
    assert "tråd" in reply.body
    assert latest_root_text(bot, root).startswith("[BESVARAD]")


async def test_question_commands_outside_a_question_thread_are_told_where(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    adviser, adv = bot.people.advisers[0], bot.room("advisers")
    await ask(bot, "!ask Hur?")
    root = root_of(bot, 1)
    chat = await bot.say(adv, adviser, "Någon som vet?")
    for command in ("!close", "!stäng", "!claim", "!note hemligt", "!reopen", "!publish"):
        reply = bot.reply_to(await bot.say(adv, adviser, command))
        assert reply.body == "Skriv kommandot i frågans tråd.", command
        # ... also in a thread that is not a question's.
        reply = bot.reply_to(await bot.say(adv, adviser, command, thread=chat))
        assert reply.body == "Skriv kommandot i frågans tråd.", command
    assert latest_root_text(bot, root) == root.body  # never edited
    row = await bot.db.fetchone("SELECT status, claimed_by FROM questions WHERE id = 1")
    assert tuple(row) == ("open", None)


async def test_another_cohorts_participant_can_neither_see_nor_act_on_a_question(
    make_bot: Any,
) -> None:
    bot = await make_bot(cohorts=2, participants=1)
    asker, other = bot.people.participants[0][0], bot.people.participants[1][0]
    adviser, adv = bot.people.advisers[0], bot.room("advisers")
    cohort0, cohort1 = bot.room("cohort:kohort0"), bot.room("cohort:kohort1")
    q = await ask(bot, "!ask Hur gör vi med frånvaro?")
    root = root_of(bot, 1)
    advisers_saw = len(bot.sent_to(adv))

    # !mine in their own room (and in their direct chat) does not list it.
    assert "#1" not in bot.reply_to(await bot.say(cohort1, other, "!mine")).body
    assert "#1" not in bot.reply_to(await bot.say(bot.dm(other), other, "!mine")).body
    # Writing in its thread or editing it does nothing (redacting another's event is for the
    # homeserver to refuse: only moderators may).
    await bot.say(cohort1, other, "Vi har samma problem.", thread=q)
    await bot.say(cohort0, other, "Jag också.", thread=q)
    await bot.edit(cohort0, other, q, "!ask Något helt annat")
    assert len(bot.sent_to(adv)) == advisers_saw
    row = await bot.db.fetchone("SELECT status, text FROM questions WHERE id = 1")
    assert tuple(row) == ("open", "Hur gör vi med frånvaro?")
    # In cohort 0's room they have no role: they may not ask there.
    reply = bot.reply_to(await bot.say(cohort0, other, "!ask Får jag fråga här?"))
    assert "behörighet" in reply.body
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM questions"))["n"] == 1

    # The answer reaches the asker's cohort only.
    await bot.say(adv, adviser, "Följ skolans rutin.", thread=root.event_id)
    (answer,) = in_room(bot, cohort0, "skolans rutin")
    assert answer.content["m.mentions"] == {"user_ids": [asker]}
    assert not [s for s in bot.sent_to(cohort1) if "frånvaro" in s.body or "rutin" in s.body]
    assert not [s for s in bot.sent if s.room_id == bot.dm(other) and "#1" in s.body]


async def test_a_non_adviser_in_the_advisers_room_is_ignored_and_the_admins_told_once(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1)
    stranger, admin, adv = bot.people.participants[0][0], bot.people.admin, bot.room("advisers")
    await ask(bot, "!ask Hur?")
    root = root_of(bot, 1)
    advisers_saw = len(bot.sent_to(adv))

    await bot.say(adv, stranger, "Hej, jag svarar!", thread=root.event_id)
    await bot.say(adv, stranger, "!queue")
    await bot.say(adv, stranger, "!claim", thread=root.event_id)
    await bot.react(adv, stranger, root.event_id, "👀")
    assert len(bot.sent_to(adv)) == advisers_saw  # nothing answered, edited or relayed
    assert not in_room(bot, bot.room("cohort:kohort0"), "jag svarar")
    row = await bot.db.fetchone("SELECT status, claimed_by FROM questions WHERE id = 1")
    assert tuple(row) == ("open", None)
    told = in_room(bot, bot.dm(admin), stranger)
    assert len(told) == 1
    assert told[0].body == f"{stranger} skrev i rådgivarnas rum men är inte rådgivare. " + (
        "Meddelandet ignorerades."
    )
    # An admin writing there is no stranger.
    await bot.say(adv, admin, "Jag tittar bara.")
    assert not in_room(bot, bot.dm(admin), f"{admin} skrev")


async def test_someone_not_configured_is_removed_from_the_advisers_room_and_admins_told_once(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1, advisers=2)
    admin, adv, dm = bot.people.admin, bot.room("advisers"), bot.dm(bot.people.admin)
    intruder = "@intruder:test"

    async def member(user: str, membership: str, sender: str) -> None:
        await bot.event(adv, sender, {"membership": membership}, "m.room.member", user)

    def kicks() -> list[str]:
        return [s.content["user_id"] for s in bot.sent_to(adv) if s.type == "kick"]

    def told() -> list[str]:
        return [s.body for s in in_room(bot, dm, intruder)]

    # An invite and its join: one kick, one report naming who invited.
    await member(intruder, "invite", admin)
    await member(intruder, "join", intruder)
    assert kicks() == [intruder]
    assert len(told()) == 1 and f"inbjuden av {admin}" in told()[0]
    # Configured advisers, the admins and the bot stay.
    for user in (*bot.people.advisers, admin, bot.people.bot):
        await member(user, "join", user)
    assert kicks() == [intruder]
    # Once gone, a new invite is news again.
    await member(intruder, "leave", admin)
    await member(intruder, "invite", bot.people.advisers[1])
    assert kicks() == [intruder, intruder]
    assert len(told()) == 2 and f"inbjuden av {bot.people.advisers[1]}" in told()[1]
    # Cohort rooms are not policed: the admins are told at reconciliation instead.
    await bot.event(
        bot.room("cohort:kohort0"), admin, {"membership": "invite"}, "m.room.member", intruder
    )
    assert len(kicks()) == 2 and len(told()) == 2


async def test_moves_the_status_does_not_allow_are_refused_and_change_nothing(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1)
    adviser, adv = bot.people.advisers[0], bot.room("advisers")
    await ask(bot, "!ask Var finns mallen?")
    root = root_of(bot, 1)
    thread = root.event_id

    reply = bot.reply_to(await bot.say(adv, adviser, "!reopen", thread=thread))
    assert reply.body == "Fråga #1 har status NY: det går inte just nu."
    await bot.say(adv, adviser, "!close", thread=thread)
    edits = len(bot.sent_to(adv))
    reply = bot.reply_to(await bot.say(adv, adviser, "!claim", thread=thread))
    assert reply.body == "Fråga #1 har status KLAR: det går inte just nu."
    await bot.react(adv, adviser, root.event_id, "👀")  # a claim by reaction: ignored
    reply = bot.reply_to(await bot.say(adv, adviser, "!close", thread=thread))
    assert reply.body == "Fråga #1 har status KLAR: det går inte just nu."
    row = await bot.db.fetchone("SELECT status, claimed_by FROM questions WHERE id = 1")
    assert row is not None and (row["status"], row["claimed_by"]) == ("closed", None)
    assert latest_root_text(bot, root).startswith("[KLAR]")
    # Only the two refusals were sent: no edit of the root for a refused move.
    refusals = [s for s in bot.sent_to(adv)[edits:] if "går inte just nu" in s.body]
    assert len(refusals) == 2 and len(bot.sent_to(adv)) == edits + 2


async def test_a_reply_quoting_an_internal_note_never_reaches_the_asker(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    adviser, adv, cohort = bot.people.advisers[0], bot.room("advisers"), bot.room("cohort:kohort0")
    await ask(bot, "!ask Hur pratar jag med föräldrarna?")
    thread = root_of(bot, 1).event_id
    note = await bot.say(adv, adviser, "!note internt: eleven har en utredning på gång", thread)
    # What clients before Matrix v1.13 send: a real reply in the thread, quoting the note.
    quoting = await bot.event(
        adv,
        adviser,
        {
            "msgtype": "m.text",
            "body": f"> <{adviser}> !note internt: eleven har en utredning på gång\n\n"
            "Håller med, vi väntar.",
            "format": "org.matrix.custom.html",
            "formatted_body": "<mx-reply><blockquote>!note internt: eleven har en utredning"
            "</blockquote></mx-reply>Håller med, vi väntar.",
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": thread,
                "is_falling_back": False,
                "m.in_reply_to": {"event_id": note},
            },
        },
    )
    told = bot.reply_to(quoting)
    assert "intern anteckning" in told.body and told.content["msgtype"] == "m.notice"
    # A text quoting a note by hand is not relayed either; a plain answer is, without any quote.
    hand = await bot.say(adv, adviser, "> !anteckning internt\n\nSe ovan.", thread)
    assert "intern anteckning" in bot.reply_to(hand).body
    await bot.say(adv, adviser, "Boka ett möte med mentorn först.", thread)
    seen = " ".join(str(s.content) for s in bot.sent_to(cohort))
    assert "Boka ett möte" in seen
    assert "utredning" not in seen and "internt" not in seen and "Håller med" not in seen
    (got,) = in_room(bot, cohort, "Boka ett möte")
    assert ">" not in got.body.split("\n", 1)[1]


async def test_the_clock_tests_control_is_the_one_handlers_and_storage_read(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    with clock.frozen(1_800_000_000_000):  # 2027-01-15 09:00 in Stockholm
        await ask(bot, "!ask Hur lång tid tar det?")
        root = root_of(bot, 1)
        assert "2027-01-15 09:00" in root.body  # Babel's Swedish short date and time
        clock.advance(3 * 3_600_000)
        reply = bot.reply_to(await bot.say(bot.room("advisers"), bot.people.advisers[0], "!kö"))
        assert "3 timmar" in reply.body
    row = await bot.db.fetchone("SELECT created_at FROM questions WHERE id = 1")
    assert row is not None and row["created_at"] == 1_800_000_000_000
    sent = await bot.db.fetchone("SELECT MIN(created_at) AS at FROM outbox")
    assert sent is not None and sent["at"] == 1_800_000_000_000
