"""Cross-signing for the bot's own account: a device that clients trust.

Clients that encrypt only for devices their owner has cross-signed (MSC4153, Element's "exclude
insecure devices") see the bot's device as signed by its owner once the bot has

1. uploaded its cross-signing keys (``POST /keys/device_signing/upload``): a master key, a
   self-signing key and a user-signing key, the last two signed by the master key; and
2. signed its device's keys with the self-signing key (``POST /keys/signatures/upload``).

A client then checks the chain as matrix-rust-sdk does: the device keys carry a valid signature
by the owner's self-signing key, whose object carries a valid signature by the owner's master
key. Whether a person then verifies the bot (signs its master key with their user-signing key)
is their act, not the bot's.

matrix-nio has no cross-signing (matrix-nio#229), so the JSON is signed here: canonical JSON
(``canonicaljson``, which Synapse uses, plus the spec's integer rule), Ed25519 signing with
pycryptodome (which matrix-nio itself depends on; vodozemac's Python binding exposes no Ed25519
secret keys) and verifying with vodozemac, unpadded base64.

The private keys live in the database beside the access token (``storage/crosssigning.py``,
the file is mode 0600) and are covered by ``natverk backup``: without them the bot has a new
identity, which clients that verified it will flag. They never go into the YAML or a log line.

The pure core (everything above :func:`ensure_cross_signing`) needs no homeserver.
"""

from __future__ import annotations

import base64
import binascii
import copy
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import canonicaljson
import vodozemac
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from nio import AsyncClient

from storage import Database, Tx
from storage import crosssigning as store
from storage import state as state_store

log = logging.getLogger(__name__)

JSON = dict[str, Any]

_MAX_SAFE_INTEGER = 2**53 - 1
_KEYS_PATH = "/_matrix/client/v3/keys"


# --- canonical JSON and base64 ------------------------------------------------------------
def _integers_only(value: Any) -> Any:
    """The spec's number rule: integers in [-(2**53)+1, 2**53-1]; an integral float (as a
    parser reads ``1e10``) is that integer, any other float is refused."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"canonical JSON has no fractions: {value!r}")
        value = int(value)
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise ValueError(f"integer out of canonical JSON's range: {value}")
        return value
    if isinstance(value, Mapping):
        return {k: _integers_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_integers_only(v) for v in value]
    raise TypeError(f"not JSON: {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """The Matrix canonical encoding (appendices, "Canonical JSON"): keys sorted by code
    point, no insignificant whitespace, UTF-8 with only the required escapes."""
    return canonicaljson.encode_canonical_json(_integers_only(value))


def encode_base64(data: bytes) -> str:
    """Unpadded standard base64 (RFC 4648 without ``=``)."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def decode_base64(text: str) -> bytes:
    """Unpadded (or padded) standard base64; ValueError if it is not."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError("not base64") from err


# --- Ed25519 ------------------------------------------------------------------------------
class SigningKey:
    """An Ed25519 key pair, kept as its 32-byte seed. Its repr never shows the seed."""

    __slots__ = ("_key", "public")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = eddsa.import_private_key(seed)
        #: The public key, unpadded base64: also the key id of a cross-signing key.
        self.public = encode_base64(self._key.public_key().export_key(format="raw"))

    @classmethod
    def generate(cls) -> SigningKey:
        seed = ECC.generate(curve="ed25519").seed
        assert seed is not None
        return cls(seed)

    @classmethod
    def from_base64(cls, seed: str) -> SigningKey:
        return cls(decode_base64(seed))

    @property
    def seed_base64(self) -> str:
        """The private seed, for the database only."""
        seed = self._key.seed
        assert seed is not None
        return encode_base64(seed)

    def sign(self, message: bytes) -> str:
        """The Ed25519 signature of ``message``, unpadded base64."""
        return encode_base64(eddsa.new(self._key, "rfc8032").sign(message))

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public!r})"


def verify_signature(public_key: str, message: bytes, signature: str) -> bool:
    """Does ``signature`` (unpadded base64) sign ``message`` under ``public_key``?

    Verified with vodozemac (matrix-nio's Rust crypto), eight times faster than pycryptodome:
    every member's identity is checked from each ``/keys/query`` answer (bot/trust.py)."""
    try:
        key = vodozemac.Ed25519PublicKey.from_base64(public_key)
        key.verify_signature(message, vodozemac.Ed25519Signature.from_base64(signature))
    except ValueError:  # vodozemac's KeyException and SignatureException are ValueErrors
        return False
    return True


# --- signed JSON (appendices, "Signing JSON") ---------------------------------------------
def signed_part(obj: Mapping[str, Any]) -> bytes:
    """What a signature covers: the canonical JSON without ``signatures`` and ``unsigned``."""
    return canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})


