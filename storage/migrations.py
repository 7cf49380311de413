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
    Migration(
        3,
        "Materials catalogue: items, tags, full-text index, remembered queries",
        (
            # One row per file, image, video or audio message, per link in a message, and per
            # published question. ``part`` tells the items of one event apart ('' for a file,
            # the URL for a link, 'answer' for a published question).
            """CREATE TABLE materials (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                cohort_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                event_id TEXT NOT NULL,
                part TEXT NOT NULL DEFAULT '',
                kind TEXT NOT NULL
                    CHECK (kind IN ('file', 'image', 'video', 'audio', 'link', 'answer')),
                title TEXT NOT NULL,
                filename TEXT,
                description TEXT NOT NULL DEFAULT '',
                described INTEGER NOT NULL DEFAULT 0,
                url TEXT,
                mxc TEXT,
                mimetype TEXT,
                size INTEGER,
                uploader TEXT NOT NULL,
                uploader_name TEXT NOT NULL DEFAULT '',
                created_at INTEGER NOT NULL,
                shared INTEGER NOT NULL DEFAULT 0,
                -- The tags: JSON [[folded, as written, 'hashtag' or 'manual'], ...]; ``folded``
                -- has no case or diacritics (#Läsförståelse = #lasforstaelse). ``tags`` (as
                -- written) and ``tag_keys`` (one exact token per folded tag) mirror it for the
                -- full-text index; storage/materials.py writes the three together.
                tag_data TEXT NOT NULL DEFAULT '[]',
                tags TEXT NOT NULL DEFAULT '',
                tag_keys TEXT NOT NULL DEFAULT '',
                text_state TEXT NOT NULL DEFAULT 'none'
                    CHECK (text_state IN ('none', 'pending', 'done', 'skipped')),
                text_reason TEXT,
                UNIQUE (event_id, part)
            )""",
            "CREATE INDEX materials_cohort_time ON materials (cohort_id, created_at)",
            "CREATE INDEX materials_uploader ON materials (uploader, created_at)",
            "CREATE INDEX materials_text_pending ON materials (id) WHERE text_state = 'pending'",
            # The full-text index; rowid = materials.id. ``scope`` holds the cohort's token
            # ('c' + hex of its id) and 'xshared', so visibility is part of the match; ``tagkeys``
            # finds items by tag. The triggers below keep everything but the document text
            # (``content``, written by storage/materials.py) in step with ``materials``, so
            # recording an item is one statement.
            """CREATE VIRTUAL TABLE materials_fts USING fts5(
                title, tags, description, content, tagkeys, scope,
                tokenize = 'unicode61 remove_diacritics 2',
                prefix = '3'
            )""",
            "INSERT INTO materials_fts (materials_fts, rank)"
            " VALUES ('rank', 'bm25(10.0, 6.0, 3.0, 1.0, 0.0, 0.0)')",
            """CREATE TRIGGER materials_fts_insert AFTER INSERT ON materials BEGIN
                INSERT INTO materials_fts
                    (rowid, title, tags, description, content, tagkeys, scope)
                VALUES (
                    new.id,
                    CASE WHEN new.filename IS NULL OR new.filename = new.title THEN new.title
                        ELSE new.title || ' ' || new.filename END,
                    new.tags,
                    new.description,
                    '',
                    new.tag_keys,
                    'c' || lower(hex(new.cohort_id))
                        || CASE WHEN new.shared THEN ' xshared' ELSE '' END
                );
            END""",
            """CREATE TRIGGER materials_fts_update
            AFTER UPDATE OF title, filename, description, tags, tag_keys, shared, cohort_id
            ON materials
            BEGIN
                UPDATE materials_fts SET
                    title = CASE WHEN new.filename IS NULL OR new.filename = new.title
                        THEN new.title ELSE new.title || ' ' || new.filename END,
                    tags = new.tags,
                    tagkeys = new.tag_keys,
                    description = new.description,
                    scope = 'c' || lower(hex(new.cohort_id))
                        || CASE WHEN new.shared THEN ' xshared' ELSE '' END
                WHERE rowid = new.id;
            END""",
            """CREATE TRIGGER materials_fts_delete AFTER DELETE ON materials BEGIN
                DELETE FROM materials_fts WHERE rowid = old.id;
            END""",
            # The last listing per person and room, so that '!materials more' continues it.
            """CREATE TABLE material_queries (
                user_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                mode TEXT NOT NULL,
                query TEXT NOT NULL,
                next_offset INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                PRIMARY KEY (user_id, room_id)
            )""",
        ),
    ),
    Migration(
        4,
        "Check-ins, native polls and surveys",
        (
            # One row per configured schedule: the next run not yet handled, and pauses.
            """CREATE TABLE checkin_schedules (
                cohort_id TEXT NOT NULL,
                schedule_id TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                next_due INTEGER,
                paused INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (cohort_id, schedule_id)
            )""",
            "CREATE INDEX checkin_schedules_due ON checkin_schedules (paused, next_due)",
            # Every run handled, once: posted, posted late, missed, skipped or on a quiet date.
            """CREATE TABLE checkin_runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                cohort_id TEXT NOT NULL,
                schedule_id TEXT NOT NULL,
                due_at INTEGER NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('posted', 'late', 'missed', 'skipped', 'quiet', 'manual')),
                handled_at INTEGER NOT NULL,
                room_id TEXT,
                root_outbox INTEGER,
                root_event TEXT,
                remind_at INTEGER,
                reminded_at INTEGER,
                UNIQUE (cohort_id, schedule_id, due_at)
            )""",
            "CREATE INDEX checkin_runs_root ON checkin_runs (root_event)",
            "CREATE INDEX checkin_runs_remind ON checkin_runs (reminded_at, remind_at)",
            # Who answered a check-in (in its thread or in its poll): never what they wrote.
            """CREATE TABLE checkin_replies (
                run_id INTEGER NOT NULL REFERENCES checkin_runs (id) ON DELETE CASCADE,
                user_id TEXT NOT NULL,
                PRIMARY KEY (run_id, user_id)
            )""",
            """CREATE TABLE polls (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id INTEGER REFERENCES checkin_runs (id) ON DELETE SET NULL,
                cohort_id TEXT NOT NULL,
                room_id TEXT NOT NULL,
                start_outbox INTEGER NOT NULL,
                start_event TEXT UNIQUE,
                question TEXT NOT NULL,
                answers TEXT NOT NULL,
                close_at INTEGER NOT NULL,
                end_ts INTEGER,
                closed_at INTEGER,
                result TEXT
            )""",
            "CREATE INDEX polls_open ON polls (closed_at, close_at)",
            # Raw responses until the poll closes (then only the counts in polls.result stay).
            """CREATE TABLE poll_responses (
                event_id TEXT PRIMARY KEY,
                poll_id INTEGER NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
                sender TEXT NOT NULL,
                ts INTEGER NOT NULL,
                selections TEXT NOT NULL
            )""",
            "CREATE INDEX poll_responses_poll ON poll_responses (poll_id)",
            """CREATE TABLE survey_rounds (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                survey_id TEXT NOT NULL,
                cohort_id TEXT NOT NULL,
                run_id INTEGER UNIQUE REFERENCES checkin_runs (id) ON DELETE SET NULL,
                anonymous INTEGER NOT NULL,
                opened_at INTEGER NOT NULL,
                closes_at INTEGER NOT NULL,
                remind_at INTEGER,
                reminded_at INTEGER,
                closed_at INTEGER
            )""",
            # Who is asked and how far they are. ``draft`` holds the answers so far only while
            # the questionnaire is in progress (to go back and to resume); it is emptied when
            # the answers become a response, and when the survey closes.
            """CREATE TABLE survey_invites (
                round_id INTEGER NOT NULL REFERENCES survey_rounds (id) ON DELETE CASCADE,
                user_id TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'waiting'
                    CHECK (state IN ('waiting', 'asking', 'stopped', 'done', 'expired')),
                position INTEGER NOT NULL DEFAULT 0,
                draft TEXT,
                PRIMARY KEY (round_id, user_id)
            )""",
            "CREATE INDEX survey_invites_user ON survey_invites (user_id, state)",
            # A random id, no time and no row order (WITHOUT ROWID); user_id only when the
            # survey is not anonymous.
            """CREATE TABLE survey_responses (
                response_id TEXT PRIMARY KEY,
                round_id INTEGER NOT NULL REFERENCES survey_rounds (id) ON DELETE CASCADE,
                user_id TEXT
            ) WITHOUT ROWID""",
            """CREATE TABLE survey_answers (
                response_id TEXT NOT NULL
                    REFERENCES survey_responses (response_id) ON DELETE CASCADE,
                question_id TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (response_id, question_id)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        5,
        "Outbox: whose words a message carries, to tell them if it cannot be sent",
        ("ALTER TABLE outbox ADD COLUMN owner TEXT",),
    ),
    Migration(
        6,
        "Polls: the end event the bot sent, tallied when it comes back with its timestamp",
        ("ALTER TABLE polls ADD COLUMN end_outbox INTEGER",),
    ),
    Migration(
        7,
        "One vocabulary: tickets are questions (tables, the text column, the outbox purpose)",
        (
            "ALTER TABLE tickets RENAME TO questions",
            "ALTER TABLE questions RENAME COLUMN question TO text",
            "ALTER TABLE ticket_links RENAME TO question_links",
            "ALTER TABLE question_links RENAME COLUMN ticket_id TO question_id",
            "DROP INDEX tickets_asker",
            "DROP INDEX tickets_status",
            "CREATE INDEX questions_asker ON questions (asker)",
            "CREATE INDEX questions_status ON questions (status, created_at)",
            "UPDATE outbox SET purpose = 'question_root' WHERE purpose = 'ticket_root'",
        ),
    ),
    Migration(
        8,
        "The pilot's evidence: activity per cohort and day, monthly counts per person, question"
        " times, catalogue searches",
        (
            # What a question went through (for response and answer times); asker_role is
            # 'participant' or 'facilitator'. reopened counts the times it was reopened.
            "ALTER TABLE questions ADD COLUMN asker_role TEXT",
            "ALTER TABLE questions ADD COLUMN claimed_at INTEGER",
            "ALTER TABLE questions ADD COLUMN first_response_at INTEGER",
            "ALTER TABLE questions ADD COLUMN closed_at INTEGER",
            "ALTER TABLE questions ADD COLUMN reopened INTEGER NOT NULL DEFAULT 0",
            # Counts only, per cohort and local day: never content, never who.
            """CREATE TABLE activity_days (
                cohort_id TEXT NOT NULL,
                day TEXT NOT NULL,
                messages INTEGER NOT NULL DEFAULT 0,
                writers INTEGER NOT NULL DEFAULT 0,
                threads INTEGER NOT NULL DEFAULT 0,
                peer_replies INTEGER NOT NULL DEFAULT 0,
                files INTEGER NOT NULL DEFAULT 0,
                links INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (cohort_id, day)
            ) WITHOUT ROWID""",
            # Per person only this: a monthly message count (and the last day of that month
            # they wrote, so a day's writers are counted once). Exported and erased with them.
            """CREATE TABLE activity_members (
                cohort_id TEXT NOT NULL,
                month TEXT NOT NULL,
                user_id TEXT NOT NULL,
                messages INTEGER NOT NULL DEFAULT 0,
                last_day TEXT NOT NULL,
                PRIMARY KEY (cohort_id, month, user_id)
            ) WITHOUT ROWID""",
            "CREATE INDEX activity_members_user ON activity_members (user_id)",
            # Recent members' messages, to tell a reply to someone else from one to oneself:
            # the author is a keyed hash whose key (kv 'evaluation.key:<month>') is dropped
            # after two months, and the rows after 31 days.
            """CREATE TABLE activity_messages (
                event_id TEXT PRIMARY KEY,
                cohort_id TEXT NOT NULL,
                month TEXT NOT NULL,
                author TEXT NOT NULL,
                ts INTEGER NOT NULL,
                threaded INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID""",
            "CREATE INDEX activity_messages_ts ON activity_messages (ts)",
            """CREATE TABLE search_days (
                cohort_id TEXT NOT NULL,
                day TEXT NOT NULL,
                searches INTEGER NOT NULL DEFAULT 0,
                empty INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (cohort_id, day)
            ) WITHOUT ROWID""",
            # The folded words of searches that found nothing: the needs nobody has met yet.
            """CREATE TABLE search_misses (
                cohort_id TEXT NOT NULL,
                day TEXT NOT NULL,
                word TEXT NOT NULL,
                count INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (cohort_id, day, word)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        9,
        "Action plans: plans, their items and history, and the follow-ups that ask about them",
        (
            # One plan per facilitator's team (owner) and one for the whole cohort (owner '').
            """CREATE TABLE plans (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                cohort_id TEXT NOT NULL,
                owner TEXT NOT NULL,
                summary_outbox INTEGER,
                summary_event TEXT,
                created_at INTEGER NOT NULL,
                UNIQUE (cohort_id, owner)
            )""",
            """CREATE TABLE plan_items (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                plan_id INTEGER NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
                text TEXT NOT NULL,
                who TEXT,
                due TEXT,
                status TEXT NOT NULL DEFAULT 'planned'
                    CHECK (status IN ('planned', 'started', 'done', 'dropped')),
                comment TEXT NOT NULL DEFAULT '',
                created_by TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                removed INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX plan_items_plan ON plan_items (plan_id)",
            # What changed when, for the export (the school's own quality work).
            """CREATE TABLE plan_history (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                item_id INTEGER NOT NULL REFERENCES plan_items (id) ON DELETE CASCADE,
                at INTEGER NOT NULL,
                by TEXT NOT NULL,
                change TEXT NOT NULL CHECK (change IN ('added', 'edited', 'status', 'removed')),
                status TEXT,
                text TEXT,
                comment TEXT
            )""",
            """CREATE TABLE plan_followups (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id INTEGER UNIQUE REFERENCES checkin_runs (id) ON DELETE SET NULL,
                cohort_id TEXT NOT NULL,
                opened_at INTEGER NOT NULL,
                closes_at INTEGER NOT NULL,
                remind_at INTEGER,
                reminded_at INTEGER,
                closed_at INTEGER
            )""",
            # Who is asked about which items, and how far they are (resumable like surveys).
            """CREATE TABLE plan_followup_asks (
                followup_id INTEGER NOT NULL REFERENCES plan_followups (id) ON DELETE CASCADE,
                user_id TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'waiting'
                    CHECK (state IN ('waiting', 'asking', 'done', 'expired')),
                items TEXT NOT NULL,
                position INTEGER NOT NULL DEFAULT 0,
                chosen TEXT,
                answers TEXT NOT NULL DEFAULT '{}',
                PRIMARY KEY (followup_id, user_id)
            )""",
            "CREATE INDEX plan_followup_asks_user ON plan_followup_asks (user_id, state)",
        ),
    ),
    Migration(
        10,
        "Measures in one statement per message: a view whose trigger updates the counts",
        (
            # Nothing is stored in the view: inserting a message into it updates the day's
            # counts (a writer once a day), the person's monthly count and the recent messages.
            """CREATE VIEW activity_input AS SELECT
                '' AS event_id, '' AS cohort_id, '' AS day, '' AS month, '' AS user_id,
                '' AS author, 0 AS ts, 0 AS files, 0 AS links, 0 AS peer, 0 AS thread,
                NULL AS threaded_root""",
            """CREATE TRIGGER activity_input_insert INSTEAD OF INSERT ON activity_input
            BEGIN
                INSERT INTO activity_days
                    (cohort_id, day, messages, threads, peer_replies, files, links, writers)
                VALUES (
                    new.cohort_id, new.day, 1, new.thread, new.peer, new.files, new.links,
                    CASE WHEN EXISTS (
                        SELECT 1 FROM activity_members WHERE cohort_id = new.cohort_id
                        AND month = new.month AND user_id = new.user_id
                        AND last_day >= new.day
                    ) THEN 0 ELSE 1 END
                )
                ON CONFLICT (cohort_id, day) DO UPDATE SET
                    messages = messages + 1, threads = threads + excluded.threads,
                    peer_replies = peer_replies + excluded.peer_replies,
                    files = files + excluded.files, links = links + excluded.links,
                    writers = writers + excluded.writers;
                INSERT INTO activity_members (cohort_id, month, user_id, messages, last_day)
                VALUES (new.cohort_id, new.month, new.user_id, 1, new.day)
                ON CONFLICT (cohort_id, month, user_id) DO UPDATE SET
                    messages = messages + 1, last_day = max(last_day, excluded.last_day);
                INSERT OR IGNORE INTO activity_messages (event_id, cohort_id, month, author, ts)
                VALUES (new.event_id, new.cohort_id, new.month, new.author, new.ts);
                UPDATE activity_messages SET threaded = 1
                WHERE new.threaded_root IS NOT NULL AND event_id = new.threaded_root;
            END""",
        ),
    ),
    Migration(
        11,
        "Measures off the path of every message: one inbox row per transaction, folded later",
        (
            # The messages a sync transaction counted, as one JSON list (no content: ids,
            # times, flags); folded into the counts about once a minute, and before any
            # report, export or erasure reads them.
            """CREATE TABLE activity_inbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                messages TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        12,
        "Staged requests: the history of a request's stages; requests the advisers open",
        (
            # One row per move (!stage); the first stage is implied from the question's
            # creation. The comment is internal (the advisers'), never sent to the asker.
            # reminded_at: when the advisers were reminded that the next stage is overdue.
            """CREATE TABLE question_stages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
                stage TEXT NOT NULL,
                entered_at INTEGER NOT NULL,
                moved_by TEXT NOT NULL,
                comment TEXT NOT NULL DEFAULT '',
                reminded_at INTEGER
            )""",
            "CREATE INDEX question_stages_of ON question_stages (question_id, id)",
            "ALTER TABLE questions ADD COLUMN stage_reminded_at INTEGER",
            # The adviser who opened the request (!contact); NULL for a question asked.
            "ALTER TABLE questions ADD COLUMN opened_by TEXT",
            # An answer's text as the asker reads it (edits included), for the request's
            # documentation (!summary); the outbox drops what it sent. Gone with the link.
            "ALTER TABLE question_links ADD COLUMN text TEXT",
            # A request's sessions (!session add); removed ones are deleted.
            """CREATE TABLE request_sessions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
                starts_at INTEGER NOT NULL,
                minutes INTEGER NOT NULL,
                place TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX request_sessions_of ON request_sessions (question_id, starts_at)",
            # Who the evaluation survey goes to (!session participants); none: the asker's
            # cohort's participants.
            """CREATE TABLE request_participants (
                question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
                user_id TEXT NOT NULL,
                PRIMARY KEY (question_id, user_id)
            )""",
            # The evaluation survey round of a request (one per request).
            """CREATE TABLE request_rounds (
                question_id INTEGER PRIMARY KEY REFERENCES questions(id) ON DELETE CASCADE,
                round_id INTEGER NOT NULL REFERENCES survey_rounds(id) ON DELETE CASCADE
            )""",
            # Where a round's results go, as JSON [[room, thread root], …] (a request's:
            # the asker's thread and the advisers'); NULL: the default rooms. Such a round
            # also closes as soon as everyone has answered.
            "ALTER TABLE survey_rounds ADD COLUMN report_to TEXT",
        ),
    ),
    Migration(
        13,
        "Check-in replies erased after a while, their number kept",
        (
            # How many answered the run, counted when the retention erased who did (NULL while
            # the replies are kept); the evaluation adds the replies still kept.
            "ALTER TABLE checkin_runs ADD COLUMN replies_kept INTEGER",
        ),
    ),
    Migration(
        14,
        "The bot's own cross-signing keys (kept like the access token, in this 0600 file)",
        (
            # Ed25519 seeds, unpadded base64; one set per bot account.
            """CREATE TABLE cross_signing_keys (
                user_id TEXT PRIMARY KEY,
                master_seed TEXT NOT NULL,
                self_signing_seed TEXT NOT NULL,
                user_signing_seed TEXT NOT NULL,
                created_at INTEGER NOT NULL
            )""",
        ),
    ),
    Migration(
        15,
        "Restore: each outbox row's key, and the bot's messages found since a backup",
        (
            # The row's deterministic key (see storage/outbox.py), sent in its content as
            # se.natverk.key: a restored bot finds what it had already sent by it.
            "ALTER TABLE outbox ADD COLUMN key TEXT",
            # After `natverk restore`: the bot's own events since the backup, by their key
            # (read at the first start); a row with one of these keys is not sent again but
            # marked sent as that event. Each entry is removed once a row has used it.
            """CREATE TABLE restored_events (
                key TEXT PRIMARY KEY,
                event_id TEXT NOT NULL,
                room_id TEXT NOT NULL
            )""",
            # A redaction names the key of the message it redacts (found by its event id).
            "CREATE INDEX outbox_event ON outbox (event_id) WHERE event_id IS NOT NULL",
            # The key of !privacy erase's confirmation codes (commands/privacy.py): made now,
            # so every later backup has it and a restored bot gives the same code again.
            "INSERT OR IGNORE INTO kv (key, value)"
            " VALUES ('privacy.code_secret', lower(hex(randomblob(32))))",
        ),
    ),
    Migration(
        16,
        "The privacy notice: posted once per room, sent once per person",
        (
            # Rooms (by id) the notice was queued in, in the transaction that queued it.
            """CREATE TABLE privacy_notice_rooms (
                room_id TEXT PRIMARY KEY,
                queued_at INTEGER NOT NULL
            )""",
            # People the notice was queued for, by a SHA-256 of the user id (never the id):
            # the bot only needs to know whether someone had it. queued_at is NULL once the
            # person is erased: the hash stays, so an erased person still in the YAML is not
            # sent the notice again.
            """CREATE TABLE privacy_notice_people (
                person TEXT PRIMARY KEY,
                queued_at INTEGER
            )""",
        ),
    ),
    Migration(
        17,
        "Encrypted events kept until their room key arrives",
        (
            # An event the bot could not decrypt yet: kept (not marked processed) until its
            # key arrives, or the sender is told it could not be read. ``source`` is the
            # encrypted event as received (ciphertext, no plaintext).
            """CREATE TABLE undecrypted (
                event_id TEXT PRIMARY KEY,
                room_id TEXT NOT NULL,
                sender TEXT NOT NULL,
                session_id TEXT NOT NULL,
                origin_server_ts INTEGER NOT NULL,
                source TEXT NOT NULL,
                received_at INTEGER NOT NULL,
                withheld TEXT
            )""",
            "CREATE INDEX undecrypted_session ON undecrypted (session_id)",
            # m.room_key.withheld seen for a session (its events may arrive later).
            """CREATE TABLE withheld_sessions (
                session_id TEXT PRIMARY KEY,
                code TEXT NOT NULL,
                received_at INTEGER NOT NULL
            )""",
        ),
    ),
    Migration(
        18,
        "Encrypted attachments: the key of a file whose text is still to be read",
        (
            # JSON {k, iv, sha256} of an encrypted file (storage.materials.FileKey): set only
            # while text_state = 'pending', cleared when the text is stored or skipped.
            "ALTER TABLE materials ADD COLUMN file_key TEXT",
        ),
    ),
    Migration(
        19,
        "Each member's cross-signing identity, pinned on first use",
        (
            # The master key the bot first saw for a member (trust on first use). A different
            # key later is a changed identity: the admins are told, and the new key is pinned.
            """CREATE TABLE identity_pins (
                user_id TEXT PRIMARY KEY,
                master_key TEXT NOT NULL,
                pinned_at INTEGER NOT NULL,
                changed_at INTEGER
            )""",
        ),
    ),
]
