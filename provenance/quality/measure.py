"""One pass over a version's files that yields the quality figures (no database here).

`measure()` reads each text file and each sampled image once, front to back, and keeps only
per-record signatures (64 x 4 bytes), hashes and counters: memory grows with the number of
measured records, never with file sizes. Versions with more records than `sample_records`
are measured on a Bernoulli sample: each record is kept with probability
`sample_records / total_records`, drawn from `random.Random(seed)` in file and record order,
so the same files and seed always give the same sample. Images beyond `sample_images` are
sampled with `random.Random(seed).sample` over their paths in order.
"""

import random
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from provenance.quality import images, signatures, text

METHOD_VERSION = "quality/1"
BATCH_RECORDS = 2000
DIVERSITY_RECORDS = 20_000
EXAMPLES = 5
LENGTH_EDGES = (0, 16, 64, 256, 1024, 4096, 16384)
RESOLUTION_EDGES = (0, 256, 512, 1024, 2048)

TEXT_KINDS = {
    "application/jsonl": "jsonl",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "text/plain": "text",
    "application/json": "text",
}


@dataclass(frozen=True)
class FileEntry:
    path: str
    storage_name: str
    media_type: str
    sha256: str
    size_bytes: int
    record_count: int | None


@dataclass
class Measured:
    figures: dict
    signatures: np.ndarray  # records x NUM_PERM, uint32
    band_keys: np.ndarray  # records x BANDS, int64


def bps(part: int, whole: int) -> int:
    """A share in basis points, rounded half up (integers only)."""
    return (part * 10_000 * 2 + whole) // (2 * whole) if whole else 0


class _UnionFind:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        root = item
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while item != root:
            self.parent[item], item = root, self.parent.get(item, item)
        return root

    def union(self, first: int, second: int) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def members_beyond_first(self) -> int:
        return sum(1 for item in self.parent if self.find(item) != item)


def _histogram(values: np.ndarray, edges: tuple[int, ...], unit: str) -> list[dict]:
    bins = []
    for index, low in enumerate(edges):
        high = edges[index + 1] if index + 1 < len(edges) else None
        mask = values >= low if high is None else (values >= low) & (values < high)
        label = f"≥ {low:,}" if high is None else f"{low:,}–{high - 1:,}"
        bins.append({"label": f"{label} {unit}", "count": int(mask.sum())})
    return bins


