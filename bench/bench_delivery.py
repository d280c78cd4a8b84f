"""Fingerprinted delivery throughput against reading the same file plainly.

A buyer's download streams the file through the per-license fingerprint (keyed line endings
for text, a tEXt chunk for PNG). Baseline: reading the same bytes in the same 1 MiB chunks with
no transform, in the same process and run. Best of 3 each.
"""

import hashlib
import tempfile
import time
from pathlib import Path

from bench.run import figure

TEXT_MB = 128
RUNS = 3
CHUNK = 1024 * 1024


def _chunks(path: Path):
    with open(path, "rb", buffering=0) as stream:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                return
            yield chunk


def _best(action) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def run() -> list[dict]:
    from licensing import fingerprint

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.jsonl"
        line = b'{"id": 123456, "text": "a line of human-written text, about eighty bytes long"}\n'
        with open(path, "wb") as out:
            block = line * (CHUNK // len(line))
            for _ in range(TEXT_MB):
                out.write(block)
        megabytes = path.stat().st_size / 1e6

        def plain():
            hasher = hashlib.sha256()
            for chunk in _chunks(path):
                hasher.update(chunk)

        def marked():
            hasher = hashlib.sha256()
            for piece in fingerprint.fingerprinted("text-eol", "lic_bench", _chunks(path)):
                hasher.update(piece)

        def unmarked():
            hasher = hashlib.sha256()
            for piece in fingerprint.fingerprinted("none", "lic_bench", _chunks(path)):
                hasher.update(piece)

        baseline = _best(plain)
        text_seconds = _best(marked)
        none_seconds = _best(unmarked)
    label = f"{megabytes:,.0f} MB JSONL, {len(line)}-byte lines"
    return [
        figure(
            f"fingerprinted text delivery ({label})",
            megabytes / text_seconds,
            "MB/s",
            "plain read + sha256 of the same file",
            megabytes / baseline,
            ">= 0.25x plain read (a download link, not a bulk copy)",
        ),
        figure(
            f"unmarked delivery ({label})",
            megabytes / none_seconds,
            "MB/s",
            "plain read + sha256 of the same file",
            megabytes / baseline,
            ">= 0.95x plain read",
        ),
    ]
