"""Questionnaire answers, questions shown, result summaries, and the PNG chart."""

from __future__ import annotations

import struct
import zlib

import pytest

from commands.surveys import questionnaire as qn
from commands.surveys.chart import bar_chart
from config.model import Survey, SurveyQuestion

SCALE = SurveyQuestion(id="s", type="scale", text="Hur nöjd?", labels=["inte alls", "mycket"])
SINGLE = SurveyQuestion(id="o", type="single", text="Bäst?", choices=["Film", "Samtal", "Text"])
MULTI = SurveyQuestion(id="m", type="multiple", text="Vilka?", choices=["A", "B", "C"])
FREE = SurveyQuestion(id="f", type="text", text="Något mer?")
SURVEY = Survey(id="kv", title="Kvalitet", questions=[SCALE, SINGLE, MULTI, FREE])


@pytest.mark.parametrize(
    ("question", "text", "value"),
    [
        (SCALE, "4", 4),
        (SCALE, " 5. ", 5),
        (SCALE, "Mycket", 5),
        (SINGLE, "2", 2),
        (SINGLE, "text", 3),
        (MULTI, "1,3", [1, 3]),
        (MULTI, "3 1 1", [1, 3]),
        (MULTI, "a, c", [1, 3]),
        (FREE, "  Bra träff!  ", "Bra träff!"),
    ],
)
def test_valid_answers(question: SurveyQuestion, text: str, value: object) -> None:
    assert qn.parse_answer(question, text) == value


@pytest.mark.parametrize(
    ("question", "text"),
    [
        (SCALE, "6"),
        (SCALE, "0"),
        (SCALE, "bra"),
        (SINGLE, "4"),
        (SINGLE, "1,2"),
        (MULTI, "1,9"),
        (MULTI, ","),
        (FREE, "   "),
    ],
)
def test_invalid_answers(question: SurveyQuestion, text: str) -> None:
    with pytest.raises(qn.InvalidAnswerError):
        qn.parse_answer(question, text)


def test_questions_show_number_choices_and_controls() -> None:
    text = qn.render_question(SINGLE, 1, 4, "sv")
    assert text.splitlines()[0] == "Fråga 2/4: Bäst?"
    assert "1. Film" in text and "3. Text" in text and "!hoppa" in text
    assert "1 (inte alls) till 5 (mycket)" in qn.render_question(SCALE, 0, 4, "sv")
    assert "1,3" in qn.valid_choices(MULTI, "en")


def test_summary_counts_mean_spread_and_free_text_without_people() -> None:
    answers = [
        {"s": 4, "o": 1, "m": [1, 3], "f": "Bra"},
        {"s": 2, "o": 1, "m": [3]},
        {"s": 3},
    ]
    summary = qn.summarize(SURVEY, invited=4, answers=answers)
    assert summary.responded == 3 and summary.rate == 0.75
    scale, single, multi, free = summary.questions
    assert scale.mean == 3.0 and scale.stdev is not None and round(scale.stdev, 2) == 0.82
    assert scale.counts == [("1", 0), ("2", 1), ("3", 1), ("4", 1), ("5", 0)]
    assert single.counts == [("Film", 2), ("Samtal", 0), ("Text", 0)] and single.answered == 2
    assert multi.counts == [("A", 1), ("B", 0), ("C", 2)]
    assert free.texts == ["Bra"]
    text = qn.render_summary(summary, "en", ["Kohort 0"])
    assert "Responses: 3 of 4 (75\xa0%)" in text and "mean 3,0, spread (sd) 0,8" in text
    assert "– Bra" in text


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    pos, data = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        body = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IDAT":
            data += body
        pos += 12 + length
    return width, height, zlib.decompress(data)


def test_bar_chart_is_a_valid_png_with_longer_bars_for_larger_counts() -> None:
    png = bar_chart([[1, 4], [0, 2, 2]])
    width, height, raw = _png_pixels(png)
    assert width == 480 and len(raw) == height * (1 + width * 3)

    def bar_length(row: int) -> int:
        line = raw[row * (1 + width * 3) + 1 : (row + 1) * (1 + width * 3)]
        px = [tuple(line[i : i + 3]) for i in range(0, len(line), 3)]
        return sum(1 for p in px if p == (46, 117, 182))

    # First group's bars start at y=10 and y=28 (14 px bars, 4 px gaps).
    assert bar_length(15) * 4 == pytest.approx(bar_length(33), abs=4)
