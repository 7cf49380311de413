"""The network configuration as checked, typed, immutable objects.

Checks of one value live on its field; checks that span several items (duplicates, people
listed in two incompatible roles) live in one validator on :class:`Config` that reports every
offending item with its own key path, so the loader can point at the right line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, NewType, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

UserID = NewType("UserID", str)

Loc = tuple[str | int, ...]

_SERVER = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?"
_USER_ID = re.compile(rf"@[a-z0-9._=\-/+]+:{_SERVER}")
_ROOM = re.compile(rf"[#!][^\s:]+:{_SERVER}")
_SLUG = re.compile(r"[a-z0-9_-]+")
_DURATION = re.compile(r"([0-9]+)([mhd])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


class Role(StrEnum):
    PARTICIPANT = "participant"
    FACILITATOR = "facilitator"
    ADVISER = "adviser"
    ADMIN = "admin"


def _matching(pattern: re.Pattern[str], kind: str, message: str) -> Callable[[str], str]:
    """A validator that accepts values matching ``pattern`` and names the problem otherwise."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise PydanticCustomError(kind, message, {"value": value})
        return value

    return check


_user_id = _matching(
    _USER_ID, "user_id", "'{value}' is not a Matrix user id (expected @local:server)"
)
_room = _matching(
    _ROOM,
    "room",
    "'{value}' is not a room alias or room id (expected #alias:server or !id:server)",
)
_slug = _matching(
    _SLUG, "slug", "'{value}' is not a valid id (use lowercase letters, digits, - and _)"
)


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30m``, ``4h`` or ``2d``; ValueError if it is not one."""
    match = _DURATION.fullmatch(text)
    if match is None or int(match[1]) == 0:
        raise ValueError(text)
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def _duration(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError:
        raise PydanticCustomError(
            "duration",
            "'{value}' is not a duration (expected e.g. 30m, 4h or 2d)",
            {"value": value},
        ) from None
    return value


def _web_url(value: str) -> str:
    url = urlsplit(value)
    bad = any(c.isspace() or c in '<>"' for c in value)
    if url.scheme not in ("http", "https") or not url.hostname or bad:
        raise PydanticCustomError(
            "url",
            "'{value}' is not an http(s) URL (expected e.g. https://www.spsm.se/...)",
            {"value": value},
        )
    return value


def _tag(value: str) -> str:
    tag = value.removeprefix("#")
    if not tag or len(tag) > 50 or not all(c.isalnum() or c in "-_" for c in tag):
        raise PydanticCustomError(
            "tag",
            "'{value}' is not a tag (letters, digits, - and _; e.g. läsförståelse)",
            {"value": value},
        )
    return tag


MatrixUser = Annotated[str, AfterValidator(_user_id)]
RoomAddress = Annotated[str, AfterValidator(_room)]
Slug = Annotated[str, AfterValidator(_slug)]
WebURL = Annotated[str, AfterValidator(_web_url)]
Tag = Annotated[str, AfterValidator(_tag)]
Duration = Annotated[str, AfterValidator(_duration)]


def _problems(found: list[tuple[Loc, str]]) -> ValidationError:
    """One validation error per (key path, message), for a model validator to raise."""
    return ValidationError.from_exception_data(
        "Config",
        [
            InitErrorDetails(type=PydanticCustomError("config", message), loc=loc, input=None)
            for loc, message in found
        ],
    )


def _duplicates(what: str, items: list[tuple[Loc, str]]) -> list[tuple[Loc, str]]:
    """A problem for every value that already appeared earlier in ``items``."""
    first: dict[str, Loc] = {}
    found: list[tuple[Loc, str]] = []
    for loc, value in items:
        if value in first:
            found.append(
                (loc, f"duplicate {what} '{value}' (first at {format_path(first[value])})")
            )
        first.setdefault(value, loc)
    return found


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BotSettings(_Model):
    user_id: MatrixUser
    database: Path = Field(default=Path("natverk.db"), validate_default=True)
    language: Literal["sv", "en"] = "sv"
    timezone: str = "Europe/Stockholm"
    token_file: Path | None = None
    display_name: str = "natverk"
    device_name: str = "natverk-bot"
    # End-to-end encryption (matrix-nio's e2e extra). The crypto store (the device's keys and
    # every room key it has received) lives in this folder, beside the database by default.
    crypto_store: Path | None = Field(default=None, validate_default=True)
    # Direct chats the bot opens are created encrypted (rooms people encrypted are read anyway).
    encryption: bool = False
    # A message the bot cannot decrypt is kept this long waiting for its key; then the sender
    # is told, once, that it could not be read (at once if the key is withheld).
    undecryptable_after: Duration = "5m"
    # Whose devices get the room keys of what the bot sends: by default only devices their
    # owner has cross-signed (Element's "exclude insecure devices"); "all-devices" for
    # homeservers whose people have not set up cross-signing (README, "Whom the bot encrypts
    # for").
    encrypt_for: Literal["cross-signed", "all-devices"] = "cross-signed"
    # The homeserver's cross-signing master key that the bot may replace with its own (see
    # README, "Encryption: the bot's identity"); any other key found there is left alone.
    replace_master_key: str | None = None

    @property
    def crypto_store_path(self) -> Path:
        """The crypto store's folder: ``crypto_store``, else ``<database>.crypto`` beside it."""
        if self.crypto_store is not None:
            return self.crypto_store
        return self.database.with_name(self.database.name + ".crypto")

    @property
    def undecryptable_after_ms(self) -> int:
        return parse_duration(self.undecryptable_after) * 1000

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone", "'{value}' is not a known time zone", {"value": value}
            ) from None
        return value

    @field_validator("replace_master_key")
    @classmethod
    def _a_master_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
            raise PydanticCustomError(
                "master_key",
                "'{value}' is not a cross-signing master key (43 characters of unpadded base64, "
                "as the admins' notice names it)",
                {"value": value},
            )
        return value

    @field_validator("database", "token_file", "crypto_store")
    @classmethod
    def _relative_to_config_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Relative paths are taken from the folder of the YAML file (``context['base_dir']``)."""
        base_dir = (info.context or {}).get("base_dir")
        if value is None or base_dir is None:
            return value
        return Path(base_dir) / value


class Stage(_Model):
    """A step of a staged request. ``within``: the time allowed to reach this stage, counted
    from when the request entered the stage before it (``planering`` within 7 days of
    ``mottagen``)."""

    id: Slug
    name: str
    within: Duration | None = None

    @property
    def within_seconds(self) -> int | None:
        return None if self.within is None else parse_duration(self.within)


class Category(_Model):
    id: Slug
    name: str
    default: bool = False
    room: RoomAddress | None = None
    # Its own room is end-to-end encrypted (created so, or switched on; never off again).
    encryption: bool = False
    members: list[MatrixUser] = []
    # Service level: unanswered questions of this category are reminded about after this long
    # (default: advisers.reminder_after), naming the people on duty (default: all who handle it).
    reminder_after: Duration | None = None
    on_duty: list[MatrixUser] = []
    # A staged request (e.g. a tailored intervention) moves through these, with !stage.
    stages: list[Stage] = []
    # The evaluation survey sent to a request's participants when its last session ends.
    survey: Slug | None = None

    def stage(self, stage_id: str) -> Stage | None:
        folded = stage_id.casefold()
        return next(
            (s for s in self.stages if folded in (s.id.casefold(), s.name.casefold())), None
        )


def _builtin_categories() -> list[Category]:
    return [Category(id="allmant", name="Allmän fråga", default=True)]


class Advisers(_Model):
    room: RoomAddress
    name: str = "Rådgivning"
    members: list[MatrixUser]
    categories: list[Category] = Field(default_factory=_builtin_categories)
    attribution: Literal["team", "name"] = "team"
    reminder_after: Duration = "24h"
    # The shared adviser room is end-to-end encrypted (created so, or switched on; never off).
    encryption: bool = False

    @property
    def reminder_after_seconds(self) -> int:
        return parse_duration(self.reminder_after)

    def reminder_seconds(self, category: Category | None) -> int:
        """The category's service level: how long a question may wait for an answer."""
        if category is not None and category.reminder_after is not None:
            return parse_duration(category.reminder_after)
        return self.reminder_after_seconds


