"""The database schema as an ordered list of small numbered steps.

Each step runs with its version bump in one transaction. Never edit a released step: add a new
one. The bot refuses to open a database whose version is newer than the last step here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: Sequence[str]

    def statements(self) -> Sequence[str]:
        return self.sql


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "Bot core: credentials, sync checkpoint, processed events, rooms, outbox",
        (
            """CREATE TABLE credentials (
                user_id TEXT PRIMARY KEY,
                homeserver TEXT NOT NULL,
                device_id TEXT NOT NULL,
                access_token TEXT NOT NULL
            )""",
            """CREATE TABLE sync_state (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                next_batch TEXT NOT NULL
            )""",
            # Only event ids: no bodies, no senders. Pruned after 30 days.
            """CREATE TABLE processed_events (
                event_id TEXT PRIMARY KEY,
                room_id TEXT NOT NULL,
                handled_at INTEGER NOT NULL
            )""",
            "CREATE INDEX processed_events_age ON processed_events (handled_at)",
            # Rooms the bot manages: key is 'cohort:<id>', 'advisers', 'category:<id>'.
            """CREATE TABLE managed_rooms (
                key TEXT PRIMARY KEY,
                room_id TEXT NOT NULL,
                alias TEXT
            )""",
            # When the bot joined each room: older events are never handled.
            """CREATE TABLE joined_rooms (
                room_id TEXT PRIMARY KEY,
                joined_ts INTEGER NOT NULL
            )""",
            # Direct chats with the bot, one per person (admin notices, private questions).
            """CREATE TABLE direct_rooms (
                user_id TEXT PRIMARY KEY,
                room_id TEXT NOT NULL UNIQUE
            )""",
            """CREATE TABLE outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                txn_id TEXT NOT NULL UNIQUE,
                room_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                content TEXT NOT NULL,
                purpose TEXT,
                ref TEXT,
                state TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed')),
                event_id TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                created_at INTEGER NOT NULL,
                sent_at INTEGER
            )""",
            "CREATE INDEX outbox_pending ON outbox (state, id)",
            # Small named values (e.g. the last room differences reported to admins).
            """CREATE TABLE kv (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "Adviser questions (!ask): tickets and the links between relayed events",
        (
            # The question number users see is the id. The question text is kept so the
            # advisers' copy can be re-rendered; it is erased with the person's data.
            """CREATE TABLE tickets (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                asker TEXT NOT NULL,
                cohort_id TEXT,
                private INTEGER NOT NULL,
                category TEXT NOT NULL,
                origin_room TEXT NOT NULL,
                origin_event TEXT NOT NULL UNIQUE,
                adviser_room TEXT NOT NULL,
                root_outbox INTEGER NOT NULL,
                root_event TEXT UNIQUE,
                question TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'claimed', 'answered', 'closed', 'withdrawn')),
                claimed_by TEXT,
                published INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL,
                answered_at INTEGER,
                reminded_at INTEGER
            )""",
            "CREATE INDEX tickets_asker ON tickets (asker)",
            "CREATE INDEX tickets_status ON tickets (status, created_at)",
            # source event (the person's) -> the bot's copy on the other side.
            """CREATE TABLE ticket_links (
                source_event TEXT PRIMARY KEY,
                ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
                kind TEXT NOT NULL CHECK (kind IN ('detail', 'answer', 'note', 'claim')),
                author TEXT NOT NULL,
                target_room TEXT,
                target_outbox INTEGER
            )""",
        ),
    ),
]
