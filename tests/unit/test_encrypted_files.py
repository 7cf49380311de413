"""Encrypted attachments in the catalogue: the ``file`` object parsed as untrusted JSON, the
ciphertext checked against its hash and decrypted, and the key kept only while the text is
still to be read."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nio.crypto.attachments import encrypt_attachment

from commands.materials import extract as extract_text
from commands.materials import parse
from commands.materials.extract import ExtractionError
from storage import Database, privacy
from storage import materials as store
from storage.materials import FileKey, NewItem
from tests.documents import make_pdf


def encrypted(plaintext: bytes, mxc: str = "mxc://x/enc") -> tuple[bytes, dict[str, Any]]:
    """(ciphertext, the event's ``file`` object), as Element and nio make them."""
    ciphertext, keys = encrypt_attachment(plaintext)
    return ciphertext, {"url": mxc, **keys}


def file_content(file: object, **extra: Any) -> dict[str, Any]:
    return {
        "msgtype": "m.file",
        "body": "elevplan.pdf",
        "file": file,
        "info": {"mimetype": "application/pdf", "size": 2345},
        **extra,
    }


# --- parsing -------------------------------------------------------------------------------------


def test_an_encrypted_file_is_catalogued_like_a_plain_one_with_its_key() -> None:
    _, file = encrypted(b"data")
    parsed = parse.file_message(file_content(file, body="Elevplan #npf", filename="plan.pdf"))
    assert parsed is not None
    assert (parsed.kind, parsed.mxc, parsed.title, parsed.filename) == (
        "file",
        "mxc://x/enc",
        "Elevplan #npf",
        "plan.pdf",
    )
    assert (parsed.mimetype, parsed.size) == ("application/pdf", 2345)
    assert parsed.key == FileKey(file["key"]["k"], file["iv"], file["hashes"]["sha256"])
    plain = parse.file_message({"msgtype": "m.file", "body": "a.pdf", "url": "mxc://x/a"})
    assert plain is not None and plain.key is None


def test_padded_base64_is_accepted_and_stored_unpadded() -> None:
    _, file = encrypted(b"data")
    padded = copy.deepcopy(file)
    padded["key"]["k"] += "="  # 32 bytes: 43 characters and one '='
    padded["iv"] += "=="  # 16 bytes: 22 characters and two
    padded["hashes"]["sha256"] += "="
    parsed = parse.file_message(file_content(padded))
    assert parsed is not None and parsed.key is not None
    assert parsed.key == FileKey(file["key"]["k"], file["iv"], file["hashes"]["sha256"])


def _broken(change: Any) -> dict[str, Any]:
    _, file = encrypted(b"data")
    change(file)
    return file


MALFORMED = {
    "not an object": lambda f: f.clear() or f.update(oops=1),
    "no v": lambda f: f.pop("v"),
    "v1": lambda f: f.update(v="v1"),
    "url not mxc": lambda f: f.update(url="https://evil.example/x"),
    "url a number": lambda f: f.update(url=5),
    "key a string": lambda f: f.update(key="abc"),
    "wrong alg": lambda f: f["key"].update(alg="A128CTR"),
    "wrong kty": lambda f: f["key"].update(kty="RSA"),
    "no k": lambda f: f["key"].pop("k"),
    "short k": lambda f: f["key"].update(k="AAAA"),
    "k not base64": lambda f: f["key"].update(k="!" * 43),
    "k a list": lambda f: f["key"].update(k=["x"]),
    "no decrypt op": lambda f: f["key"].update(key_ops=["encrypt"]),
    "key_ops a string": lambda f: f["key"].update(key_ops="decrypt"),
    "iv missing": lambda f: f.pop("iv"),
    "iv too long": lambda f: f.update(iv="A" * 32),
    "iv huge": lambda f: f.update(iv="A" * 100_000),
    "hashes missing": lambda f: f.pop("hashes"),
    "hashes a list": lambda f: f.update(hashes=["x"]),
    "sha256 missing": lambda f: f.update(hashes={"sha512": "x"}),
    "sha256 short": lambda f: f["hashes"].update(sha256="AAAA"),
}


@pytest.mark.parametrize("change", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_file_object_is_not_catalogued(change: Any) -> None:
    assert parse.file_message(file_content(_broken(change))) is None


def test_a_file_object_that_is_not_an_object_is_refused() -> None:
    for value in (None, "mxc://x/a", ["mxc://x/a"], 3):
        assert parse.file_message(file_content(value)) is None


# --- verifying and decrypting --------------------------------------------------------------------


def _key(file: dict[str, Any]) -> FileKey:
    found = parse.encrypted_file(file)
    assert found is not None
    return found[1]


def test_the_ciphertext_is_verified_and_decrypted() -> None:
    pdf = make_pdf("Handlingsplan för elevhälsa")
    ciphertext, file = encrypted(pdf)
    assert ciphertext != pdf
    assert extract_text.decrypt(ciphertext, _key(file)) == pdf
    text = extract_text.extract(extract_text.decrypt(ciphertext, _key(file)), "pdf")
    assert "elevhälsa" in text


def test_a_tampered_file_or_wrong_key_is_refused_with_a_reason() -> None:
    ciphertext, file = encrypted(make_pdf("Hemligt"))
    tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    with pytest.raises(ExtractionError, match="does not match its hash"):
        extract_text.decrypt(tampered, _key(file))
    with pytest.raises(ExtractionError, match="does not match its hash"):
        extract_text.decrypt(ciphertext[:-1], _key(file))
    # Another file's hash (as if the event pointed at a different upload).
    _, other = encrypted(b"something else")
    with pytest.raises(ExtractionError, match="does not match its hash"):
        extract_text.decrypt(ciphertext, _key({**file, "hashes": other["hashes"]}))
    # The right hash with another key decrypts to garbage, which the extractor refuses.
    garbage = extract_text.decrypt(ciphertext, _key({**file, "key": other["key"]}))
    with pytest.raises(ExtractionError):
        extract_text.extract(garbage, "pdf")


# --- the key in storage ------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "m.db")
    try:
        yield database
    finally:
        await database.close()


KEY = FileKey("k" * 43, "i" * 22, "h" * 43)


def new_item(event: str, **kw: Any) -> NewItem:
    fields: dict[str, Any] = {
        "cohort_id": "npf",
        "room_id": "!npf:x",
        "event_id": event,
        "kind": "file",
        "title": "Elevplan",
        "uploader": "@anna:x",
        "uploader_name": "Anna",
        "created_at": 1_800_000_000_000,
        "mxc": f"mxc://x/{event.strip('$')}",
        "file_key": KEY,
        **kw,
    }
    return NewItem(**fields)


async def keys(db: Database) -> dict[str, str | None]:
    rows = await db.fetchall("SELECT event_id, file_key FROM materials ORDER BY id")
    return {r["event_id"]: r["file_key"] for r in rows}


async def test_the_key_is_kept_only_while_the_text_is_pending(db: Database) -> None:
    async with db.transaction() as tx:
        assert await store.add(tx, new_item("$read", text_state="pending"))
        assert await store.add(tx, new_item("$skip", text_state="pending"))
        assert await store.add(tx, new_item("$image", kind="image", text_state="none"))
        assert await store.add(tx, new_item("$big", text_state="skipped", text_reason="big"))
    stored = await keys(db)
    assert stored["$image"] is None and stored["$big"] is None  # never needed: never stored
    assert FileKey.from_json(stored["$read"]) == KEY
    async with db.transaction() as tx:
        pending = {p.mxc: p for p in await store.pending_text(tx, 10)}
        assert pending["mxc://x/read"].file_key == KEY
        assert await store.set_text(tx, pending["mxc://x/read"].id, "mxc://x/read", "text")
        assert await store.skip_text(
            tx, pending["mxc://x/skip"].id, "mxc://x/skip", "the encrypted file does not match"
        )
    assert set((await keys(db)).values()) == {None}
    row = await db.fetchone("SELECT text_reason FROM materials WHERE event_id = '$skip'")
    assert row is not None and "does not match" in row["text_reason"]


async def test_an_update_keeps_a_key_only_with_pending_text(db: Database) -> None:
    async with db.transaction() as tx:
        assert await store.add(tx, new_item("$e", text_state="none", file_key=None))
        item_id = await store.id_of(tx, "$e")
        assert item_id is not None
        with pytest.raises(ValueError, match="pending"):
            await store.update(tx, item_id, text_state="done", file_key=KEY)
        await store.update(tx, item_id, mxc="mxc://x/new", text_state="pending", file_key=KEY)
        (pending,) = await store.pending_text(tx, 10)
        assert (pending.mxc, pending.file_key) == ("mxc://x/new", KEY)


async def test_a_key_is_neither_exported_nor_kept_after_erasure(db: Database) -> None:
    async with db.transaction() as tx:
        assert await store.add(tx, new_item("$e", text_state="pending"))
    exported = await privacy.export_user(db, "@anna:x")
    assert KEY.key not in repr(exported) and exported["materials"][0]["title"] == "Elevplan"
    await privacy.erase_user(db, "@anna:x", unclaimed=lambda lang, dm: "")
    assert await keys(db) == {}