# --- check-ins and surveys -------------------------------------------------------------------

_EVERY = re.compile(r"([0-9]+) *(day|week|month|year)s?")


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "'{value}' is not a known time zone", {"value": value}
        ) from None
    return value


def parse_every(text: str) -> tuple[int, str]:
    """``'6 months'`` -> ``(6, 'month')``; ValueError if it is not a calendar interval."""
    match = _EVERY.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(text)
    return int(match[1]), match[2]


def _cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as err:
        raise PydanticCustomError(
            "cron",
            "'{value}' is not a cron expression (minute hour day month weekday, e.g. "
            "'0 9 * * MON'): {reason}",
            {"value": value, "reason": str(err)},
        ) from None
    return value


def _every(value: str) -> str:
    try:
        parse_every(value)
    except ValueError:
        raise PydanticCustomError(
            "every",
            "'{value}' is not a calendar interval (expected e.g. '1 week', '6 months')",
            {"value": value},
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]


class PollSpec(_Model):
    """A native Matrix poll (single choice) posted with a check-in."""

    question: str
    answers: list[str] = Field(min_length=2, max_length=20)
    close_after: Duration = "2d"
    disclosed: bool = True


class Schedule(_Model):
    """When a cohort gets a check-in: exactly one of cron, every (+ start) or at."""

    id: Slug
    cron: Annotated[str, AfterValidator(_cron)] | None = None
    every: Annotated[str, AfterValidator(_every)] | None = None
    start: datetime | None = None
    at: datetime | None = None
    timezone: TimeZone | None = None
    text: str | None = None
    message: str | None = None
    poll: PollSpec | None = None
    survey: Slug | None = None
    # Follow the cohort's action plans up: each owner of open items is asked about them.
    follow_up: Literal["plans"] | None = None
    open_for: Duration = "7d"  # how long a follow-up is open
    remind_after: Duration | None = None
    missed: Literal["late", "skip"] = "late"
    grace: Duration = "6h"
    quiet_dates: list[date] = []

    @property
    def kind(self) -> str:
        return "cron" if self.cron else "every" if self.every else "at"


