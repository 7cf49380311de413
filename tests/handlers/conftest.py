from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.handlers.harness import Bot


@pytest.fixture
async def make_bot(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Bot]]]:
    """Start a bot on a temporary database (``make_bot(participants=1, change=fn)``)."""
    bots: list[Bot] = []

    async def make(**kwargs: Any) -> Bot:
        bot = await Bot.start(tmp_path / f"bot{len(bots)}", **kwargs)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await bot.close()