def sign_json(obj: Mapping[str, Any], signer: str, key_id: str, key: SigningKey) -> JSON:
    """A copy of ``obj`` with ``signatures[signer][key_id]`` added (others kept)."""
    out = copy.deepcopy(dict(obj))
    signature = key.sign(signed_part(out))
    out.setdefault("signatures", {}).setdefault(signer, {})[key_id] = signature
    return out


def has_valid_signature(obj: Mapping[str, Any], signer: str, key_id: str, public: str) -> bool:
    """The spec's check: ``obj`` carries a signature by ``signer`` under ``key_id`` that
    verifies with ``public`` (an ``ed25519:`` key id) over its signed part."""
    if not key_id.startswith("ed25519:"):
        return False
    signatures = obj.get("signatures")
    by_signer = signatures.get(signer) if isinstance(signatures, Mapping) else None
    signature = by_signer.get(key_id) if isinstance(by_signer, Mapping) else None
    if not isinstance(signature, str):
        return False
    try:
        message = signed_part(obj)
    except (TypeError, ValueError):
        return False
    return verify_signature(public, message, signature)


# --- the key objects ----------------------------------------------------------------------
@dataclass(frozen=True)
class CrossSigningKeys:
    """The bot's three cross-signing key pairs."""

    master: SigningKey
    self_signing: SigningKey
    user_signing: SigningKey

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        return cls(SigningKey.generate(), SigningKey.generate(), SigningKey.generate())

    @classmethod
    def from_stored(cls, stored: store.StoredKeys) -> CrossSigningKeys:
        return cls(
            SigningKey.from_base64(stored.master),
            SigningKey.from_base64(stored.self_signing),
            SigningKey.from_base64(stored.user_signing),
        )

    def to_stored(self) -> store.StoredKeys:
        return store.StoredKeys(
            self.master.seed_base64, self.self_signing.seed_base64, self.user_signing.seed_base64
        )


def key_id(key: SigningKey | str) -> str:
    """The key id of a cross-signing key: ``ed25519:`` and its public key."""
    return "ed25519:" + (key if isinstance(key, str) else key.public)


def cross_signing_key(user_id: str, usage: str, key: SigningKey) -> JSON:
    """A ``CrossSigningKey`` object, unsigned."""
    return {"user_id": user_id, "usage": [usage], "keys": {key_id(key): key.public}}


def device_signing_upload(user_id: str, keys: CrossSigningKeys) -> JSON:
    """The body of ``/keys/device_signing/upload`` (without ``auth``): the master key, and the
    self-signing and user-signing keys, each signed by the master key."""
    master = keys.master
    return {
        "master_key": cross_signing_key(user_id, "master", master),
        "self_signing_key": sign_json(
            cross_signing_key(user_id, "self_signing", keys.self_signing),
            user_id,
            key_id(master),
            master,
        ),
        "user_signing_key": sign_json(
            cross_signing_key(user_id, "user_signing", keys.user_signing),
            user_id,
            key_id(master),
            master,
        ),
    }


def device_signature_upload(user_id: str, device_keys: Mapping[str, Any], ssk: SigningKey) -> JSON:
    """The body of ``/keys/signatures/upload`` that signs one of the user's own devices: its
    device keys as the server has them (``unsigned`` dropped), signed by the self-signing key."""
    device_id = str(device_keys["device_id"])
    obj = {k: v for k, v in device_keys.items() if k != "unsigned"}
    return {user_id: {device_id: sign_json(obj, user_id, key_id(ssk), ssk)}}


