"""Message catalogues: every text a person reads comes from bot/locales/<lang>.yaml."""

from __future__ import annotations

import functools
import string
from importlib import resources
from typing import Any

import yaml

LANGUAGES = ("sv", "en")
FALLBACK = "en"


def _flatten(prefix: str, node: Any, out: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
    else:
        out[prefix] = str(node)


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("bot").joinpath("locales", f"{lang}.yaml").read_text("utf-8")
    out: dict[str, str] = {}
    _flatten("", yaml.safe_load(text), out)
    return out


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def t(lang: str, key: str, **params: Any) -> str:
    """The text for ``key`` in ``lang`` (falling back to English), with ``params`` filled in."""
    template = catalogue(lang).get(key) or catalogue(FALLBACK).get(key)
    if template is None:
        raise KeyError(f"no message {key!r} in the catalogues")
    return template.format(**params)
