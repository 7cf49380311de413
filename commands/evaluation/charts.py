"""Charts as PNG bytes, drawn with matplotlib's Agg renderer, readable in print and in a chat.

Every function is pure: plain data in, PNG bytes out. No pyplot (so no global figure registry
for a figure to be left open in): a ``Figure`` with its own ``FigureCanvasAgg``, dropped when
the function returns. The style (DejaVu Sans, which ships with matplotlib and has å ä ö and
"–"; white background; 150 dpi) is applied with ``matplotlib.rc_context`` around each drawing
and restored after it, so importing or calling this module changes no one else's settings.

Labels are people's text (question texts, cohort names) and are drawn as written: mathtext is
off, so "$x$ kostar $5" stays exactly that. The same input gives the same bytes: the PNG carries
no software version or timestamp.
"""

from __future__ import annotations

import io
import math
import textwrap
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bot.images import PNG_SIGNATURE, png_size

# matplotlib is imported when the first chart is drawn, not when the bot starts (every module
# under commands/ is loaded at start-up; matplotlib alone takes about 0.4 s to import).
if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

_ONE_AT_A_TIME = threading.Lock()  # charts may be drawn in worker threads
DPI = 150
WIDTH_IN = 8.0  # 1200 px at 150 dpi: a page's width in print, sharp in a chat
# Okabe–Ito: distinguishable for colour-blind readers. Lines also differ in dash and marker, so
# a grey print still tells the series apart.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P")
INK = "#222222"
AXIS = "#888888"
GRID = "#DDDDDD"
MISSING = "–"  # shown where a value is None

_STYLE: dict[RcKeyType, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.titlelocation": "left",
    "figure.titlesize": 12.0,
    "figure.titleweight": "bold",
    # User text is literal: no mathtext, no LaTeX.
    "text.parse_math": False,
    "text.usetex": False,
    "axes.formatter.use_mathtext": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "savefig.transparent": False,
    "text.color": INK,
    "axes.labelcolor": INK,
    "axes.edgecolor": AXIS,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float | None], *, unit: str = ""
) -> bytes:
    """Horizontal bars, one per label (top to bottom in order), each value printed at the end
    of its bar with ``unit``. A None value draws no bar and shows "–"."""
    vals = _checked(labels, values, "values")

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        _hbars(ax, [_wrap(label, 30, 2) for label in labels], vals, unit=unit)
        ax.set_xlabel(unit)

    return _render(title, 1.2 + _rows_height(labels, 30), draw)


def column_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_label: str = "",
) -> bytes:
    """Vertical columns, grouped per x label (e.g. months), one colour per series, each value
    printed above its column; a legend when there is more than one series."""
    data = {name: _checked(labels, vals, name) for name, vals in series.items()}

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        n, k = len(labels), max(len(data), 1)
        width = 0.8 / k
        crowded = n * k > 24
        handles = []
        for i, vals in enumerate(data.values()):
            offset = (i - (k - 1) / 2) * width
            present = [(j + offset, v) for j, v in enumerate(vals) if v is not None]
            bars = ax.bar(
                [x for x, _ in present],
                [v for _, v in present],
                width=width * 0.9,
                color=PALETTE[i % len(PALETTE)],
                zorder=2,
            )
            handles.append(bars)
            for j, v in enumerate(vals):
                up = v is None or v >= 0
                ax.annotate(
                    MISSING if v is None else _number(v),
                    (j + offset, 0.0 if v is None else v),
                    xytext=(0, 2 if up else -2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom" if up else "top",
                    rotation=90 if crowded else 0,
                    fontsize=7 if crowded else 8,
                )
        _x_labels(ax, labels)
        _value_limits(ax, [v for vals in data.values() for v in vals], axis="y", room=0.12)
        ax.set_ylabel(y_label)
        ax.yaxis.grid(True, color=GRID)
        ax.set_axisbelow(True)
        if len(data) > 1:
            # Explicit labels: a name starting with "_" would otherwise be left out.
            ax.legend(handles, list(data), loc="upper left", bbox_to_anchor=(1.0, 1.0))

    return _render(title, 4.5, draw)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_label: str = "",
) -> bytes:
    """One line per series over the x labels; a None value leaves a gap in its line. A legend
    when there is more than one series."""
    data = {name: _checked(labels, vals, name) for name, vals in series.items()}

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        handles = []
        for i, vals in enumerate(data.values()):
            (line,) = ax.plot(
                list(range(len(labels))),
                [math.nan if v is None else v for v in vals],
                color=PALETTE[i % len(PALETTE)],
                linestyle=LINESTYLES[i % len(LINESTYLES)],
                marker=MARKERS[i % len(MARKERS)],
                markersize=4,
                linewidth=1.8,
                zorder=2,
            )
            handles.append(line)
        _x_labels(ax, labels)
        _value_limits(ax, [v for vals in data.values() for v in vals], axis="y", room=0.08)
        ax.set_ylabel(y_label)
        ax.yaxis.grid(True, color=GRID)
        ax.set_axisbelow(True)
        if len(data) > 1:
            ax.legend(handles, list(data), loc="upper left", bbox_to_anchor=(1.0, 1.0))

    return _render(title, 4.5, draw)


