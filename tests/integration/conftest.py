from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.netfixture import Network, build_network


@pytest.fixture
async def network(
    synapse: Any, make_user: Any, tmp_path: Path
) -> AsyncIterator[Callable[..., Network]]:
    """Build a test network (users + YAML); the test starts the bot. Everything is closed after."""
    built: list[Network] = []

    def build(**kwargs: Any) -> Network:
        net = build_network(synapse, make_user, tmp_path / f"net{len(built)}", **kwargs)
        built.append(net)
        return net

    yield build
    for net in built:
        await net.close()
