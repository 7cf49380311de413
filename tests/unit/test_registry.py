from __future__ import annotations

from typing import Any

import pytest

from bot.registry import Arg, ArgKind, Registry, UsageError, command, split_command
from bot.types import Place
from config import Role


async def _noop(ctx: Any, args: dict[str, Any]) -> None:
    return None


def _registry() -> Registry:
    reg = Registry()
    command(
        "ask",
        args=[Arg("category", required=False), Arg("question", ArgKind.REST)],
        aliases={"sv": ["fråga"]},
        roles={Role.PARTICIPANT, Role.FACILITATOR},
        places=(Place.COHORT, Place.DIRECT),
        registry=reg,
    )(_noop)
    command("close", args=[Arg("number", ArgKind.INT)], roles={Role.ADVISER}, registry=reg)(_noop)
    command("help", registry=reg)(_noop)
    return reg


def test_split_command_recognises_commands_only() -> None:
    assert split_command("!ask teknik Hur loggar jag in?") == ("ask", "teknik Hur loggar jag in?")
    assert split_command("  !help") == ("help", "")
    assert split_command("! not a command") is None
    assert split_command("hello !help") is None
    assert split_command("!") is None


def test_aliases_find_the_same_command_case_insensitively() -> None:
    reg = _registry()
    spec = reg.find("FRÅGA")
    assert spec is not None and spec.name == "ask"
    assert spec.display_name("sv") == "fråga"
    assert spec.display_name("en") == "ask"
    assert spec.usage("sv") == "!fråga [category] <fråga…>"
    assert spec.usage("en") == "!ask [category] <question…>"


def test_parse_gives_declared_arguments_or_a_usage_error() -> None:
    reg = _registry()
    ask = reg.find("ask")
    close = reg.find("close")
    assert ask is not None and close is not None
    assert ask.parse("teknik Hur gör jag?") == {"category": "teknik", "question": "Hur gör jag?"}
    assert close.parse("#12") == {"number": 12}
    with pytest.raises(UsageError):
        close.parse("tolv")
    with pytest.raises(UsageError):
        close.parse("")
    with pytest.raises(UsageError):
        close.parse("12 13")


def test_visible_filters_by_role_and_place() -> None:
    reg = _registry()
    names = lambda specs: sorted(s.name for s in specs)  # noqa: E731
    assert names(reg.visible({Role.PARTICIPANT}, Place.COHORT)) == ["ask", "help"]
    assert names(reg.visible({Role.PARTICIPANT}, Place.ADVISERS)) == ["help"]
    assert names(reg.visible({Role.ADVISER}, Place.ADVISERS)) == ["close", "help"]
    assert names(reg.visible(set(), Place.COHORT)) == ["help"]


def test_a_taken_command_word_is_refused() -> None:
    reg = _registry()
    with pytest.raises(ValueError, match="already taken"):
        command("fråga", registry=reg)(_noop)


@pytest.mark.parametrize(
    "body",
    [
        "\u200b!ask teknik Hur?",  # after a zero-width space
        "\uff01ask teknik Hur?",  # full-width exclamation mark
        "\uff01\uff41\uff53\uff4b teknik Hur?",  # all full-width
        "!ask\u00a0teknik Hur?",  # no-break space after the command
        "!a\u200bsk teknik Hur?",  # an invisible character inside the word
        "\ufeff  !ask teknik Hur?",  # byte-order mark and spaces first
    ],
)
def test_commands_are_recognised_after_unicode_normalisation(body: str) -> None:
    assert split_command(body) == ("ask", "teknik Hur?")


def test_a_decomposed_swedish_command_word_finds_its_command() -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "!FRÅGA teknik Hur?")
    assert decomposed != "!FRÅGA teknik Hur?"  # really decomposed
    parsed = split_command(decomposed)
    assert parsed is not None and parsed[1] == "teknik Hur?"
    spec = _registry().find(parsed[0])
    assert spec is not None and spec.name == "ask"


def test_normalisation_keeps_the_rest_as_written_and_non_commands_out() -> None:
    assert split_command("!ask ﬁle ²") == ("ask", "ﬁle ²")  # arguments are not NFKC-folded
    assert split_command("\u200b! ask") is None
    assert split_command("\u00a0") is None
    assert split_command("") is None
