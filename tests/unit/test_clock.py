"""The one clock: real time by default, frozen and moved on by tests."""

from __future__ import annotations

import time

import pytest

from bot import clock


def test_the_clock_is_real_time_unless_frozen() -> None:
    before = int(time.time() * 1000)
    now = clock.now_ms()
    assert before <= now <= int(time.time() * 1000)
    with clock.frozen(1_800_000_000_000):
        assert clock.now_ms() == 1_800_000_000_000
        clock.advance(90_000)
        assert clock.now_ms() == 1_800_000_090_000
        assert clock.now().isoformat() == "2027-01-15T08:01:30+00:00"
    assert clock.now_ms() >= now  # running again
    with pytest.raises(RuntimeError):
        clock.advance(1)
