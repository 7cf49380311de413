"""``natverk survey export CONFIG ID --format csv``: one row per response, no names for
anonymous surveys (there are none to export)."""

from __future__ import annotations

import csv
import io

from commands.surveys import questionnaire as qn
from config import Config
from storage import Database
from storage import surveys as store


async def export_csv(config: Config, survey_id: str) -> str:
    survey = config.survey(survey_id)
    if survey is None:
        raise ValueError(f"no survey {survey_id!r}")
    db = await Database.open(config.bot.database)
    try:
        rounds = {r.id: r for r in await store.rounds_of(db, survey.id)}
        responses = await store.responses(db, list(rounds))
    finally:
        await db.close()
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["response", "cohort", "opened"]
    if not survey.anonymous:
        header.append("person")
    writer.writerow(header + [q.id for q in survey.questions])
    for resp in sorted(responses, key=lambda r: (r.round_id, r.response_id)):
        rnd = rounds[resp.round_id]
        row = [resp.response_id, rnd.cohort_id, qn.iso_date(rnd.opened_at)]
        if not survey.anonymous:
            row.append(resp.user_id or "")
        for q in survey.questions:
            row.append(qn.show_value(q, resp.answers[q.id]) if q.id in resp.answers else "")
        writer.writerow(row)
    return out.getvalue()