class SurveyQuestion(_Model):
    id: Slug
    type: Literal["scale", "single", "multiple", "text"]
    text: str
    choices: list[str] = []
    min: int = 1
    max: int = 5
    labels: list[str] = []


class Survey(_Model):
    """A questionnaire answered one question at a time in a direct chat with the bot."""

    id: Slug
    title: str
    intro: str = ""
    anonymous: bool = False
    # Repeated in rounds; each participant compares their answers with the previous round.
    self_assessment: bool = False
    # A cohort's aggregate change is shown only when each of the two rounds has at least this
    # many answers: with fewer, the "group" figure is close to one person's answers.
    min_group: int = Field(default=3, ge=1)
    opens: datetime | None = None
    closes: datetime | None = None
    open_for: Duration = "7d"
    remind_after: Duration | None = None
    questions: list[SurveyQuestion] = Field(min_length=1)


class ThemeEntry(_Model):
    """A curated entry material of a theme: a link with a short description."""

    title: str = Field(min_length=1)
    url: WebURL
    description: str = ""


class Theme(_Model):
    """A theme (tema) of the materials catalogue. Items tagged with the theme's id or one of its
    ``tags`` (compared without case and diacritics) belong to it."""

    id: Slug
    name: str = Field(min_length=1)
    tags: list[Tag] = []
    entries: list[ThemeEntry] = []


def _theme_duplicates(themes: list[Theme], where: Loc) -> list[tuple[Loc, str]]:
    return _duplicates("theme id", [((*where, i, "id"), t.id) for i, t in enumerate(themes)])


