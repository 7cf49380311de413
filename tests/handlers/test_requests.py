"""Staged requests: !stage moves, the root's stage line and deadline, the asker's notices
without the internal comment, one overdue reminder per stage, the end closing the request
(real dispatcher, temporary database)."""

from __future__ import annotations

from typing import Any

from nio.crypto import decrypt_attachment

from bot import clock
from commands.questions import stages
from config import Category
from storage.questions import Question, StageEntry
from tests.handlers.test_questions import ask, in_room, latest_root_text, root_of

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_900_000_000_000  # 2030-03-17 18:46 in Stockholm

STAGES = [
    {"id": "mottagen", "name": "Mottagen"},
    {"id": "planering", "name": "Planeringsmöte", "within": "7d"},
    {"id": "forslag", "name": "Förslag skickat", "within": "14d"},
    {"id": "genomforande", "name": "Genomförande"},
    {"id": "utvardering", "name": "Utvärdering"},
    {"id": "klar", "name": "Klar"},
]


def staged(data: dict[str, Any]) -> None:
    data["advisers"]["categories"] = [
        {"id": "allmant", "name": "Allmän fråga", "default": True},
        {"id": "insats", "name": "Skräddarsydd insats", "stages": STAGES},
    ]


async def test_a_request_moves_through_its_stages_with_deadlines_and_one_reminder_each(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    cohort = bot.room("cohort:kohort0")
    with clock.frozen(T0):
        asked = await ask(bot, "!ask insats: Vi vill ha en insats om NPF för arbetslaget")
    root = root_of(bot, 1)
    assert "Steg 1 av 6: Mottagen · nästa: Planeringsmöte senast 2030-03-24 18:46" in root.body
    assert "<b>Steg 1 av 6: Mottagen" in root.content["formatted_body"]
    thread = root.event_id

    # The first stage's deadline passes: one reminder, in the thread, naming the stage.
    for offset in (8 * DAY, 8 * DAY + HOUR):
        with clock.frozen(T0 + offset):
            await bot.periodic()
    late = in_room(bot, adv, "Försenat")
    assert len(late) == 1
    assert late[0].body.startswith("Försenat: ärende #1 skulle ha nått steget Planeringsmöte")
    assert late[0].relates_to["rel_type"] == "m.thread" and late[0].relates_to["event_id"] == thread
    assert late[0].content["msgtype"] == "m.text" and adviser in late[0].body

    # Answered (the first reply), it still waits for its next stage: !queue overdue lists it.
    with clock.frozen(T0 + 8 * DAY + 2 * HOUR):
        await bot.say(adv, adviser, "Vi hör av oss om en tid.", thread=thread)
        overdue = bot.reply_to(await bot.say(adv, adviser, "!kö försenade", thread=None))
    assert overdue.body.splitlines()[2].startswith("  #1 ")
    assert "FÖRSENAD: Planeringsmöte senast 2030-03-24 18:46" in overdue.body
    with clock.frozen(T0 + 9 * DAY):
        moved = await bot.say(
            adv, adviser, "!steg planering Rektorn vill ha fokus på lågstadiet", thread=thread
        )
    assert bot.reply_to(moved).body == (
        "Steg 2 av 6: Planeringsmöte · nästa: Förslag skickat senast 2030-04-09 19:46"
    )  # 14 days after the move (summer time by then)
    assert "Steg 2 av 6: Planeringsmöte" in latest_root_text(bot, root)
    (told,) = [s for s in bot.sent_to(cohort) if "Ärende #1: Planeringsmöte" in s.body]
    assert told.body == "Ärende #1: Planeringsmöte (steg 2 av 6)."
    assert told.content["msgtype"] == "m.notice"
    assert told.relates_to["rel_type"] == "m.thread" and told.relates_to["event_id"] == asked
    assert not in_room(bot, cohort, "lågstadiet")  # the comment is internal

    # The next deadline: again exactly one reminder.
    for offset in (24 * DAY, 25 * DAY):
        with clock.frozen(T0 + offset):
            await bot.periodic()
    late = in_room(bot, adv, "Försenat")
    assert [s.body.split(" skulle")[0] for s in late] == ["Försenat: ärende #1"] * 2
    assert "Förslag skickat" in late[1].body

    with clock.frozen(T0 + 26 * DAY):
        await bot.say(adv, adviser, "!steg forslag", thread=thread)
        await bot.say(adv, adviser, "!steg genomforande", thread=thread)
        await bot.periodic()  # no deadline after it: nothing more
        again = bot.reply_to(await bot.say(adv, adviser, "!steg genomforande", thread=thread))
        history = bot.reply_to(await bot.say(adv, adviser, "!steg", thread=thread))
        unknown = bot.reply_to(await bot.say(adv, adviser, "!steg vinter", thread=thread))
        await bot.say(adv, adviser, "!steg klar", thread=thread)
    assert len(in_room(bot, adv, "Försenat")) == 2
    assert again.body == "Ärende #1 är redan i steget Genomförande."
    assert history.body.splitlines()[1:] == [
        "Mottagen · 2030-03-17 18:46",
        "Planeringsmöte · 2030-03-26 18:46",
        "Förslag skickat · 2030-04-12 19:46",
        "Genomförande · 2030-04-12 19:46",
    ]
    assert unknown.body.startswith("Det finns inget steg vinter. Steg: mottagen, planering")
    # The last stage ends the request: closed, shown as such, out of the queue.
    assert latest_root_text(bot, root).startswith("[KLAR] #1 ")
    assert "Steg 6 av 6: Klar" in latest_root_text(bot, root)
    row = await bot.db.fetchone("SELECT status FROM questions WHERE id = 1")
    assert row["status"] == "closed"
    notices = [s.body for s in bot.sent_to(cohort) if s.body.startswith("Ärende #1:")]
    assert notices[-1] == "Ärende #1: Klar (steg 6 av 6)." and len(notices) == 4
    stored = await bot.db.fetchall("SELECT stage, comment FROM question_stages ORDER BY id")
    assert [tuple(r) for r in stored] == [
        ("planering", "Rektorn vill ha fokus på lågstadiet"),
        ("forslag", ""),
        ("genomforande", ""),
        ("klar", ""),
    ]


async def test_stage_is_for_the_category_s_advisers_in_a_staged_request_s_thread(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    participant = bot.people.participants[0][0]
    await ask(bot, "!ask Hur bokar vi handledning?")  # the default category: no stages
    plain = root_of(bot, 1)
    reply = bot.reply_to(await bot.say(adv, adviser, "!steg planering", thread=plain.event_id))
    assert reply.body == "Fråga #1 hör till en kategori utan steg."
    outside = bot.reply_to(await bot.say(adv, adviser, "!steg planering"))
    assert outside.body == "Skriv kommandot i frågans tråd."
    cohort = bot.room("cohort:kohort0")
    refused = bot.reply_to(await bot.say(cohort, participant, "!steg planering"))
    assert "Steg" not in refused.body
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM question_stages"))["n"] == 0


def test_position_follows_the_history_and_skips_stages_no_longer_configured() -> None:
    category = Category.model_validate({"id": "insats", "name": "Insats", "stages": STAGES})
    question = Question(
        id=1, asker="@a:x", cohort_id="c", private=False, category="insats", origin_room="!r",
        origin_event="$e", adviser_room="!a", root_outbox=1, text="?", created_at=T0,
    )  # fmt: skip
    start = stages.position(category, question, [])
    assert start is not None
    assert (start.stage.id, start.next and start.next.id, start.due) == (
        "mottagen",
        "planering",
        T0 + 7 * DAY,
    )
    assert not start.overdue(T0 + 7 * DAY - 1) and start.overdue(T0 + 7 * DAY)
    history = [
        StageEntry(1, 1, "forslag", T0 + DAY, "@adv:x", "", None),
        StageEntry(2, 1, "borttaget", T0 + 2 * DAY, "@adv:x", "", None),  # not configured
    ]
    now = stages.position(category, question, history)
    assert now is not None
    assert (now.stage.id, now.entry_id, now.due) == ("forslag", 1, None)  # no deadline next
    end = stages.position(category, question, [StageEntry(3, 1, "klar", T0, "@a:x", "", T0)])
    assert end is not None and end.is_last and end.reminded
    assert stages.position(Category(id="x", name="X"), question, []) is None


async def test_stage_history_is_exported_and_erased_with_the_people_it_is_about(
    make_bot: Any,
) -> None:
    from commands.questions.status import unclaimed
    from storage import privacy

    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    asker = bot.people.participants[0][0]
    await ask(bot, "!ask insats: Hjälp med NPF-anpassningar")
    thread = root_of(bot, 1).event_id
    await bot.say(adv, adviser, "!steg planering Eleven Kalle behöver lugn miljö", thread=thread)
    theirs = await privacy.export_user(bot.db, asker)
    assert [(s["stage"], s["comment"]) for s in theirs["request_stages"]] == [
        ("planering", "Eleven Kalle behöver lugn miljö")
    ]
    mine = await privacy.export_user(bot.db, adviser)
    assert [s["stage"] for s in mine["request_stages_moved"]] == ["planering"]
    await bot.say(adv, adviser, "Vi föreslår bildschema för Kalle.", thread=thread)
    mine = await privacy.export_user(bot.db, adviser)
    assert [m["text"] for m in mine["messages_relayed"]] == ["Vi föreslår bildschema för Kalle."]
    await privacy.erase_user(bot.db, asker, unclaimed=unclaimed)
    kept = await bot.db.fetchone("SELECT text FROM question_links WHERE kind = 'answer'")
    assert kept["text"] is None  # the documentation's copy goes with the person
    await privacy.erase_user(bot.db, adviser, unclaimed=unclaimed)
    row = await bot.db.fetchone("SELECT stage, comment, moved_by FROM question_stages")
    assert tuple(row) == ("planering", "", privacy.ERASED)


async def test_contact_opens_a_private_request_the_person_answers_in_their_direct_chat(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    person = bot.people.participants[0][0]
    cohort = bot.room("cohort:kohort0")
    command = await bot.say(adv, adviser, f"!kontakt {person} Hur gick planeringsmötet?")
    assert (
        bot.reply_to(command).body
        == f"Ärende #1 är öppnat med {person}; svaren kommer i tråden här."
    )
    dm = bot.dm(person)
    (opening,) = bot.sent_to(dm)
    assert opening.body == (
        "Rådgivarna har öppnat ärende #1 med dig: Hur gick planeringsmötet?"
        "\nSvara i den här tråden."
    )
    assert opening.content["msgtype"] == "m.text" and opening.content["m.mentions"] == {
        "user_ids": [person]
    }
    root = root_of(bot, 1)
    assert "privat fråga" in latest_root_text(bot, root)
    assert latest_root_text(bot, root).startswith("[BESVARAD] #1 ")
    # The person answers in the opening's thread: it reaches the advisers' thread.
    await bot.say(dm, person, "Bra, vi vill gå vidare.", thread=opening.event_id)
    (detail,) = in_room(bot, adv, "Bra, vi vill gå vidare.")
    assert detail.relates_to["event_id"] == root.event_id
    # And the adviser's answer goes back to the direct chat, never to the cohort.
    await bot.say(adv, adviser, "Då bokar vi ett möte.", thread=root.event_id)
    assert in_room(bot, dm, "Då bokar vi ett möte.")
    assert not [s for s in bot.sent_to(cohort) if "planeringsmötet" in s.body or "möte" in s.body]
    # Not counted as a question asked; nobody is reminded about it.
    await bot.periodic(offset_ms=3 * DAY)
    assert not in_room(bot, adv, "Påminnelse")
    row = await bot.db.fetchone("SELECT opened_by, private FROM questions WHERE id = 1")
    assert tuple(row) == (adviser, 1)


async def test_contact_with_an_element_mention_and_refusals(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    person = bot.people.participants[0][0]
    # Element sends a mention as a pill: the display name in the body, the id in m.mentions.
    pill = await bot.event(
        adv,
        adviser,
        {
            "msgtype": "m.text",
            "body": "!kontakt Anna Andersson: Hej!",
            "format": "org.matrix.custom.html",
            "formatted_body": (
                f'!kontakt <a href="https://matrix.to/#/{person}">Anna Andersson</a>: Hej!'
            ),
            "m.mentions": {"user_ids": [person]},
        },
    )
    assert bot.reply_to(pill).body.startswith("Ärende #1 är öppnat med")
    assert in_room(bot, bot.dm(person), "med dig: Hej!")
    stranger = bot.reply_to(await bot.say(adv, adviser, "!kontakt @okand:test Hej"))
    assert stranger.body.startswith("@okand:test är inte deltagare eller handledare")
    refused = bot.reply_to(await bot.say(bot.room("cohort:kohort0"), person, f"!kontakt {person}"))
    assert "Ärende" not in refused.body
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM questions"))["n"] == 1


async def test_summary_documents_question_stages_and_answers_never_the_internal_notes(
    make_bot: Any,
) -> None:
    import io

    from docx import Document

    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    cohort = bot.room("cohort:kohort0")
    with clock.frozen(T0):
        asked = await ask(bot, "!ask insats: Insats om bildstöd *för* <förskolan>")
    thread = root_of(bot, 1).event_id
    with clock.frozen(T0 + DAY):
        await bot.say(adv, adviser, "!anteckning Rektorn verkar stressad", thread=thread)
        await bot.say(adv, adviser, "!steg planering Intern: Kalle i klass 2", thread=thread)
        answer = await bot.say(adv, adviser, "Vi ses tisdag kl 14.", thread=thread)
        await bot.edit(adv, adviser, answer, "Vi ses onsdag kl 14.")
    with clock.frozen(T0 + 2 * DAY):
        markdown = await bot.say(adv, adviser, "!sammanfattning md", thread=thread)
    assert not [s for s in bot.sent_to(cohort) if s.content.get("msgtype") == "m.file"]
    await bot.run_after_commit()  # written, uploaded, sent
    (sent,) = [s for s in bot.sent_to(cohort) if s.content.get("msgtype") == "m.file"]
    assert sent.relates_to["rel_type"] == "m.thread" and sent.relates_to["event_id"] == asked
    assert sent.body == "dokumentation-arende-1.md"
    name, mime, data = bot.client.uploads[sent.content["url"]]
    assert (name, mime, sent.content["info"]["size"]) == (sent.body, "text/markdown", len(data))
    text = data.decode()
    assert text.startswith("# Dokumentation av ärende \\#1: Skräddarsydd insats")
    assert "Insats om bildstöd \\*för\\* \\<förskolan\\>" in text  # no markup from people
    assert "2030-03-17 18:46 · Mottagen" in text and "2030-03-18 18:46 · Planeringsmöte" in text
    assert "Vi ses onsdag kl 14." in text and "tisdag" not in text  # the answer as edited
    assert "stressad" not in text and "Kalle" not in text  # never a note or a stage comment
    told = bot.reply_to(markdown)
    assert told.body.startswith("Dokumentationen av ärende #1 är skickad till frågeställaren")
    assert [s for s in bot.sent_to(adv) if s.content.get("msgtype") == "m.file"]

    await bot.say(adv, adviser, "!sammanfattning", thread=thread)  # docx by default
    await bot.run_after_commit()
    word = [s for s in bot.sent_to(cohort) if s.body.endswith(".docx")]
    assert len(word) == 1
    _, mime, data = bot.client.uploads[word[0].content["url"]]
    assert mime.endswith("wordprocessingml.document")
    paragraphs = [p.text for p in Document(io.BytesIO(data)).paragraphs]
    assert paragraphs[0] == "Dokumentation av ärende #1: Skräddarsydd insats"
    assert "Insats om bildstöd *för* <förskolan>" in paragraphs
    assert not [p for p in paragraphs if "stressad" in p or "Kalle" in p]
    wrong = bot.reply_to(await bot.say(adv, adviser, "!sammanfattning pdf", thread=thread))
    assert wrong.body.startswith("pdf går inte")


def with_evaluation(data: dict[str, Any]) -> None:
    staged(data)
    data["advisers"]["categories"][1]["survey"] = "insatsenkat"
    data["surveys"] = [
        {
            "id": "insatsenkat",
            "title": "Utvärdering av insatsen",
            "anonymous": True,
            "open_for": "14d",
            "questions": [
                {"id": "nytta", "type": "scale", "text": "Insatsen var till nytta", "min": 1,
                 "max": 5},
            ],
        }
    ]  # fmt: skip


async def test_the_summary_is_an_encrypted_attachment_in_an_encrypted_room_only(
    make_bot: Any,
) -> None:
    """The cohort's room is encrypted, the advisers' is not: the cohort's thread gets the
    document as an encrypted attachment (the media repository holds only ciphertext), the
    advisers' thread a plain upload of the same document."""
    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    cohort = bot.room("cohort:kohort0")
    bot.encrypt(cohort)
    with clock.frozen(T0):
        await ask(bot, "!ask insats: Insats om bildstöd i förskolan")
    thread = root_of(bot, 1).event_id
    await bot.say(adv, adviser, "Vi ses tisdag kl 14.", thread=thread)
    asked = await bot.say(adv, adviser, "!sammanfattning md", thread=thread)
    await bot.run_after_commit()
    (secret,) = [s for s in bot.sent_to(cohort) if s.content.get("msgtype") == "m.file"]
    (plain,) = [s for s in bot.sent_to(adv) if s.content.get("msgtype") == "m.file"]
    assert "url" not in secret.content and "file" not in plain.content
    media = secret.content["file"]
    assert media["v"] == "v2" and media["key"]["alg"] == "A256CTR"
    name, mime, ciphertext = bot.client.uploads[media["url"]]
    assert (name, mime) == ("", "application/octet-stream")  # no file name, no type leaked
    assert b"tisdag" not in ciphertext
    text = decrypt_attachment(
        ciphertext, media["key"]["k"], media["hashes"]["sha256"], media["iv"]
    ).decode()
    assert text == bot.client.uploads[plain.content["url"]][2].decode()
    assert "Vi ses tisdag kl 14." in text
    assert secret.content["info"]["size"] == len(text.encode())
    assert bot.reply_to(asked).body.startswith("Dokumentationen av ärende #1 är skickad")


async def test_sessions_are_planned_and_the_evaluation_goes_out_after_the_last_one(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=3, change=with_evaluation)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    cohort = bot.room("cohort:kohort0")
    people = bot.people.participants[0]
    for user in people:
        bot.dm(user)
    with clock.frozen(T0):
        asked = await ask(bot, "!ask insats: Insats om bildstöd")
        thread = root_of(bot, 1).event_id

        async def session(text: str) -> str:
            return bot.reply_to(
                await bot.say(adv, adviser, f"!tillfälle {text}", thread=thread)
            ).body

        assert await session("list") == "Ärende #1 har inga inplanerade tillfällen."
        first = await session("add 2030-03-20 14:00 90m Solskolan, aulan")
        assert first == "Ärende #1, tillfällen (1):\n1. 2030-03-20 14:00–15:30 (Solskolan, aulan)"
        await session("add 2030-03-27 13:00")  # two hours by default
        await session("add 2030-03-25 09:00 1h")
        assert (await session("list")).endswith("3. 2030-03-27 13:00–15:00")
        listing = await session("remove 2")  # the one on the 25th (in time order)
        assert listing.splitlines()[1:] == [
            "1. 2030-03-20 14:00–15:30 (Solskolan, aulan)",
            "2. 2030-03-27 13:00–15:00",
        ]
        assert (await session("remove 7")).startswith("Det finns inget tillfälle 7")
        assert (await session("add i morgon")).startswith("Skriv !tillfälle add 2027-03-10")
        named = await session(f"deltagare {' '.join(people)}")
        assert named.startswith("Utvärderingen av ärende #1 går till 3 personer:")
    # The asker's thread gets the dates each time they change (never who is evaluated).
    told = [s for s in bot.sent_to(cohort) if s.body.startswith("Ärende #1, tillfällen")]
    assert len(told) == 4 and told[-1].relates_to["event_id"] == asked
    assert told[-1].body.endswith("2. 2030-03-27 13:00–15:00")

    before_end = 9 * DAY + 20 * HOUR  # 2030-03-27 14:46: the last session is still on
    with clock.frozen(T0 + before_end):
        await bot.periodic()
    assert not [s for s in bot.sent_to(bot.dm(people[0])) if "Utvärdering" in s.body]
    with clock.frozen(T0 + 11 * DAY):  # after the last session
        await bot.periodic()
        await bot.periodic()  # once only
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM survey_rounds"))["n"] == 1
    sent = in_room(bot, adv, "enkäten ”Utvärdering av insatsen” är skickad till 3 personer")
    assert len(sent) == 1 and sent[0].relates_to["event_id"] == thread
    for user, score in zip(people, ("4", "5", "3"), strict=True):
        assert [s for s in bot.sent_to(bot.dm(user)) if "Insatsen var till nytta" in s.body]
        with clock.frozen(T0 + 11 * DAY + HOUR):
            await bot.say(bot.dm(user), user, score)
    with clock.frozen(T0 + 11 * DAY + 2 * HOUR):  # everyone has answered: it closes now
        await bot.periodic()
    results = [s for s in bot.sent if "Insatsen var till nytta" in s.body and s.relates_to]
    assert {s.room_id for s in results} == {cohort, adv}
    assert {s.relates_to["event_id"] for s in results} == {asked, thread}
    assert all("participant" not in s.body for s in results)  # no names
    with clock.frozen(T0 + 11 * DAY + 3 * HOUR):
        late = await session("add 2030-04-10 14:00")
        await bot.say(adv, adviser, "!sammanfattning md", thread=thread)
    assert late == "Ärende #1 är redan utvärderat; inga fler tillfällen kan läggas till."
    await bot.run_after_commit()
    (doc,) = [s for s in bot.sent_to(cohort) if s.body.endswith(".md")]
    text = bot.client.uploads[doc.content["url"]][2].decode()
    evaluation = text[text.index("## Utvärdering") :]
    assert "Insatsen var till nytta (3)" in evaluation and "3 av 3" in evaluation


async def test_too_few_answers_show_no_evaluation_results(make_bot: Any) -> None:
    bot = await make_bot(participants=3, change=with_evaluation)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    people = bot.people.participants[0]
    for user in people:
        bot.dm(user)
    with clock.frozen(T0):
        await ask(bot, "!ask insats: Insats om scheman")
        thread = root_of(bot, 1).event_id
        await bot.say(adv, adviser, "!tillfälle add 2030-03-18 10:00 1h", thread=thread)
    with clock.frozen(T0 + 2 * DAY):
        await bot.periodic()
        await bot.say(bot.dm(people[0]), people[0], "5")
    with clock.frozen(T0 + 17 * DAY):  # the survey's two weeks are over
        await bot.periodic()
    (few,) = in_room(bot, adv, "fick 1 svar, färre än 3")
    assert few.relates_to["event_id"] == thread
    assert not [s for s in bot.sent if "Insatsen var till nytta" in s.body and s.relates_to]


async def test_an_evaluation_outside_its_surveys_dates_waits_and_the_advisers_are_told_once(
    make_bot: Any,
) -> None:
    def dated(data: dict[str, Any]) -> None:
        with_evaluation(data)
        data["surveys"].append(
            {**data["surveys"][0], "id": "stangd", "closes": "2030-03-18T10:30:00"}
        )
        data["surveys"][0]["opens"] = "2030-03-25T08:00:00"
        data["advisers"]["categories"].append(
            {**data["advisers"]["categories"][1], "id": "sen", "name": "Sen", "survey": "stangd"}
        )

    bot = await make_bot(participants=3, change=dated)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    with clock.frozen(T0):
        await ask(bot, "!ask insats: Insats om scheman")
        await ask(bot, "!ask sen: Insats om rast")
        for number in (1, 2):
            thread = root_of(bot, number).event_id
            await bot.say(adv, adviser, "!tillfälle add 2030-03-18 10:00 1h", thread=thread)
    for days in (2, 3):  # the session is over; the first survey opens only on the 25th
        with clock.frozen(T0 + days * DAY):
            await bot.periodic()
    waiting = in_room(bot, adv, "öppnar först 2030-03-25 08:00: den skickas då")
    closed = in_room(bot, adv, "stängde 2030-03-18 10:30: den skickas inte")
    assert len(waiting) == 1 and waiting[0].relates_to["event_id"] == root_of(bot, 1).event_id
    assert len(closed) == 1 and closed[0].relates_to["event_id"] == root_of(bot, 2).event_id
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM survey_rounds"))["n"] == 0
    with clock.frozen(T0 + 9 * DAY):  # 2030-03-26: the first survey is open now
        await bot.periodic()
        await bot.periodic()
    assert len(in_room(bot, adv, "enkäten ”Utvärdering av insatsen” är skickad")) == 1
    assert len(in_room(bot, adv, "stängde 2030-03-18 10:30")) == 1  # told once, not again
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM survey_rounds"))["n"] == 1


async def test_documentation_asked_for_before_a_stop_is_sent_once_after_the_restart(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    cohort = bot.room("cohort:kohort0")
    await ask(bot, "!ask insats: Insats om NPF")
    thread = root_of(bot, 1).event_id
    await bot.say(adv, adviser, "Vi börjar i april.", thread=thread)
    command = await bot.say(adv, adviser, "!sammanfattning md", thread=thread)
    pending = bot.after_commit
    bot.after_commit = []  # the bot stopped after the command's commit, before the upload
    assert not [s for s in bot.sent_to(cohort) if s.body.endswith(".md")]
    await bot.periodic()  # after the restart: the job is found and done
    await bot.periodic()  # and only once
    for task in pending:  # even if the first run had gone on: nothing twice
        await task()
    await bot.sender.drain()
    files = [s for s in bot.sent_to(cohort) if s.body.endswith(".md")]
    assert len(files) == 1
    assert "Vi börjar i april." in bot.client.uploads[files[0].content["url"]][2].decode()
    assert [s.body for s in bot.replies_to(command)] == [
        "Dokumentationen av ärende #1 är skickad till frågeställaren (och finns här)."
    ]


async def test_contact_too_long_for_the_advisers_copy_sends_nothing(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    person = bot.people.participants[0][0]
    # 15,000 '<' fit the opening (plain text, twice when edited), not the root: its HTML
    # escapes each to '&lt;'.
    reply = bot.reply_to(await bot.say(adv, adviser, f"!kontakt {person} {'<' * 15_000}"))
    assert reply.body.startswith("Din fråga är för lång för att skickas vidare (15000 tecken")
    assert not bot.sent_to(bot.dm(person))
    assert (await bot.db.fetchone("SELECT COUNT(*) AS n FROM questions"))["n"] == 0


async def test_the_asker_is_notified_of_the_sessions_dates(make_bot: Any) -> None:
    bot = await make_bot(participants=1, change=staged)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    asker = bot.people.participants[0][0]
    asked = await ask(bot, "!ask insats: Insats om scheman")
    thread = root_of(bot, 1).event_id
    await bot.say(adv, adviser, "!tillfälle add 2030-03-20 14:00 Skolan", thread=thread)
    (dates,) = [s for s in bot.sent_to(bot.room("cohort:kohort0")) if "tillfällen" in s.body]
    assert dates.content["msgtype"] == "m.text"  # an m.notice would not notify
    assert dates.content["m.mentions"] == {"user_ids": [asker]}
    assert dates.relates_to["rel_type"] == "m.thread" and dates.relates_to["event_id"] == asked
