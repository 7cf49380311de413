"""How a plan shows: its summary message in the cohort room (edited in place as it changes),
listings, and the follow-up's questions. Pure; user text escaped in HTML, every message
bounded to fit."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from bot import i18n, messages
from bot.messages import escape
from commands.plans.status import ANSWERS
from storage.plans import FORMER_MEMBER, WHOLE_COHORT, Item, Plan

TEXT_MAX = 500  # an item's text, in characters
COMMENT_MAX = 300

Names = Callable[[str], str]  # user id -> the name people see


def person(lang: str, user: str | None, names: Names) -> str:
    if user is None:
        return ""
    if user.startswith(FORMER_MEMBER):
        return i18n.t(lang, "plans.former_member")
    return names(user)


def plan_title(lang: str, plan: Plan, cohort_name: str, names: Names) -> str:
    if plan.owner == WHOLE_COHORT:
        return i18n.t(lang, "plans.title_cohort", cohort=cohort_name)
    return i18n.t(
        lang, "plans.title_team", owner=person(lang, plan.owner, names), cohort=cohort_name
    )


def item_line(lang: str, item: Item, names: Names) -> str:
    parts = [f"#{item.id} [{i18n.t(lang, f'plans.status.{item.status}')}] {item.text}"]
    extra = []
    if item.who:
        extra.append(person(lang, item.who, names))
    if item.due:
        extra.append(i18n.t(lang, "plans.by_date", date=item.due))
    if extra:
        parts.append("— " + ", ".join(extra))
    if item.comment:
        parts.append(f"({item.comment})")
    return " ".join(parts)


@dataclass(frozen=True)
class Shown:
    body: str
    html: str


def summary(lang: str, title: str, items: Sequence[Item], names: Names) -> Shown:
    """A plan as one message: its title and items (as many as fit, also when edited)."""
    lines = [item_line(lang, i, names) for i in items] or [i18n.t(lang, "plans.empty")]
    more = lambda n: i18n.t(lang, "lists.more", count=n)  # noqa: E731
    # An edit carries the text twice: half the listing budget each.
    shown = messages.bounded_lines(lines, more, messages.LISTING_BYTES // 2)
    html = (
        f"<p><b>{escape(title)}</b></p><ul>"
        + "".join(f"<li>{escape(line)}</li>" for line in shown)
        + "</ul>"
    )
    return Shown("\n".join([title, *shown]), html)


def listing(lang: str, plans: Sequence[tuple[str, Sequence[Item]]], names: Names) -> Shown:
    """Several plans (title, items) in one answer."""
    lines: list[str] = []
    for title, items in plans:
        lines.append(title)
        lines += [f"  {item_line(lang, i, names)}" for i in items] or [
            f"  {i18n.t(lang, 'plans.empty')}"
        ]
    if not lines:
        lines = [i18n.t(lang, "plans.none")]
    shown = messages.bounded_lines(lines, lambda n: i18n.t(lang, "lists.more", count=n))
    html = "<br>".join(escape(line) for line in shown)
    return Shown("\n".join(shown), html)


def follow_up_question(lang: str, item: Item, number: int, total: int) -> str:
    choices = " ".join(
        f"{n}) {i18n.t(lang, f'plans.answer.{key}')}" for n, (key, _) in enumerate(ANSWERS, 1)
    )
    return i18n.t(
        lang,
        "plans.follow_up.question",
        number=number,
        total=total,
        item=messages.short(item.text, 200),
        choices=choices,
    )


# --- parsing what people write -----------------------------------------------------------------

USER_ID = re.compile(r"@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(?::[0-9]+)?")
_BY = re.compile(r"\s+(?:by|senast)\s+(\d{4}-\d{2}-\d{2})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class NewItem:
    text: str
    who: str | None
    due: str | None


def parse_new_item(text: str, mentioned: Sequence[str]) -> NewItem | str:
    """``TEXT [@who] [by DATE]``; a pill counts as ``@who`` (the event's mentions). A message
    key for what is wrong, if something is."""
    due = None
    found = _BY.search(text)
    if found:
        try:
            due = date.fromisoformat(found[1]).isoformat()
        except ValueError:
            return "plans.bad_date"
        text = text[: found.start()]
    users = USER_ID.findall(text)
    who = users[-1] if users else (mentioned[0] if mentioned else None)
    for user in users:
        text = text.replace(user, " ")
    text = " ".join(text.split()).strip(" ,")
    if not text:
        return "plans.add_usage"
    if len(text) > TEXT_MAX:
        return "plans.too_long"
    return NewItem(text, who, due)