# The indicators a criterion may name, and the kind of threshold each takes: a share (0.9 or
# "90%"), a duration in hours ("4h", "2d" or a number of hours), or a plain number.
INDICATORS: dict[str, Literal["share", "hours", "number"]] = {
    "active_share": "share",
    "answered_within": "share",
    "first_response_median": "hours",
    "checkin_reply_rate": "share",
    "survey_response_rate": "share",
    "peer_reply_share": "share",
    "materials_per_active_member": "number",
    "self_assessment_change": "number",
}
Threshold = str | float | int


def threshold_value(kind: str, value: Threshold) -> float:
    """A threshold in the indicator's unit (a share from 0 to 1, hours, or a number);
    ValueError if it is not of that kind."""
    if isinstance(value, bool):
        raise ValueError(value)
    if kind == "share":
        if isinstance(value, str):
            text = value.strip()
            if not text.endswith("%"):
                raise ValueError(value)
            share = float(text[:-1].strip().replace(",", ".")) / 100
        else:
            share = float(value)
        if not 0 <= share <= 1:
            raise ValueError(value)
        return share
    if kind == "hours":
        if isinstance(value, str):
            return parse_duration(value.strip()) / 3600
        if value < 0:
            raise ValueError(value)
        return float(value)
    if isinstance(value, str):
        return float(value.strip().replace(",", "."))
    return float(value)


class Phase(_Model):
    """A phase of the pilot (needs, form, operation, evaluation): the report can be cut by it."""

    id: Slug
    name: str = Field(min_length=1)
    from_: date = Field(alias="from")
    to: date


class Criterion(_Model):
    """The agency's own criterion, evaluated against one indicator."""

    id: Slug
    name: str = Field(min_length=1)
    indicator: str
    within: Duration | None = None
    at_least: Threshold | None = None
    at_most: Threshold | None = None

    @property
    def kind(self) -> str:
        return INDICATORS[self.indicator]

    def bound(self) -> tuple[Literal["at_least", "at_most"], float]:
        """Which way the criterion goes and its threshold, in the indicator's unit."""
        if self.at_least is not None:
            return "at_least", threshold_value(self.kind, self.at_least)
        assert self.at_most is not None
        return "at_most", threshold_value(self.kind, self.at_most)


class Retention(_Model):
    """How long the bot keeps what it no longer needs (the periodic pass erases it after)."""

    closed_questions: Duration = "365d"  # the texts of closed questions, their answers, notes
    outbox: Duration = "90d"  # sent messages' ids (what nothing refers to any more)
    survey_drafts: Duration = "30d"  # unfinished questionnaires' answers so far
    checkin_replies: Duration = "180d"  # who answered a check-in (how many stays)

    def ms(self, field: str) -> int:
        return parse_duration(str(getattr(self, field))) * 1000


# The privacy notice is one message: its text (as JSON, UTF-8) stays well inside the
# 40,000-byte budget of a message's content (bot/messages.py), leaving room for the rest.
NOTICE_MAX_BYTES = 30_000


def _notice_text(value: str) -> str:
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if not value.strip():
        raise PydanticCustomError(
            "notice_empty", "the notice is empty (leave the key out for the built-in text)"
        )
    if size > NOTICE_MAX_BYTES:
        raise PydanticCustomError(
            "notice_size",
            "the notice is {size} bytes; at most {limit} fit in one message",
            {"size": size, "limit": NOTICE_MAX_BYTES},
        )
    return value


NoticeText = Annotated[str, AfterValidator(_notice_text)]


class PrivacyNotice(_Model):
    """The short privacy notice: posted once in each room the bot manages, and sent once to
    each member and adviser in a direct chat. Without a text, the built-in one (locales)."""

    sv: NoticeText | None = None
    en: NoticeText | None = None
    # Direct chats opened per periodic pass (about once a minute), and only while the outbox
    # has fewer than this many messages waiting: people's answers go first.
    per_pass: int = Field(default=20, ge=1, le=1000)

    def configured(self, lang: str) -> str | None:
        """The network's own text for ``lang``; else its text in the other language (its own
        words beat the built-in default, which may describe another practice); else None."""
        own = self.sv if lang == "sv" else self.en
        return own if own is not None else (self.en if lang == "sv" else self.sv)


