"""The YAML of a test network, shared by the handler tests (no homeserver) and the Synapse
tests: one place that says what a test network looks like."""

from __future__ import annotations

from typing import Any


def network_data(
    *,
    homeserver: str,
    server_name: str,
    prefix: str,
    bot: str,
    admin: str,
    advisers: list[str],
    facilitators: list[str],
    participants: list[list[str]],
) -> dict[str, Any]:
    """Cohort ``i`` has facilitator ``facilitators[i]`` and ``participants[i]``; cohort 0
    speaks Swedish, the others English; the bot's own language is Swedish."""
    return {
        "homeserver": homeserver,
        "bot": {"user_id": bot, "database": "natverk.db", "language": "sv"},
        "admins": [admin],
        "advisers": {"room": f"#{prefix}-radgivning:{server_name}", "members": list(advisers)},
        "cohorts": [
            {
                "id": f"kohort{i}",
                "name": f"Kohort {i}",
                "room": f"#{prefix}-kohort{i}:{server_name}",
                "language": "sv" if i == 0 else "en",
                "facilitators": [facilitators[i]],
                "participants": list(participants[i]),
            }
            for i in range(len(facilitators))
        ],
    }
