"""Use cases of provenance: datasets, versions, files, ingest and the ledger."""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import Organization, User
from provenance.inspection import inspect_stream
from provenance.merkle import merkle_root
from provenance.models import (
    GENESIS_HASH,
    DataFile,
    Dataset,
    DatasetVersion,
    LedgerEntry,
    LedgerHead,
    ProvenanceDeclaration,
)

logger = logging.getLogger(__name__)


# --- Ledger ------------------------------------------------------------------------------


def record_event(
    *,
    action: str,
    subject_type: str,
    subject_id: str,
    actor: User | None = None,
    organization: Organization | None = None,
    payload: dict | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Append an entry to the ledger, chained to the one before it.

    Call it inside the transaction of the state change it records, so that both commit or
    neither does. It locks the ledger head: appends are serialized across the whole platform.
    """
    with transaction.atomic():
        head = LedgerHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            LedgerHead.objects.get_or_create(pk=1)
            head = LedgerHead.objects.select_for_update().get(pk=1)
        entry = LedgerEntry(
            seq=head.seq + 1,
            created_at=now or timezone.now(),
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            organization=organization,
            actor=actor if actor is not None and actor.is_authenticated else None,
            actor_label=actor.email
            if actor is not None and actor.is_authenticated
            else "wellspring",
            payload=payload or {},
            prev_hash=head.entry_hash,
        )
        entry.entry_hash = entry.compute_hash()
        entry.save(force_insert=True)
        head.seq = entry.seq
        head.entry_hash = entry.entry_hash
        head.save(update_fields=["seq", "entry_hash"])
    return entry


@dataclass(frozen=True)
class LedgerVerification:
    entries_checked: int
    first_broken_seq: int | None = None
    reason: str = ""

    @property
    def is_intact(self) -> bool:
        return self.first_broken_seq is None


def verify_ledger() -> LedgerVerification:
    """Recompute the whole chain; report the first entry whose hash or link does not hold.

    Reads only. An entry edited in place fails its own hash; a removed or reordered entry
    breaks the next entry's link; a removed last entry no longer matches the ledger head.
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in LedgerEntry.objects.order_by("seq").iterator(chunk_size=2000):
        checked += 1
        if entry.seq != expected_seq:
            return LedgerVerification(
                checked, entry.seq, f"expected entry #{expected_seq}, found #{entry.seq}"
            )
        if entry.prev_hash != expected_prev:
            return LedgerVerification(
                checked, entry.seq, "its link to the previous entry does not match"
            )
        if entry.compute_hash() != entry.entry_hash:
            return LedgerVerification(checked, entry.seq, "its content does not match its hash")
        expected_prev = entry.entry_hash
        expected_seq += 1
    head = LedgerHead.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.entry_hash) != (expected_seq - 1, expected_prev):
        return LedgerVerification(
            checked, head.seq, "the ledger head names an entry that is missing or changed"
        )
    return LedgerVerification(checked)


# --- Datasets and versions ---------------------------------------------------------------


def _unique_dataset_slug(title: str) -> str:
    base = slugify(title)[:70] or "dataset"
    slug, counter = base, 2
    while Dataset.objects.filter(slug=slug).exists():
        slug = f"{base}-{counter}"
        counter += 1
    return slug


