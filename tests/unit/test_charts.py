"""The evaluation's charts: PNG bytes, the same for the same input, Swedish letters and user text
drawn literally, no figure left open and no pyplot."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import matplotlib
import pytest

from commands.evaluation import charts

ROOT = Path(__file__).resolve().parents[2]
MONTHS = ["jan", "feb", "mar", "apr"]
SURVEY = [
    ("Hur nöjd är du med träffarna?", [("1", 0), ("2", 1), ("3", 4), ("4", 2), ("5", 1)]),
    ("Vilket format var bäst?", [("Film", 3), ("Samtal", 5), ("Text", 0)]),
]


def _bar(title: str, label: str, value: float | None) -> bytes:
    return charts.bar_chart(title, [label, "Grupp B"], [value, 3], unit="%")


def _column(title: str, label: str, value: float | None) -> bytes:
    return charts.column_chart(
        title, MONTHS, {label: [1, value, 3, 4], "Kohort 2": [2, 2, None, 1]}, y_label="Antal"
    )


def _line(title: str, label: str, value: float | None) -> bytes:
    return charts.line_chart(title, MONTHS, {label: [3.5, value, 4.0, 4.25]}, y_label="Medel")


def _survey(title: str, label: str, value: float | None) -> bytes:
    return charts.survey_chart(
        title, [(label, [("Ja", int(value or 0)), ("Nej", 2)]), SURVEY[1]], x_label="Antal svar"
    )


CHARTS: dict[str, Callable[[str, str, float | None], bytes]] = {
    "bar": _bar,
    "column": _column,
    "line": _line,
    "survey": _survey,
}


SWEDISH = "Åsa, Östra Ängby – fråga ÅÄÖ åäö é"
DOLLARS = ("$x$ 50% kostar $5", r"$\frac{1}{$")  # mathtext, the second one invalid (it raises)


class Drawn(NamedTuple):
    pngs: dict[str, bytes]
    complaints: list[str]  # warnings, and what matplotlib logged at WARNING or above


@pytest.fixture(scope="module")
def drawn() -> Drawn:
    """Each chart drawn once with Swedish letters and dollar signs in its title and labels."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("matplotlib")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pngs = {
                name: draw(f"{SWEDISH} {DOLLARS[0]}", f"{SWEDISH} {DOLLARS[1]}", 2)
                for name, draw in CHARTS.items()
            }
    finally:
        logger.removeHandler(handler)
    return Drawn(pngs, [str(w.message) for w in caught] + [r.getMessage() for r in records])


@pytest.mark.parametrize("name", CHARTS)
def test_a_valid_png_the_same_bytes_for_the_same_input_and_others_for_other_values(
    drawn: Drawn, name: str
) -> None:
    png = drawn.pngs[name]
    assert png.startswith(charts.PNG_SIGNATURE) and png.endswith(b"IEND\xaeB`\x82")
    width, height = charts.png_size(png)
    assert width == 1200 and 300 <= height <= 3000  # 8 in at 150 dpi
    assert b"Software" not in png and b"matplotlib" not in png
    draw = CHARTS[name]
    assert draw(f"{SWEDISH} {DOLLARS[0]}", f"{SWEDISH} {DOLLARS[1]}", 2) == png
    assert draw(f"{SWEDISH} {DOLLARS[0]}", f"{SWEDISH} {DOLLARS[1]}", 5) != png


def test_png_size_reads_the_header_and_refuses_what_is_not_a_png() -> None:
    header = charts.PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR" + (640).to_bytes(4, "big")
    assert charts.png_size(header + (480).to_bytes(4, "big")) == (640, 480)
    for junk in (b"", b"GIF89a" + bytes(30), header):
        with pytest.raises(ValueError, match="not a PNG"):
            charts.png_size(junk)


def test_the_survey_chart_grows_with_questions_and_choices() -> None:
    one = charts.png_size(charts.survey_chart("Kvalitet", SURVEY[:1]))
    two = charts.png_size(charts.survey_chart("Kvalitet", SURVEY))
    more_choices = [(text, [*choices, ("Annat", 1), ("Vet ej", 2)]) for text, choices in SURVEY]
    wider = charts.png_size(charts.survey_chart("Kvalitet", more_choices))
    assert one[0] == two[0] == wider[0]
    assert one[1] < two[1] < wider[1]


def test_long_labels_are_wrapped_and_shortened() -> None:
    assert charts._wrap("kort", 30, 2) == "kort"
    long = charts._wrap("Samtal om läsförståelse i ämnesundervisningen med exempel " * 3, 30, 2)
    lines = long.split("\n")
    assert len(lines) == 2 and all(len(line) <= 30 for line in lines) and lines[-1].endswith("…")
    unbroken = charts._wrap("x" * 100, 30, 2).split("\n")
    assert len(unbroken) == 2 and all(len(line) <= 30 for line in unbroken)


def test_swedish_letters_render_in_dejavu_without_missing_glyphs(drawn: Drawn) -> None:
    from matplotlib import font_manager

    found = font_manager.findfont(
        font_manager.FontProperties(family="DejaVu Sans"), fallback_to_default=False
    )
    assert Path(found).name == "DejaVuSans.ttf"
    assert len(drawn.pngs) == len(CHARTS)
    assert drawn.complaints == []  # e.g. "Glyph 229 (\\N{...}) missing from font(s) ..."


def test_dollar_signs_are_literal_and_settings_are_left_as_they_were(drawn: Drawn) -> None:
    # The drawings with DOLLARS did not raise (invalid mathtext would have), so they were literal.
    assert len(drawn.pngs) == len(CHARTS)
    before = {key: matplotlib.rcParams[key] for key in charts._STYLE}
    assert before["text.parse_math"] is True and before["font.size"] != charts._STYLE["font.size"]
    charts.bar_chart(DOLLARS[1], [DOLLARS[1]], [1])
    assert {key: matplotlib.rcParams[key] for key in charts._STYLE} == before


def test_none_values_draw_no_bar_and_a_dash() -> None:
    assert _bar("Svar", "Grupp A", None) != _bar("Svar", "Grupp A", 0)
    assert charts.bar_chart("Tomt", [], []).startswith(charts.PNG_SIGNATURE)
    gaps = {"A": [None, None, None, None], "B": [1, None, float("nan"), -2]}
    assert charts.column_chart("Luckor", MONTHS, gaps).startswith(charts.PNG_SIGNATURE)
    assert charts.line_chart("Luckor", MONTHS, gaps).startswith(charts.PNG_SIGNATURE)
    assert charts.survey_chart("Inget", []).startswith(charts.PNG_SIGNATURE)
    assert charts.survey_chart("Fri text", [("Något mer?", [])]).startswith(charts.PNG_SIGNATURE)


def test_values_must_match_the_labels() -> None:
    with pytest.raises(ValueError, match="values"):
        charts.bar_chart("Fel", ["a", "b"], [1])
    with pytest.raises(ValueError, match="Kohort"):
        charts.column_chart("Fel", MONTHS, {"Kohort": [1, 2]})


def test_no_pyplot_and_no_figure_left_behind() -> None:
    script = textwrap.dedent(
        """
        import gc, sys
        from matplotlib.figure import Figure
        from commands.evaluation import charts
        charts.bar_chart("a", ["b"], [1])
        charts.column_chart("a", ["b"], {"c": [1], "d": [2]})
        charts.line_chart("a", ["b"], {"c": [1]})
        charts.survey_chart("a", [("b", [("c", 1)])])
        gc.collect()
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        left = [o for o in gc.get_objects() if isinstance(o, Figure)]
        assert not left, left
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
