"""Reading members' identities from a ``/keys/query`` answer (bot/trust.py), offline.

The answer is synthetic but signed for real: each member has a master key, a self-signing key
signed by it, and two devices (one cross-signed, one not). What is timed is ``Trust.take`` on
the whole answer, as the bot does after its first key query at start (every member of its
encrypted rooms). Baselines in the same run: the same signature checks with pycryptodome (what
``verify_signature`` used before vodozemac), and the canonical JSON alone (the part of the work
that no verifier removes).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from Crypto.Signature import eddsa

from bot import crosssigning as cs
from bot import trust

BOT = "@natverk:localhost"


def _answer(members: int) -> dict[str, Any]:
    query: dict[str, Any] = {"device_keys": {}, "master_keys": {}, "self_signing_keys": {}}
    for i in range(members):
        user = f"@p{i}:localhost"
        keys = cs.CrossSigningKeys.generate()
        body = cs.device_signing_upload(user, keys)
        query["master_keys"][user] = body["master_key"]
        query["self_signing_keys"][user] = body["self_signing_key"]
        devices = {}
        for device_id, signed in (("LAPTOP", True), ("PHONE", False)):
            key = cs.SigningKey.generate()
            obj = {
                "user_id": user,
                "device_id": device_id,
                "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
                "keys": {f"ed25519:{device_id}": key.public, f"curve25519:{device_id}": "c" * 43},
            }
            obj = cs.sign_json(obj, user, f"ed25519:{device_id}", key)
            if signed:
                ssk = keys.self_signing
                obj = cs.sign_json(obj, user, cs.key_id(ssk), ssk)
            devices[device_id] = obj
        query["device_keys"][user] = devices
    return query


def _pycryptodome_verify(public_key: str, message: bytes, signature: str) -> bool:
    try:
        key = eddsa.import_public_key(cs.decode_base64(public_key))
        eddsa.new(key, "rfc8032").verify(message, cs.decode_base64(signature))
    except ValueError:
        return False
    return True


def _take(query: dict[str, Any]) -> float:
    book = trust.Trust(trust.EncryptFor.CROSS_SIGNED, BOT)
    start = time.perf_counter()
    book.take(query)
    elapsed = time.perf_counter() - start
    assert len(book.pins) == len(query["device_keys"])
    assert all(len(devices) == 1 for devices in book.signed.values())
    return elapsed


def _with_verifier(verify: Callable[[str, bytes, str], bool], query: dict[str, Any]) -> float:
    original = cs.verify_signature
    cs.verify_signature = verify  # type: ignore[assignment]  # looked up at call time
    try:
        return _take(query)
    finally:
        cs.verify_signature = original


def _canonical_only(query: dict[str, Any]) -> float:
    start = time.perf_counter()
    for user, devices in query["device_keys"].items():
        cs.signed_part(query["self_signing_keys"][user])
        for device in devices.values():
            cs.signed_part(device)
            cs.signed_part(device)
    return time.perf_counter() - start


def main(members: int = 4000, rounds: int = 5) -> None:
    query = _answer(members)
    ours, before, floor = [], [], []
    for _ in range(rounds):  # interleaved, so drift hits all three alike
        ours.append(_take(query))
        before.append(_with_verifier(_pycryptodome_verify, query))
        floor.append(_canonical_only(query))
    o, b, f = (statistics.median(x) for x in (ours, before, floor))
    print(f"\n== reading identities from a /keys/query answer ({members} members, 2 devices) ==")
    print(
        f"  Trust.take (vodozemac verify)   median {o:6.3f} s   {o / members * 1e3:.3f} ms/member"
    )
    print(f"  baseline: pycryptodome verify   median {b:6.3f} s   ratio {o / b:.2f}")
    print(f"  floor: canonical JSON alone     median {f:6.3f} s   ratio {o / f:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.trust")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    main(members=400 if args.quick else 4000, rounds=3 if args.quick else 5)
