"""The command registry: each command declares its name, aliases, arguments, roles and places.

``!help`` is generated from here; handlers receive parsed arguments and never parse text.
Command modules live in the ``commands`` package and register themselves on import.
"""

from __future__ import annotations

import importlib
import pkgutil
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot import i18n
from bot.types import Place

if TYPE_CHECKING:
    from bot.context import BaseContext, CommandContext, EventContext
    from config import Role
    from storage import Database, Tx
    from storage.outbox import OutboxItem


class ArgKind(StrEnum):
    WORD = "word"  # one word
    REST = "rest"  # the rest of the line (free text)
    INT = "int"


@dataclass(frozen=True)
class Arg:
    name: str
    kind: ArgKind = ArgKind.WORD
    required: bool = True

    def usage(self, lang: str = "en") -> str:
        label = i18n.catalogue(lang).get(f"args.{self.name}", self.name)
        if self.kind == ArgKind.REST:
            label += "…"
        return f"<{label}>" if self.required else f"[{label}]"


class UsageError(ValueError):
    """The arguments do not fit the command's declaration."""


Handler = Callable[["CommandContext", dict[str, Any]], Awaitable[None]]
ListenerFn = Callable[["EventContext"], Awaitable[None]]
SentHook = Callable[["Tx", "OutboxItem", str], Awaitable[None]]
PeriodicFn = Callable[["BaseContext", int], Awaitable[None]]
# When a periodic task next has something to do: (database, now in ms) -> a time in ms after
# now, or None. The bot's periodic loop wakes up then instead of at its next minute.
NextDueFn = Callable[["Database", int], Awaitable[int | None]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    roles: frozenset[Role] | None = None  # None: anyone
    places: frozenset[Place] = frozenset({Place.COHORT, Place.ADVISERS, Place.DIRECT})
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by language

    @property
    def help_key(self) -> str:
        return f"commands.{self.name}.help"

    def display_name(self, lang: str) -> str:
        localized = self.aliases.get(lang, ())
        return localized[0] if localized else self.name

    def usage(self, lang: str) -> str:
        return " ".join([f"!{self.display_name(lang)}", *(a.usage(lang) for a in self.args)])

    def allowed(self, roles: Iterable[Role]) -> bool:
        return self.roles is None or bool(self.roles & set(roles))

    def parse(self, text: str) -> dict[str, Any]:
        """Parse the text after the command word into the declared arguments."""
        rest = text.strip()
        values: dict[str, Any] = {}
        for arg in self.args:
            if arg.kind == ArgKind.REST:
                if not rest and arg.required:
                    raise UsageError(arg.name)
                values[arg.name] = rest or None
                rest = ""
                continue
            word, _, rest = rest.partition(" ")
            rest = rest.strip()
            if not word:
                if arg.required:
                    raise UsageError(arg.name)
                values[arg.name] = None
                continue
            if arg.kind == ArgKind.INT:
                try:
                    values[arg.name] = int(word.lstrip("#"))
                except ValueError as err:
                    raise UsageError(arg.name) from err
            else:
                values[arg.name] = word
        if rest:
            raise UsageError("too many arguments")
        return values


@dataclass(frozen=True)
class ListenerSpec:
    event_type: str
    handler: ListenerFn
    name: str
    places: frozenset[Place] | None = None  # None: everywhere
    # False: the listener writes nothing through the transaction (at most it buffers for the
    # commit, ``Tx.pending``), so the dispatcher runs it without a savepoint around it.
    writes: bool = True


class Registry:
    def __init__(self) -> None:
        self.commands: dict[str, CommandSpec] = {}
        self._by_word: dict[str, CommandSpec] = {}
        self.listeners: list[ListenerSpec] = []
        self.sent_hooks: dict[str, SentHook] = {}
        self.periodic: dict[str, PeriodicFn] = {}
        self.next_due: dict[str, NextDueFn] = {}

    def add(self, spec: CommandSpec) -> None:
        words = [spec.name, *(a for names in spec.aliases.values() for a in names)]
        for word in words:
            if word in self._by_word and self._by_word[word].name != spec.name:
                raise ValueError(f"command word !{word} is already taken")
        self.commands[spec.name] = spec
        for word in words:
            self._by_word[_fold(word)] = spec

    def find(self, word: str) -> CommandSpec | None:
        return self._by_word.get(_fold(word))

    def visible(self, roles: Iterable[Role], place: Place) -> list[CommandSpec]:
        roles = set(roles)
        return [s for s in self.commands.values() if place in s.places and s.allowed(roles)]

    def listeners_for(self, event_type: str, place: Place) -> list[ListenerSpec]:
        return [
            ls
            for ls in self.listeners
            if ls.event_type == event_type and (ls.places is None or place in ls.places)
        ]


REGISTRY = Registry()


def command(
    name: str,
    *,
    args: Sequence[Arg] = (),
    roles: Iterable[Role] | None = None,
    places: Iterable[Place] = (Place.COHORT, Place.ADVISERS, Place.DIRECT),
    aliases: dict[str, Sequence[str]] | None = None,
    registry: Registry = REGISTRY,
) -> Callable[[Handler], Handler]:
    """Register a command handler. ``roles=None`` lets anyone run it."""

    def decorate(fn: Handler) -> Handler:
        registry.add(
            CommandSpec(
                name=name,
                handler=fn,
                args=tuple(args),
                roles=None if roles is None else frozenset(roles),
                places=frozenset(places),
                aliases={lang: tuple(words) for lang, words in (aliases or {}).items()},
            )
        )
        return fn

    return decorate


def listener(
    event_type: str,
    *,
    places: Iterable[Place] | None = None,
    writes: bool = True,
    registry: Registry = REGISTRY,
) -> Callable[[ListenerFn], ListenerFn]:
    """Register a handler for every event of a type (messages that are not commands, too),
    optionally only in some places. ``writes=False``: it never writes through the transaction
    (on the path of every message: the dispatcher spares it the savepoint)."""

    def decorate(fn: ListenerFn) -> ListenerFn:
        where = None if places is None else frozenset(places)
        registry.listeners.append(ListenerSpec(event_type, fn, fn.__qualname__, where, writes))
        return fn

    return decorate


def on_sent(purpose: str, *, registry: Registry = REGISTRY) -> Callable[[SentHook], SentHook]:
    """Register what to record once an outbox message of this purpose has its event id."""

    def decorate(fn: SentHook) -> SentHook:
        registry.sent_hooks[purpose] = fn
        return fn

    return decorate


def periodic(
    name: str, *, next_due: NextDueFn | None = None, registry: Registry = REGISTRY
) -> Callable[[PeriodicFn], PeriodicFn]:
    """Register work the bot does about once a minute, e.g. reminders: ``fn(ctx, now_ms)``.
    With ``next_due`` the bot also runs it when that says something is due (e.g. a check-in
    at 09:00 fires at 09:00, not on the next minute's pass)."""

    def decorate(fn: PeriodicFn) -> PeriodicFn:
        registry.periodic[name] = fn
        if next_due is not None:
            registry.next_due[name] = next_due
        return fn

    return decorate


def split_command(body: str) -> tuple[str, str] | None:
    """``'!ask teknik Hur …'`` -> ``('ask', 'teknik Hur …')``; None if not a command.

    The command word is read as a person sees it (NFKC, invisible format characters dropped):
    ``!ask`` after a zero-width space, the full-width ``！ａｓｋ``, a decomposed ``!FRÅGA`` and
    ``!ask`` followed by a no-break space all are ``ask``. The rest is kept as written."""
    start = 0
    while start < len(body) and (body[start].isspace() or _invisible(body[start])):
        start += 1
    text = body[start:]
    if not text or unicodedata.normalize("NFKC", text[0]) != "!":
        return None
    end = 1
    while end < len(text) and not text[end].isspace():
        end += 1
    word = unicodedata.normalize("NFKC", "".join(c for c in text[1:end] if not _invisible(c)))
    if not word:
        return None
    return word, text[end:].strip()


def _fold(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold()


def _invisible(char: str) -> bool:
    """Format characters (zero-width space and joiners, word joiner, byte-order mark, ...):
    typed or pasted, never seen."""
    return unicodedata.category(char) == "Cf"


def load_command_modules() -> None:
    """Import every module of the ``commands`` package and its feature packages, so their
    decorators run."""
    import commands

    for info in pkgutil.walk_packages(commands.__path__, "commands."):
        importlib.import_module(info.name)
