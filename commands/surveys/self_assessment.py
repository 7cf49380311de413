"""``!progress [survey-id]``: self-assessments compared between rounds.

A participant sees their own answers in the latest round against the previous one, always in
their direct chat with the bot (asked in a cohort room, the answer goes there and the room only
hears that it was sent). Facilitators (for their cohorts), advisers and admins see each cohort's
aggregate change: the mean (scales) or the count per choice, with n for both rounds, and only
when both rounds have at least the survey's ``min_group`` answers. Nothing personal is ever
written to a cohort room.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bot import direct, i18n
from bot.context import BaseContext, CommandContext
from bot.registry import Arg, command
from bot.types import Place
from commands.surveys import progress as pg
from config import Cohort, Config, Role
from config.model import Survey
from storage import surveys as store

AGGREGATE_ROLES = {Role.FACILITATOR, Role.ADVISER, Role.ADMIN}


def self_assessments(config: Config) -> list[Survey]:
    return [s for s in config.surveys if s.self_assessment]


def _round_numbers(rounds: list[store.Round]) -> dict[int, int]:
    """Round id -> its number (1, 2, …) among the rounds of the same survey and cohort."""
    seen: dict[str, int] = defaultdict(int)
    out: dict[int, int] = {}
    for rnd in sorted(rounds, key=lambda r: r.id):
        seen[rnd.cohort_id] += 1
        out[rnd.id] = seen[rnd.cohort_id]
    return out


async def personal_text(ctx: BaseContext, survey: Survey, user: str, lang: str) -> str | None:
    """The person's latest answers against their previous round; None if they have none."""
    mine = await store.responses_of_user(ctx.tx, survey.id, user)
    if not mine:
        return None
    if len(mine) == 1:
        return i18n.t(lang, "progress.only_one", title=survey.title)
    numbers = _round_numbers(await store.rounds_of(ctx.tx, survey.id))
    before, now = mine[-2], mine[-1]
    changes = pg.personal_changes(survey, before.answers, now.answers)
    return pg.render_personal(
        survey, changes, lang, numbers.get(before.round_id, 0), numbers.get(now.round_id, 0)
    )


async def cohort_text(ctx: BaseContext, survey: Survey, cohort: Cohort, lang: str) -> str:
    """The cohort's aggregate in its two latest rounds that have answers."""
    rounds = [r for r in await store.rounds_of(ctx.tx, survey.id) if r.cohort_id == cohort.id]
    numbers = _round_numbers(rounds)
    by_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for resp in await store.responses(ctx.tx, [r.id for r in rounds]):
        by_round[resp.round_id].append(resp.answers)
    answered = [r.id for r in rounds if by_round[r.id]]
    if len(answered) < 2:
        return i18n.t(lang, "progress.cohort_too_few", cohort=cohort.name, title=survey.title)
    before, now = answered[-2], answered[-1]
    if min(len(by_round[before]), len(by_round[now])) < survey.min_group:
        return i18n.t(
            lang,
            "progress.cohort_too_small",
            cohort=cohort.name,
            title=survey.title,
            min=survey.min_group,
            before=len(by_round[before]),
            now=len(by_round[now]),
        )
    changes = pg.aggregate_changes(survey, by_round[before], by_round[now])
    return pg.render_aggregate(survey, changes, lang, cohort.name, numbers[before], numbers[now])


def aggregate_cohorts(ctx: CommandContext) -> list[Cohort]:
    """Whose aggregate the sender may see here: in a cohort room only that cohort."""
    user = ctx.event.sender
    roles = ctx.config.global_roles(user)
    if not roles & AGGREGATE_ROLES:
        return []
    everything = bool({Role.ADVISER, Role.ADMIN} & roles)
    cohorts = [c for c in ctx.config.cohorts if everything or user in c.facilitators]
    if ctx.place == Place.COHORT:
        return [c for c in cohorts if ctx.cohort is not None and c.id == ctx.cohort.id]
    return cohorts


def _chosen(ctx: CommandContext, wanted: str | None) -> list[Survey] | str:
    """The self-assessments asked about, or the error to answer with."""
    available = self_assessments(ctx.config)
    if not available:
        return ctx.t("progress.no_surveys")
    if wanted is None:
        return available
    found = [s for s in available if s.id == wanted]
    if not found:
        return ctx.t("progress.not_self_assessment", id=wanted, ids=_ids(available))
    return found


def _ids(surveys: list[Survey]) -> str:
    return ", ".join(s.id for s in surveys)


@command(
    "progress",
    args=[Arg("survey_id", required=False)],
    places=(Place.DIRECT, Place.COHORT, Place.ADVISERS),
    aliases={"sv": ["framsteg"]},
)
async def progress_command(ctx: CommandContext, args: dict[str, Any]) -> None:
    chosen = _chosen(ctx, args.get("survey_id"))
    if isinstance(chosen, str):
        await ctx.reply(chosen)
        return
    user = ctx.event.sender
    cohorts = aggregate_cohorts(ctx)
    aggregate = [await cohort_text(ctx, s, c, ctx.lang) for s in chosen for c in cohorts]
    personal = [
        text for s in chosen if (text := await personal_text(ctx, s, user, ctx.lang)) is not None
    ]
    if not personal and not cohorts:
        personal = [ctx.t("progress.none")]
    if ctx.place == Place.DIRECT:
        await ctx.reply("\n\n".join([*personal, *aggregate]))
        return
    if ctx.place == Place.ADVISERS and aggregate:
        await ctx.reply("\n\n".join(aggregate))
        aggregate = []
    private = [*personal, *aggregate]
    if private:
        await direct.tell(ctx, user, "\n\n".join(private))
        await ctx.reply(ctx.t("progress.sent_privately"))