def single_key(obj: Any, user_id: str, usage: str) -> str | None:
    """The public key of a ``CrossSigningKey`` object of ``user_id`` with this usage, or None
    if the object is not one (wrong user, usage, or not exactly one ed25519 key)."""
    if not isinstance(obj, Mapping) or obj.get("user_id") != user_id:
        return None
    usages = obj.get("usage")
    keys = obj.get("keys")
    if not isinstance(usages, list) or usage not in usages or not isinstance(keys, Mapping):
        return None
    found = [v for k, v in keys.items() if isinstance(k, str) and k.startswith("ed25519:")]
    if len(found) != 1 or not isinstance(found[0], str) or key_id(found[0]) not in keys:
        return None
    return found[0]


def device_cross_signed_by_owner(query: Mapping[str, Any], user_id: str, device_id: str) -> bool:
    """As a client decides it from a ``/keys/query`` answer: the device's keys are signed by
    the owner's self-signing key, which is signed by the owner's master key; every signature
    is checked with Ed25519 over the canonical JSON."""
    master_obj = (query.get("master_keys") or {}).get(user_id)
    ssk_obj = (query.get("self_signing_keys") or {}).get(user_id)
    device = ((query.get("device_keys") or {}).get(user_id) or {}).get(device_id)
    master = single_key(master_obj, user_id, "master")
    ssk = single_key(ssk_obj, user_id, "self_signing")
    if master is None or ssk is None or not isinstance(device, Mapping):
        return False
    if device.get("user_id") != user_id or device.get("device_id") != device_id:
        return False
    assert isinstance(ssk_obj, Mapping)
    return has_valid_signature(ssk_obj, user_id, key_id(master), master) and (
        has_valid_signature(device, user_id, key_id(ssk), ssk)
    )


# --- what to do, from what the server has and what the database has -----------------------
class Outcome(enum.StrEnum):
    """What :func:`ensure_cross_signing` did."""

    NO_DEVICE_KEYS = "no_device_keys"  # the device has uploaded no keys: nothing to sign
    UNCHANGED = "unchanged"  # the server has our keys and our signature on the device
    DEVICE_SIGNED = "device_signed"  # our keys were there; the device was signed now
    CREATED = "created"  # new keys generated, uploaded, device signed
    UPLOADED = "uploaded"  # keys from the database uploaded (the server had none)
    REPLACED = "replaced"  # another master key on the server replaced, as configured
    FOREIGN_MASTER = "foreign_master"  # another master key on the server: left alone, told
    NEEDS_AUTH = "needs_auth"  # the server wants a password we do not have (or refused it)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    master_key: str | None = None  # ours, or the foreign one (FOREIGN_MASTER)
    device_id: str | None = None


@dataclass(frozen=True)
class ServerState:
    """Our own entry of a ``/keys/query`` answer."""

    master: str | None
    self_signing: str | None
    device: JSON | None

    @classmethod
    def from_query(cls, query: Mapping[str, Any], user_id: str, device_id: str) -> ServerState:
        device = ((query.get("device_keys") or {}).get(user_id) or {}).get(device_id)
        return cls(
            master=single_key((query.get("master_keys") or {}).get(user_id), user_id, "master"),
            self_signing=single_key(
                (query.get("self_signing_keys") or {}).get(user_id), user_id, "self_signing"
            ),
            device=dict(device) if isinstance(device, Mapping) else None,
        )


def device_ed25519(device: Mapping[str, Any], user_id: str, device_id: str) -> str | None:
    """The device's Ed25519 key if its keys object is the device's own, self-signed by it."""
    if device.get("user_id") != user_id or device.get("device_id") != device_id:
        return None
    keys = device.get("keys")
    ed = keys.get(f"ed25519:{device_id}") if isinstance(keys, Mapping) else None
    if not isinstance(ed, str) or not has_valid_signature(
        device, user_id, f"ed25519:{device_id}", ed
    ):
        return None
    return ed


# --- talking Matrix -----------------------------------------------------------------------
class CrossSigningError(RuntimeError):
    """The homeserver refused or failed a cross-signing request (other than asking for auth)."""


# A notice to the admins, written in the caller's transaction: (tx, message key, parameters).
Notify = Callable[[Tx, str, dict[str, str]], Awaitable[None]]

REPORTED_KEY = "cross_signing.reported"  # kv: the last problem the admins were told about


