"""Message catalogues: every text a person reads comes from bot/locales/<lang>.yaml.

A message that shows a number is a mapping of CLDR plural forms (``one``, ``other``; other
languages may need ``few`` or ``many``), chosen by its ``count`` parameter with Babel's plural
rules for the language: ``{one: "1 vote", other: "{count} votes"}``.

What is grammar rather than vocabulary comes from Babel (CLDR) too: dates, times, durations,
numbers, shares and file sizes, formatted for the language's locale (:data:`LOCALES`).
"""

from __future__ import annotations

import functools
import string
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from babel import Locale, dates, numbers, units

LANGUAGES = ("sv", "en")
FALLBACK = "en"
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})
# The CLDR locale each language is formatted in. English is CLDR's English in Sweden: the
# words are English, the dates are the ones Swedish users read every day (2026-12-02, 16:55).
LOCALES = {"sv": "sv_SE", "en": "en_SE"}


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


def has(lang: str, key: str) -> bool:
    return key in catalogue(lang)


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


# --- grammar: Babel formats for the language's locale -------------------------------------------


@functools.cache
def locale(lang: str) -> Locale:
    return Locale.parse(LOCALES.get(lang, lang))


def _local(ms: int, timezone: str) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(timezone))


def format_datetime(lang: str, ms: int, timezone: str) -> str:
    """A moment as a date and a time in ``timezone``: ``2026-12-02 16:55`` (sv)."""
    return dates.format_datetime(_local(ms, timezone), "short", locale=locale(lang))


def format_iso_day(ms: int, timezone: str) -> str:
    """The local day of a moment as ``YYYY-MM-DD`` (for storage and exports, not for people)."""
    return _local(ms, timezone).date().isoformat()


def format_date(lang: str, ms: int, timezone: str) -> str:
    """The day of a moment in ``timezone``: ``2026-12-02``."""
    return dates.format_date(_local(ms, timezone), "short", locale=locale(lang))


def format_duration(lang: str, ms: int) -> str:
    """How long, in the largest unit of which there are at least two (``90 minuter``,
    ``47 timmar``, ``2 dygn``), never below minutes."""
    return dates.format_timedelta(
        timedelta(milliseconds=max(0, ms)),
        granularity="minute",
        threshold=2,
        format="long",
        locale=locale(lang),
    )


def format_number(lang: str, value: float, decimals: int = 1) -> str:
    """A number with ``decimals`` decimals, as the locale writes it (``3,5``, ``4,0``)."""
    pattern = "#,##0." + "0" * decimals if decimals else "#,##0"
    return numbers.format_decimal(value, format=pattern, locale=locale(lang))


def format_signed(lang: str, value: float, decimals: int = 1) -> str:
    """A change: ``+2``, ``−0,5`` (the locale's minus sign), ``±0``."""
    text = format_number(lang, abs(value), decimals)
    if text == format_number(lang, 0, decimals):
        return f"±{text}"
    sign = locale(lang).number_symbols["latn"]["plusSign" if value > 0 else "minusSign"]
    return f"{sign}{text}"


def format_percent(lang: str, share: float) -> str:
    """A share from 0 to 1 as a whole percentage: ``90 %``."""
    return numbers.format_percent(share, locale=locale(lang))


def format_size(lang: str, size: int) -> str:
    """A file size in bytes, in the unit that reads best: ``2,5 MB``."""
    value, unit = float(size), "byte"
    for bigger in ("kilobyte", "megabyte", "gigabyte"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    shown = round(value) if unit == "byte" else round(value, 1)
    return units.format_unit(shown, f"digital-{unit}", length="short", locale=locale(lang))
