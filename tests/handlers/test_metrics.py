"""The metrics as commands and events go through the real dispatcher: counters by command and
outcome, events by kind, the gauges read from the database; never a person, room or text."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from bot import clock
from bot.metrics import read_gauges
from tests.handlers.test_questions import ask

HOUR = 3_600_000


def value(text: str, sample: str) -> float:
    line = next((ln for ln in text.splitlines() if ln.startswith(sample + " ")), None)
    return float(line.split()[-1]) if line else 0.0


async def test_commands_by_outcome_events_by_kind_and_the_gauges(make_bot: Any) -> None:
    bot = await make_bot(participants=1)
    person, adviser = bot.people.participants[0][0], bot.people.advisers[0]
    cohort, adv = bot.room("cohort:kohort0"), bot.room("advisers")
    with clock.frozen(1_900_000_000_000):
        await bot.say(cohort, person, "!hjälp")
        await bot.say(cohort, person, "!kö")  # advisers only: refused
        await bot.say(cohort, person, "!hemligt @person:test text")  # unknown: its word never
        await bot.say(cohort, person, "!fråga")  # no question: usage
        await ask(bot, "!ask Hur gör vi med @kalle:test?")
        await bot.say(adv, adviser, "!kö")
        await bot.react(cohort, person, "$x", "👍")
    with clock.frozen(1_900_000_000_000 + 25 * HOUR):
        await read_gauges(bot.app.metrics, bot.db, bot.app.config, clock.now_ms())
    text = generate_latest(bot.app.metrics.registry).decode()
    assert value(text, 'natverk_commands_total{command="help",outcome="ok"}') == 1
    assert value(text, 'natverk_commands_total{command="queue",outcome="refused"}') == 1
    assert value(text, 'natverk_commands_total{command="queue",outcome="ok"}') == 1
    assert value(text, 'natverk_commands_total{command="unknown",outcome="usage"}') == 1
    assert value(text, 'natverk_commands_total{command="ask",outcome="usage"}') == 1
    assert value(text, 'natverk_commands_total{command="ask",outcome="ok"}') == 1
    assert value(text, 'natverk_events_total{kind="m.room.message"}') == 6
    assert value(text, 'natverk_events_total{kind="m.reaction"}') == 1
    assert value(text, 'natverk_questions_waiting{category="allmant",overdue="yes"}') == 1
    assert value(text, "natverk_outbox_pending") == 0
    for private in ("@", "!", "hemligt", "Hur gör vi", "kohort"):
        assert private not in text.replace("# HELP", "").replace("# TYPE", ""), private


async def test_no_message_text_reaches_the_logs_at_info(make_bot: Any, caplog: Any) -> None:
    import logging

    caplog.set_level(logging.INFO)
    bot = await make_bot(participants=1)
    person, adviser = bot.people.participants[0][0], bot.people.advisers[0]
    cohort, adv = bot.room("cohort:kohort0"), bot.room("advisers")
    secret = "Kalle-i-klass-2b"
    await bot.say(cohort, person, f"Vi pratade om {secret} https://example.org/{secret}")
    await ask(bot, f"!ask Hur stöttar vi {secret}?")
    root = next(s for s in bot.sent_to(adv) if secret in s.body)
    await bot.say(adv, adviser, f"Svar om {secret}", thread=root.event_id)
    await bot.say(bot.dm(person), person, f"!integritet {secret}")
    await bot.periodic()
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert logged  # the bot did log (else the check below proves nothing)
    assert not [m for m in logged if secret in m]
