"""Categories with their own service levels: reminders after the category's time, naming the
deadline and who is on duty; !queue per category with its filters (real dispatcher, temporary
database)."""

from __future__ import annotations

from typing import Any

import pytest

from bot import clock
from config import ConfigError, load_config
from tests.handlers.test_questions import ask, in_room, root_of

MINUTE = 60_000
T0 = 1_900_000_000_000  # 2030-03-17 17:46 UTC


def levels(data: dict[str, Any]) -> None:
    data["advisers"]["members"].append("@adviser9:test")
    data["advisers"]["reminder_after"] = "24h"
    data["advisers"]["categories"] = [
        {"id": "allmant", "name": "Allmän fråga", "default": True},
        {
            "id": "teknik",
            "name": "Teknik",
            "reminder_after": "30m",
            "on_duty": ["@adviser9:test"],
        },
    ]


async def test_each_category_reminds_after_its_own_time_naming_deadline_and_duty(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=2, change=levels)
    adv = bot.room("advisers")
    with clock.frozen(T0):
        await ask(bot, "!ask Hur gör vi?")
        await ask(bot, "!ask teknik: skrivaren?")
    with clock.frozen(T0 + 40 * MINUTE):
        await bot.periodic()
    reminders = in_room(bot, adv, "Påminnelse")
    assert len(reminders) == 1, [r.body for r in reminders]
    (tech,) = reminders
    assert "#2" in tech.body and "senast 2030-03-17 19:16" in tech.body  # Stockholm time
    assert tech.content["m.mentions"]["user_ids"] == ["@adviser9:test"]  # only who is on duty
    assert tech.relates_to["m.in_reply_to"]["event_id"] == root_of(bot, 2).event_id
    with clock.frozen(T0 + 25 * 60 * MINUTE):
        await bot.periodic()
        await bot.periodic()
    reminders = in_room(bot, adv, "Påminnelse")
    assert [("#1" in r.body, "#2" in r.body) for r in reminders] == [(False, True), (True, False)]
    general = reminders[1]
    assert sorted(general.content["m.mentions"]["user_ids"]) == [
        "@adviser0:test",
        "@adviser9:test",
    ]


async def test_queue_groups_by_category_and_filters_mine_overdue_status_and_category(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=2, change=levels)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    with clock.frozen(T0):
        await ask(bot, "!ask teknik: gammal skrivare")  # 1: overdue at T0 + 30 m
        await ask(bot, "!ask Planering?")  # 2
    with clock.frozen(T0 + 20 * MINUTE):
        await ask(bot, "!ask teknik: ny projektor")  # 3: due at T0 + 50 m
    await bot.say(adv, adviser, "!claim", thread=root_of(bot, 2).event_id)

    async def queue(words: str) -> str:
        with clock.frozen(T0 + 40 * MINUTE):
            return bot.reply_to(await bot.say(adv, adviser, f"!kö {words}".strip())).body

    everything = await queue("")
    lines = everything.splitlines()
    assert lines[0] == "Väntande frågor: 3, varav 1 försenade; äldst först per kategori."
    # Categories in their configured order, each oldest first.
    assert lines[1] == "Allmän fråga: 1 väntar, 0 försenade"
    assert lines[2].startswith("  #2 ") and "TAGEN av" in lines[2]
    assert lines[3] == "Teknik: 2 väntar, 1 försenade"
    assert (
        lines[4].startswith("  #1 ")
        and "FÖRSENAD, skulle besvarats senast 2030-03-17 19:16" in lines[4]
    )
    assert lines[5].startswith("  #3 ") and "svar senast 2030-03-17 19:36" in lines[5]
    assert [ln.split()[0] for ln in (await queue("mina")).splitlines()[2:]] == ["#2"]
    assert [ln.split()[0] for ln in (await queue("overdue")).splitlines()[2:]] == ["#1"]
    assert [ln.split()[0] for ln in (await queue("teknik")).splitlines()[2:]] == ["#1", "#3"]
    assert [ln.split()[0] for ln in (await queue("nya")).splitlines()[2:] if "#" in ln] == [
        "#1",
        "#3",
    ]
    unknown = await queue("blå")
    assert unknown.startswith("blå är inget filter.") and "allmant, teknik" in unknown
    html = bot.reply_to(await bot.say(adv, adviser, "!queue")).content["formatted_body"]
    assert html.count("<ul>") == html.count("</ul>") == 2 and "<b>Teknik: " in html


