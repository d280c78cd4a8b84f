"""Run the quality measurement of a version and keep its report (services of the quality card).

How a run goes: `queue_quality` (called when ingest finishes, or by a creator or reviewer to
measure again) gives the run a token and enqueues `measure_quality_task` on the `quality`
queue after the commit. `measure_quality` claims the run, streams the files once through
`provenance.quality.measure`, checks the records against the catalog's index of approved
versions (novelty), and writes the report, its flags and the version's band index in one
transaction. Idempotent: the report is a function of the files, the seed (from the Merkle
root) and the approved catalog, so a rerun writes the same figures (same `figures_sha256`).
"""

import hashlib
import logging
import uuid
from datetime import datetime
from functools import partial

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.errors import Conflict, NotFound
from provenance import storage
from provenance.models import (
    DataFile,
    DatasetVersion,
    ProvenanceDeclaration,
    QualityBand,
    QualityReport,
    canonical_json,
)
from provenance.quality import measure as measuring
from provenance.quality import signatures

logger = logging.getLogger(__name__)

# Records of a version kept in the catalog's novelty index (seeded: the first of the sample).
NOVELTY_INDEX_RECORDS = 5000
# A record counts as present in another version when this many of its bands meet there.
NOVELTY_MIN_BANDS = 2
# Flags raised for the reviewer.
OVERLAP_FLAG_BPS = 1000
MISMATCH_HEURISTIC_BPS = 2000


def seed_of(version: DatasetVersion) -> int:
    """The sample seed: the first 16 hex digits of the Merkle root (stated on the card)."""
    return int((version.merkle_root or "0")[:16], 16)


def queue_quality(*, version_id: str, now: datetime | None = None) -> QualityReport:
    """Queue a (new) measurement of the version; the task runs after the commit.

    Safe to call again: a live queued or running run is returned as is.
    """
    from provenance.tasks import measure_quality_task

    now = now or timezone.now()
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None:
            raise NotFound("No such version.")
        if not version.merkle_root:
            raise Conflict("Process the files first: quality is measured on ingested files.")
        report, _ = QualityReport.objects.select_for_update().get_or_create(version=version)
        if report.is_active and not report.is_stale(now, settings.QUALITY_STALE_SECONDS):
            return report
        report.state = QualityReport.State.QUEUED
        report.run_token = uuid.uuid4().hex
        report.queued_at = now
        report.heartbeat_at = None
        report.save(update_fields=["state", "run_token", "queued_at", "heartbeat_at"])
        transaction.on_commit(
            partial(measure_quality_task.delay, version_id=version.pk, run_token=report.run_token),
            robust=True,
        )
    return report


def _claim(version_id: str, run_token: str, now: datetime):
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update()
            .select_related("dataset")
            .filter(pk=version_id)
            .first()
        )
        if version is None:
            raise NotFound("No such version.")
        report, _ = QualityReport.objects.select_for_update().get_or_create(version=version)
        if run_token and report.run_token != run_token:
            logger.info("quality of %s: run %s is not current, skipped", version_id, run_token)
            return None
        if run_token and report.state in (QualityReport.State.DONE, QualityReport.State.FAILED):
            return None
        if not version.merkle_root:
            raise Conflict("Process the files first: quality is measured on ingested files.")
        files = list(
            DataFile.objects.filter(version=version).values_list(
                "path", "storage_name", "media_type", "sha256", "size_bytes", "record_count"
            )
        )
        report.state = QualityReport.State.RUNNING
        report.run_token = run_token or uuid.uuid4().hex
        report.attempts += 1
        report.files_total = len(files)
        report.files_done = 0
        report.bytes_total = sum(row[4] for row in files)
        report.bytes_done = 0
        report.errors = []
        report.started_at = now
        report.heartbeat_at = timezone.now()
        report.finished_at = None
        report.save()
    return version, report, [measuring.FileEntry(*row) for row in files]


