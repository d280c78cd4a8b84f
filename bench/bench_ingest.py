"""Ingest against `sha256sum` and `openssl dgst -sha256` over the same files, in the same run.

Builds a data set of many small files and a few large ones, then times, best of three with a
warm page cache:
- `sha256sum` and `openssl dgst -sha256` over every file (through `xargs`, as an operator
  would run them);
- the real ingest (`provenance.ingest.ingest_version`: streaming read, SHA-256, media type,
  record counts, batched database writes, progress, Merkle root) in a child process with its
  own SQLite database, files on local storage, `DEBUG` off as on a worker; with the default
  reader threads, and again with one (a core against openssl's one).
Then the peak resident memory of a child process that ingests one 1 GiB JSONL file (records
are counted too), against the same kind of process that only set Django up.

Sizes: BENCH_INGEST_SMALL (files, default 10000), BENCH_INGEST_LARGE_MB (two files of this
many MiB, default 384), BENCH_INGEST_MEMORY_MB (default 1024).
"""

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMALL_FILES = int(os.environ.get("BENCH_INGEST_SMALL", "10000"))
LARGE_MB = int(os.environ.get("BENCH_INGEST_LARGE_MB", "384"))
MEMORY_MB = int(os.environ.get("BENCH_INGEST_MEMORY_MB", "1024"))
RUNS = 3


def build_dataset(media: Path, folder: str) -> tuple[list[Path], int]:
    rng = random.Random(7)
    base = media / folder
    files = []
    block = os.urandom(16 * 1024)
    for index in range(SMALL_FILES):
        path = base / f"small/{index // 1000:03d}/{index:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(block[: rng.randint(1024, 16 * 1024)])
        files.append(path)
    large = os.urandom(1024 * 1024)
    for index in range(2):
        path = base / f"large/{index}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            for _ in range(LARGE_MB):
                handle.write(large)
        files.append(path)
    return files, sum(path.stat().st_size for path in files)


def build_jsonl(media: Path, name: str) -> Path:
    line = json.dumps({"id": 0, "text": "A line a person wrote, " * 6}).encode() + b"\n"
    block = line * (1024 * 1024 // len(line))
    path = media / name
    with path.open("wb") as handle:
        written = 0
        while written < MEMORY_MB * 1024 * 1024:
            handle.write(block)
            written += len(block)
    return path


def best_of(action) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def xargs(tool: list[str], list_file: Path):
    def run():
        with list_file.open("rb") as names:
            subprocess.run(
                ["xargs", "-0", *tool], stdin=names, stdout=subprocess.DEVNULL, check=True
            )

    return run


def child_env(work: Path, media: Path, name: str, threads: int | None = None) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    }
    env.update(
        {
            "WELLSPRING_VAR_DIR": str(work / f"var-{name}"),  # a database per child
            "MEDIA_ROOT": str(media),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
            # As workers run in production: with DEBUG on, Django also records every query.
            "DEBUG": "false",
            "PYTHONPATH": str(ROOT),
        }
    )
    if threads:
        env["INGEST_READ_THREADS"] = str(threads)
    return env


def run_child(work: Path, media: Path, *args: str, threads: int | None = None) -> tuple[dict, int]:
    """Run this module as a child; returns its JSON answer and its peak RSS in KiB."""
    from bench.run import run_child as run_module

    env = child_env(work, media, f"{args[0]}-{threads or 'default'}", threads)
    return run_module(__file__, *args, env=env, name="ingest")