def create_dataset(
    *,
    actor: User,
    organization: Organization,
    title: str,
    modality: str,
    summary: str = "",
    description: str = "",
    languages: list[str] | None = None,
    tags: list[str] | None = None,
    slug: str | None = None,
    now: datetime | None = None,
) -> Dataset:
    """Create a dataset with its first, empty draft version. Creator organizations only.

    Raises InvalidInput for an empty title, an unknown modality or a buyer-only organization.
    Writes `dataset.created` to the ledger.
    """
    now = now or timezone.now()
    if not organization.is_creator:
        raise InvalidInput("Only creator organizations can register datasets.")
    title = title.strip()
    if not title:
        raise InvalidInput(
            "A dataset needs a title.", errors={"title": ["This field is required."]}
        )
    if modality not in Dataset.Modality.values:
        raise InvalidInput(
            f"Unknown modality {modality!r}.", errors={"modality": ["Choose a listed modality."]}
        )
    with transaction.atomic():
        dataset = Dataset.objects.create(
            organization=organization,
            slug=slug or _unique_dataset_slug(title),
            title=title,
            summary=summary.strip(),
            description=description,
            modality=modality,
            languages=sorted({code.strip().lower() for code in languages or [] if code.strip()}),
            tags=sorted({tag.strip().lower() for tag in tags or [] if tag.strip()}),
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        version = DatasetVersion.objects.create(dataset=dataset, number=1, created_at=now)
        ProvenanceDeclaration.objects.create(version=version)
        record_event(
            action="dataset.created",
            subject_type="dataset",
            subject_id=dataset.pk,
            actor=actor,
            organization=organization,
            payload={"title": dataset.title, "slug": dataset.slug, "first_version": version.pk},
            now=now,
        )
    return dataset


def add_file(
    *, actor: User, version: DatasetVersion, path: str, content, now: datetime | None = None
) -> DataFile:
    """Store `content` (a file object) as `path` in a draft version; ingest measures it later.

    Raises InvalidInput for an unsafe path, Conflict when the version is not a draft or the path
    is taken.
    """
    now = now or timezone.now()
    path = normalize_member_path(path)
    if version.status != DatasetVersion.Status.DRAFT:
        raise Conflict("Files can only be added to a draft version.")
    if version.files.filter(path=path).exists():
        raise Conflict(
            f"The version already has a file at {path}.", errors={"path": ["Already taken."]}
        )
    storage_name = default_storage.save(
        f"datasets/{version.dataset_id}/{version.pk}/{path}", content
    )
    try:
        with transaction.atomic():
            data_file = DataFile.objects.create(
                version=version, path=path, storage_name=storage_name, created_at=now
            )
            record_event(
                action="version.file_added",
                subject_type="dataset_version",
                subject_id=version.pk,
                actor=actor,
                organization=version.dataset.organization,
                payload={"path": path},
                now=now,
            )
    except Exception:
        # Nothing may be left behind when the row could not be written.
        default_storage.delete(storage_name)
        raise
    return data_file


def normalize_member_path(path: str) -> str:
    """A safe relative POSIX path, or InvalidInput saying what is wrong with it."""
    raw = path.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise InvalidInput(f"{path!r} is an absolute path; only relative paths are allowed.")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if not parts:
        raise InvalidInput("A file needs a name.")
    if any(part == ".." for part in parts):
        raise InvalidInput(f"{path!r} climbs out of the dataset with '..'.")
    if any(ord(char) < 32 for char in raw):
        raise InvalidInput(f"{path!r} contains control characters.")
    normalized = "/".join(parts)
    if len(normalized) > 1024:
        raise InvalidInput("The path is longer than 1024 characters.")
    return normalized


def ingest_version(*, version_id: str, now: datetime | None = None) -> DatasetVersion:
    """Measure every file of a version once (hash, size, media type, records), then its Merkle root.

    Safe to run again: measured files are skipped, and the totals and root are recomputed from
    the rows, so a rerun after a crash gives the same result. Writes `version.ingested`.
    """
    now = now or timezone.now()
    version = (
        DatasetVersion.objects.select_related("dataset__organization").filter(pk=version_id).first()
    )
    if version is None:
        raise NotFound("No such version.")
    if version.is_frozen:
        raise Conflict("An approved version has been measured already and cannot change.")
    for data_file in version.files.filter(ingested_at__isnull=True).order_by("path"):
        with default_storage.open(data_file.storage_name, "rb") as stream:
            facts = inspect_stream(stream)
        DataFile.objects.filter(pk=data_file.pk, ingested_at__isnull=True).update(
            size_bytes=facts.size_bytes,
            sha256=facts.sha256,
            media_type=facts.media_type,
            record_count=facts.record_count,
            ingested_at=now,
        )
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().get(pk=version.pk)
        rows = list(version.files.values_list("path", "sha256", "size_bytes", "record_count"))
        root = merkle_root((path, digest) for path, digest, _, _ in rows)
        records = [count for *_, count in rows if count is not None]
        version.merkle_root = root
        version.file_count = len(rows)
        version.total_bytes = sum(size for _, _, size, _ in rows)
        version.total_records = sum(records) if records else None
        version.ingested_at = now
        version.save(
            update_fields=[
                "merkle_root",
                "file_count",
                "total_bytes",
                "total_records",
                "ingested_at",
            ]
        )
        record_event(
            action="version.ingested",
            subject_type="dataset_version",
            subject_id=version.pk,
            organization=version.dataset.organization,
            payload={
                "merkle_root": root,
                "file_count": len(rows),
                "total_bytes": version.total_bytes,
            },
            now=now,
        )
    logger.info("version %s ingested: %d files, root %s", version.pk, len(rows), root)
    return version


def submit_version(
    *, actor: User, version: DatasetVersion, now: datetime | None = None
) -> DatasetVersion:
    """Send a draft version to the review queue.

    Needs at least one file, a finished ingest and a complete declaration; raises Conflict
    naming what is missing. Writes `version.submitted`.
    """
    now = now or timezone.now()
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update()
            .select_related("dataset__organization")
            .get(pk=version.pk)
        )
        if version.status != DatasetVersion.Status.DRAFT:
            raise Conflict(
                f"Only a draft can be submitted; this version is {version.get_status_display().lower()}."
            )
        if not version.files.exists():
            raise Conflict("Add at least one file before submitting.")
        if version.files.filter(ingested_at__isnull=True).exists() or not version.ingested_at:
            raise Conflict("Wait until every file is processed before submitting.")
        declaration = ProvenanceDeclaration.objects.filter(version=version).first()
        missing = declaration.missing_fields() if declaration else ["declaration"]
        if missing:
            raise Conflict(
                "Complete the provenance declaration first: "
                + ", ".join(m.replace("_", " ") for m in missing)
                + ".",
                errors={name: ["Required before submitting."] for name in missing},
            )
        version.status = DatasetVersion.Status.SUBMITTED
        version.submitted_at = now
        version.save(update_fields=["status", "submitted_at"])
        record_event(
            action="version.submitted",
            subject_type="dataset_version",
            subject_id=version.pk,
            actor=actor,
            organization=version.dataset.organization,
            payload={"merkle_root": version.merkle_root},
            now=now,
        )
    return version


