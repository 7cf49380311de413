"""The materials catalogue: items, their tags, the full-text index and remembered listings.

``materials_fts`` (FTS5, ``unicode61 remove_diacritics 2``, rowid = item id) is kept in step
with ``materials`` by triggers (migration 3), so recording an item is one statement (indexing
runs in the sync transaction, where each statement is a round trip to SQLite's thread); only
the document text (``content``) is written here. Tags live on the item (``tag_data``) and are
mirrored into the index, where ``tagkeys`` holds one exact token per tag. The ``scope`` column
holds one token per visibility (the item's cohort, and ``xshared`` for an item shared with the
network), so a search filters by cohort inside the full-text match and ``ORDER BY rank LIMIT``
stays cheap.

Callers pass tags and query words already folded (no case, no diacritics): see
``commands.materials.parse.fold``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot import clock
from storage.db import Params, Row, Tx

SHARED_TOKEN = "xshared"  # noqa: S105 - a search token, not a secret
# Bounds on an item's tags. One message can carry thousands of hashtags (8,000 fit in one
# event), and every listing shows the tags of each item it lists, in text and in HTML: without
# a bound a single item's tags would not fit in one message (the homeserver's 64 KiB). An item
# keeps at most MAX_TAGS tags (tags added by hand first, then hashtags in the order written),
# each at most TAG_MAX characters: about a kilobyte per item at worst.
MAX_TAGS = 20
TAG_MAX = 40
TEXT_STATES = ("none", "pending", "done", "skipped")
_FIELDS = frozenset(
    {
        "title",
        "filename",
        "description",
        "described",
        "shared",
        "mxc",
        "mimetype",
        "size",
        "text_state",
        "text_reason",
        "file_key",
    }
)


class Reader(Protocol):
    """An open transaction (:class:`Tx`) or the database's reader (:class:`Database`)."""

    async def fetchone(self, sql: str, params: Params = ...) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ...) -> list[Row]: ...


@dataclass(frozen=True)
class NewItem:
    cohort_id: str
    room_id: str
    event_id: str
    kind: str  # file, image, video, audio, link, answer
    title: str
    uploader: str
    created_at: int
    part: str = ""
    uploader_name: str = ""
    filename: str | None = None
    description: str = ""
    url: str | None = None
    mxc: str | None = None
    mimetype: str | None = None
    size: int | None = None
    text_state: str = "none"
    text_reason: str | None = None
    content: str = ""  # searchable text known at once (e.g. a published question)
    tags: tuple[tuple[str, str], ...] = ()  # (folded, as written), from hashtags
    file_key: FileKey | None = None  # an encrypted file's; stored only while text is pending


@dataclass(frozen=True)
class Item:
    id: int
    cohort_id: str
    room_id: str
    event_id: str
    part: str
    kind: str
    title: str
    filename: str | None
    description: str
    described: bool
    url: str | None
    mxc: str | None
    mimetype: str | None
    size: int | None
    uploader: str
    uploader_name: str
    created_at: int
    shared: bool
    text_state: str
    text_reason: str | None
    tags: tuple[str, ...] = ()
    snippet: str = ""  # search only: the matching part of the document text


@dataclass(frozen=True)
class FileKey:
    """What decrypts an encrypted attachment (a Matrix ``EncryptedFile``, version 2): the
    AES-256-CTR key (the JSON web key's ``k``, unpadded base64url), the initial counter block
    ``iv`` and the SHA-256 of the ciphertext (both unpadded base64).

    It unlocks a file that may be about pupils: the catalogue keeps it only on an item whose
    text is still to be read (``text_state = 'pending'``) and drops it when the text is stored
    or skipped."""

    key: str
    iv: str
    sha256: str

    def to_json(self) -> str:
        return json.dumps({"k": self.key, "iv": self.iv, "sha256": self.sha256})

    @classmethod
    def from_json(cls, raw: str | None) -> FileKey | None:
        if not raw:
            return None
        data = json.loads(raw)
        return cls(str(data["k"]), str(data["iv"]), str(data["sha256"]))


@dataclass(frozen=True)
class PendingText:
    """A document whose text is still to be downloaded and extracted (and decrypted, if it
    came encrypted)."""

    id: int
    mxc: str
    mimetype: str | None
    filename: str | None
    size: int | None
    file_key: FileKey | None = None


