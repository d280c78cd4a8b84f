"""Signed manifests of many small files, against plain hashing of the same files, same run.

Builds a directory of BENCH_MANIFEST_FILES files (default 10000) of 1-16 KiB, then times, best
of three with a warm page cache:
- the baseline: `hashlib.sha256` of every file in one Python process (what any verifier must do);
- `tools/verify_manifest.py`'s check of the directory against a signed manifest (signature,
  Merkle root, walk, size and SHA-256 of every file), in process;
- signing the manifest: the Merkle root, the canonical JSON and the Ed25519 signature over the
  payload of that many file entries (what the task adds on top of reading the rows).
"""

import hashlib
import importlib.util
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from bench.run import figure

ROOT = Path(__file__).resolve().parent.parent
FILES = int(os.environ.get("BENCH_MANIFEST_FILES", "10000"))
RUNS = 3


def best_of(action) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def load_verifier():
    spec = importlib.util.spec_from_file_location(
        "verify_manifest", ROOT / "tools" / "verify_manifest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run() -> list[dict]:
    from provenance.merkle import merkle_root
    from provenance.signing import jwks, sign_payload

    verifier = load_verifier()
    rng = random.Random(8)
    block = os.urandom(16 * 1024)
    folder = Path(tempfile.mkdtemp(prefix="bench-manifest-"))
    try:
        paths = []
        for index in range(FILES):
            path = folder / f"{index // 1000:03d}/{index:06d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(block[: rng.randint(1024, 16 * 1024)])
            paths.append(path)

        def hash_all():
            return [verifier.file_digest(path) for path in paths]

        digests = hash_all()  # warms the page cache too
        entries = sorted(
            (
                {
                    "path": path.relative_to(folder).as_posix(),
                    "size": size,
                    "media_type": "application/octet-stream",
                    "sha256": sha256,
                    "records": None,
                }
                for path, (size, sha256) in zip(paths, digests, strict=True)
            ),
            key=lambda item: item["path"],
        )

        def sign():
            payload = {
                "type": "wellspring.version-manifest",
                "files": entries,
                "merkle_root": merkle_root((item["path"], item["sha256"]) for item in entries),
            }
            return sign_payload(payload)

        envelope = sign()
        keys = jwks()

        def verify():
            problems = verifier.verify(envelope, folder, keys)
            assert not problems, problems[:3]

        def plain_hashing():
            for path in paths:
                hashlib.sha256(path.read_bytes()).hexdigest()

        baseline = best_of(plain_hashing)
        verifying = best_of(verify)
        signing = best_of(sign)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    name = f"sha256 of {FILES} files (hashlib, one process)"
    return [
        figure(
            f"verify_manifest over {FILES} files (signature, Merkle root, walk, hashes)",
            verifying,
            "s",
            name,
            baseline,
            "ratio <= 1.5",
        ),
        figure(
            f"sign a manifest of {FILES} files (Merkle root, canonical JSON, Ed25519)",
            signing,
            "s",
            name,
            baseline,
            "ratio <= 0.5",
        ),
    ]
