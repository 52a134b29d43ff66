#!/usr/bin/env python3
"""Checks a Custodian ledger proof bundle offline, with the Python standard library only.

    python3 verify_proof.py BUNDLE.json --key 'custodian.local+1a2b3c4d+AbC…' [--tenant UUID]

BUNDLE.json is the `bundle` field of `accessRecordProof` (a record is in a signed
checkpoint) or of `ledgerConsistencyProof` (a later checkpoint extends an earlier one), or
what `custodian ledger prove` prints. The key is the ledger's verifier key, published at
`/.well-known/custodian/ledger-key` and in the record of processing; `--key` also takes a
file holding it. Exit status 0 and a JSON line when the proof holds; 1 and the reason
when it does not.

This is a second implementation, written from the specifications rather than from
Custodian's code, so that the format is not defined by one program alone:

- C2SP signed-note (Ed25519 signatures, key ids) and C2SP tlog-checkpoint;
- RFC 9162 section 2.1 (Merkle tree hashing, inclusion and consistency verification);
- RFC 8032 section 5.1.7 (Ed25519 verification), in plain integer arithmetic;
- the record's canonical form: every field but `hash`, keys sorted, compact JSON, UTF-8;
  its chain hash is SHA-256 of that, and its leaf hashes the 32 bytes of the chain hash.
"""

import argparse
import base64
import hashlib
import json
import sys
import uuid

# --- Ed25519 verification (RFC 8032 5.1.7) ------------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decode_point(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _add(a, b):
    # Extended twisted Edwards coordinates (X, Y, Z, T), a = -1.
    A = (a[1] - a[0]) * (b[1] - b[0]) % P
    B = (a[1] + a[0]) * (b[1] + b[0]) % P
    C = 2 * a[3] * b[3] * D % P
    Dd = 2 * a[2] * b[2] % P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def _mul(s, point):
    acc = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, point)
        point = _add(point, point)
        s >>= 1
    return acc


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
BASE = (_GX, _GY, 1, _GX * _GY % P)


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public)
    r = _decode_point(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_mul(s, BASE), _add(r, _mul(h, a)))


# --- signed notes and checkpoints (C2SP) --------------------------------------------------


class Refused(Exception):
    pass


def parse_key(vkey):
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise Refused("the verifier key is not name+id+key")
    name, key_id, encoded = parts
    key = base64.b64decode(encoded, validate=True)
    if len(key) != 33 or key[0] != 1:
        raise Refused("the verifier key is not an Ed25519 signed-note key")
    expected = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    if bytes.fromhex(key_id) != expected:
        raise Refused("the verifier key's id does not match its key")
    return name, expected, key[1:]


def open_checkpoint(note, key):
    name, key_id, public = key
    split = note.rfind("\n\n")
    if split < 0:
        raise Refused("the checkpoint is not a signed note")
    text, signatures = note[: split + 1], note[split + 2 :]
    trusted = False
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            raise Refused("a signature line is malformed")
        signer, _, encoded = line[2:].rpartition(" ")
        raw = base64.b64decode(encoded, validate=True)
        if signer == name and raw[:4] == key_id:
            if not ed25519_verify(public, text.encode(), raw[4:]):
                raise Refused("the checkpoint's signature does not verify")
            trusted = True
    if not trusted:
        raise Refused("the checkpoint is not signed by the trusted key")
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise Refused("the checkpoint is malformed")
    origin, size, root = lines[0], lines[1], lines[2]
    prefix = name + "/"
    if not origin.startswith(prefix):
        raise Refused("the checkpoint is not of this ledger")
    tenant = str(uuid.UUID(origin[len(prefix) :]))
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise Refused("the checkpoint's size is malformed")
    root = base64.b64decode(root, validate=True)
    if len(root) != 32:
        raise Refused("the checkpoint's root is not 32 bytes")
    return tenant, int(size), root


# --- Merkle proofs (RFC 9162 2.1) ---------------------------------------------------------


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, leaf, path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, path):
    if first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if first & (first - 1) == 0:
        path = [first_root] + path
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def hashes(encoded):
    out = [base64.b64decode(h, validate=True) for h in encoded]
    if any(len(h) != 32 for h in out):
        raise Refused("a proof hash is not 32 bytes")
    return out


def record_leaf(record):
    canonical = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    chain_hash = hashlib.sha256(text.encode()).hexdigest()
    if chain_hash != record.get("hash"):
        raise Refused("the record does not match its hash")
    return hashlib.sha256(b"\x00" + bytes.fromhex(chain_hash)).digest()


def verify(bundle, key, tenant=None):
    kind = bundle.get("type")
    if kind == "custodian.inclusion-proof.v1":
        of, size, root = open_checkpoint(bundle["checkpoint"], key)
        record = bundle["record"]
        leaf = record_leaf(record)
        if str(uuid.UUID(record["tenant_id"])) != of:
            raise Refused("the proof is for another tenant's log")
        if bundle["treeSize"] != size:
            raise Refused("the proof's tree size does not match the checkpoint's")
        if not isinstance(record.get("seq"), int) or bundle["leafIndex"] != record["seq"] - 1:
            raise Refused("the proof's leaf index does not match the record")
        if not verify_inclusion(bundle["leafIndex"], size, leaf, hashes(bundle["hashes"]), root):
            raise Refused("the record is not in the tree the checkpoint signs")
        result = {"valid": True, "proves": "inclusion", "tenant": of, "seq": record["seq"], "treeSize": size}
    elif kind == "custodian.consistency-proof.v1":
        old_of, old_size, old_root = open_checkpoint(bundle["old"], key)
        of, size, root = open_checkpoint(bundle["new"], key)
        if old_of != of:
            raise Refused("the proof is for another tenant's log")
        if size < old_size:
            raise Refused("the newer checkpoint is smaller: the log was rolled back")
        if not verify_consistency(old_size, size, old_root, root, hashes(bundle["hashes"])):
            raise Refused("the two checkpoints are not of one append-only log")
        result = {"valid": True, "proves": "consistency", "tenant": of, "fromSize": old_size, "toSize": size}
    else:
        raise Refused("unknown bundle type")
    if tenant is not None and str(uuid.UUID(tenant)) != result["tenant"]:
        raise Refused("the proof is for another tenant's log")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--key", required=True, help="the verifier key, or a file holding it")
    parser.add_argument("--tenant", help="accept only a proof of this tenant's log")
    args = parser.parse_args()
    key_text = args.key
    if "+" not in key_text:
        with open(key_text, encoding="utf-8") as f:
            key_text = f.read()
    try:
        with open(args.bundle, encoding="utf-8") as f:
            bundle = json.load(f)
        print(json.dumps(verify(bundle, parse_key(key_text), args.tenant)))
    except (Refused, KeyError, TypeError, ValueError) as e:
        print(f"refused: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