async def test_an_answer_in_time_is_never_reminded_and_leaves_the_overdue_list(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=1, change=levels)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    with clock.frozen(T0):
        await ask(bot, "!ask teknik: skärmen?")
        await bot.say(adv, adviser, "Starta om den.", thread=root_of(bot, 1).event_id)
    with clock.frozen(T0 + 60 * MINUTE):
        await bot.periodic()
        reply = bot.reply_to(await bot.say(adv, adviser, "!queue overdue"))
    assert not in_room(bot, adv, "Påminnelse")
    assert reply.body == "Inga öppna frågor."


def test_service_levels_and_stages_are_checked_when_the_configuration_loads(
    tmp_path: Any,
) -> None:
    import yaml

    from tests.network import network_data

    data = network_data(
        homeserver="http://127.0.0.1:9",
        server_name="test",
        prefix="h",
        bot="@bot:test",
        admin="@admin:test",
        advisers=["@adviser0:test"],
        facilitators=["@f:test"],
        participants=[["@p:test"]],
    )
    data["advisers"]["categories"] = [
        {"id": "allmant", "name": "Allmän", "default": True, "on_duty": ["@stranger:test"]},
        {
            "id": "insats",
            "name": "Insats",
            "stages": [
                {"id": "mottagen", "name": "Mottagen", "within": "2d"},
                {"id": "mottagen", "name": "Igen"},
                {"id": "klar", "name": "Klar", "within": "7d"},
            ],
        },
    ]
    path = tmp_path / "natverk.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "advisers.categories[0].on_duty[0]" in text and "does not handle" in text
    assert "advisers.categories[1].stages[0].within" in text
    assert "duplicate stage id 'mottagen'" in text
    data["advisers"]["categories"] = [
        {"id": "allmant", "name": "Allmän", "default": True},
        {"id": "insats", "name": "Insats", "reminder_after": "sju dagar"},
    ]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "advisers.categories[1].reminder_after: 'sju dagar' is not a duration" in str(
        caught.value
    )


async def test_a_long_queue_is_cut_to_fit_with_the_count_left_as_its_own_last_line(
    make_bot: Any,
) -> None:
    from dataclasses import replace

    from storage import questions as store
    from storage.questions import Question

    bot = await make_bot(participants=1, change=levels)
    adv, adviser = bot.room("advisers"), bot.people.advisers[0]
    base = Question(
        id=0, asker=bot.people.participants[0][0], cohort_id="kohort0", private=False,
        category="teknik", origin_room="!r", origin_event="$e", adviser_room=adv,
        root_outbox=0, text="?", created_at=T0,
    )  # fmt: skip
    async with bot.db.transaction() as tx:
        for i in range(1, 1201):
            await store.create(tx, replace(base, id=i, origin_event=f"$e{i}", created_at=T0 + i))
    with clock.frozen(T0 + 40 * MINUTE):
        reply = bot.reply_to(await bot.say(adv, adviser, "!kö"))
    from bot import messages

    assert messages.fits(reply.content)
    lines = reply.body.splitlines()
    assert lines[1] == "Teknik: 1200 väntar, 1200 försenade"
    assert lines[-1].startswith("… och ") and not lines[-1].startswith("  ")
    html = str(reply.content["formatted_body"])
    assert html.count("<ul>") == html.count("</ul>") == 1
    assert html.endswith(f"</ul><p>{lines[-1]}</p>")  # not an item of the list
    shown = sum(1 for ln in lines if ln.startswith("  #"))
    assert lines[-1].startswith(f"… och {1200 - shown} till (visas inte")