def measure_quality(
    *, version_id: str, run_token: str = "", now: datetime | None = None
) -> QualityReport:
    """Measure a version's files and write its QualityReport; see the module docstring.

    Raises NotFound, or Conflict when the version has no Merkle root yet. Returns the report
    (unchanged when `run_token` names a run that is no longer current).
    """
    now = now or timezone.now()
    claimed = _claim(version_id, run_token, now)
    if claimed is None:
        return QualityReport.objects.get(pk=version_id)
    version, report, files = claimed
    token = report.run_token

    def on_file(entry):
        report.files_done += 1
        report.bytes_done += entry.size_bytes
        QualityReport.objects.filter(pk=version.pk, run_token=token).update(
            files_done=report.files_done,
            bytes_done=min(report.bytes_done, report.bytes_total),
            current_path=entry.path[:1024],
            heartbeat_at=timezone.now(),
        )

    measured = measuring.measure(
        files,
        open_stream=storage.open_stream,
        seed=seed_of(version),
        sample_records=settings.QUALITY_SAMPLE_RECORDS,
        sample_images=settings.QUALITY_SAMPLE_IMAGES,
        on_file=on_file,
    )
    figures = measured.figures
    indexed = measured.band_keys[:NOVELTY_INDEX_RECORDS]
    figures["novelty"] = catalog_overlap(version=version, keys=indexed)
    declaration = ProvenanceDeclaration.objects.filter(version=version).first()
    figures["declared"] = {
        "authorship": declaration.authorship if declaration else "",
        "synthetic_share_bps": declaration.synthetic_share_bps if declaration else None,
    }
    flags = flags_for(figures)
    digest = hashlib.sha256(canonical_json(figures)).hexdigest()
    with transaction.atomic():
        locked = QualityReport.objects.select_for_update().get(pk=version.pk)
        if locked.run_token != token:
            return locked
        QualityBand.objects.filter(version=version).delete()
        QualityBand.objects.bulk_create(
            [
                QualityBand(version=version, record=record, key=int(key))
                for record, row in enumerate(indexed.tolist())
                for key in row
            ],
            batch_size=2000,
        )
        near = figures["near_duplicates"]
        synthetic = figures["synthetic"]
        overlap = figures["novelty"]["overlaps"]
        locked.state = QualityReport.State.DONE
        locked.method_version = figures["method_version"]
        locked.figures = figures
        locked.figures_sha256 = digest
        locked.flags = flags
        locked.records_measured = figures["sample"]["records_measured"]
        locked.exact_duplicate_bps = figures["exact_duplicates"]["records"]["rate_bps"]
        locked.near_duplicate_bps = max(near["records"]["rate_bps"], near["images"]["rate_bps"])
        locked.synthetic_evidence_bps = synthetic["evidence"]["share_bps"]
        locked.synthetic_heuristic_bps = synthetic["heuristic"]["share_bps"]
        locked.has_synthetic_signals = bool(
            synthetic["evidence"]["count"] or synthetic["heuristic"]["count"]
        )
        locked.personal_data_hits = sum(
            kind["count"] for kind in figures["personal_data"]["kinds"].values()
        )
        locked.catalog_overlap_bps = max((item["share_bps"] for item in overlap), default=0)
        locked.files_done = locked.files_total
        locked.bytes_done = locked.bytes_total
        locked.current_path = ""
        locked.errors = figures["files"]["problems"]
        locked.finished_at = now
        locked.heartbeat_at = timezone.now()
        locked.save()
    logger.info("quality of %s measured: %s", version.pk, digest[:12])
    return locked


