"""Ordinary survey results respect min_group: with fewer answers only the count is shown."""

from __future__ import annotations

from typing import Any

HOUR = 3_600_000


def _survey(data: dict[str, Any]) -> None:
    data["surveys"] = [
        {
            "id": "traff",
            "title": "Efter träffen",
            "anonymous": True,
            "min_group": 3,
            "open_for": "2d",
            "questions": [
                {"id": "nytta", "type": "scale", "text": "Hur nyttig var träffen?", "min": 1,
                 "max": 5},
                {"id": "mer", "type": "text", "text": "Något mer?"},
            ],
        }
    ]  # fmt: skip


async def test_results_below_min_group_show_how_many_answered_and_no_figures(
    make_bot: Any,
) -> None:
    bot = await make_bot(participants=3, change=_survey)
    room, fac = bot.room("cohort:kohort0"), bot.people.facilitators[0]
    people = bot.people.participants[0]
    for user in (fac, *people):
        bot.dm(user)
    await bot.say(room, fac, "!enkät start traff")
    for user in people[:2]:  # two of three answer
        await bot.say(bot.dm(user), user, "5")
        await bot.say(bot.dm(user), user, "Kalle behöver mer bildstöd")
    await bot.periodic(offset_ms=3 * 24 * HOUR)  # the survey closes
    results = [s for s in bot.sent if s.body.startswith("Resultat: Efter träffen")]
    assert results, [s.body for s in bot.sent][-5:]
    for sent in results:
        assert "fick 2 svar, färre än 3: inga resultat visas" in sent.body
        assert "Svar: 2 av 3 (67\xa0%)" in sent.body  # how many answered is always shown
        assert "Hur nyttig" not in sent.body and "Kalle" not in sent.body
    assert not [s for s in bot.sent if s.content.get("msgtype") == "m.image"]
    assert not bot.after_commit  # no chart is drawn
