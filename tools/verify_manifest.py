#!/usr/bin/env python3
"""Check a downloaded dataset directory against a Wellspring manifest, offline.

    python tools/verify_manifest.py MANIFEST.json DIRECTORY --jwks jwks.json
    python tools/verify_manifest.py MANIFEST.json DIRECTORY --jwks https://host/.well-known/jwks.json

It checks, in this order: the Ed25519 signature over the payload (with the key the envelope's
`kid` names in the JWKS), the Merkle root recomputed from the listed files, and then every file
on disk: each listed file must exist with the listed size and SHA-256, and no other file may be
there. Every problem is printed on its own line (`MISSING path`, `ALTERED path: ...`,
`EXTRA path`, `SIGNATURE ...`, `MERKLE ...`); the exit status is 0 when everything holds, 1 when
anything does not and 2 for unusable input.

Needs the Python standard library and the `cryptography` package, nothing else.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import urllib.request
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHUNK = 1024 * 1024


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def merkle_root(files) -> str:
    """RFC 6962 tree hash over (path, sha256_hex) leaves sorted by path (docs/merkle.md)."""

    def tree(hashes):
        if len(hashes) == 1:
            return hashes[0]
        k = 1 << ((len(hashes) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + tree(hashes[:k]) + tree(hashes[k:])).digest()

    leaves = [hashlib.sha256(b"\x00" + f"{p}\0{h}".encode()).digest() for p, h in sorted(files)]
    return (tree(leaves) if leaves else hashlib.sha256(b"").digest()).hex()


def load_json(source: str):
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=30) as response:
            return json.load(response)
    with open(source, encoding="utf-8") as handle:
        return json.load(handle)


def signature_problem(envelope: dict, jwks: dict) -> str | None:
    """None when the envelope's signature holds under the JWKS key its `kid` names."""
    kid = envelope.get("kid")
    key = next((k for k in jwks.get("keys", []) if k.get("kid") == kid), None)
    if key is None:
        return f"SIGNATURE no key with kid {kid!r} in the JWKS"
    if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
        return f"SIGNATURE key {kid!r} is not an Ed25519 key"
    try:
        public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"]))
        public_key.verify(b64url_decode(envelope["signature"]), canonical_json(envelope["payload"]))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return "SIGNATURE invalid: the manifest was changed or not signed by this key"
    return None


def file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as handle:
        # Ask for no more than the file holds (plus one byte to see its end): a 1 MiB read
        # buffer per small file costs more than hashing it.
        want = min(CHUNK, os.fstat(handle.fileno()).st_size + 1)
        while chunk := handle.read(want):
            digest.update(chunk)
            size += len(chunk)
            if len(chunk) < want:
                break  # a short read of a regular file is its end
    return size, digest.hexdigest()


def files_on_disk(root: Path, ignore: set[Path]) -> set[str]:
    ignored_names = {path.name for path in ignore}
    found = set()
    for folder, _dirs, names in os.walk(root):
        relative = os.path.relpath(folder, root)
        prefix = "" if relative == "." else Path(relative).as_posix() + "/"
        for name in names:
            if name in ignored_names and Path(folder, name).resolve() in ignore:
                continue
            found.add(prefix + name)
    return found


def verify(envelope: dict, directory: Path, jwks: dict, ignore: set[Path] = frozenset()) -> list:
    """Every problem found, as printable lines; an empty list means the directory matches."""
    problems = []
    payload = envelope.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("files"), list):
        return ["FORMAT the manifest has no payload with a list of files"]
    problem = signature_problem(envelope, jwks)
    if problem:
        problems.append(problem)
    listed = {item["path"]: item for item in payload["files"]}
    root = merkle_root((path, item["sha256"]) for path, item in listed.items())
    if root != payload.get("merkle_root"):
        problems.append(
            f"MERKLE root of the listed files is {root}, the manifest says "
            f"{payload.get('merkle_root')}"
        )
    present = files_on_disk(directory, {path.resolve() for path in ignore})
    for path in sorted(listed):
        item = listed[path]
        if path not in present:
            problems.append(f"MISSING {path}")
            continue
        size, sha256 = file_digest(directory / path)
        if size != item["size"] or sha256 != item["sha256"]:
            problems.append(
                f"ALTERED {path}: {size} bytes, sha256 {sha256}; expected {item['size']} bytes, "
                f"sha256 {item['sha256']}"
            )
    problems.extend(f"EXTRA {path}" for path in sorted(present - set(listed)))
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", help="the manifest JSON file (the signed envelope)")
    parser.add_argument("directory", help="the downloaded dataset directory")
    parser.add_argument(
        "--jwks", required=True, help="the platform's JWKS: a file or an http(s) URL"
    )
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    try:
        envelope = load_json(args.manifest)
        jwks = load_json(args.jwks)
    except (OSError, ValueError) as error:
        print(f"ERROR cannot read input: {error}", file=sys.stderr)
        return 2
    if not directory.is_dir():
        print(f"ERROR {directory} is not a directory", file=sys.stderr)
        return 2
    # A manifest saved inside the directory it describes is not one of its files.
    problems = verify(envelope, directory, jwks, ignore={Path(args.manifest)})
    for line in problems:
        print(line)
    count = len(envelope.get("payload", {}).get("files", []))
    if problems:
        print(f"FAILED: {len(problems)} problem(s) with {count} listed file(s)", file=sys.stderr)
        return 1
    print(f"OK: signature valid, Merkle root matches, {count} file(s) match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
