"""Use cases of provenance: datasets, versions, files, declarations and submission.

Uploads live in `provenance.uploads`, ingest in `provenance.ingest` and the ledger in
`provenance.ledger`; the names other apps use are re-exported here.
"""

import logging
import os
import re
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from accounts.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from accounts.models import Organization, User
from provenance import storage
from provenance.ingest import ingest_version, start_ingest
from provenance.inspection import FileInspector
from provenance.ledger import LedgerVerification, record_event, verify_ledger
from provenance.models import (
    DataFile,
    Dataset,
    DatasetVersion,
    EvidenceDocument,
    IngestProgress,
    ProvenanceDeclaration,
    UploadedArchive,
    UploadSession,
)
from provenance.paths import normalize_member_path
from provenance.reviews import approve_version, decide_version
from provenance.selectors import submission_problems

__all__ = [
    "LedgerVerification",
    "add_evidence",
    "add_file",
    "approve_version",
    "create_dataset",
    "create_version",
    "decide_version",
    "delete_file",
    "ingest_version",
    "normalize_member_path",
    "record_event",
    "remove_archive",
    "remove_evidence",
    "start_ingest",
    "submit_version",
    "update_dataset",
    "update_declaration",
    "update_version_notes",
    "verify_ledger",
]

logger = logging.getLogger(__name__)

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
MAX_TAGS = 20


# --- Datasets and versions ---------------------------------------------------------------


def _unique_dataset_slug(title: str) -> str:
    base = slugify(title)[:70] or "dataset"
    slug, counter = base, 2
    while Dataset.objects.filter(slug=slug).exists():
        slug = f"{base}-{counter}"
        counter += 1
    return slug


def _clean_languages(languages) -> list[str]:
    codes = sorted({str(code).strip().lower() for code in languages or [] if str(code).strip()})
    bad = [code for code in codes if not _LANGUAGE_CODE.match(code)]
    if bad:
        raise InvalidInput(
            f"{bad[0]!r} is not a language code; use ISO 639-1 codes such as en or cy.",
            errors={"languages": [f"{code!r} is not an ISO 639 language code." for code in bad]},
        )
    return codes


def _clean_tags(tags) -> list[str]:
    cleaned = sorted({str(tag).strip().lower() for tag in tags or [] if str(tag).strip()})
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(
            f"Use at most {MAX_TAGS} tags.", errors={"tags": [f"At most {MAX_TAGS} tags."]}
        )
    if any(len(tag) > 40 for tag in cleaned):
        raise InvalidInput(
            "Tags are at most 40 characters long.", errors={"tags": ["At most 40 characters."]}
        )
    return cleaned


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise InvalidInput(
            "A dataset needs a title.", errors={"title": ["This field is required."]}
        )
    if len(title) > 200:
        raise InvalidInput(
            "The title is longer than 200 characters.",
            errors={"title": ["At most 200 characters."]},
        )
    return title