def survey_chart(
    title: str, questions: Sequence[tuple[str, Sequence[tuple[str, int]]]], *, x_label: str = ""
) -> bytes:
    """One panel per question (its text as the panel's title), a horizontal bar per choice with
    its count. All panels share one scale; the image grows with the questions and choices."""
    panels = [
        (_wrap(text, 80, 3), [_wrap(label, 32, 2) for label, _ in choices], [c for _, c in choices])
        for text, choices in questions
    ]
    top = max((c for _, _, counts in panels for c in counts), default=0)
    height = 0.9 + sum(
        0.35 + 0.2 * (text.count("\n") + 1) + _rows_height(labels, None)
        for text, labels, _ in panels
    )

    def draw(fig: Figure) -> None:
        if not panels:
            ax = fig.add_subplot()
            ax.set_axis_off()
            ax.text(0.5, 0.5, MISSING, ha="center", va="center", transform=ax.transAxes)
            return
        ratios = [_rows(labels) for _, labels, _ in panels]
        axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=ratios)[:, 0]
        last: Axes | None = None
        for ax, (text, labels, counts) in zip(axes, panels, strict=True):
            ax.set_title(text)
            if not labels:
                ax.set_axis_off()
                ax.text(0.0, 0.5, MISSING, va="center", transform=ax.transAxes)
                continue
            _hbars(ax, labels, [float(c) for c in counts], top=float(top))
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            last = ax
        if last is not None:
            last.set_xlabel(x_label)  # once, under the last panel with bars

    return _render(title, height, draw)


# --- drawing -------------------------------------------------------------------------------------


def _render(title: str, height_in: float, draw: Callable[[Figure], None]) -> bytes:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _ONE_AT_A_TIME, matplotlib.rc_context(_STYLE):  # rc_context is process-wide
        fig = Figure(figsize=(WIDTH_IN, max(height_in, 2.0)), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig)
        fig.suptitle(_wrap(title, 70, 2))
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _hbars(
    ax: Axes,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    unit: str = "",
    top: float | None = None,
) -> None:
    rows = list(range(len(labels)))
    present = [(y, v) for y, v in zip(rows, values, strict=True) if v is not None]
    ax.barh(
        [y for y, _ in present], [v for _, v in present], height=0.65, color=PALETTE[0], zorder=2
    )
    texts = []
    for y, v in zip(rows, values, strict=True):
        text = MISSING if v is None else _with_unit(_number(v), unit)
        texts.append(text)
        right = v is None or v >= 0
        ax.annotate(
            text,
            (0.0 if v is None else v, y),
            xytext=(3 if right else -3, 0),
            textcoords="offset points",
            ha="left" if right else "right",
            va="center",
        )
    ax.set_yticks(rows, list(labels))
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)  # the first label on top
    ax.tick_params(axis="y", length=0)
    # Room at the bar ends for the longest value text.
    room = 0.06 + 0.018 * max((len(t) for t in texts), default=1)
    _value_limits(ax, [*values, top], axis="x", room=room)
    ax.xaxis.grid(True, color=GRID)
    ax.set_axisbelow(True)


def _value_limits(ax: Axes, values: Sequence[float | None], *, axis: str, room: float) -> None:
    """From 0 (or below, for negatives) to past the largest value, leaving ``room`` (a share of
    the span) for the value texts."""
    present = [v for v in values if v is not None]
    low, high = min([0.0, *present]), max([0.0, *present])
    if high == low:
        high = low + 1.0
    span = high - low
    limits = (low - (span * room if low < 0 else 0.0), high + (span * room if high > 0 else 0.0))
    if axis == "x":
        ax.set_xlim(*limits)
        if low < 0:
            ax.axvline(0.0, color=AXIS, linewidth=0.8)
    else:
        ax.set_ylim(*limits)
        if low < 0:
            ax.axhline(0.0, color=AXIS, linewidth=0.8)


def _x_labels(ax: Axes, labels: Sequence[str]) -> None:
    many = len(labels) > 8
    ax.set_xticks(
        list(range(len(labels))),
        [_wrap(label, 14, 2) for label in labels],
        rotation=45 if many else 0,
        ha="right" if many else "center",
        rotation_mode="anchor",
    )
    ax.set_xlim(-0.5, max(len(labels), 1) - 0.5)


# --- text ----------------------------------------------------------------------------------------


def _checked(
    labels: Sequence[str], values: Sequence[float | None], name: str
) -> list[float | None]:
    if len(values) != len(labels):
        raise ValueError(f"{name}: {len(values)} values for {len(labels)} labels")
    # NaN and infinities cannot be drawn as a bar: shown as missing.
    return [None if v is None or not math.isfinite(v) else float(v) for v in values]


def _number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit else text


def _wrap(text: str, width: int, max_lines: int) -> str:
    """At most ``max_lines`` lines of about ``width`` characters; the rest becomes "…"."""
    return "\n".join(textwrap.wrap(text, width=width, max_lines=max_lines, placeholder=" …"))


def _rows(labels: Sequence[str]) -> float:
    """A panel's height in bar rows: one per label, a little more for two-line labels."""
    return max(1.0, sum(1.0 + 0.4 * label.count("\n") for label in labels))


def _rows_height(labels: Sequence[str], width: int | None) -> float:
    wrapped = labels if width is None else [_wrap(label, width, 2) for label in labels]
    return 0.32 * _rows(wrapped)


__all__ = ["PNG_SIGNATURE", "bar_chart", "column_chart", "line_chart", "png_size", "survey_chart"]