class Privacy(_Model):
    # false: no notice at all (the network informs its members otherwise); None here
    notice: PrivacyNotice | None = Field(default_factory=PrivacyNotice)

    @field_validator("notice", mode="before")
    @classmethod
    def _false_is_off(cls, value: object) -> object:
        if value is False:
            return None
        return {} if value is None else value  # an empty ``notice:`` is the defaults


class Metrics(_Model):
    """``/metrics`` (Prometheus) and ``/health`` on this address; off without the key."""

    listen: str = Field(default="127.0.0.1:9464", pattern=r"^[\w.\-\[\]:]*:\d{1,5}$")


class Evaluation(_Model):
    min_group: int = Field(default=3, ge=1)
    retention: Duration = "400d"
    phases: list[Phase] = []
    criteria: list[Criterion] = []
    digest: Literal["off", "monthly"] = "off"

    @property
    def retention_seconds(self) -> int:
        return parse_duration(self.retention)


class Cohort(_Model):
    id: Slug
    name: str
    room: RoomAddress
    language: Literal["sv", "en"] | None = None
    facilitators: list[MatrixUser] = []
    participants: list[MatrixUser] = []
    themes: list[Theme] = []
    # Every item shared in this cohort's room is visible to the whole network.
    share_materials: bool = False
    timezone: TimeZone | None = None
    schedules: list[Schedule] = []
    # The cohort room is end-to-end encrypted (created so, or switched on; never off again).
    encryption: bool = False