class _Recorder:
    """Accumulates what each measured record contributes."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        self.file_of = array("I")
        self.number_of = array("I")
        self.lengths = array("I")
        self.digests: dict[bytes, int] = {}
        self.exact_examples: list[dict] = []
        self.exact_count = 0
        self.pending: list[np.ndarray] = []
        self.blocks: list[np.ndarray] = []
        self.languages: Counter = Counter()
        self.bigrams: set[int] = set()
        self.bigram_total = 0
        self.vocabulary: set[str] = set()
        self.personal = {kind: {"count": 0, "examples": []} for kind in text.PERSONAL_DATA_KINDS}
        self.personal_records = 0
        self.heuristic_count = 0
        self.heuristic_examples: list[dict] = []

    def location(self, index: int) -> str:
        return f"{self.paths[self.file_of[index]]}#{self.number_of[index]}"

    def add(self, file_index: int, record: text.Record) -> None:
        index = len(self.file_of)
        self.file_of.append(file_index)
        self.number_of.append(record.number)
        self.lengths.append(min(len(record.text), 2**32 - 1))
        first = self.digests.setdefault(record.digest, index)
        if first != index:
            self.exact_count += 1
            if len(self.exact_examples) < EXAMPLES:
                self.exact_examples.append(
                    {"first": self.location(first), "duplicate": self.location(index)}
                )
        tokens = signatures.words(record.text)
        hashed = signatures.word_hashes(tokens)
        self.pending.append(hashed)
        if len(self.pending) >= BATCH_RECORDS:
            self._flush()
        self.languages[text.language_of(tokens)] += 1
        if index < DIVERSITY_RECORDS and len(hashed) > 1:
            with np.errstate(over="ignore"):
                pairs = hashed[:-1] * np.uint64(0x9E3779B97F4A7C15) ^ hashed[1:]
            self.bigrams.update(pairs.tolist())
            self.bigram_total += len(pairs)
            self.vocabulary.update(tokens)
        found = text.personal_data(record.text)
        if found:
            self.personal_records += 1
            for kind, value in found:
                entry = self.personal[kind]
                entry["count"] += 1
                if len(entry["examples"]) < EXAMPLES:
                    entry["examples"].append(
                        {"location": self.location(index), "redacted": text.redact(kind, value)}
                    )
        phrase = text.assistant_phrase(record.text)
        if phrase:
            self.heuristic_count += 1
            if len(self.heuristic_examples) < EXAMPLES:
                self.heuristic_examples.append(
                    {"location": self.location(index), "detail": f"contains “{phrase}”"}
                )

    def _flush(self) -> None:
        if self.pending:
            self.blocks.append(signatures.minhash_batch(self.pending))
            self.pending = []

    def signatures(self) -> np.ndarray:
        self._flush()
        if not self.blocks:
            return np.empty((0, signatures.NUM_PERM), dtype=np.uint32)
        return np.concatenate(self.blocks)

    @property
    def count(self) -> int:
        return len(self.file_of)


def measure(
    files: list[FileEntry],
    *,
    open_stream: Callable,
    seed: int,
    sample_records: int,
    sample_images: int,
    on_file: Callable[[FileEntry], None] = lambda entry: None,
) -> Measured:
    """Measure the files (in path order); see the module docstring for the sample."""
    files = sorted(files, key=lambda entry: entry.path)
    paths = [entry.path for entry in files]
    recorder = _Recorder(paths)
    rng = random.Random(seed)
    text_files = [entry for entry in files if entry.media_type in TEXT_KINDS]
    total_records = sum(
        entry.record_count if entry.record_count is not None else 1 for entry in text_files
    )
    probability = min(1.0, sample_records / total_records) if total_records else 1.0

    def keep() -> bool:
        return probability >= 1.0 or rng.random() < probability

    image_files = [entry for entry in files if entry.media_type.startswith("image/")]
    chosen_images = image_files
    if len(image_files) > sample_images:
        chosen_images = sorted(
            random.Random(seed).sample(image_files, sample_images), key=lambda e: e.path
        )
    chosen_image_paths = {entry.path for entry in chosen_images}
    problems: list[dict] = []
    not_analysed: Counter = Counter()
    image_facts: list[tuple[str, dict]] = []

    for file_index, entry in enumerate(files):
        kind = TEXT_KINDS.get(entry.media_type)
        if kind is None and entry.path not in chosen_image_paths:
            if not entry.media_type.startswith("image/"):
                not_analysed[entry.media_type or "unknown"] += 1
            continue
        on_file(entry)
        file_problems: list[str] = []
        try:
            with open_stream(entry.storage_name) as stream:
                if kind == "jsonl":
                    for record in text.jsonl_records(stream, file_problems, keep=keep):
                        recorder.add(file_index, record)
                elif kind in ("csv", "tsv"):
                    delimiter = "\t" if kind == "tsv" else _csv_delimiter(entry)
                    for record in text.csv_records(stream, delimiter, file_problems):
                        if keep():
                            recorder.add(file_index, record)
                elif kind == "text":
                    record = text.text_file_record(stream)
                    if keep():
                        recorder.add(file_index, record)
                else:
                    if entry.size_bytes > images.IMAGE_MAX_BYTES:
                        file_problems.append("too large to inspect as an image")
                    else:
                        data = stream.read(images.IMAGE_MAX_BYTES + 1)
                        facts = images.inspect_image(data, entry.media_type)
                        if "error" in facts:
                            file_problems.append(facts["error"])
                        else:
                            image_facts.append((entry.path, facts))
        except FileNotFoundError:
            file_problems.append("its stored bytes are missing")
        for message in file_problems:
            problems.append({"path": entry.path, "message": message})

    sigs = recorder.signatures()
    keys = signatures.band_keys(sigs) if len(sigs) else np.empty((0, signatures.BANDS), np.int64)
    figures = _figures(
        files=files,
        recorder=recorder,
        sigs=sigs,
        keys=keys,
        image_facts=image_facts,
        seed=seed,
        probability=probability,
        total_records=total_records,
        image_total=len(image_files),
        problems=problems,
        not_analysed=not_analysed,
    )
    return Measured(figures=figures, signatures=sigs, band_keys=keys)


def _csv_delimiter(entry: FileEntry) -> str:
    return ";" if entry.path.lower().endswith(".ssv") else ","


def _file_duplicates(files: list[FileEntry]) -> dict:
    groups: dict[str, list[str]] = {}
    for entry in files:
        if entry.sha256:
            groups.setdefault(entry.sha256, []).append(entry.path)
    duplicates = [paths for paths in groups.values() if len(paths) > 1]
    count = sum(len(paths) - 1 for paths in duplicates)
    return {
        "count": count,
        "of": len(files),
        "rate_bps": bps(count, len(files)),
        "examples": [
            {"first": paths[0], "duplicate": other} for paths in duplicates for other in paths[1:]
        ][:EXAMPLES],
    }


def _figures(
    *,
    files,
    recorder: _Recorder,
    sigs,
    keys,
    image_facts,
    seed,
    probability,
    total_records,
    image_total,
    problems,
    not_analysed,
) -> dict:
    records = recorder.count
    pairs = signatures.near_duplicate_pairs(sigs, keys) if records > 1 else np.empty((0, 2))
    clusters = _UnionFind()
    for first, second in pairs.tolist():
        clusters.union(first, second)
    near_count = clusters.members_beyond_first()
    near_examples = [
        {
            "first": recorder.location(first),
            "duplicate": recorder.location(second),
            "similarity": round(signatures.estimated_jaccard(sigs[first], sigs[second]), 3),
        }
        for first, second in pairs[:EXAMPLES].tolist()
    ]

    hashes = [facts["phash"] for _, facts in image_facts]
    image_pairs = signatures.phash_pairs(hashes)
    image_clusters = _UnionFind()
    for first, second, _distance in image_pairs:
        image_clusters.union(first, second)
    image_near = image_clusters.members_beyond_first()

    lengths = np.frombuffer(recorder.lengths, dtype=np.uint32) if records else np.zeros(0)
    evidence = [(path, facts) for path, facts in image_facts if facts["signals"]]
    items = records + len(image_facts)
    languages = [
        {"code": code, "count": count, "share_bps": bps(count, records)}
        for code, count in sorted(recorder.languages.items(), key=lambda item: (-item[1], item[0]))
    ]
    resolution = Counter()
    for _, facts in image_facts:
        side = max(facts["width"], facts["height"])
        resolution[sum(1 for edge in RESOLUTION_EDGES[1:] if side >= edge)] += 1
    resolution_bins = []
    for index, low in enumerate(RESOLUTION_EDGES):
        high = RESOLUTION_EDGES[index + 1] if index + 1 < len(RESOLUTION_EDGES) else None
        label = f"≥ {low:,} px" if high is None else f"{low:,}–{high - 1:,} px"
        resolution_bins.append({"label": label, "count": resolution.get(index, 0)})
    formats = Counter(facts["format"] for _, facts in image_facts)
    c2pa_manifests = [
        {"path": path, **facts["c2pa"]} for path, facts in image_facts if facts.get("c2pa")
    ]
    return {
        "method_version": METHOD_VERSION,
        "sample": {
            "seed": seed,
            "records_total": total_records,
            "records_measured": records,
            "record_probability": round(probability, 6),
            "images_total": image_total,
            "images_measured": len(image_facts),
            "method": "Bernoulli sample of records with random.Random(seed), in path and record "
            "order; images by random.Random(seed).sample over paths. Everything when small.",
        },
        "files": {
            "count": len(files),
            "not_analysed": [
                {"media_type": media_type, "count": count}
                for media_type, count in sorted(not_analysed.items())
            ],
            "problems": problems[:50],
        },
        "exact_duplicates": {
            "method": "identical SHA-256 of files; identical BLAKE2b-64 of records' text (the "
            "string fields of a JSONL record, the text columns of a CSV row, the first MiB of a "
            "text file; a record without text is hashed whole)",
            "files": _file_duplicates(files),
            "records": {
                "count": recorder.exact_count,
                "of": records,
                "rate_bps": bps(recorder.exact_count, records),
                "examples": recorder.exact_examples,
            },
        },
        "near_duplicates": {
            "records": {
                "method": "MinHash + LSH",
                "parameters": signatures.PARAMETERS,
                "count": near_count,
                "of": records,
                "rate_bps": bps(near_count, records),
                "note": "records beyond the first of each cluster of near-duplicates, exact "
                "copies included",
                "examples": near_examples,
            },
            "images": {
                "method": "perceptual hash",
                "parameters": signatures.PHASH_PARAMETERS,
                "count": image_near,
                "of": len(image_facts),
                "rate_bps": bps(image_near, len(image_facts)),
                "examples": [
                    {
                        "first": image_facts[first][0],
                        "duplicate": image_facts[second][0],
                        "distance": distance,
                    }
                    for first, second, distance in image_pairs[:EXAMPLES]
                ],
            },
        },
        "shape": {
            "records": records,
            "length": {
                "unit": "characters",
                "mean": round(float(lengths.mean()), 1) if records else None,
                "median": int(np.median(lengths)) if records else None,
                "histogram": _histogram(lengths, LENGTH_EDGES, "chars") if records else [],
            },
            "diversity": {
                "method": f"over the first {DIVERSITY_RECORDS:,} measured records: distinct "
                "word bigrams / all word bigrams, and distinct lower-cased words",
                "distinct_bigram_ratio": round(len(recorder.bigrams) / recorder.bigram_total, 4)
                if recorder.bigram_total
                else None,
                "vocabulary": len(recorder.vocabulary),
            },
            "languages": {"parameters": text.LANGUAGE_PARAMETERS, "mix": languages},
            "images": {
                "resolution": resolution_bins if image_facts else [],
                "formats": [
                    {"format": name, "count": count} for name, count in sorted(formats.items())
                ],
            },
        },
        "synthetic": {
            "items": items,
            "evidence": {
                "kind": "evidence",
                "parameters": images.PARAMETERS,
                "count": len(evidence),
                "share_bps": bps(len(evidence), items),
                "examples": [
                    {"location": path, "detail": signal["detail"], "signal": signal["kind"]}
                    for path, facts in evidence
                    for signal in facts["signals"]
                ][: EXAMPLES * 2],
                "c2pa_manifests": c2pa_manifests[:EXAMPLES],
            },
            "heuristic": {
                "kind": "heuristic",
                "parameters": text.HEURISTIC_PARAMETERS,
                "count": recorder.heuristic_count,
                "share_bps": bps(recorder.heuristic_count, items),
                "examples": recorder.heuristic_examples,
            },
        },
        "personal_data": {
            "parameters": text.PERSONAL_DATA_PARAMETERS,
            "records_with_hits": recorder.personal_records,
            "of": records,
            "rate_bps": bps(recorder.personal_records, records),
            "kinds": {
                kind: {"label": text.PERSONAL_DATA_KINDS[kind], **entry}
                for kind, entry in recorder.personal.items()
            },
        },
    }
