"""Message catalogues: every text a person reads comes from bot/locales/<lang>.yaml.

A message that shows a number is a mapping of CLDR plural forms (``one``, ``other``; other
languages may need ``few`` or ``many``), chosen by its ``count`` parameter with Babel's plural
rules for the language: ``{one: "1 vote", other: "{count} votes"}``.
"""

from __future__ import annotations

import functools
import string
from importlib import resources
from typing import Any

import yaml
from babel import Locale

LANGUAGES = ("sv", "en")
FALLBACK = "en"
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})


def is_plural(node: Any) -> bool:
    return isinstance(node, dict) and "other" in node and set(node) <= PLURAL_FORMS


def _flatten(
    prefix: str, node: Any, out: dict[str, str], plurals: dict[str, dict[str, str]]
) -> None:
    if is_plural(node):
        plurals[prefix] = {str(form): str(text) for form, text in node.items()}
        out[prefix] = str(node["other"])
    elif isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, plurals)
    else:
        out[prefix] = str(node)


@functools.cache
def _load(lang: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    text = resources.files("bot").joinpath("locales", f"{lang}.yaml").read_text("utf-8")
    out: dict[str, str] = {}
    plurals: dict[str, dict[str, str]] = {}
    _flatten("", yaml.safe_load(text), out, plurals)
    return out, plurals


def catalogue(lang: str) -> dict[str, str]:
    """Every message of ``lang`` by key (a plural message by its ``other`` form)."""
    return _load(lang)[0]


def plurals(lang: str) -> dict[str, dict[str, str]]:
    """The messages of ``lang`` that have plural forms: key -> {form: text}."""
    return _load(lang)[1]


@functools.cache
def plural_form(lang: str, count: int | float) -> str:
    """The CLDR plural category of ``count`` in ``lang`` (``'one'``, ``'other'``, ...)."""
    return str(Locale.parse(lang).plural_form(abs(count)))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def t(lang: str, key: str, **params: Any) -> str:
    """The text for ``key`` in ``lang`` (falling back to English), with ``params`` filled in;
    a plural message takes the form for ``params["count"]``."""
    if key not in catalogue(lang):
        lang = FALLBACK
    template = catalogue(lang).get(key)
    if template is None:
        raise KeyError(f"no message {key!r} in the catalogues")
    forms = plurals(lang).get(key)
    if forms is not None:
        count = params.get("count")
        if not isinstance(count, int | float):
            raise TypeError(f"message {key!r} has plural forms and needs a numeric count")
        template = forms.get(plural_form(lang, count), forms["other"])
    return template.format(**params)