class Config(_Model):
    homeserver: str
    bot: BotSettings
    admins: list[MatrixUser] = []
    advisers: Advisers
    cohorts: list[Cohort] = []
    themes: list[Theme] = []
    surveys: list[Survey] = []
    evaluation: Evaluation = Field(default_factory=Evaluation)
    metrics: Metrics | None = None
    retention: Retention = Field(default_factory=Retention)
    privacy: Privacy = Field(default_factory=Privacy)
    source: Path | None = None

    @field_validator("homeserver")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise PydanticCustomError(
                "url",
                "'{value}' is not an http(s) URL (expected e.g. https://matrix.example.org)",
                {"value": value},
            )
        return value

    @model_validator(mode="after")
    def _network_is_consistent(self) -> Self:
        categories = self.advisers.categories
        found = [
            *_duplicates(
                "category id",
                [(("advisers", "categories", i, "id"), c.id) for i, c in enumerate(categories)],
            ),
            *self._default_category_problems(),
            *self._category_problems(),
            *_duplicates(
                "cohort id", [(("cohorts", i, "id"), c.id) for i, c in enumerate(self.cohorts)]
            ),
            *_duplicates("room", self._rooms()),
            *self._participant_conflicts(),
            *self._bot_as_member(),
            *self._checkin_problems(),
            *self._theme_problems(),
            *self._evaluation_problems(),
        ]
        if found:
            raise _problems(found)
        return self

    def _default_category_problems(self) -> list[tuple[Loc, str]]:
        defaults = [i for i, c in enumerate(self.advisers.categories) if c.default]
        if not defaults:
            return [(("advisers", "categories"), "one category needs 'default: true'; none has it")]
        first = f"advisers.categories[{defaults[0]}]"
        return [
            (
                ("advisers", "categories", i, "default"),
                f"only one category can be the default; {first} already is",
            )
            for i in defaults[1:]
        ]

    def _category_problems(self) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        for i, category in enumerate(self.advisers.categories):
            at: Loc = ("advisers", "categories", i)
            found += _duplicates(
                "stage id",
                [((*at, "stages", j, "id"), s.id) for j, s in enumerate(category.stages)],
            )
            if category.stages and category.stages[0].within is not None:
                found.append(
                    (
                        (*at, "stages", 0, "within"),
                        "the first stage is where a request starts: it cannot have 'within'",
                    )
                )
            if category.survey is not None and self.survey(category.survey) is None:
                known = ", ".join(s.id for s in self.surveys) or "none"
                found.append(((*at, "survey"), f"no survey '{category.survey}' (surveys: {known})"))
            if len(category.stages) == 1:
                found.append(((*at, "stages"), "a staged request needs at least two stages"))
            handlers = self.handlers_of(category)
            found += [
                (
                    (*at, "on_duty", j),
                    f"'{user}' is on duty for '{category.id}' but does not handle its questions"
                    " (advisers.members or the category's members)",
                )
                for j, user in enumerate(category.on_duty)
                if user not in handlers
            ]
        return found

    def _rooms(self) -> list[tuple[Loc, str]]:
        return [
            (("advisers", "room"), self.advisers.room),
            *(
                (("advisers", "categories", i, "room"), c.room)
                for i, c in enumerate(self.advisers.categories)
                if c.room is not None
            ),
            *((("cohorts", i, "room"), c.room) for i, c in enumerate(self.cohorts)),
        ]

    def _members(self) -> list[tuple[Loc, str]]:
        """Every person listed anywhere, with the key path where they are listed."""
        return [
            *((("admins", i), u) for i, u in enumerate(self.admins)),
            *((("advisers", "members", i), u) for i, u in enumerate(self.advisers.members)),
            *(
                (("advisers", "categories", i, "members", j), u)
                for i, c in enumerate(self.advisers.categories)
                for j, u in enumerate(c.members)
            ),
            *(
                (("cohorts", i, role, j), u)
                for i, c in enumerate(self.cohorts)
                for role, users in (
                    ("facilitators", c.facilitators),
                    ("participants", c.participants),
                )
                for j, u in enumerate(users)
            ),
        ]

    def _participant_conflicts(self) -> list[tuple[Loc, str]]:
        advisers = self.all_advisers()
        return [
            (
                ("cohorts", i, "participants", j),
                f"'{user}' is listed both as {role} and as participant of cohort '{cohort.id}'",
            )
            for i, cohort in enumerate(self.cohorts)
            for j, user in enumerate(cohort.participants)
            for role, holders in (("adviser", advisers), ("facilitator", cohort.facilitators))
            if user in holders
        ]

    def _bot_as_member(self) -> list[tuple[Loc, str]]:
        bot = self.bot.user_id
        message = f"'{bot}' is the bot's own user id and cannot be listed as a member"
        return [(loc, message) for loc, user in self._members() if user == bot]

    def _checkin_problems(self) -> list[tuple[Loc, str]]:
        """Schedules and surveys: one trigger each, known survey ids, sensible questions."""
        found = _duplicates(
            "survey id", [(("surveys", i, "id"), s.id) for i, s in enumerate(self.surveys)]
        )
        surveys = {s.id for s in self.surveys}
        for i, cohort in enumerate(self.cohorts):
            found += _duplicates(
                "schedule id",
                [
                    (("cohorts", i, "schedules", j, "id"), s.id)
                    for j, s in enumerate(cohort.schedules)
                ],
            )
            for j, sched in enumerate(cohort.schedules):
                loc: Loc = ("cohorts", i, "schedules", j)
                kinds = [k for k in ("cron", "every", "at") if getattr(sched, k) is not None]
                if len(kinds) != 1:
                    found.append((loc, "a schedule needs exactly one of cron, every or at"))
                if sched.every is not None and sched.start is None:
                    found.append((loc, "'every' needs a 'start' (e.g. 2027-03-01 09:00)"))
                if sched.start is not None and sched.every is None:
                    found.append(((*loc, "start"), "'start' is only used with 'every'"))
                if not (
                    sched.text or sched.message or sched.poll or sched.survey or sched.follow_up
                ):
                    found.append(
                        (loc, "a check-in needs a text, message, poll, survey or follow_up")
                    )
                if sched.follow_up and (sched.poll or sched.survey):
                    found.append(
                        ((*loc, "follow_up"), "a plan follow-up cannot also be a poll or survey")
                    )
                if sched.text and sched.message:
                    found.append(((*loc, "message"), "give either text or message, not both"))
                if sched.survey is not None and sched.survey not in surveys:
                    found.append(((*loc, "survey"), f"there is no survey '{sched.survey}'"))
        for i, survey in enumerate(self.surveys):
            loc = ("surveys", i)
            if survey.self_assessment and survey.anonymous:
                found.append(
                    (
                        (*loc, "anonymous"),
                        "a self-assessment cannot be anonymous: its answers must be linked to"
                        " the person across rounds to show their progress (set anonymous: false)",
                    )
                )
            if survey.self_assessment and all(q.type == "text" for q in survey.questions):
                found.append(
                    (
                        (*loc, "questions"),
                        "a self-assessment needs at least one scale or choice question to compare",
                    )
                )
            if survey.opens and survey.closes and survey.closes <= survey.opens:
                found.append(((*loc, "closes"), "'closes' must be after 'opens'"))
            found += _duplicates(
                "question id",
                [((*loc, "questions", j, "id"), q.id) for j, q in enumerate(survey.questions)],
            )
            for j, q in enumerate(survey.questions):
                qloc: Loc = (*loc, "questions", j)
                if q.type in ("single", "multiple") and len(q.choices) < 2:
                    found.append(((*qloc, "choices"), "a choice question needs at least 2 choices"))
                if q.type not in ("single", "multiple") and q.choices:
                    found.append(((*qloc, "choices"), f"a {q.type} question has no choices"))
                if q.type == "scale" and not (q.min < q.max <= q.min + 10):
                    found.append(((*qloc, "max"), "a scale needs min < max, at most 10 steps"))
                if q.labels and (q.type != "scale" or len(q.labels) != 2):
                    found.append(((*qloc, "labels"), "labels are two end labels of a scale"))
        return found

    def _evaluation_problems(self) -> list[tuple[Loc, str]]:
        ev = self.evaluation
        found = _duplicates(
            "phase id", [(("evaluation", "phases", i, "id"), p.id) for i, p in enumerate(ev.phases)]
        )
        found += _duplicates(
            "criterion id",
            [(("evaluation", "criteria", i, "id"), c.id) for i, c in enumerate(ev.criteria)],
        )
        for i, phase in enumerate(ev.phases):
            if phase.to < phase.from_:
                found.append((("evaluation", "phases", i, "to"), "'to' is before 'from'"))
            for j, other in enumerate(ev.phases[:i]):
                if phase.from_ <= other.to and other.from_ <= phase.to:
                    found.append(
                        (
                            ("evaluation", "phases", i, "from"),
                            f"phase '{phase.id}' overlaps phase '{other.id}'"
                            f" (evaluation.phases[{j}]: {other.from_} to {other.to})",
                        )
                    )
        known = ", ".join(INDICATORS)
        for i, crit in enumerate(ev.criteria):
            loc: Loc = ("evaluation", "criteria", i)
            if crit.indicator not in INDICATORS:
                found.append(
                    (
                        (*loc, "indicator"),
                        f"unknown indicator '{crit.indicator}' (known: {known})",
                    )
                )
                continue
            if (crit.at_least is None) == (crit.at_most is None):
                found.append((loc, "a criterion needs exactly one of at_least or at_most"))
                continue
            key = "at_least" if crit.at_least is not None else "at_most"
            value = crit.at_least if crit.at_least is not None else crit.at_most
            assert value is not None
            try:
                threshold_value(crit.kind, value)
            except ValueError:
                expected = {
                    "share": "a share such as 90% or 0.9",
                    "hours": "a duration such as 4h or 2d (or a number of hours)",
                    "number": "a number such as 1.5",
                }[crit.kind]
                found.append(
                    (
                        (*loc, key),
                        f"'{value}' is not a threshold for {crit.indicator} (expected {expected})",
                    )
                )
            if crit.indicator == "answered_within" and crit.within is None:
                found.append(((*loc, "within"), "answered_within needs 'within' (e.g. 2d)"))
            if crit.indicator != "answered_within" and crit.within is not None:
                found.append(((*loc, "within"), "'within' is only used with answered_within"))
        return found

    def phase(self, phase_id: str) -> Phase | None:
        return next((p for p in self.evaluation.phases if p.id == phase_id), None)

    def members_of(self, cohorts: list[Cohort]) -> set[str]:
        """The members of ``cohorts``: their participants and facilitators (advisers and admins
        are not members)."""
        return {u for c in cohorts for u in (*c.participants, *c.facilitators)}

    def survey(self, survey_id: str) -> Survey | None:
        return next((s for s in self.surveys if s.id == survey_id), None)

    def cohort_timezone(self, cohort: Cohort) -> str:
        return cohort.timezone or self.bot.timezone

    def _theme_problems(self) -> list[tuple[Loc, str]]:
        found = _theme_duplicates(self.themes, ("themes",))
        network = {t.id: i for i, t in enumerate(self.themes)}
        for i, cohort in enumerate(self.cohorts):
            found += _theme_duplicates(cohort.themes, ("cohorts", i, "themes"))
            found += [
                (
                    ("cohorts", i, "themes", j, "id"),
                    f"theme id '{t.id}' is already a network theme (themes[{network[t.id]}])",
                )
                for j, t in enumerate(cohort.themes)
                if t.id in network
            ]
        return found

    def themes_for(self, cohorts: list[Cohort]) -> list[Theme]:
        """The network's themes, then those of ``cohorts``."""
        return [*self.themes, *(t for c in cohorts for t in c.themes)]

    def shared_cohorts(self) -> list[Cohort]:
        """Cohorts whose whole catalogue is shared with the network (``share_materials``)."""
        return [c for c in self.cohorts if c.share_materials]

    def cohort(self, cohort_id: str) -> Cohort | None:
        return next((c for c in self.cohorts if c.id == cohort_id), None)

    def cohort_language(self, cohort: Cohort | None) -> str:
        """The language of a cohort (its own, else the bot's); the bot's for no cohort."""
        return (cohort.language if cohort else None) or self.bot.language

    def language_of(self, cohort_id: str | None) -> str:
        """The language of the cohort with this id; the bot's for none or an unknown one."""
        return self.cohort_language(self.cohort(cohort_id) if cohort_id else None)

    def roles_in_cohort(self, user_id: str, cohort_id: str) -> set[Role]:
        cohort = self.cohort(cohort_id)
        return self._roles(user_id, [] if cohort is None else [cohort])

    def global_roles(self, user_id: str) -> set[Role]:
        return self._roles(user_id, self.cohorts)

    def _roles(self, user_id: str, cohorts: list[Cohort]) -> set[Role]:
        roles: set[Role] = set()
        if user_id in self.admins:
            roles.add(Role.ADMIN)
        if user_id in self.all_advisers():
            roles.add(Role.ADVISER)
        for cohort in cohorts:
            if user_id in cohort.participants:
                roles.add(Role.PARTICIPANT)
            if user_id in cohort.facilitators:
                roles.add(Role.FACILITATOR)
        return roles

    def cohorts_of(self, user_id: str) -> list[Cohort]:
        return [c for c in self.cohorts if user_id in c.participants or user_id in c.facilitators]

    def all_advisers(self) -> set[str]:
        return set(self.advisers.members).union(*(cat.members for cat in self.advisers.categories))

    def default_category(self) -> Category:
        return next(c for c in self.advisers.categories if c.default)

    def handlers_of(self, category: Category | None) -> set[str]:
        """Who may handle questions of a category: its own advisers, else the general ones."""
        if category is None:
            return set(self.advisers.members)
        if category.room is not None:
            return set(category.members) or set(self.advisers.members)
        return set(self.advisers.members) | set(category.members)

    def on_duty(self, category: Category | None) -> list[str]:
        """Whom a reminder names: the category's ``on_duty``, else all who handle it."""
        if category is not None and category.on_duty:
            return list(category.on_duty)
        return sorted(self.handlers_of(category))

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.advisers.categories if c.id == category_id), None)

    def known_users(self) -> set[str]:
        users = set(self.admins) | self.all_advisers()
        for cohort in self.cohorts:
            users.update(cohort.facilitators, cohort.participants)
        return users

    def category_room(self, category: Category) -> str:
        return category.room or self.advisers.room


def format_path(loc: Loc) -> str:
    """``('cohorts', 0, 'participants', 1)`` -> ``cohorts[0].participants[1]``; () -> ``<root>``."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return text.removeprefix(".") or "<root>"
