"""Streaming file inspection (hash, size, media type, records) against `sha256sum` and
`openssl dgst -sha256` over the same file, in the same run."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.run import figure
from provenance.inspection import inspect_stream

SIZE_MB = int(os.environ.get("BENCH_HASH_MB", "512"))


def _best_of(runs: int, action) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="wellspring-bench-") as folder:
        path = Path(folder) / "large.bin"
        block = os.urandom(1 << 20)
        with path.open("wb") as handle:
            for _ in range(SIZE_MB):
                handle.write(block)

        def ours():
            with path.open("rb") as stream:
                inspect_stream(stream)

        def tool(*command):
            return lambda: subprocess.run(
                [*command, str(path)], check=True, stdout=subprocess.DEVNULL
            )

        ours()  # warm the page cache
        ours_seconds = _best_of(3, ours)
        mb = SIZE_MB * 1.048576
        figures = [
            figure(
                f"inspection throughput, {SIZE_MB} MiB binary file",
                mb / ours_seconds,
                "MB/s",
                "sha256sum",
                mb / _best_of(3, tool("sha256sum")),
                ">= 0.9x sha256sum",
            )
        ]
        if shutil.which("openssl"):
            figures.append(
                figure(
                    f"inspection throughput vs openssl, {SIZE_MB} MiB binary file",
                    mb / ours_seconds,
                    "MB/s",
                    "openssl dgst -sha256",
                    mb / _best_of(3, tool("openssl", "dgst", "-sha256")),
                    ">= 0.9x openssl",
                )
            )
        return figures