def _clean_modality(modality: str) -> str:
    if modality not in Dataset.Modality.values:
        raise InvalidInput(
            f"Unknown modality {modality!r}.", errors={"modality": ["Choose a listed modality."]}
        )
    return modality


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

    Raises InvalidInput for an empty title, an unknown modality or a bad language code, and
    PermissionDenied for a buyer-only organization. Writes `dataset.created` to the ledger.
    """
    now = now or timezone.now()
    if not organization.is_creator:
        raise PermissionDenied(
            "Only creator organizations can register datasets.", code="not_a_creator"
        )
    title = _clean_title(title)
    modality = _clean_modality(modality)
    summary = (summary or "").strip()
    if len(summary) > 300:
        raise InvalidInput(
            "The summary is longer than 300 characters.",
            errors={"summary": ["At most 300 characters."]},
        )
    languages, tags = _clean_languages(languages), _clean_tags(tags)
    with transaction.atomic():
        dataset = Dataset.objects.create(
            organization=organization,
            slug=slug or _unique_dataset_slug(title),
            title=title,
            summary=summary,
            description=description or "",
            modality=modality,
            languages=languages,
            tags=tags,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        version = DatasetVersion.objects.create(dataset=dataset, number=1, created_at=now)
        ProvenanceDeclaration.objects.create(version=version)
        IngestProgress.objects.create(version=version)
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


DATASET_FIELDS = ("title", "summary", "description", "modality", "languages", "tags")


def update_dataset(
    *, actor: User, dataset: Dataset, changes: dict, now: datetime | None = None
) -> Dataset:
    """Change a dataset's title, summary, description, modality, languages or tags.

    These describe the dataset, not a version's content, so they may change at any time.
    Raises InvalidInput naming the bad field. Writes `dataset.changed` with the changed names.
    """
    now = now or timezone.now()
    unknown = set(changes) - set(DATASET_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown dataset fields: {', '.join(sorted(unknown))}.")
    cleaners = {
        "title": _clean_title,
        "modality": _clean_modality,
        "languages": _clean_languages,
        "tags": _clean_tags,
        "summary": lambda value: (value or "").strip(),
        "description": lambda value: value or "",
    }
    cleaned = {name: cleaners[name](value) for name, value in changes.items()}
    if len(cleaned.get("summary", "")) > 300:
        raise InvalidInput(
            "The summary is longer than 300 characters.",
            errors={"summary": ["At most 300 characters."]},
        )
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        changed = sorted(name for name, value in cleaned.items() if getattr(dataset, name) != value)
        if not changed:
            return dataset
        for name in changed:
            setattr(dataset, name, cleaned[name])
        dataset.updated_at = now
        dataset.save(update_fields=[*changed, "updated_at"])
        record_event(
            action="dataset.changed",
            subject_type="dataset",
            subject_id=dataset.pk,
            actor=actor,
            organization=dataset.organization,
            payload={"fields": changed},
            now=now,
        )
    return dataset


OPEN_STATUSES = (
    DatasetVersion.Status.DRAFT,
    DatasetVersion.Status.PROCESSING,
    DatasetVersion.Status.SUBMITTED,
)


def create_version(
    *,
    actor: User,
    dataset: Dataset,
    based_on: DatasetVersion | None = None,
    notes: str = "",
    now: datetime | None = None,
) -> DatasetVersion:
    """Start a new draft version, empty or from an approved version of the same dataset.

    Files of `based_on` are carried over by reference: the new rows share the approved
    version's blobs and measurements, nothing is copied or read again. Its declaration, evidence
    and lineage are carried over too, to be edited. Raises Conflict while another version of the
    dataset is still a draft, processing or in review, or when `based_on` is not approved.
    Writes `version.created`.
    """
    now = now or timezone.now()
    if based_on is not None and based_on.dataset_id != dataset.pk:
        raise NotFound("No such version in this dataset.")
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        open_version = dataset.versions.filter(status__in=OPEN_STATUSES).first()
        if open_version is not None:
            raise Conflict(
                f"Version {open_version.number} is still open "
                f"({open_version.get_status_display().lower()}): finish it before starting another."
            )
        if based_on is not None:
            based_on = DatasetVersion.objects.get(pk=based_on.pk)
            if based_on.status != DatasetVersion.Status.APPROVED:
                raise Conflict("A new version can only start from an approved version.")
        number = (dataset.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        version = DatasetVersion.objects.create(
            dataset=dataset, number=number, based_on=based_on, notes=notes, created_at=now
        )
        declaration = ProvenanceDeclaration.objects.create(version=version)
        IngestProgress.objects.create(version=version)
        carried = 0
        if based_on is not None:
            DataFile.objects.bulk_create(
                [
                    DataFile(
                        version=version,
                        path=old.path,
                        storage_name=old.storage_name,
                        size_bytes=old.size_bytes,
                        sha256=old.sha256,
                        media_type=old.media_type,
                        record_count=old.record_count,
                        created_at=now,
                        ingested_at=old.ingested_at,
                    )
                    for old in based_on.files.all().iterator(chunk_size=2000)
                ],
                batch_size=1000,
            )
            carried = version.files.count()
            _copy_declaration(source=based_on, target=declaration, now=now)
            # Same files, same measurements: the version is processed already, with the same
            # root, until its files change.
            version.merkle_root = based_on.merkle_root
            version.file_count = based_on.file_count
            version.total_bytes = based_on.total_bytes
            version.total_records = based_on.total_records
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
            IngestProgress.objects.filter(version=version).update(
                state=IngestProgress.State.DONE,
                files_total=carried,
                files_done=carried,
                finished_at=now,
            )
        record_event(
            action="version.created",
            subject_type="dataset_version",
            subject_id=version.pk,
            actor=actor,
            organization=dataset.organization,
            payload={
                "dataset": dataset.pk,
                "number": number,
                "based_on": based_on.pk if based_on else None,
                "files_carried_over": carried,
                "merkle_root": version.merkle_root,
            },
            now=now,
        )
    return version


def update_version_notes(
    *, actor: User, version: DatasetVersion, notes: str, now: datetime | None = None
) -> DatasetVersion:
    """Change what a draft says changed in it (Markdown, shown to reviewers and buyers).

    Raises Conflict once the version is in review or decided. Writes `version.changed`.
    """
    now = now or timezone.now()
    notes = (notes or "").strip()
    if len(notes) > 10_000:
        raise InvalidInput(
            "The notes are longer than 10,000 characters.",
            errors={"notes": ["At most 10,000 characters."]},
        )
    with transaction.atomic():
        version = _lock_editable_declaration(version)
        if version.notes == notes:
            return version
        version.notes = notes
        version.save(update_fields=["notes"])
        record_event(
            action="version.changed",
            subject_type="dataset_version",
            subject_id=version.pk,
            actor=actor,
            organization=version.dataset.organization,
            payload={"fields": ["notes"]},
            now=now,
        )
    return version


def _copy_declaration(*, source: DatasetVersion, target: ProvenanceDeclaration, now) -> None:
    old = ProvenanceDeclaration.objects.filter(version=source).first()
    if old is None:
        return
    for name in DECLARATION_FIELDS:
        setattr(target, name, getattr(old, name))
    target.updated_at = now
    target.save()
    target.parents.set(old.parents.all())
    EvidenceDocument.objects.bulk_create(
        [
            EvidenceDocument(
                declaration=target,
                title=evidence.title,
                storage_name=evidence.storage_name,
                size_bytes=evidence.size_bytes,
                sha256=evidence.sha256,
                media_type=evidence.media_type,
                uploaded_at=evidence.uploaded_at,
            )
            for evidence in old.evidence.all()
        ]
    )


def lock_draft(version: DatasetVersion, what: str) -> DatasetVersion:
    """Re-read the version under a lock; raise Conflict naming `what` unless it is a draft.

    For use inside a transaction by the use cases that change a draft's files.
    """
    version = (
        DatasetVersion.objects.select_for_update()
        .select_related("dataset__organization")
        .get(pk=version.pk)
    )
    if version.status == DatasetVersion.Status.PROCESSING:
        raise Conflict(f"{what} waits until processing has finished.")
    if version.status != DatasetVersion.Status.DRAFT:
        raise Conflict(
            f"{what} is only possible on a draft; this version is "
            f"{version.get_status_display().lower()}."
        )
    return version


def mark_files_changed(*, version: DatasetVersion) -> None:
    """The version's files changed: its root is void until ingest runs again.

    Call inside the transaction of the change, with the version locked.
    """
    DatasetVersion.objects.filter(pk=version.pk).update(merkle_root="", ingested_at=None)
    version.merkle_root, version.ingested_at = "", None
    IngestProgress.objects.update_or_create(
        version=version,
        defaults={"state": IngestProgress.State.IDLE, "errors": [], "current_path": ""},
    )


def check_path_free(*, version: DatasetVersion, path: str, except_upload=None) -> None:
    """Raise Conflict when a file, or an upload under way, already has this path."""
    if DataFile.objects.filter(version=version, path=path).exists():
        raise Conflict(
            f"The version already has a file at {path}.",
            errors={"path": [f"{path} is already a file of this version."]},
        )
    uploads = UploadSession.objects.filter(
        version=version, path=path, state=UploadSession.State.OPEN
    )
    if except_upload is not None:
        uploads = uploads.exclude(pk=except_upload.pk)
    if uploads.exists():
        raise Conflict(
            f"An upload to {path} is already under way.",
            errors={"path": [f"An upload to {path} is already under way."]},
        )


def add_file(
    *,
    actor: User,
    version: DatasetVersion,
    path: str,
    content,
    expected_sha256: str = "",
    now: datetime | None = None,
) -> DataFile:
    """Store `content` (a file object) as `path` in a draft version; ingest measures it later.

    `expected_sha256`, when given, is checked by ingest. Raises InvalidInput for an unsafe path
    or a malformed hash, Conflict when the version is not a draft or the path is taken.
    Writes `version.file_added`.
    """
    now = now or timezone.now()
    path = normalize_member_path(path)
    expected_sha256 = clean_sha256(expected_sha256)
    version = DatasetVersion.objects.select_related("dataset__organization").get(pk=version.pk)
    if version.status != DatasetVersion.Status.DRAFT:
        raise Conflict("Files can only be added to a draft version.")
    check_path_free(version=version, path=path)
    size = getattr(content, "size", None) or 0
    if size > settings.UPLOAD_MAX_FILE_BYTES:
        raise InvalidInput(
            f"{path} is larger than the {settings.UPLOAD_MAX_FILE_BYTES:,} bytes a file may have."
        )
    # The blob is written before the row (no network I/O inside a transaction) and deleted
    # again if the row cannot be written.
    storage_name = default_storage.save(
        f"datasets/{version.dataset_id}/{version.pk}/{path}", content
    )
    try:
        with transaction.atomic():
            version = lock_draft(version, "Adding files")
            check_path_free(version=version, path=path)
            data_file = DataFile.objects.create(
                version=version,
                path=path,
                storage_name=storage_name,
                size_bytes=size,
                expected_sha256=expected_sha256,
                created_at=now,
            )
            mark_files_changed(version=version)
            record_event(
                action="version.file_added",
                subject_type="dataset_version",
                subject_id=version.pk,
                actor=actor,
                organization=version.dataset.organization,
                payload={"path": path, "file": data_file.pk},
                now=now,
            )
    except IntegrityError as error:
        storage.delete_blob(storage_name)
        raise Conflict(
            f"The version already has a file at {path}.", errors={"path": ["Already taken."]}
        ) from error
    except Exception:
        # Nothing may be left behind when the row could not be written.
        storage.delete_blob(storage_name)
        raise
    return data_file


def clean_sha256(value: str) -> str:
    value = (value or "").strip().lower()
    if value and not re.fullmatch(r"[0-9a-f]{64}", value):
        raise InvalidInput(
            "A SHA-256 is 64 hexadecimal digits.",
            errors={"sha256": ["A SHA-256 is 64 hexadecimal digits."]},
        )
    return value


def delete_file(*, actor: User, data_file: DataFile, now: datetime | None = None) -> None:
    """Remove a file from a draft version.

    Its blob is deleted after the commit unless another row still refers to it (a file carried
    over from an approved version keeps that version's bytes). Raises Conflict when the version
    is not a draft. Writes `version.file_removed`.
    """
    now = now or timezone.now()
    with transaction.atomic():
        version = lock_draft(data_file.version, "Removing files")
        data_file = DataFile.objects.filter(pk=data_file.pk, version=version).first()
        if data_file is None:
            raise NotFound("No such file.")
        path, storage_name = data_file.path, data_file.storage_name
        data_file.delete()
        mark_files_changed(version=version)
        record_event(
            action="version.file_removed",
            subject_type="dataset_version",
            subject_id=version.pk,
            actor=actor,
            organization=version.dataset.organization,
            payload={"path": path},
            now=now,
        )
        storage.delete_unreferenced_on_commit([storage_name])


def remove_archive(*, actor: User, archive: UploadedArchive, now: datetime | None = None) -> None:
    """Take a pending or rejected archive off a draft version (an expanded one is history).

    Raises Conflict for an expanded archive or a version that is not a draft.
    """
    with transaction.atomic():
        version = lock_draft(archive.version, "Removing archives")
        archive = UploadedArchive.objects.filter(pk=archive.pk, version=version).first()
        if archive is None:
            raise NotFound("No such archive.")
        if archive.state == UploadedArchive.State.EXPANDED:
            raise Conflict("This archive is expanded already: remove its files instead.")
        storage_name = archive.storage_name
        archive.delete()
        mark_files_changed(version=version)
        storage.delete_unreferenced_on_commit([storage_name])


def submit_version(
    *, actor: User, version: DatasetVersion, now: datetime | None = None
) -> DatasetVersion:
    """Send a draft version to the review queue.

    Needs at least one file, a finished ingest without errors and a complete declaration
    (`selectors.submission_problems` lists what is missing); raises Conflict naming each.
    Writes `version.submitted`.
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
        problems = submission_problems(version=version)
        if problems:
            raise Conflict(
                " ".join(problem.message for problem in problems),
                errors={problem.field: [problem.message] for problem in problems},
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
            payload={"merkle_root": version.merkle_root, "file_count": version.file_count},
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


EDITABLE_STATUSES = (DatasetVersion.Status.DRAFT, DatasetVersion.Status.PROCESSING)


def _lock_editable_declaration(version: DatasetVersion) -> DatasetVersion:
    # The declaration is about where the data came from, not the bytes: a creator may fill it
    # in while ingest runs.
    version = (
        DatasetVersion.objects.select_for_update()
        .select_related("dataset__organization")
        .get(pk=version.pk)
    )
    if version.status not in EDITABLE_STATUSES:
        raise Conflict(
            "Only a draft version's declaration can change; this version is "
            f"{version.get_status_display().lower()}."
        )
    return version


def _declaration_rules(declaration: ProvenanceDeclaration, now: datetime) -> dict:
    """Field problems beyond the model's own validation, each said specifically."""
    errors: dict[str, list[str]] = {}
    if declaration.source_url and not declaration.source_url.lower().startswith(
        ("https://", "http://")
    ):
        errors["source_url"] = ["The source URL must start with https:// or http://."]
    today = now.date()
    for name in ("collection_started_on", "collection_ended_on"):
        value = getattr(declaration, name)
        if value and value > today:
            errors[name] = ["The collection period cannot lie in the future."]
    if (
        declaration.opt_out_status == ProvenanceDeclaration.OptOutStatus.HONOURED
        and not declaration.opt_out_notes.strip()
    ):
        errors["opt_out_notes"] = [
            "Say which reservations were found and how their content was excluded."
        ]
    return errors


def update_declaration(
    *,
    actor: User,
    version: DatasetVersion,
    changes: dict,
    parents: list[DatasetVersion] | None = None,
    now: datetime | None = None,
) -> ProvenanceDeclaration:
    """Change the provenance declaration of a draft (or processing) version.

    `changes` maps DECLARATION_FIELDS to new values; `parents`, when given, replaces the
    lineage with these approved versions. Raises Conflict when the version is in review or
    frozen, InvalidInput naming each invalid field. Writes `declaration.changed` with the names
    of the changed fields.
    """
    now = now or timezone.now()
    unknown = set(changes) - set(DECLARATION_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown declaration fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        version = _lock_editable_declaration(version)
        declaration, _ = ProvenanceDeclaration.objects.get_or_create(version=version)
        changed = sorted(
            name for name, value in changes.items() if getattr(declaration, name) != value
        )
        for name in changed:
            setattr(declaration, name, changes[name])
        declaration.updated_at = now
        errors = {}
        try:
            declaration.full_clean(exclude=["version"])
        except ValidationError as error:
            errors = error.message_dict
        for name, messages in _declaration_rules(declaration, now).items():
            errors.setdefault(name, []).extend(messages)
        if errors:
            first = next(iter(errors.values()))[0]
            raise InvalidInput(first, errors=errors)
        declaration.save()
        if parents is not None:
            parent_ids = sorted({parent.pk for parent in parents})
            if version.pk in parent_ids:
                raise InvalidInput(
                    "A version cannot derive from itself.",
                    errors={"parents": ["A version cannot derive from itself."]},
                )
            approved = set(
                DatasetVersion.objects.filter(
                    pk__in=parent_ids, status=DatasetVersion.Status.APPROVED
                ).values_list("pk", flat=True)
            )
            missing = [pk for pk in parent_ids if pk not in approved]
            if missing:
                raise InvalidInput(
                    "Parents must be approved versions.",
                    errors={"parents": [f"{pk} is not an approved version." for pk in missing]},
                )
            current = sorted(declaration.parents.values_list("pk", flat=True))
            if current != parent_ids:
                declaration.parents.set(parent_ids)
                changed.append("parents")
        if changed:
            record_event(
                action="declaration.changed",
                subject_type="dataset_version",
                subject_id=version.pk,
                actor=actor,
                organization=version.dataset.organization,
                payload={"fields": sorted(changed)},
                now=now,
            )
    return declaration


def add_evidence(
    *, actor: User, version: DatasetVersion, title: str, content, now: datetime | None = None
) -> EvidenceDocument:
    """Attach a document (contract, consent form, licence) to the version's declaration.

    Hashed while it is stored, in one pass. Raises InvalidInput for a missing title, an empty
    or too large document, Conflict when the declaration cannot change. Writes
    `declaration.changed` naming the document and its SHA-256.
    """
    now = now or timezone.now()
    title = (title or "").strip() or getattr(content, "name", "") or ""
    if not title:
        raise InvalidInput(
            "Give the document a title.", errors={"title": ["This field is required."]}
        )
    size = getattr(content, "size", None)
    if size is not None and size > settings.EVIDENCE_MAX_BYTES:
        raise InvalidInput(
            f"Evidence documents are at most {settings.EVIDENCE_MAX_BYTES // (1024 * 1024)} MB.",
            errors={"file": ["This document is too large."]},
        )
    with transaction.atomic():
        version = _lock_editable_declaration(version)
    inspector = FileInspector()
    source = storage.TeeReader(content, inspector.update)
    extension = re.sub(r"[^a-z0-9.]", "", os.path.splitext(getattr(content, "name", ""))[1].lower())
    blob_name = f"{slugify(title)[:60] or 'document'}{extension[:10]}"
    storage_name = default_storage.save(
        f"evidence/{version.dataset_id}/{version.pk}/{blob_name}", File(source, name=blob_name)
    )
    facts = inspector.finish()
    if not facts.size_bytes:
        storage.delete_blob(storage_name)
        raise InvalidInput("The document is empty.", errors={"file": ["The document is empty."]})
    try:
        with transaction.atomic():
            version = _lock_editable_declaration(version)
            declaration, _ = ProvenanceDeclaration.objects.get_or_create(version=version)
            evidence = EvidenceDocument.objects.create(
                declaration=declaration,
                title=title[:200],
                storage_name=storage_name,
                size_bytes=facts.size_bytes,
                sha256=facts.sha256,
                media_type=facts.media_type,
                uploaded_at=now,
            )
            record_event(
                action="declaration.changed",
                subject_type="dataset_version",
                subject_id=version.pk,
                actor=actor,
                organization=version.dataset.organization,
                payload={
                    "fields": ["evidence"],
                    "evidence_added": {"id": evidence.pk, "title": evidence.title},
                    "sha256": facts.sha256,
                },
                now=now,
            )
    except Exception:
        storage.delete_blob(storage_name)
        raise
    return evidence


def remove_evidence(
    *, actor: User, evidence: EvidenceDocument, now: datetime | None = None
) -> None:
    """Detach an evidence document from a draft's declaration; its blob goes when unreferenced.

    Writes `declaration.changed`.
    """
    now = now or timezone.now()
    with transaction.atomic():
        version = _lock_editable_declaration(evidence.declaration.version)
        evidence = EvidenceDocument.objects.filter(
            pk=evidence.pk, declaration__version=version
        ).first()
        if evidence is None:
            raise NotFound("No such document.")
        storage_name = evidence.storage_name
        evidence.delete()
        record_event(
            action="declaration.changed",
            subject_type="dataset_version",
            subject_id=version.pk,
            actor=actor,
            organization=version.dataset.organization,
            payload={"fields": ["evidence"], "evidence_removed": {"title": evidence.title}},
            now=now,
        )
        storage.delete_unreferenced_on_commit([storage_name])
