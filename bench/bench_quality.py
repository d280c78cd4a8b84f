"""Near-duplicate detection of the quality card over 1 million text records, in one run against:
- the raw MinHash library loop (datasketch: `MinHash(num_perm=64).update_batch(shingles)` and
  `MinHashLSH(num_perm=64, params=(16, 4)).insert` per record, the same shingles, bands and
  rows), timed on the first BENCH_QUALITY_LIBRARY records and extrapolated linearly;
- a brute-force exact baseline: exact Jaccard of every pair of a 20,000-record subset (sparse
  matrix product of the shingle sets, scipy), extrapolated to all pairs of the full set
  (quadratically);
and the quality measurement itself (`provenance.quality.measure.measure`: reading the JSONL,
exact and near-duplicates, shape, language, personal data, synthetic heuristics) in a child
process with no sampling, for its time and peak memory (goal: within 1.5x of the library
loop, under 2 GB). Recall: 2% of the records are planted near copies (one word replaced) of
other records; recall is the share of them the measurement counts as near-duplicates (the
random originals share no shingles with each other, which the brute-force subset confirms).

Sizes: BENCH_QUALITY_RECORDS (default 1000000), BENCH_QUALITY_LIBRARY (default 100000),
BENCH_QUALITY_BRUTE (default 20000).
"""

import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = int(os.environ.get("BENCH_QUALITY_RECORDS", "1000000"))
LIBRARY = int(os.environ.get("BENCH_QUALITY_LIBRARY", "100000"))
BRUTE = int(os.environ.get("BENCH_QUALITY_BRUTE", "20000"))
PLANTED_SHARE = 0.02
WORDS = 30


def build(path: Path) -> int:
    """Write the records; returns how many are planted near copies."""
    import numpy as np

    rng = np.random.RandomState(5)
    vocabulary = np.array([f"w{index:x}q" for index in range(50_000)])
    planted = int(RECORDS * PLANTED_SHARE)
    originals = RECORDS - planted
    picks = rng.randint(0, len(vocabulary), size=(originals, WORDS))
    sources = rng.randint(0, originals, size=planted)
    positions = rng.randint(0, WORDS, size=planted)
    replacements = rng.randint(0, len(vocabulary), size=planted)
    with path.open("w") as handle:
        for row in picks:
            handle.write(json.dumps({"text": " ".join(vocabulary[row])}) + "\n")
        for source, position, replacement in zip(sources, positions, replacements, strict=True):
            row = picks[source].copy()
            row[position] = replacement
            handle.write(json.dumps({"text": " ".join(vocabulary[row])}) + "\n")
    return planted


def read_texts(path: Path, limit: int) -> list[str]:
    texts = []
    with path.open() as handle:
        for line in handle:
            texts.append(json.loads(line)["text"])
            if len(texts) >= limit:
                break
    return texts


def library_loop(path: Path) -> float:
    """datasketch over the first LIBRARY records, seconds."""
    from datasketch import MinHash, MinHashLSH

    from provenance.quality import signatures

    texts = read_texts(path, LIBRARY)
    started = time.perf_counter()
    lsh = MinHashLSH(num_perm=signatures.NUM_PERM, params=(signatures.BANDS, signatures.ROWS))
    for index, text in enumerate(texts):
        tokens = signatures.words(text)
        shingles = [
            " ".join(tokens[start : start + signatures.SHINGLE_WORDS]).encode()
            for start in range(max(1, len(tokens) - signatures.SHINGLE_WORDS + 1))
        ]
        minhash = MinHash(num_perm=signatures.NUM_PERM, seed=1)
        minhash.update_batch(shingles)
        lsh.insert(index, minhash)
    return time.perf_counter() - started


def brute_force(path: Path) -> tuple[float, int]:
    """Exact Jaccard >= threshold over all pairs of the first BRUTE records: (seconds, pairs)."""
    import numpy as np
    from scipy import sparse

    from provenance.quality import signatures

    texts = read_texts(path, BRUTE)
    started = time.perf_counter()
    index: dict[str, int] = {}
    rows, columns = [], []
    for row, text in enumerate(texts):
        tokens = signatures.words(text)
        shingles = {
            " ".join(tokens[start : start + signatures.SHINGLE_WORDS])
            for start in range(max(1, len(tokens) - signatures.SHINGLE_WORDS + 1))
        }
        for shingle in shingles:
            rows.append(row)
            columns.append(index.setdefault(shingle, len(index)))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (rows, columns)), shape=(len(texts), len(index))
    )
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    shared = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    jaccard = shared.data / (sizes[shared.row] + sizes[shared.col] - shared.data)
    pairs = int((jaccard >= signatures.NEAR_DUPLICATE_THRESHOLD).sum())
    return time.perf_counter() - started, pairs


def run_child(*args: str) -> tuple[dict, int]:
    """Run this module as a child; returns its JSON answer and its peak RSS in KiB."""
    from bench.run import run_child as run_module

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "config.settings"}
    return run_module(__file__, *args, env=env, name="quality")


def _child(mode: str, path: str) -> dict:
    import django

    django.setup()
    if mode == "idle":
        return {}
    from contextlib import contextmanager

    from provenance.quality import measure

    @contextmanager
    def opener(name):
        with open(name, "rb", buffering=0) as stream:
            yield stream

    entry = measure.FileEntry(path, path, "application/jsonl", "", os.path.getsize(path), RECORDS)
    started = time.perf_counter()
    measured = measure.measure(
        [entry], open_stream=opener, seed=1, sample_records=RECORDS, sample_images=0
    )
    seconds = time.perf_counter() - started
    figures = measured.figures
    return {
        "seconds": seconds,
        "records": figures["sample"]["records_measured"],
        "near": figures["near_duplicates"]["records"]["count"],
    }


def run() -> list[dict]:
    from bench.run import figure

    with tempfile.TemporaryDirectory(prefix="bench-quality-") as folder:
        path = Path(folder) / "records.jsonl"
        planted = build(path)
        measured, peak_kib = run_child("measure", str(path))
        _, idle_kib = run_child("idle", str(path))
        library_seconds = library_loop(path) * RECORDS / LIBRARY
        brute_seconds, brute_pairs = brute_force(path)
        brute_total = brute_seconds * (RECORDS / BRUTE) ** 2
    recall = min(measured["near"], planted) / planted
    assert measured["records"] == RECORDS, measured
    # In the brute-force subset the only near pairs are planted ones: none among originals.
    assert brute_pairs <= planted, brute_pairs
    return [
        figure(
            f"quality near-duplicates, {RECORDS:,} records",
            measured["seconds"],
            "s",
            f"datasketch MinHash+LSH loop (first {LIBRARY:,}, extrapolated)",
            library_seconds,
            "ratio <= 1.5",
        ),
        figure(
            f"quality near-duplicates, {RECORDS:,} records",
            measured["seconds"],
            "s",
            f"brute-force exact Jaccard, {BRUTE:,}-record subset extrapolated to all pairs",
            brute_total,
            "ratio < 1",
        ),
        figure(
            "quality peak memory",
            peak_kib / 1024,
            "MiB",
            "the same child with Django only",
            idle_kib / 1024,
            "value < 2048 MiB",
        ),
        figure(
            "quality recall of planted near-duplicates",
            recall,
            "share",
            "all planted (exact ground truth)",
            1.0,
            "ratio >= 0.95",
        ),
    ]


if __name__ == "__main__":
    from bench.run import child_main

    child_main(_child)