async def _request(client: AsyncClient, path: str, body: JSON) -> tuple[int, JSON]:
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {client.access_token}",
    }
    resp = await client.send("POST", path, json.dumps(body), headers)
    try:
        data = await resp.json(content_type=None)
    except (ValueError, json.JSONDecodeError):
        data = {}
    finally:
        resp.release()
    return resp.status, data if isinstance(data, dict) else {}


async def _query_own_keys(client: AsyncClient, user_id: str) -> JSON:
    return await query_keys(client, [user_id])


async def _upload_keys(
    client: AsyncClient, user_id: str, keys: CrossSigningKeys, password: str | None
) -> bool:
    """Upload the cross-signing keys, doing the password stage of user-interactive auth when
    the server asks for it. False if it asks and we cannot (no password, or it was refused)."""
    path = f"{_KEYS_PATH}/device_signing/upload"
    body = device_signing_upload(user_id, keys)
    status, data = await _request(client, path, body)
    if status == 200:
        return True
    if status != 401 or "flows" not in data:
        raise CrossSigningError(f"uploading cross-signing keys: {status} {data.get('errcode')}")
    flows = [f.get("stages") for f in data.get("flows") or [] if isinstance(f, Mapping)]
    if ["m.login.password"] not in flows:
        log.warning(
            "The homeserver wants user-interactive auth the bot cannot do (flows: %s) to "
            "upload its cross-signing keys; going on without them",
            flows,
        )
        return False
    if not password:
        log.warning(
            "The homeserver asks for the bot's password to upload its cross-signing keys: "
            "start the bot once with NATVERK_PASSWORD set. Until then its device is not "
            "cross-signed, and clients that exclude insecure devices will not encrypt for it"
        )
        return False
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
        "session": data.get("session"),
    }
    status, data = await _request(client, path, {**body, "auth": auth})
    if status == 200:
        return True
    if status == 401:
        log.warning(
            "The homeserver refused the bot's password (%s) for uploading its cross-signing "
            "keys; going on without them",
            data.get("errcode"),
        )
        return False
    raise CrossSigningError(f"uploading cross-signing keys: {status} {data.get('errcode')}")


async def _sign_device(
    client: AsyncClient, user_id: str, device: Mapping[str, Any], ssk: SigningKey
) -> None:
    body = device_signature_upload(user_id, device, ssk)
    status, data = await _request(client, f"{_KEYS_PATH}/signatures/upload", body)
    failures = data.get("failures") or {}
    if status != 200 or failures:
        raise CrossSigningError(f"signing the device: {status} {failures or data}")


async def query_keys(client: AsyncClient, users: list[str]) -> JSON:
    """The homeserver's ``/keys/query`` answer for ``users``, whole (cross-signing keys too)."""
    status, data = await _request(
        client, f"{_KEYS_PATH}/query", {"device_keys": {user: [] for user in users}}
    )
    if status != 200:
        raise CrossSigningError(f"/keys/query answered {status} {data.get('errcode', '')}")
    return data


async def cross_sign_own_device(
    client: AsyncClient, keys: CrossSigningKeys, password: str | None
) -> bool:
    """Upload ``keys`` as the account's cross-signing keys (replacing any, by the password
    stage of user-interactive auth when the homeserver asks) and sign the client's device with
    them, as a person's client does when they set up or reset their identity. False if the
    homeserver wants auth that cannot be given."""
    user_id = str(client.user_id)
    if not await _upload_keys(client, user_id, keys, password):
        return False
    await sign_own_device(client, str(client.device_id), keys.self_signing)
    return True


async def sign_own_device(client: AsyncClient, device_id: str, ssk: SigningKey) -> None:
    """Sign one of the account's devices (as the server has its keys) with ``ssk``."""
    user_id = str(client.user_id)
    server = ServerState.from_query(await _query_own_keys(client, user_id), user_id, device_id)
    if server.device is None:
        raise CrossSigningError(f"device {device_id} has uploaded no keys")
    await _sign_device(client, user_id, server.device, ssk)


async def _tell_once(
    db: Database, notify: Notify, report: str, message: str, **params: str
) -> None:
    """Tell the admins ``message`` (a catalogue key under ``crosssigning.``) unless the same
    report (e.g. the same foreign master key) was the last they were told; the memo is written
    with the notice, in one transaction."""
    async with db.transaction() as tx:
        if await state_store.get_value_tx(tx, REPORTED_KEY) == report:
            return
        await state_store.set_value(tx, REPORTED_KEY, report)
        await notify(tx, message, params)