def run() -> list[dict]:
    from bench.run import figure

    with tempfile.TemporaryDirectory(prefix="wellspring-bench-ingest-") as folder:
        work = Path(folder)
        media = work / "media"
        files, total = build_dataset(media, "set")
        list_file = work / "files.list"
        list_file.write_bytes(b"\0".join(str(path).encode() for path in files))
        megabytes = total / 1_000_000

        xargs(["cat"], list_file)()  # warm the page cache
        sha256sum = best_of(xargs(["sha256sum"], list_file))
        openssl = (
            best_of(xargs(["openssl", "dgst", "-sha256"], list_file))
            if shutil.which("openssl")
            else None
        )
        answer, _ = run_child(work, media, "throughput", "set", str(RUNS))
        ours = answer["best_seconds"]
        if answer["bytes"] != total or answer["files"] != len(files):
            raise RuntimeError(f"ingest measured {answer}, expected {len(files)} files")

        label = f"{SMALL_FILES:,} small + 2 x {LARGE_MB} MiB files, {megabytes:,.0f} MB"
        figures = [
            figure(
                f"ingest throughput ({label})",
                megabytes / ours,
                "MB/s",
                "sha256sum",
                megabytes / sha256sum,
                ">= 0.9x sha256sum",
            )
        ]
        if openssl:
            figures.append(
                figure(
                    f"ingest throughput vs openssl ({label})",
                    megabytes / ours,
                    "MB/s",
                    "openssl dgst -sha256",
                    megabytes / openssl,
                    ">= 0.9x openssl dgst -sha256",
                )
            )
            # The same ingest with one reader thread: what one core does against openssl's one.
            answer, _ = run_child(work, media, "throughput", "set", str(RUNS), threads=1)
            figures.append(
                figure(
                    f"ingest throughput, one reader thread, vs openssl ({label})",
                    megabytes / answer["best_seconds"],
                    "MB/s",
                    "openssl dgst -sha256",
                    megabytes / openssl,
                    "reference (single core)",
                )
            )
        shutil.rmtree(media / "set")

        build_jsonl(media, "memory.jsonl")
        _, idle_kib = run_child(work, media, "idle")
        answer, peak_kib = run_child(work, media, "memory", "memory.jsonl")
        if answer["records"] <= 0:
            raise RuntimeError(f"the 1 GiB file was not counted: {answer}")
        figures.append(
            figure(
                f"ingest peak memory, one {MEMORY_MB:,} MiB JSONL file",
                peak_kib / 1024,
                "MiB RSS",
                "the same process before ingest",
                idle_kib / 1024,
                "< 100 MiB",
            )
        )
        return figures


# --- The child process: the real ingest against its own database -------------------------


def _setup_child():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _version_with_files(folder: str):
    from django.utils import timezone

    from accounts.models import Organization, User
    from provenance.models import DataFile, Dataset, DatasetVersion, IngestProgress
    from provenance.storage import local_path

    user = User.objects.create_user(email="bench@wellspring.test", password=None)
    organization = Organization.objects.create(name="Bench", slug="bench", is_creator=True)
    dataset = Dataset.objects.create(
        organization=organization, slug="bench", title="Bench", modality="text", created_by=user
    )
    version = DatasetVersion.objects.create(dataset=dataset, number=1)
    IngestProgress.objects.create(version=version)
    root = Path(local_path(folder))
    now = timezone.now()
    paths = sorted(path for path in root.rglob("*") if path.is_file()) if root.is_dir() else [root]
    base = Path(local_path(""))
    DataFile.objects.bulk_create(
        [
            DataFile(
                version=version,
                path=str(path.relative_to(base)),
                storage_name=str(path.relative_to(base)),
                size_bytes=path.stat().st_size,
                created_at=now,
            )
            for path in paths
        ],
        batch_size=2000,
    )
    return version


def _child(mode: str, *args: str) -> dict:
    _setup_child()
    if mode == "idle":
        return {}
    from django.db.models import Sum

    from provenance.ingest import ingest_version
    from provenance.models import DataFile

    version = _version_with_files(args[0])
    runs = int(args[1]) if len(args) > 1 else 1
    best = float("inf")
    for _ in range(runs):
        DataFile.objects.filter(version=version).update(ingested_at=None, sha256="")
        started = time.perf_counter()
        result = ingest_version(version_id=version.pk)
        best = min(best, time.perf_counter() - started)
        if not result.merkle_root:
            raise RuntimeError("ingest finished without a root")
    files = DataFile.objects.filter(version=version)
    return {
        "best_seconds": best,
        "files": files.count(),
        "bytes": files.aggregate(total=Sum("size_bytes"))["total"],
        "records": result.total_records or 0,
    }


if __name__ == "__main__":
    from bench.run import child_main

    child_main(_child)