@dataclass(frozen=True)
class Listing:
    """The last listing a person asked for in a room, for ``!materials more``."""

    mode: str
    query: str
    next_offset: int


def scope_token(cohort_id: str) -> str:
    """The FTS token for a cohort: ids may hold - and _, which the tokenizer splits on."""
    return "c" + cohort_id.encode().hex()


def tag_key(folded: str) -> str:
    """The FTS token for a folded tag: exact, whatever characters the tag has."""
    return "t" + folded.encode().hex()


def bounded_tags(tags: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(folded, as written, source) triples, each folded tag once (the last one given wins, so
    a manual tag wins over a hashtag), at most MAX_TAGS of them: manual tags first, then the
    others in the order given; each cut to TAG_MAX characters."""
    unique: dict[str, tuple[str, str, str]] = {}
    for folded, tag, source in tags:
        unique[folded[:TAG_MAX]] = (folded[:TAG_MAX], tag[:TAG_MAX], source)
    chosen = sorted(unique.values(), key=lambda t: t[2] != "manual")  # stable: keeps order
    return chosen[:MAX_TAGS]


def _tag_columns(tags: Sequence[tuple[str, str, str]]) -> tuple[str, str, str]:
    """(tag_data, tags, tag_keys) for (folded, as written, source) triples (bounded)."""
    ordered = sorted(bounded_tags(tags))
    return (
        json.dumps([list(t) for t in ordered], ensure_ascii=False),
        " ".join(tag for _, tag, _ in ordered),
        " ".join(tag_key(folded) for folded, _, _ in ordered),
    )


def _tag_data(raw: str) -> list[tuple[str, str, str]]:
    return [(str(f), str(t), str(s)) for f, t, s in json.loads(raw or "[]")]


def _tag_match(folded_tags: Sequence[str], operator: str) -> str:
    keys = f" {operator} ".join(f'"{tag_key(t)}"' for t in folded_tags)
    return f"tagkeys : ({keys})"


def match_expression(words: Sequence[str], cohorts: Iterable[str]) -> str | None:
    """An FTS5 query: every word as a prefix in the text columns, within the given cohorts or
    shared with the network. ``words`` must be folded; anything but letters and digits in them
    is only a separator (each word is quoted, so no FTS syntax gets through)."""
    cleaned = [w for w in ("".join(c if c.isalnum() else " " for c in w).strip() for w in words)]
    cleaned = [w for w in cleaned if w]
    long = [w for w in cleaned if len(w) > 1]
    if not cleaned:
        return None
    # A one-letter prefix matches nearly everything; use such words only on their own.
    terms = [f'"{w}"*' for w in long] if long else [f'"{w}"' for w in cleaned]
    scopes = [f'"{scope_token(c)}"' for c in sorted(set(cohorts))] + [f'"{SHARED_TOKEN}"']
    return (
        f"{{title tags description content}} : ({' '.join(terms)})"
        f" AND scope : ({' OR '.join(scopes)})"
    )


def _visible(cohorts: Sequence[str]) -> tuple[str, list[Any]]:
    marks = ",".join("?" * len(cohorts))
    if not cohorts:
        return "m.shared = 1", []
    return f"(m.cohort_id IN ({marks}) OR m.shared = 1)", list(cohorts)


def _items(rows: list[Row], snippets: bool = False) -> list[Item]:
    return [_item(r, str(r["snip"] or "") if snippets else "") for r in rows]


def _item(row: Row, snippet: str = "") -> Item:
    return Item(
        id=int(row["id"]),
        cohort_id=row["cohort_id"],
        room_id=row["room_id"],
        event_id=row["event_id"],
        part=row["part"],
        kind=row["kind"],
        title=row["title"],
        filename=row["filename"],
        description=row["description"],
        described=bool(row["described"]),
        url=row["url"],
        mxc=row["mxc"],
        mimetype=row["mimetype"],
        size=row["size"],
        uploader=row["uploader"],
        uploader_name=row["uploader_name"],
        created_at=int(row["created_at"]),
        shared=bool(row["shared"]),
        text_state=row["text_state"],
        text_reason=row["text_reason"],
        tags=tuple(tag for _, tag, _ in _tag_data(row["tag_data"])),
        snippet=snippet,
    )


# --- writing -----------------------------------------------------------------------------------


def _key_column(key: FileKey | None, text_state: str) -> str | None:
    """An encrypted file's key as stored: only while its text is still to be read."""
    return key.to_json() if key is not None and text_state == "pending" else None


async def add(tx: Tx, new: NewItem, *, shared: bool = False) -> bool:
    """Record an item; False if this event's part is already recorded (a repeated event).

    Usually one statement (the full-text row is written by trigger): indexing runs inside the
    sync transaction, where every statement is a round trip to SQLite's thread.
    """
    if new.text_state not in TEXT_STATES:
        raise ValueError(new.text_state)
    row = (
        new.cohort_id,
        new.room_id,
        new.event_id,
        new.part,
        new.kind,
        new.title,
        new.filename,
        new.description,
        new.url,
        new.mxc,
        new.mimetype,
        new.size,
        new.uploader,
        new.uploader_name,
        new.created_at,
        int(shared),
        *_tag_columns([(folded, tag, "hashtag") for folded, tag in new.tags]),
        new.text_state,
        new.text_reason,
        _key_column(new.file_key, new.text_state),
    )
    try:
        await tx.executemany(
            "INSERT INTO materials (cohort_id, room_id, event_id, part, kind, title, filename,"
            " description, url, mxc, mimetype, size, uploader, uploader_name, created_at, shared,"
            " tag_data, tags, tag_keys, text_state, text_reason, file_key)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [row],
        )
    except sqlite3.IntegrityError as err:
        if "UNIQUE" not in str(err):
            raise
        return False  # this event's part is recorded already
    if new.content:
        await tx.execute(
            "UPDATE materials_fts SET content = ?"
            " WHERE rowid = (SELECT id FROM materials WHERE event_id = ? AND part = ?)",
            (new.content, new.event_id, new.part),
        )
    return True


async def id_of(db: Reader, event_id: str, part: str = "") -> int | None:
    row = await db.fetchone(
        "SELECT id FROM materials WHERE event_id = ? AND part = ?", (event_id, part)
    )
    return None if row is None else int(row["id"])


async def update(tx: Tx, item_id: int, **fields: Any) -> None:
    """Change some of an item's fields (the full-text row follows by trigger). A ``file_key``
    is stored only together with ``text_state='pending'``."""
    if not fields or set(fields) - _FIELDS:
        raise ValueError(f"cannot update {sorted(set(fields) - _FIELDS)}")
    if fields.get("file_key") is not None and fields.get("text_state") != "pending":
        raise ValueError("a file key is kept only while the text is pending")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    values = [
        int(v) if isinstance(v, bool) else v.to_json() if isinstance(v, FileKey) else v
        for v in fields.values()
    ]
    await tx.execute(
        f"UPDATE materials SET {assignments} WHERE id = ?",  # noqa: S608 - names are whitelisted
        (*values, item_id),
    )


async def _set_tags(tx: Tx, item_id: int, tags: Sequence[tuple[str, str, str]]) -> None:
    await tx.execute(
        "UPDATE materials SET tag_data = ?, tags = ?, tag_keys = ? WHERE id = ?",
        (*_tag_columns(tags), item_id),
    )


async def _current_tags(tx: Tx, item_id: int) -> list[tuple[str, str, str]]:
    row = await tx.fetchone("SELECT tag_data FROM materials WHERE id = ?", (item_id,))
    return _tag_data(row["tag_data"]) if row is not None else []


async def add_tags(tx: Tx, item_id: int, tags: Iterable[tuple[str, str]]) -> None:
    """Add tags by hand (``!tag``): (folded, as written). Hashtag edits never remove them."""
    current = await _current_tags(tx, item_id)
    await _set_tags(tx, item_id, [*current, *((f, t, "manual") for f, t in tags)])


async def set_hashtags(tx: Tx, item_id: int, tags: Iterable[tuple[str, str]]) -> None:
    """Replace the tags that came from the message's hashtags (after an edit)."""
    manual = [t for t in await _current_tags(tx, item_id) if t[2] == "manual"]
    hashtags = [(f, t, "hashtag") for f, t in tags]
    await _set_tags(tx, item_id, [*hashtags, *manual])  # a manual tag wins over a hashtag


async def delete(tx: Tx, item_id: int) -> None:
    await tx.execute("DELETE FROM materials WHERE id = ?", (item_id,))


async def delete_event(tx: Tx, room_id: str, event_id: str) -> int:
    """Remove every item of a (redacted) event; returns how many there were."""
    row = await tx.fetchone(
        "SELECT COUNT(*) AS n FROM materials WHERE room_id = ? AND event_id = ?",
        (room_id, event_id),
    )
    if row is None or not row["n"]:
        return 0
    # (rowcount would include the trigger's changes to the full-text index)
    await tx.execute(
        "DELETE FROM materials WHERE room_id = ? AND event_id = ?", (room_id, event_id)
    )
    return int(row["n"])


# --- document text -----------------------------------------------------------------------------


async def pending_text(tx: Tx, limit: int) -> list[PendingText]:
    rows = await tx.fetchall(
        "SELECT id, mxc, mimetype, filename, size, file_key FROM materials"
        " WHERE text_state = 'pending' AND mxc IS NOT NULL ORDER BY id LIMIT ?",
        (limit,),
    )
    return [
        PendingText(
            int(r["id"]),
            r["mxc"],
            r["mimetype"],
            r["filename"],
            r["size"],
            FileKey.from_json(r["file_key"]),
        )
        for r in rows
    ]


async def set_text(tx: Tx, item_id: int, mxc: str, text: str) -> bool:
    """Store a document's extracted text, unless the item is gone or now has another file.
    An encrypted file's key is dropped: it is not needed any more."""
    changed = await tx.execute(
        "UPDATE materials SET text_state = 'done', text_reason = NULL, file_key = NULL"
        " WHERE id = ? AND mxc = ? AND text_state = 'pending'",
        (item_id, mxc),
    )
    if changed:
        await tx.execute("UPDATE materials_fts SET content = ? WHERE rowid = ?", (text, item_id))
    return bool(changed)


async def skip_text(tx: Tx, item_id: int, mxc: str, reason: str) -> bool:
    """Record why a document's text was not read; an encrypted file's key is dropped."""
    changed = await tx.execute(
        "UPDATE materials SET text_state = 'skipped', text_reason = ?, file_key = NULL"
        " WHERE id = ? AND mxc = ? AND text_state = 'pending'",
        (reason, item_id, mxc),
    )
    return bool(changed)


async def clear_text(tx: Tx, item_id: int) -> None:
    await tx.execute("UPDATE materials_fts SET content = '' WHERE rowid = ?", (item_id,))


# --- reading -----------------------------------------------------------------------------------


async def get(db: Reader, item_id: int) -> Item | None:
    row = await db.fetchone("SELECT * FROM materials WHERE id = ?", (item_id,))
    return None if row is None else _item(row)


async def of_event(db: Reader, room_id: str, event_id: str) -> list[Item]:
    rows = await db.fetchall(
        "SELECT * FROM materials WHERE room_id = ? AND event_id = ? ORDER BY id",
        (room_id, event_id),
    )
    return _items(rows)


async def search(
    db: Reader, words: Sequence[str], cohorts: Sequence[str], limit: int, offset: int = 0
) -> list[Item]:
    """The best matches (bm25: title, then tags, description, document text) for folded
    ``words``, each a prefix, among the items of ``cohorts`` and those shared with everyone."""
    expression = match_expression(words, cohorts)
    if expression is None:
        return []
    rows = await db.fetchall(
        "SELECT m.*, snippet(materials_fts, 3, char(2), char(3), '…', 12) AS snip"
        " FROM materials_fts JOIN materials m ON m.id = materials_fts.rowid"
        " WHERE materials_fts MATCH ? ORDER BY materials_fts.rank LIMIT ? OFFSET ?",
        (expression, limit, offset),
    )
    return _items(rows, snippets=True)


async def count_search(db: Reader, words: Sequence[str], cohorts: Sequence[str]) -> int:
    """How many items :func:`search` finds in all (for "… and N more")."""
    expression = match_expression(words, cohorts)
    if expression is None:
        return 0
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM materials_fts WHERE materials_fts MATCH ?", (expression,)
    )
    return int(row["n"]) if row is not None else 0


