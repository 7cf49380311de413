"""Shared fixtures: a real Synapse per test session (relaxed rate limits), users on it, and a
second Synapse with Synapse's default rate limits for the rate-limit tests.

Synapse is started lazily: unit tests that do not ask for these fixtures never start one.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.demo.homeserver import EmbeddedSynapse, RegisteredUser

_INTEGRATION_DIR = Path(__file__).parent / "integration"
_user_counter = itertools.count(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration runs against a real Synapse: mark it."""
    for item in items:
        if item.path.is_relative_to(_INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSynapse]:
    """The session's Synapse, with every rate limit raised to 1000/s."""
    hs = EmbeddedSynapse(tmp_path_factory.mktemp("synapse"), relaxed_rate_limits=True)
    hs.start()
    try:
        yield hs
    finally:
        hs.stop()


@pytest.fixture(scope="session")
def synapse_admin(synapse: EmbeddedSynapse) -> RegisteredUser:
    """A server admin on the session's Synapse (for admin API calls such as rate limits)."""
    return synapse.register_user(
        "admin_" + secrets.token_hex(3), secrets.token_urlsafe(12), admin=True
    )


def unique_localpart(prefix: str = "user") -> str:
    """A localpart nobody else in this session has: prefix, counter and a random suffix."""
    return f"{prefix}{next(_user_counter)}_{secrets.token_hex(2)}".lower()


@pytest.fixture
def make_user(
    synapse: EmbeddedSynapse, synapse_admin: RegisteredUser
) -> Callable[..., RegisteredUser]:
    """``make_user(localpart_prefix="user")`` registers a fresh user on the session's Synapse,
    exempt from the message rate limit, and returns it logged in (token, device id, password).
    """

    def make(localpart_prefix: str = "user") -> RegisteredUser:
        user = synapse.register_user(unique_localpart(localpart_prefix), secrets.token_urlsafe(12))
        synapse.override_ratelimit(synapse_admin.access_token, user.user_id)
        return user

    return make


@pytest.fixture(scope="module")
def strict_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSynapse]:
    """A second Synapse with Synapse's default rate limits (one per test module)."""
    hs = EmbeddedSynapse(tmp_path_factory.mktemp("strict-synapse"), relaxed_rate_limits=False)
    hs.start()
    try:
        yield hs
    finally:
        hs.stop()
