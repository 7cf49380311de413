"""Questionnaire answers, questions shown, result summaries, and the PNG chart."""

from __future__ import annotations

import io
import struct
import zlib

import matplotlib.colors
import matplotlib.image
import pytest

from bot.images import png_size
from commands.evaluation import charts
from commands.surveys import questionnaire as qn
from commands.surveys.chart import survey_results_chart
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


def test_survey_chart_is_a_valid_png_with_longer_bars_for_larger_counts() -> None:
    png = survey_results_chart("Kvalitet", [("Hur nöjd?", [("inte alls", 1), ("mycket", 4)])])
    width, height, raw = _png_pixels(png)
    assert (width, height) == png_size(png)
    channels = {2: 3, 6: 4}[png[25]]  # IHDR colour type: RGB or RGBA
    assert len(raw) == height * (1 + width * channels)

    # Each bar is a run of rows holding the bar colour; its length is the bar's.
    pixels = matplotlib.image.imread(io.BytesIO(png))[:, :, :3]
    bar = matplotlib.colors.to_rgb(charts.PALETTE[0])
    lengths = (abs(pixels - bar).max(axis=2) < 0.01).sum(axis=1)
    bars: list[int] = []
    for y, n in enumerate(lengths):
        if n and (y == 0 or not lengths[y - 1]):
            bars.append(0)
        if n:
            bars[-1] = max(bars[-1], int(n))
    assert len(bars) == 2
    assert bars[0] * 4 == pytest.approx(bars[1], abs=8)
