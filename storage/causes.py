"""What an outbox row's key is made of: the cause of the work that queued it.

See ``storage/outbox.py`` for the keys and why they exist (``natverk restore``)."""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cause:
    """Why rows are being queued: what their keys are made of (see storage/outbox.py)."""

    name: str
    hashed: bool = False  # no event: the key is made of the content
    _next: int = 0
    _seen: dict[str, int] = field(default_factory=dict)

    def next_key(self) -> str:
        n = self._next
        self._next += 1
        return f"{self.name}/{n}"

    def hashed_key(self, room_id: str, event_type: str, content: Any) -> str:
        text = json.dumps([room_id, event_type, content], sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(text.encode()).hexdigest()[:24]
        n = self._seen.get(digest, 0)
        self._seen[digest] = n + 1
        return f"{self.name}:{digest}" + (f"/{n}" if n else "")


# The cause of rows queued by work outside the dispatcher (after-commit work, periodic tasks);
# every transaction opened while it is set starts with it (Database.transaction).
CAUSE: ContextVar[Cause | None] = ContextVar("natverk_outbox_cause", default=None)
