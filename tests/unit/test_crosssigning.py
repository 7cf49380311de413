"""The pure core of cross-signing: canonical JSON, unpadded base64, Ed25519 signed JSON, the key
objects, and the chain a client checks. Signatures are verified with verifiers that share no
code with ours: signedjson (Synapse's, on PyNaCl/libsodium) and vodozemac (matrix-nio's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import signedjson.key
import signedjson.sign
import vodozemac

from bot import crosssigning as cs
from storage import Database
from storage import crosssigning as store

BOT = "@natverk:example.org"

# The spec's examples (appendices, "Canonical JSON"): the input as written, the output.
SPEC_CANONICAL = [
    ("{}", "{}"),
    ('{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'),
    ('{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'),
    ('{"b":"2","a":"1"}', '{"a":"1","b":"2"}'),
    (
        """{
            "auth": {
                "success": true,
                "mxid": "@john.doe:example.com",
                "profile": {
                    "display_name": "John Doe",
                    "three_pids": [
                        {"medium": "email", "address": "john.doe@example.org"},
                        {"medium": "msisdn", "address": "123456789"}
                    ]
                }
            }
        }""",
        '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",'
        '"three_pids":[{"address":"john.doe@example.org","medium":"email"},'
        '{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ),
    ('{\n    "a": "日本語"\n}', '{"a":"日本語"}'),
    ('{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'),
    ('{\n    "a": "\\u65E5"\n}', '{"a":"日"}'),
    ('{\n    "a": null\n}', '{"a":null}'),
    ('{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'),
]


@pytest.mark.parametrize(("given", "canonical"), SPEC_CANONICAL)
def test_canonical_json_matches_the_spec_examples(given: str, canonical: str) -> None:
    assert cs.canonical_json(json.loads(given)) == canonical.encode("utf-8")


def test_canonical_json_escapes_only_what_the_grammar_requires() -> None:
    value = {"s": 'q" b\\ \b\f\n\r\t \x00\x1f \x7f é \u2028'}
    assert cs.canonical_json(value) == (
        '{"s":"q\\" b\\\\ \\b\\f\\n\\r\\t \\u0000\\u001f \x7f é \u2028"}'.encode()
    )


def test_canonical_json_refuses_fractions_and_unsafe_integers() -> None:
    with pytest.raises(ValueError, match="fractions"):
        cs.canonical_json({"a": 1.5})
    with pytest.raises(ValueError, match="range"):
        cs.canonical_json({"a": 2**53})
    assert cs.canonical_json({"a": -(2**53) + 1}) == b'{"a":-9007199254740991}'


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"", ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
        (b"fooba", "Zm9vYmE"),
        (b"foobar", "Zm9vYmFy"),
    ],
)
def test_unpadded_base64_matches_the_spec_examples(raw: bytes, encoded: str) -> None:
    assert cs.encode_base64(raw) == encoded
    assert cs.decode_base64(encoded) == raw


def test_base64_decoding_accepts_padding_and_refuses_garbage() -> None:
    assert cs.decode_base64("Zg==") == b"f"
    with pytest.raises(ValueError):
        cs.decode_base64("Z!g")


def _nacl_verify(obj: dict[str, Any], signer: str, key: cs.SigningKey) -> None:
    """Synapse's own check (signedjson on libsodium); raises if the signature is bad."""
    verify_key = signedjson.key.decode_verify_key_base64("ed25519", key.public, key.public)
    signedjson.sign.verify_signed_json(obj, signer, verify_key)