async def _forget_report(db: Database) -> None:
    async with db.transaction() as tx:
        await state_store.delete_value(tx, REPORTED_KEY)


async def ensure_cross_signing(
    client: AsyncClient,
    db: Database,
    *,
    password: str | None = None,
    replace_master_key: str | None = None,
    notify: Notify | None = None,
) -> Result:
    """Make the bot's device cross-signed by its owner; call it after login, once the device
    has uploaded its keys. Idempotent: a second call with everything in place uploads nothing.

    - No keys in the database and none on the server: generate, store, upload (user-
      interactive auth by ``password`` if the server asks), sign the device.
    - Our keys in the database: the server's master key must be ours (keys uploaded if the
      server has none), and the device must carry our self-signing signature (signed if not).
    - Another master key on the server (someone reset it, or our keys were lost with the
      database): not overwritten; the admins are told (once per key) unless
      ``replace_master_key`` names exactly that key, in which case ours (kept, or new) replace
      it and the admins are told that the bot's identity changed.

    Raises CrossSigningError (or a transport error) if the homeserver fails a request.
    """
    user_id = str(client.user_id)
    device_id = str(client.device_id)
    query = await _query_own_keys(client, user_id)
    server = ServerState.from_query(query, user_id, device_id)
    if server.device is None:
        log.debug("Device %s has no uploaded keys: no cross-signing to do", device_id)
        return Result(Outcome.NO_DEVICE_KEYS, device_id=device_id)
    ed25519 = device_ed25519(server.device, user_id, device_id)
    olm = getattr(client, "olm", None)
    own_ed25519 = olm.account.identity_keys["ed25519"] if olm is not None else None
    if ed25519 is None or (own_ed25519 is not None and ed25519 != own_ed25519):
        raise CrossSigningError(
            f"the server's keys for device {device_id} are not this device's own: not signed"
        )

    stored = await store.load(db, user_id)
    keys = CrossSigningKeys.from_stored(stored) if stored is not None else None
    outcome = Outcome.UNCHANGED
    replaced: str | None = None
    if server.master is not None and (keys is None or server.master != keys.master.public):
        if replace_master_key != server.master:
            log.warning(
                "The homeserver holds a cross-signing master key for %s (%s) that is not the "
                "one in the database; it is left alone and the admins are told",
                user_id,
                server.master,
            )
            if notify is not None:
                await _tell_once(
                    db, notify, f"foreign:{server.master}", "foreign_master", master=server.master
                )
            return Result(Outcome.FOREIGN_MASTER, server.master, device_id)
        replaced = server.master

    if keys is None:
        keys = CrossSigningKeys.generate()
        # Stored before the upload: after a crash in between, the next start uploads them.
        await store.save(db, user_id, keys.to_stored())
        outcome = Outcome.CREATED
        log.info("Generated cross-signing keys for %s (master %s)", user_id, keys.master.public)
    if server.master != keys.master.public or server.self_signing != keys.self_signing.public:
        if not await _upload_keys(client, user_id, keys, password):
            if notify is not None:
                await _tell_once(db, notify, f"auth:{keys.master.public}", "needs_auth")
            return Result(Outcome.NEEDS_AUTH, keys.master.public, device_id)
        if outcome is Outcome.UNCHANGED:
            outcome = Outcome.UPLOADED
        if replaced is not None:
            outcome = Outcome.REPLACED
        log.info("Uploaded the cross-signing keys of %s (master %s)", user_id, keys.master.public)

    ssk = keys.self_signing
    if not has_valid_signature(server.device, user_id, key_id(ssk), ssk.public):
        await _sign_device(client, user_id, server.device, ssk)
        if outcome is Outcome.UNCHANGED:
            outcome = Outcome.DEVICE_SIGNED
        log.info("Device %s signed with the self-signing key of %s", device_id, user_id)

    if replaced is not None and notify is not None:
        await _tell_once(
            db, notify, f"replaced:{replaced}", "replaced", old=replaced, new=keys.master.public
        )
    else:
        await _forget_report(db)  # all is well: a problem seen again is told again
    return Result(outcome, keys.master.public, device_id)
