"""50 questions from 10 participants in 3 cohorts in one burst, under Synapse's default rate
limits for people, with the real `natverk run` process killed (-9) twice along the way."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import yaml
from nio import RoomResolveAliasResponse

from bot.demo.homeserver import EmbeddedSynapse, RegisteredUser, terminate
from bot.demo.person import Event, Person
from tests.integration.helpers import body, kill, rel, start_natverk

COHORTS = 3
PARTICIPANTS = 10
QUESTIONS_EACH = 5


async def resolve(person: Person, alias: str) -> str:
    resolved = await person.client.room_resolve_alias(alias)
    assert isinstance(resolved, RoomResolveAliasResponse), resolved
    return str(resolved.room_id)


async def test_burst_of_questions_with_kill_9_relays_each_exactly_once_in_order(
    strict_synapse: EmbeddedSynapse, tmp_path: Path
) -> None:
    hs = strict_synapse
    admin = hs.register_user("burstadmin", "pw-admin-1", admin=True)
    bot = hs.register_user("burstbot", "pw-bot-1")
    adviser = hs.register_user("burstadv", "pw-adv-1")
    # The bot is exempted, as a deployment should; the people keep Synapse's defaults,
    # except the adviser who answers 50 questions in a row in this test.
    hs.override_ratelimit(admin.access_token, bot.user_id)
    hs.override_ratelimit(admin.access_token, adviser.user_id)
    people: list[RegisteredUser] = [
        hs.register_user(f"burstp{i}", f"pw-p{i}-1") for i in range(PARTICIPANTS)
    ]
    cohort_of = {p.user_id: i % COHORTS for i, p in enumerate(people)}
    config = tmp_path / "natverk.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "homeserver": hs.base_url,
                "bot": {"user_id": bot.user_id, "database": "natverk.db"},
                "admins": [admin.user_id],
                "advisers": {"room": "#burst-adv:localhost", "members": [adviser.user_id]},
                "cohorts": [
                    {
                        "id": f"b{c}",
                        "name": f"Burst {c}",
                        "room": f"#burst-{c}:localhost",
                        "participants": [u for u, k in cohort_of.items() if k == c],
                    }
                    for c in range(COHORTS)
                ],
            }
        ),
        "utf-8",
    )
    log = tmp_path / "bot.log"
    proc = start_natverk(config, bot.password, log)
    clients: list[Person] = []
    try:
        adv = Person(hs.base_url, adviser.user_id, adviser.access_token, adviser.device_id)
        clients.append(adv)
        await adv.start()
        # Invited to the advisers' room, and (the privacy notice) to a direct chat.
        await adv.wait_until(lambda: bool(adv.invites), timeout=60)
        adv_room = await resolve(adv, "#burst-adv:localhost")
        await adv.join(adv_room)
        persons: list[Person] = []
        for user in people:
            p = Person(hs.base_url, user.user_id, user.access_token, user.device_id)
            clients.append(p)
            await p.start()
            await p.wait_until(lambda p=p: bool(p.invites), timeout=60)
            await p.join(await resolve(p, f"#burst-{cohort_of[p.user_id]}:localhost"))
            persons.append(p)
        rooms = {p.user_id: next(iter(p.events)) for p in persons}

        # The burst: every participant asks five questions as fast as they can.
        async def ask_all(p: Person) -> list[tuple[str, str]]:
            asked = []
            for n in range(QUESTIONS_EACH):
                text = f"Fråga {n} från {p.localpart}"
                asked.append((await p.say(rooms[p.user_id], f"!ask {text}"), text))
            return asked

        burst = asyncio.gather(*(ask_all(p) for p in persons))

        def roots_seen() -> int:
            return sum(1 for e in adv.events.get(adv_room, []) if "Fråga " in body(e))

        await adv.wait_until(lambda: roots_seen() >= 8, timeout=60)
        kill(proc)  # mid-burst
        assert roots_seen() < PARTICIPANTS * QUESTIONS_EACH, "the kill must land mid-burst"
        asked = dict(pair for pairs in await burst for pair in pairs)
        assert len(asked) == PARTICIPANTS * QUESTIONS_EACH
        proc = start_natverk(config, bot.password, log)

        async def roots() -> list[Event]:
            return [
                e
                for e in await adv.history(adv_room)
                if e.get("sender") == bot.user_id
                and e.get("type") == "m.room.message"
                and "m.new_content" not in e["content"]
                and "Fråga " in body(e)
                and " · " in body(e)
            ]

        for _ in range(120):
            if len(await roots()) >= len(asked):
                break
            await asyncio.sleep(0.5)
        root_events = await roots()
        texts = [next(t for t in asked.values() if t in body(e)) for e in root_events]
        assert Counter(texts) == Counter(asked.values()), "each question exactly once"
        for p in persons:  # in order per asker
            mine = [t for t in texts if t.endswith(f"från {p.localpart}")]
            assert mine == [f"Fråga {n} från {p.localpart}" for n in range(QUESTIONS_EACH)]

        # The adviser answers every question; the bot is killed in the middle again.
        answers: dict[str, str] = {}
        for i, root in enumerate(root_events):
            text = next(t for t in asked.values() if t in body(root))
            answers[text] = f"Svar på {text}"
            await adv.say(adv_room, answers[text], thread_root=root["event_id"])
            if i == 20:
                kill(proc)
                proc = start_natverk(config, bot.password, log)

        async def relayed() -> Counter[str]:
            seen: Counter[str] = Counter()
            for c in range(COHORTS):
                p = next(p for p in persons if cohort_of[p.user_id] == c)
                for e in await p.history(rooms[p.user_id]):
                    if e.get("sender") == bot.user_id and "Svar på Fråga" in body(e):
                        seen[body(e).split("\n", 1)[1]] += 1
            return seen

        for _ in range(120):
            if len(await relayed()) >= len(answers):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        assert await relayed() == Counter(answers.values()), "each answer exactly once"

        # Each question got exactly one acknowledgement in its thread.
        acks: Counter[str] = Counter()
        for c in range(COHORTS):
            p = next(p for p in persons if cohort_of[p.user_id] == c)
            for e in await p.history(rooms[p.user_id]):
                if (
                    e.get("sender") == bot.user_id
                    and rel(e).get("rel_type") == "m.thread"
                    and "skickad till rådgivarna" in body(e)
                ):
                    acks[rel(e)["event_id"]] += 1
        assert acks == Counter(asked.keys())
    finally:
        for client in clients:
            await client.stop()
        terminate(proc, grace=15)