def _vodozemac_verify(obj: dict[str, Any], signer: str, key: cs.SigningKey) -> None:
    """matrix-nio's crypto library; raises vodozemac.SignatureException if the signature is bad."""
    signature = obj["signatures"][signer][cs.key_id(key)]
    message = json.dumps(
        {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    vodozemac.Ed25519PublicKey.from_base64(key.public).verify_signature(
        message, vodozemac.Ed25519Signature.from_base64(signature)
    )


def test_signed_json_verifies_with_independent_verifiers() -> None:
    key = cs.SigningKey.generate()
    obj = {"user_id": BOT, "usage": ["self_signing"], "text": "räksmörgås", "n": 3}
    obj_with_unsigned = {**obj, "unsigned": {"age": 5}, "signatures": {"@x:y": {"ed25519:z": "a"}}}
    signed = cs.sign_json(obj_with_unsigned, BOT, cs.key_id(key), key)
    assert signed["unsigned"] == {"age": 5}  # kept, not covered
    assert signed["signatures"]["@x:y"] == {"ed25519:z": "a"}  # other signatures kept
    assert "signatures" not in obj  # the input is not changed
    _nacl_verify(signed, BOT, key)
    _vodozemac_verify(signed, BOT, key)
    assert cs.has_valid_signature(signed, BOT, cs.key_id(key), key.public)


def test_a_tampered_object_or_signature_fails_every_verifier() -> None:
    key, other = cs.SigningKey.generate(), cs.SigningKey.generate()
    signed = cs.sign_json({"user_id": BOT, "keys": {"a": "b"}}, BOT, cs.key_id(key), key)

    tampered = {**signed, "keys": {"a": "c"}}
    with pytest.raises(signedjson.sign.SignatureVerifyException):
        _nacl_verify(tampered, BOT, key)
    with pytest.raises(vodozemac.SignatureException):
        _vodozemac_verify(tampered, BOT, key)
    assert not cs.has_valid_signature(tampered, BOT, cs.key_id(key), key.public)

    # The right signature checked against another key, and a signature by another key.
    assert not cs.has_valid_signature(signed, BOT, cs.key_id(key), other.public)
    forged = cs.sign_json({"user_id": BOT, "keys": {"a": "b"}}, BOT, cs.key_id(key), other)
    with pytest.raises(signedjson.sign.SignatureVerifyException):
        _nacl_verify(forged, BOT, key)
    assert not cs.has_valid_signature(forged, BOT, cs.key_id(key), key.public)

    # Missing, garbled, or under another signer's name.
    assert not cs.has_valid_signature({"user_id": BOT}, BOT, cs.key_id(key), key.public)
    garbled = {**signed, "signatures": {BOT: {cs.key_id(key): "!!"}}}
    assert not cs.has_valid_signature(garbled, BOT, cs.key_id(key), key.public)
    assert not cs.has_valid_signature(signed, "@someone:else", cs.key_id(key), key.public)


def test_our_verifier_accepts_what_synapse_signs() -> None:
    nacl_key = signedjson.key.generate_signing_key("v1")
    public = cs.encode_base64(nacl_key.verify_key.encode())
    signed = signedjson.sign.sign_json({"a": "日本", "b": [1, 2]}, BOT, nacl_key)
    assert cs.has_valid_signature(signed, BOT, "ed25519:v1", public)


def test_a_key_survives_its_seed_and_never_shows_it() -> None:
    key = cs.SigningKey.generate()
    again = cs.SigningKey.from_base64(key.seed_base64)
    assert again.public == key.public
    assert again.sign(b"x") == key.sign(b"x")  # Ed25519 is deterministic
    assert key.seed_base64 not in repr(key)
    stored = cs.CrossSigningKeys.generate().to_stored()
    assert stored.master not in repr(stored)
    with pytest.raises(ValueError):
        cs.SigningKey(b"short")


def test_the_upload_body_is_the_specs_key_objects_signed_by_the_master_key() -> None:
    keys = cs.CrossSigningKeys.generate()
    body = cs.device_signing_upload(BOT, keys)
    master = body["master_key"]
    assert master == {
        "user_id": BOT,
        "usage": ["master"],
        "keys": {f"ed25519:{keys.master.public}": keys.master.public},
    }
    for field, usage, key in [
        ("self_signing_key", "self_signing", keys.self_signing),
        ("user_signing_key", "user_signing", keys.user_signing),
    ]:
        obj = body[field]
        assert obj["usage"] == [usage] and obj["user_id"] == BOT
        assert obj["keys"] == {f"ed25519:{key.public}": key.public}
        assert list(obj["signatures"][BOT]) == [f"ed25519:{keys.master.public}"]
        _nacl_verify(obj, BOT, keys.master)
        assert cs.single_key(obj, BOT, usage) == key.public
    assert cs.single_key(master, BOT, "master") == keys.master.public
    assert cs.single_key(master, "@other:example.org", "master") is None
    assert cs.single_key(master, BOT, "self_signing") is None


def _device(device_key: cs.SigningKey, device_id: str = "BOTDEVICE") -> dict[str, Any]:
    """A device keys object as /keys/query returns it: self-signed, with ``unsigned``."""
    obj = {
        "user_id": BOT,
        "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            f"curve25519:{device_id}": "3C5BFWi2Y8MaVvjM8M22DBmh24PmgR0nPvJOIArzgyI",
            f"ed25519:{device_id}": device_key.public,
        },
    }
    signed = cs.sign_json(obj, BOT, f"ed25519:{device_id}", device_key)
    return {**signed, "unsigned": {"device_display_name": "natverk-bot"}}


def _query(keys: cs.CrossSigningKeys, device: dict[str, Any]) -> dict[str, Any]:
    body = cs.device_signing_upload(BOT, keys)
    return {
        "device_keys": {BOT: {device["device_id"]: device}},
        "master_keys": {BOT: body["master_key"]},
        "self_signing_keys": {BOT: body["self_signing_key"]},
    }


def test_a_signed_device_is_cross_signed_by_its_owner_as_a_client_checks_it() -> None:
    keys, device_key = cs.CrossSigningKeys.generate(), cs.SigningKey.generate()
    device = _device(device_key)
    assert cs.device_ed25519(device, BOT, "BOTDEVICE") == device_key.public
    assert not cs.device_cross_signed_by_owner(_query(keys, device), BOT, "BOTDEVICE")

    body = cs.device_signature_upload(BOT, device, keys.self_signing)
    signed = body[BOT]["BOTDEVICE"]
    assert "unsigned" not in signed
    _nacl_verify(signed, BOT, keys.self_signing)
    assert cs.device_ed25519(signed, BOT, "BOTDEVICE") == device_key.public  # its own kept
    assert cs.device_cross_signed_by_owner(_query(keys, signed), BOT, "BOTDEVICE")


def test_a_broken_chain_is_not_cross_signed() -> None:
    keys, device_key = cs.CrossSigningKeys.generate(), cs.SigningKey.generate()
    signed = cs.device_signature_upload(BOT, _device(device_key), keys.self_signing)[BOT][
        "BOTDEVICE"
    ]
    # The self-signing key not signed by the master key (another master on the server).
    other = cs.CrossSigningKeys(cs.SigningKey.generate(), keys.self_signing, keys.user_signing)
    query = _query(keys, signed)
    query["master_keys"][BOT] = cs.device_signing_upload(BOT, other)["master_key"]
    assert not cs.device_cross_signed_by_owner(query, BOT, "BOTDEVICE")
    # The device signed by a key that is not the self-signing key on the server.
    stranger = cs.CrossSigningKeys.generate()
    assert not cs.device_cross_signed_by_owner(_query(stranger, signed), BOT, "BOTDEVICE")
    # A user-signing key in place of the self-signing one.
    query = _query(keys, signed)
    query["self_signing_keys"][BOT] = cs.device_signing_upload(BOT, keys)["user_signing_key"]
    assert not cs.device_cross_signed_by_owner(query, BOT, "BOTDEVICE")
    # The device's fields changed after signing.
    changed = {**signed, "algorithms": ["m.olm.v1.curve25519-aes-sha2"]}
    assert not cs.device_cross_signed_by_owner(_query(keys, changed), BOT, "BOTDEVICE")
    assert cs.device_ed25519(changed, BOT, "BOTDEVICE") is None


async def test_the_keys_are_stored_per_account_and_read_back(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        assert await store.load(db, BOT) is None
        keys = cs.CrossSigningKeys.generate()
        await store.save(db, BOT, keys.to_stored())
        loaded = await store.load(db, BOT)
        assert loaded is not None
        assert cs.CrossSigningKeys.from_stored(loaded).master.public == keys.master.public
        assert await store.load(db, "@other:example.org") is None
    finally:
        await db.close()


async def test_a_backup_holds_the_keys_and_is_as_private_as_the_database(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    keys = cs.CrossSigningKeys.generate()
    try:
        await store.save(db, BOT, keys.to_stored())
        await db.backup(tmp_path / "backup.db")  # what `natverk backup` does
    finally:
        await db.close()
    assert (tmp_path / "backup.db").stat().st_mode & 0o077 == 0
    restored = await Database.open(tmp_path / "backup.db")
    try:
        loaded = await store.load(restored, BOT)
        assert loaded is not None
        again = cs.CrossSigningKeys.from_stored(loaded)
        assert again.self_signing.sign(b"m") == keys.self_signing.sign(b"m")
    finally:
        await restored.close()