def approve_version(
    *, actor: User, version: DatasetVersion, reason: str, now: datetime | None = None
) -> DatasetVersion:
    """Approve a submitted version, which freezes it. Staff only.

    Raises Conflict when the version is not waiting for review (another reviewer decided it
    first). Writes `version.approved`; publishing the listing is the marketplace's part.
    """
    now = now or timezone.now()
    if not actor.is_staff:
        raise NotFound("No such version.")
    with transaction.atomic():
        # A conditional update claims the decision: of two reviewers acting at once, one wins.
        updated = DatasetVersion.objects.filter(
            pk=version.pk, status=DatasetVersion.Status.SUBMITTED
        ).update(status=DatasetVersion.Status.APPROVED, approved_at=now)
        if updated != 1:
            raise Conflict("This version is no longer waiting for review.")
        version = DatasetVersion.objects.select_related("dataset__organization").get(pk=version.pk)
        record_event(
            action="version.approved",
            subject_type="dataset_version",
            subject_id=version.pk,
            actor=actor,
            organization=version.dataset.organization,
            payload={"reason": reason, "merkle_root": version.merkle_root},
            now=now,
        )
    return version


DECLARATION_FIELDS = (
    "source_url",
    "source_description",
    "collection_method",
    "collection_started_on",
    "collection_ended_on",
    "consent_basis",
    "rights_holder",
    "authorship",
    "synthetic_share_bps",
    "opt_out_status",
    "opt_out_notes",
)


def update_declaration(
    *, actor: User, version: DatasetVersion, changes: dict, now: datetime | None = None
) -> ProvenanceDeclaration:
    """Change the provenance declaration of a draft version.

    Raises Conflict when the version is not a draft, InvalidInput naming each invalid field.
    Writes `declaration.changed` with the names of the changed fields.
    """
    now = now or timezone.now()
    unknown = set(changes) - set(DECLARATION_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown declaration fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update()
            .select_related("dataset__organization")
            .get(pk=version.pk)
        )
        if version.status != DatasetVersion.Status.DRAFT:
            raise Conflict("Only a draft version's declaration can change.")
        declaration, _ = ProvenanceDeclaration.objects.get_or_create(version=version)
        changed = sorted(
            name for name, value in changes.items() if getattr(declaration, name) != value
        )
        for name in changed:
            setattr(declaration, name, changes[name])
        declaration.updated_at = now
        try:
            declaration.full_clean(exclude=["version"])
        except ValidationError as error:
            errors = error.message_dict
            raise InvalidInput(next(iter(errors.values()))[0], errors=errors) from error
        declaration.save()
        if changed:
            record_event(
                action="declaration.changed",
                subject_type="dataset_version",
                subject_id=version.pk,
                actor=actor,
                organization=version.dataset.organization,
                payload={"fields": changed},
                now=now,
            )
    return declaration