def _listing_where(
    cohorts: Sequence[str], uploader: str | None, tags: Sequence[str]
) -> tuple[str, list[Any]]:
    where, params = _visible(cohorts)
    if uploader is not None:
        where += " AND m.uploader = ?"
        params.append(uploader)
    if tags:
        where += " AND m.id IN (SELECT rowid FROM materials_fts WHERE materials_fts MATCH ?)"
        params.append(_tag_match(tags, "AND"))
    return where, params


async def count_listing(
    db: Reader, cohorts: Sequence[str], *, uploader: str | None = None, tags: Sequence[str] = ()
) -> int:
    """How many items :func:`listing` lists in all (for "… and N more")."""
    where, params = _listing_where(cohorts, uploader, tags)
    row = await db.fetchone(
        f"SELECT COUNT(*) AS n FROM materials m WHERE {where}",  # noqa: S608 - ? marks only
        params,
    )
    return int(row["n"]) if row is not None else 0


async def listing(
    db: Reader,
    cohorts: Sequence[str],
    limit: int,
    offset: int = 0,
    *,
    uploader: str | None = None,
    tags: Sequence[str] = (),
) -> list[Item]:
    """Newest first among the visible items; only ``uploader``'s, only with all ``tags``."""
    where, params = _listing_where(cohorts, uploader, tags)
    rows = await db.fetchall(
        f"SELECT m.* FROM materials m WHERE {where}"  # noqa: S608 - fixed fragments, ? marks
        " ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return _items(rows)


async def with_any_tag(
    db: Reader, cohorts: Sequence[str], tags: Sequence[str], limit: int
) -> list[Item]:
    """Newest visible items carrying at least one of the folded ``tags`` (a theme's)."""
    if not tags:
        return []
    where, params = _visible(cohorts)
    rows = await db.fetchall(
        f"SELECT m.* FROM materials m WHERE {where} AND m.id IN"  # noqa: S608 - ? marks only
        " (SELECT rowid FROM materials_fts WHERE materials_fts MATCH ?)"
        " ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
        (*params, _tag_match(tags, "OR"), limit),
    )
    return _items(rows)


async def catalogue(db: Reader, cohorts: Sequence[str] | None) -> list[Item]:
    """Every item (``cohorts`` None), or those visible to the given cohorts; oldest first."""
    if cohorts is None:
        rows = await db.fetchall("SELECT * FROM materials ORDER BY created_at, id")
    else:
        where, params = _visible(cohorts)
        rows = await db.fetchall(
            f"SELECT m.* FROM materials m WHERE {where}"  # noqa: S608 - ? marks only
            " ORDER BY m.created_at, m.id",
            params,
        )
    return _items(rows)


# --- remembered listings -------------------------------------------------------------------------


async def remember(tx: Tx, user_id: str, room_id: str, listing_: Listing) -> None:
    await tx.execute(
        "INSERT INTO material_queries (user_id, room_id, mode, query, next_offset, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, room_id) DO UPDATE SET"
        " mode = excluded.mode, query = excluded.query, next_offset = excluded.next_offset,"
        " updated_at = excluded.updated_at",
        (user_id, room_id, listing_.mode, listing_.query, listing_.next_offset, clock.now_ms()),
    )


async def last_listing(db: Reader, user_id: str, room_id: str) -> Listing | None:
    row = await db.fetchone(
        "SELECT mode, query, next_offset FROM material_queries WHERE user_id = ? AND room_id = ?",
        (user_id, room_id),
    )
    return None if row is None else Listing(row["mode"], row["query"], int(row["next_offset"]))


# --- a person's data ---------------------------------------------------------------------------


async def export_user(db: Reader, user_id: str) -> dict[str, Any]:
    """What the catalogue keeps about a person (for ``natverk user export``)."""
    rows = await db.fetchall(
        "SELECT id, cohort_id, kind, title, filename, description, url, created_at"
        " FROM materials WHERE uploader = ? ORDER BY id",
        (user_id,),
    )
    queries = await db.fetchall(
        "SELECT room_id, mode, query FROM material_queries WHERE user_id = ?", (user_id,)
    )
    return {
        "materials": [{k: r[k] for k in r.keys()} for r in rows],  # noqa: SIM118
        "material_queries": [{k: r[k] for k in r.keys()} for r in queries],  # noqa: SIM118
    }


async def erase_user(tx: Tx, user_id: str) -> int:
    """Remove a person's items from the catalogue and their remembered queries."""
    row = await tx.fetchone("SELECT COUNT(*) AS n FROM materials WHERE uploader = ?", (user_id,))
    await tx.execute("DELETE FROM materials WHERE uploader = ?", (user_id,))
    await tx.execute("DELETE FROM material_queries WHERE user_id = ?", (user_id,))
    return int(row["n"]) if row else 0
