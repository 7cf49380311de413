"""The survey chart posted with the results: one panel per question, a bar per choice with its
count (drawn by commands/evaluation/charts.py, which also draws the evaluation's figures)."""

from __future__ import annotations

from collections.abc import Sequence

from commands.evaluation.charts import survey_chart


def survey_results_chart(
    title: str, questions: Sequence[tuple[str, Sequence[tuple[str, int]]]]
) -> bytes:
    """PNG bytes: ``questions`` are (question text, [(choice label, count), …]) in order."""
    return survey_chart(title, questions)
