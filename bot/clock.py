"""The bot's one clock: milliseconds since the epoch, as Matrix counts time.

Everything that needs "now" asks here (storage functions take the time as an argument), so a
test can set the time: ``with clock.frozen(ms): …`` or ``clock.advance(ms)`` inside it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_fixed: int | None = None


def now_ms() -> int:
    """Now, in milliseconds since the epoch (the frozen time in a test that froze it)."""
    return _fixed if _fixed is not None else int(time.time() * 1000)


def now() -> datetime:
    """Now, as an aware datetime in UTC."""
    return datetime.fromtimestamp(now_ms() / 1000, UTC)


@contextmanager
def frozen(at_ms: int) -> Iterator[None]:
    """Stop the clock at ``at_ms`` until the block ends (tests only)."""
    global _fixed
    before, _fixed = _fixed, at_ms
    try:
        yield
    finally:
        _fixed = before


def advance(ms: int) -> None:
    """Move a frozen clock on by ``ms``."""
    global _fixed
    if _fixed is None:
        raise RuntimeError("clock.advance() needs a frozen clock")
    _fixed += ms
