"""Poll events (MSC3381) and the tally, counted exactly as Element counts."""

from __future__ import annotations

from typing import Any

from commands.checkins import polls
from commands.checkins.polls import End, Response

POLL = polls.parse_start(polls.start_content("Hur gick det?", ["Bra", "Sådär", "Dåligt"]))
assert POLL is not None


def test_start_event_has_the_shape_element_sends() -> None:
    content = polls.start_content("Q", ["A", "B"])
    assert content["org.matrix.msc1767.text"] == "Q\n1. A\n2. B"
    start = content["org.matrix.msc3381.poll.start"]
    assert start["question"]["org.matrix.msc1767.text"] == "Q"
    assert start["kind"] == "org.matrix.msc3381.poll.disclosed"
    assert start["max_selections"] == 1
    assert start["answers"] == [
        {"id": "a1", "org.matrix.msc1767.text": "A"},
        {"id": "a2", "org.matrix.msc1767.text": "B"},
    ]
    assert (
        polls.start_content("Q", ["A", "B"], disclosed=False)["org.matrix.msc3381.poll.start"][
            "kind"
        ]
        == "org.matrix.msc3381.poll.undisclosed"
    )


def test_end_event_references_the_poll_and_has_a_fallback() -> None:
    content = polls.end_content("$start", "A: 1")
    assert content["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$start"}
    assert content["org.matrix.msc3381.poll.end"] == {}
    assert content["org.matrix.msc1767.text"] == "A: 1" == content["body"]


def test_stable_start_and_kinds_are_understood() -> None:
    stable: dict[str, Any] = {
        "m.poll": {
            "question": {"m.text": [{"body": "Q"}]},
            "kind": "m.disclosed",
            "max_selections": 2,
            "answers": [{"id": "x", "m.text": [{"body": "X"}]}, {"id": "y"}],
        }
    }
    poll = polls.parse_start(stable)
    assert poll is not None
    assert poll.question == "Q" and poll.disclosed and poll.max_selections == 2
    assert poll.answers[0] == polls.Answer("x", "X")


def test_response_selections_unstable_and_stable() -> None:
    assert polls.response_selections({"org.matrix.msc3381.poll.response": {"answers": ["a1"]}}) == [
        "a1"
    ]
    assert polls.response_selections({"m.poll.response": {"m.selections": ["a2"]}}) == ["a2"]
    assert polls.response_selections({"m.selections": ["a3"]}) == ["a3"]
    assert polls.response_selections({}) is None


def test_latest_response_per_user_wins() -> None:
    result = polls.tally(
        POLL,
        [
            Response("@a", 1, ["a1"]),
            Response("@a", 3, ["a2"]),  # changed vote
            Response("@b", 2, ["a2"]),
            Response("@c", 5, ["a3"]),
            Response("@c", 4, ["a1"]),  # older, arrives later: ignored
        ],
    )
    assert result.counts == {"a1": 0, "a2": 2, "a3": 1}
    assert result.voters == 3 and result.spoiled == 0


def test_spoiled_responses_count_for_nothing_and_replace_earlier_votes() -> None:
    result = polls.tally(
        POLL,
        [
            Response("@a", 1, ["a1"]),
            Response("@a", 2, []),  # empty: spoiled, replaces the vote
            Response("@b", 1, "a1"),  # not a list
            Response("@c", 1, ["nope"]),  # unknown answer id
            Response("@d", 1, ["a1", "nope"]),  # one unknown spoils all
            Response("@e", 1, [7]),  # not a string
            Response("@f", 1, None),
            Response("@g", 1, ["a3"]),
        ],
    )
    assert result.counts == {"a1": 0, "a2": 0, "a3": 1}
    assert result.voters == 1 and result.spoiled == 6


def test_selections_are_truncated_to_max_selections() -> None:
    result = polls.tally(POLL, [Response("@a", 1, ["a2", "a3"])])
    assert result.counts == {"a1": 0, "a2": 1, "a3": 0}
    assert result.by_user == {"@a": ("a2",)}


def test_only_responses_on_or_before_the_end_count() -> None:
    responses = [
        Response("@a", 10, ["a1"]),
        Response("@b", 20, ["a2"]),  # exactly at the end: counts
        Response("@c", 21, ["a3"]),  # after the end
        Response("@a", 30, ["a3"]),  # a change after the end: the earlier vote stays
    ]
    result = polls.tally(POLL, responses, end_ts=20)
    assert result.counts == {"a1": 1, "a2": 1, "a3": 0}


def test_an_end_counts_only_from_the_poll_sender_or_someone_who_may_redact() -> None:
    def may_redact(user: str) -> bool:
        return user == "@facilitator"

    ends = [End("@participant", 5), End("@facilitator", 9), End("@bot", 12)]
    assert polls.end_time("@bot", ends, may_redact) == 9
    assert polls.end_time("@bot", [End("@participant", 5)], may_redact) is None
    assert polls.end_time("@bot", [End("@bot", 12), End("@bot", 11)], may_redact) == 11


def test_result_lines_in_answer_order() -> None:
    result = polls.tally(POLL, [Response("@a", 1, ["a2"])])
    assert polls.result_lines(POLL, result) == ["Bra: 0", "Sådär: 1", "Dåligt: 0"]
    assert result.winners() == ["a2"]