def catalog_overlap(*, version: DatasetVersion, keys: np.ndarray) -> dict:
    """Which approved versions of other datasets already hold this version's records.

    A record is present in another version when at least `NOVELTY_MIN_BANDS` of its LSH band
    keys are in that version's index (the index keeps up to `NOVELTY_INDEX_RECORDS` records
    per version).
    """
    method = {
        "method": "LSH band keys of the measured records looked up in the index of approved "
        "versions of other datasets",
        "parameters": {
            "indexed_records_per_version": NOVELTY_INDEX_RECORDS,
            "min_matching_bands": NOVELTY_MIN_BANDS,
            **signatures.PARAMETERS,
        },
    }
    records = len(keys)
    if not records:
        return {**method, "records_checked": 0, "overlaps": []}
    by_key: dict[int, list[int]] = {}
    for record, row in enumerate(keys.tolist()):
        for key in row:
            by_key.setdefault(key, []).append(record)
    hits: dict[str, dict[int, int]] = {}
    candidates = list(by_key)
    for start in range(0, len(candidates), 2000):
        rows = (
            QualityBand.objects.filter(
                key__in=candidates[start : start + 2000],
                version__status=DatasetVersion.Status.APPROVED,
            )
            .exclude(version__dataset_id=version.dataset_id)
            .values_list("version_id", "key")
            .distinct()
        )
        for other, key in rows:
            counts = hits.setdefault(other, {})
            for record in by_key[key]:
                counts[record] = counts.get(record, 0) + 1
    overlaps = []
    if hits:
        versions = {
            row.pk: row
            for row in DatasetVersion.objects.filter(pk__in=hits).select_related(
                "dataset__organization"
            )
        }
        for other, counts in hits.items():
            present = sum(1 for count in counts.values() if count >= NOVELTY_MIN_BANDS)
            if not present:
                continue
            dataset = versions[other].dataset
            overlaps.append(
                {
                    "version_id": other,
                    "dataset_slug": dataset.slug,
                    "dataset_title": dataset.title,
                    "organization": dataset.organization.name,
                    "records": present,
                    "share_bps": measuring.bps(present, records),
                }
            )
    overlaps.sort(key=lambda item: (-item["share_bps"], item["version_id"]))
    return {**method, "records_checked": records, "overlaps": overlaps[:10]}


def flags_for(figures: dict) -> list[dict]:
    """What the reviewer should look at, each with a code, a severity and a message."""
    flags = []
    declared = figures["declared"]
    synthetic = figures["synthetic"]
    evidence, heuristic = synthetic["evidence"], synthetic["heuristic"]
    declared_bps = declared["synthetic_share_bps"] or 0
    if evidence["count"] and evidence["share_bps"] > declared_bps:
        flags.append(
            {
                "code": "synthetic_mismatch",
                "severity": "high",
                "message": f"{evidence['count']} item(s) carry embedded evidence of AI generation "
                f"({evidence['share_bps'] / 100:.1f}%), above the declared synthetic share of "
                f"{declared_bps / 100:.1f}%.",
            }
        )
    if heuristic["share_bps"] - declared_bps >= MISMATCH_HEURISTIC_BPS:
        flags.append(
            {
                "code": "synthetic_heuristic",
                "severity": "medium",
                "message": f"{heuristic['share_bps'] / 100:.1f}% of the records read like "
                "chat-assistant output (a heuristic, not proof).",
            }
        )
    for overlap in figures["novelty"]["overlaps"]:
        if overlap["share_bps"] >= OVERLAP_FLAG_BPS:
            flags.append(
                {
                    "code": "catalog_overlap",
                    "severity": "high",
                    "message": f"{overlap['share_bps'] / 100:.1f}% of these records already "
                    f"appear in “{overlap['dataset_title']}” by {overlap['organization']}: a "
                    "possible re-listed copy, check the rights.",
                }
            )
    personal = figures["personal_data"]
    if personal["records_with_hits"]:
        flags.append(
            {
                "code": "personal_data",
                "severity": "high",
                "message": f"{personal['records_with_hits']} record(s) contain what looks like "
                "personal data (e-mail, phone, card or IBAN).",
            }
        )
    near = figures["near_duplicates"]
    worst = max(near["records"]["rate_bps"], near["images"]["rate_bps"])
    if worst >= 1000:
        flags.append(
            {
                "code": "duplicates",
                "severity": "medium",
                "message": f"{worst / 100:.1f}% of the items are near-duplicates.",
            }
        )
    return flags


def fail_quality(*, version_id: str, run_token: str = "", message: str = "") -> None:
    """Mark a run failed once its task gave up, where the creator and reviewer see it."""
    QualityReport.objects.filter(
        pk=version_id, run_token=run_token, state__in=QualityReport.ACTIVE_STATES
    ).update(
        state=QualityReport.State.FAILED,
        errors=[{"path": "", "message": message or "Measuring stopped on an unexpected error."}],
        finished_at=timezone.now(),
    )
