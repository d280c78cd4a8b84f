import hashlib
import json
from datetime import UTC

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from django.utils import timezone

from accounts.errors import Conflict
from accounts.ids import PublicIdField
from accounts.models import Organization


class FrozenVersionError(Conflict):
    code = "version_frozen"
    title = "This version is frozen"


class Dataset(models.Model):
    """A body of data a creator organization offers; its content lives in versions."""

    class Modality(models.TextChoices):
        TEXT = "text", "Text"
        TABULAR = "tabular", "Tabular"
        IMAGE = "image", "Image"
        AUDIO = "audio", "Audio"
        VIDEO = "video", "Video"
        MULTIMODAL = "multimodal", "Multimodal"

    id = PublicIdField(prefix="ds")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="datasets"
    )
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True, help_text="Markdown.")
    modality = models.CharField(max_length=16, choices=Modality.choices)
    languages = models.JSONField(
        default=list, blank=True, help_text="ISO 639-1 codes, e.g. ['en', 'cy']."
    )
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.title


class FrozenGuardQuerySet(models.QuerySet):
    """Bulk `update()` and `delete()` that refuse to touch what an approved version froze.

    `save()` guards single rows; these close the path around it, so a queryset (or
    `bulk_update`, which goes through `update()`) cannot rewrite a frozen version either.
    `frozen_filter` names the lookup from this model to its version's status.
    """

    frozen_lookup = "version__status__in"
    frozen_fields: frozenset[str] | None = None  # None: every field is frozen

    def _frozen_rows(self):
        return self.filter(**{self.frozen_lookup: list(FROZEN_VERSION_STATUSES)})

    def update(self, **kwargs):
        touches_frozen = self.frozen_fields is None or bool(set(kwargs) & self.frozen_fields)
        if touches_frozen and self._frozen_rows().exists():
            raise FrozenVersionError(
                "An approved version is frozen: its files, hashes and declaration cannot change."
            )
        return super().update(**kwargs)

    update.queryset_only = True

    def delete(self):
        if self._frozen_rows().exists():
            raise FrozenVersionError("An approved version and what it froze cannot be deleted.")
        return super().delete()

    delete.queryset_only = True


FROZEN_VERSION_STATUSES = frozenset({"approved", "suspended"})


class DatasetVersionQuerySet(FrozenGuardQuerySet):
    frozen_lookup = "status__in"

    def update(self, **kwargs):
        # Status may move between approved and suspended (a takedown, a reinstatement), never
        # back to an editable state; the frozen facts never move.
        frozen_fields = set(DatasetVersion.FROZEN_FIELDS) | {"based_on", "based_on_id"}
        leaves_frozen = "status" in kwargs and kwargs["status"] not in FROZEN_VERSION_STATUSES
        if (leaves_frozen or set(kwargs) & frozen_fields) and self._frozen_rows().exists():
            raise FrozenVersionError(
                "An approved version is frozen: its files, hashes and state cannot change."
            )
        return models.QuerySet.update(self, **kwargs)

    update.queryset_only = True


class DatasetVersion(models.Model):
    """One fixed set of files with its provenance. Approved versions never change."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PROCESSING = "processing", "Processing"
        SUBMITTED = "submitted", "Submitted for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"

    FROZEN_STATUSES = FROZEN_VERSION_STATUSES
    # What approval freezes. Status, and the dates of later decisions, may still move.
    FROZEN_FIELDS = (
        "dataset_id",
        "number",
        "merkle_root",
        "file_count",
        "total_bytes",
        "total_records",
    )

    id = PublicIdField(prefix="dsv")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    based_on = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="successors",
        help_text="The approved version this one started from.",
    )
    notes = models.TextField(blank=True, help_text="What changed in this version (Markdown).")
    merkle_root = models.CharField(max_length=64, blank=True)
    file_count = models.PositiveIntegerField(default=0)
    total_bytes = models.PositiveBigIntegerField(default=0)
    total_records = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    ingested_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    objects = DatasetVersionQuerySet.as_manager()

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "number"], name="provenance_datasetversion_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded = dict(zip(field_names, values, strict=True))
        return instance

    @property
    def is_frozen(self) -> bool:
        return self.status in self.FROZEN_STATUSES

    def _was_frozen(self) -> bool:
        loaded = getattr(self, "_loaded", None)
        return bool(loaded) and loaded.get("status") in self.FROZEN_STATUSES

    def save(self, *args, **kwargs):
        if self._was_frozen():
            changed = [
                name
                for name in self.FROZEN_FIELDS
                if name in self._loaded and getattr(self, name) != self._loaded[name]
            ]
            if changed:
                raise FrozenVersionError(
                    f"{self} is approved; its {', '.join(changed)} cannot change."
                )
            if not self.is_frozen:
                raise FrozenVersionError(f"{self} is approved; it cannot become editable again.")
        super().save(*args, **kwargs)
        self._loaded = {
            field.attname: getattr(self, field.attname) for field in self._meta.concrete_fields
        }

    def delete(self, *args, **kwargs):
        if self._was_frozen() or self.is_frozen:
            raise FrozenVersionError(f"{self} is approved and cannot be deleted.")
        return super().delete(*args, **kwargs)


def refuse_if_version_frozen(version_id, what: str) -> None:
    """Raise FrozenVersionError when the version, as stored now, is approved or suspended."""
    if version_id is None:
        return
    status = DatasetVersion.objects.filter(pk=version_id).values_list("status", flat=True).first()
    if status in FROZEN_VERSION_STATUSES:
        raise FrozenVersionError(f"The version is approved; {what} cannot change.")


class DataFile(models.Model):
    """A file of a version. `storage_name` may be shared with earlier versions: never copied twice."""

    id = PublicIdField(prefix="df")
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024, help_text="Relative POSIX path inside the version.")
    storage_name = models.CharField(max_length=1024)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    media_type = models.CharField(max_length=127, blank=True)
    record_count = models.PositiveBigIntegerField(null=True, blank=True)
    expected_sha256 = models.CharField(
        max_length=64, blank=True, help_text="The SHA-256 the uploader declared; ingest checks it."
    )
    error = models.CharField(
        max_length=500, blank=True, help_text="Why ingest could not measure this file."
    )
    created_at = models.DateTimeField(default=timezone.now)
    ingested_at = models.DateTimeField(null=True, blank=True)

    objects = FrozenGuardQuerySet.as_manager()

    class Meta:
        ordering = ["version", "path"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "path"], name="provenance_datafile_unique_path"
            ),
        ]

    def __str__(self) -> str:
        return self.path

    def _refuse_if_frozen(self):
        refuse_if_version_frozen(self.version_id, f"its file {self.path}")

    def save(self, *args, **kwargs):
        self._refuse_if_frozen()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_if_frozen()
        return super().delete(*args, **kwargs)


class ProvenanceDeclaration(models.Model):
    """What the creator declares about where a version's data came from and who holds its rights."""

    class ConsentBasis(models.TextChoices):
        OWN_WORK = "own_work", "Our own original work"
        EXPLICIT_CONSENT = "explicit_consent", "Explicit consent of the contributors"
        CONTRACT = "contract", "Commissioned under contract (work for hire)"
        LICENSED_IN = "licensed_in", "Licensed from the rights holder"
        PUBLIC_DOMAIN = "public_domain", "Public domain"
        OTHER = "other", "Other (explained in the evidence)"

    class Authorship(models.TextChoices):
        HUMAN = "human", "Human-made"
        HYBRID = "hybrid", "Hybrid (partly synthetic)"
        SYNTHETIC = "synthetic", "Synthetic"

    class OptOutStatus(models.TextChoices):
        NOT_APPLICABLE = "not_applicable", "Not applicable: no third-party content"
        NONE_FOUND = "none_found", "Checked: no reservation was expressed"
        HONOURED = "honoured", "Reservations were found and their content excluded"

    version = models.OneToOneField(
        DatasetVersion, on_delete=models.CASCADE, related_name="declaration"
    )
    source_url = models.URLField(max_length=500, blank=True)
    source_description = models.TextField(blank=True)
    collection_method = models.TextField(blank=True)
    collection_started_on = models.DateField(null=True, blank=True)
    collection_ended_on = models.DateField(null=True, blank=True)
    consent_basis = models.CharField(max_length=32, choices=ConsentBasis.choices, blank=True)
    rights_holder = models.CharField(max_length=200, blank=True)
    authorship = models.CharField(
        max_length=16, choices=Authorship.choices, default=Authorship.HUMAN
    )
    synthetic_share_bps = models.PositiveIntegerField(
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(10_000)],
        help_text="Share of synthetic content in basis points (10000 = 100%).",
    )
    opt_out_status = models.CharField(max_length=32, choices=OptOutStatus.choices, blank=True)
    opt_out_notes = models.TextField(blank=True)
    parents = models.ManyToManyField(DatasetVersion, blank=True, related_name="derivatives")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = FrozenGuardQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(authorship="human", synthetic_share_bps=0)
                    | models.Q(authorship="synthetic", synthetic_share_bps=10_000)
                    | models.Q(
                        authorship="hybrid",
                        synthetic_share_bps__gt=0,
                        synthetic_share_bps__lt=10_000,
                    )
                ),
                name="provenance_declaration_share_matches_authorship",
                violation_error_message=(
                    # Django formats this message with %: a literal percent sign is doubled.
                    "The synthetic share must be 0%% for human-made data, 100%% for synthetic "
                    "data and between them for hybrid data."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(collection_started_on__isnull=True)
                | models.Q(collection_ended_on__isnull=True)
                | models.Q(collection_started_on__lte=models.F("collection_ended_on")),
                name="provenance_declaration_period_in_order",
                violation_error_message="The collection period must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"Declaration for {self.version}"

    def save(self, *args, **kwargs):
        refuse_if_version_frozen(self.version_id, "its declaration")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        refuse_if_version_frozen(self.version_id, "its declaration")
        return super().delete(*args, **kwargs)

    def missing_fields(self) -> list[str]:
        """The fields a reviewer needs that are still empty."""
        missing = []
        if not (self.source_url or self.source_description):
            missing.append("source")
        for name in ("collection_method", "consent_basis", "rights_holder", "opt_out_status"):
            if not getattr(self, name):
                missing.append(name)
        return missing


class EvidenceDocument(models.Model):
    """A document supporting the declaration: a contract, a consent form, a licence."""

    id = PublicIdField(prefix="ev")
    declaration = models.ForeignKey(
        ProvenanceDeclaration, on_delete=models.CASCADE, related_name="evidence"
    )
    title = models.CharField(max_length=200)
    storage_name = models.CharField(max_length=1024)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    media_type = models.CharField(max_length=127, blank=True)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class EvidenceQuerySet(FrozenGuardQuerySet):
        frozen_lookup = "declaration__version__status__in"

    objects = EvidenceQuerySet.as_manager()

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.title

    def _version_id(self):
        return (
            ProvenanceDeclaration.objects.filter(pk=self.declaration_id)
            .values_list("version_id", flat=True)
            .first()
        )

    def save(self, *args, **kwargs):
        refuse_if_version_frozen(self._version_id(), "its evidence")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        refuse_if_version_frozen(self._version_id(), "its evidence")
        return super().delete(*args, **kwargs)


class UploadSession(models.Model):
    """A resumable upload of one file (or one archive) into a draft version.

    On local storage the client sends the bytes through the app in chunks (`received_bytes` is
    the confirmed offset a dropped connection resumes from); with S3 the browser sends parts
    straight to the bucket with presigned URLs and S3 itself keeps what has arrived.
    """

    class State(models.TextChoices):
        OPEN = "open", "Receiving"
        COMPLETED = "completed", "Completed"
        ABORTED = "aborted", "Aborted"

    class Backend(models.TextChoices):
        CHUNKED = "chunked", "Chunks through Wellspring"
        S3_MULTIPART = "s3_multipart", "Presigned S3 multipart upload"

    id = PublicIdField(prefix="upl")
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="upload_sessions"
    )
    path = models.CharField(max_length=1024, help_text="Where the file goes in the version.")
    size_bytes = models.PositiveBigIntegerField(help_text="The whole file's size, declared.")
    received_bytes = models.PositiveBigIntegerField(default=0)
    expected_sha256 = models.CharField(max_length=64, blank=True)
    is_archive = models.BooleanField(
        default=False, help_text="Expand the file (zip, tar, tar.gz) into the version's files."
    )
    backend = models.CharField(max_length=16, choices=Backend.choices)
    storage_name = models.CharField(max_length=1024)
    s3_upload_id = models.CharField(max_length=1024, blank=True)
    part_size_bytes = models.PositiveBigIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "path"],
                condition=models.Q(state="open"),
                name="provenance_uploadsession_one_open_per_path",
                violation_error_message="An upload to this path is already under way.",
            ),
            models.CheckConstraint(
                condition=models.Q(received_bytes__lte=models.F("size_bytes")),
                name="provenance_uploadsession_received_within_size",
            ),
        ]

    def __str__(self) -> str:
        return f"Upload of {self.path} ({self.state})"

    @property
    def percent(self) -> int:
        if not self.size_bytes:
            return 100
        return min(100, self.received_bytes * 100 // self.size_bytes)

    def is_expired(self, now) -> bool:
        return self.state == self.State.OPEN and self.expires_at <= now


class UploadedArchive(models.Model):
    """An uploaded zip, tar or tar.gz whose members become the version's files at ingest.

    The archive itself is never a file of the version: ingest expands it safely (or rejects it,
    naming the member and the reason) and then deletes its blob.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be expanded"
        EXPANDED = "expanded", "Expanded"
        REJECTED = "rejected", "Rejected"

    id = PublicIdField(prefix="arc")
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="archives")
    name = models.CharField(max_length=1024, help_text="The archive's file name, as uploaded.")
    storage_name = models.CharField(max_length=1024)
    size_bytes = models.PositiveBigIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    rejected_member = models.CharField(max_length=1024, blank=True)
    error = models.TextField(blank=True)
    file_count = models.PositiveIntegerField(default=0)
    expanded_bytes = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    expanded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class IngestProgress(models.Model):
    """Where the ingest of a version stands, written as it goes so pages and the API show it live.

    States: `idle` (files changed since the last run, or never run), `queued` (waiting for a
    worker), `running`, `done` (every file measured, the Merkle root set) and `failed` (finished
    with `errors`; the creator fixes them and starts again). While queued or running the version
    is `processing`; otherwise it is a draft.
    """

    class State(models.TextChoices):
        IDLE = "idle", "Waiting to be processed"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Processing"
        DONE = "done", "Processed"
        FAILED = "failed", "Finished with errors"

    ACTIVE_STATES = frozenset({State.QUEUED, State.RUNNING})

    version = models.OneToOneField(
        DatasetVersion, on_delete=models.CASCADE, primary_key=True, related_name="ingest_progress"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.IDLE)
    run_token = models.CharField(
        max_length=40, blank=True, help_text="Names the run that may work on the version now."
    )
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    current_path = models.CharField(max_length=1024, blank=True)
    errors = models.JSONField(
        default=list, blank=True, help_text='[{"path": ..., "member": ..., "message": ...}]'
    )
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "ingest progress"

    def __str__(self) -> str:
        return f"Ingest of {self.version_id}: {self.state}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def percent(self) -> int:
        """Whole percent done, by bytes (files when there are no bytes); 100 only when done."""
        if self.state == self.State.DONE:
            return 100
        if self.bytes_total:
            done = self.bytes_done * 100 // self.bytes_total
        elif self.files_total:
            done = self.files_done * 100 // self.files_total
        else:
            done = 0
        return min(done, 99)

    def is_stale(self, now, stale_seconds: int) -> bool:
        """A run whose worker has not reported for `stale_seconds` is presumed dead."""
        last = self.heartbeat_at or self.queued_at
        return last is None or (now - last).total_seconds() > stale_seconds


GENESIS_HASH = "0" * 64


def canonical_json(value) -> bytes:
    """The one canonical encoding Wellspring hashes and signs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class LedgerEntry(models.Model):
    """An append-only, hash-chained record of a state change.

    `entry_hash` is the SHA-256 of the canonical JSON of the entry's content, which includes the
    previous entry's hash: changing, removing or reordering any entry breaks every hash after it.
    """

    seq = models.PositiveBigIntegerField(primary_key=True)
    created_at = models.DateTimeField()
    action = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=40)
    subject_id = models.CharField(max_length=64)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    actor_label = models.CharField(
        max_length=254, blank=True, help_text="Who acted, as it read at the time."
    )
    payload = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="provenance_ledger_subject")
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.subject_type}:{self.subject_id}"

    def canonical_content(self) -> dict:
        return {
            "seq": self.seq,
            "created_at": self.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "action": self.action,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "organization_id": self.organization_id,
            "actor_id": self.actor_id,
            "actor": self.actor_label,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.canonical_content())).hexdigest()

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise Conflict("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise Conflict("Ledger entries are append-only.")


class LedgerHead(models.Model):
    """The single row that serializes appends: locked while an entry is added."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="provenance_ledgerhead_singleton")
        ]

    def __str__(self) -> str:
        return f"Ledger head at #{self.seq}"


class QualityReport(models.Model):
    """What Wellspring measured about a version's content: never what the creator declared.

    One per version, rewritten whole by each run of the quality task (same data, same catalog,
    same report). `figures` holds every figure with the method, parameters and sample seed
    used, so anyone can reproduce it; the columns beside it repeat the few figures that
    searches and the review desk filter on. Progress is written as the run goes, like ingest's.
    """

    class State(models.TextChoices):
        IDLE = "idle", "Not measured yet"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Measuring"
        DONE = "done", "Measured"
        FAILED = "failed", "Failed"

    ACTIVE_STATES = frozenset({State.QUEUED, State.RUNNING})

    version = models.OneToOneField(
        DatasetVersion, on_delete=models.CASCADE, primary_key=True, related_name="quality_report"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.IDLE)
    run_token = models.CharField(max_length=40, blank=True)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    current_path = models.CharField(max_length=1024, blank=True)
    errors = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    method_version = models.CharField(max_length=32, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    figures_sha256 = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the canonical JSON of `figures`."
    )
    flags = models.JSONField(
        default=list, blank=True, help_text='For reviewers: [{"code", "severity", "message"}].'
    )
    records_measured = models.PositiveBigIntegerField(null=True, blank=True)
    exact_duplicate_bps = models.PositiveIntegerField(null=True, blank=True)
    near_duplicate_bps = models.PositiveIntegerField(null=True, blank=True)
    synthetic_evidence_bps = models.PositiveIntegerField(null=True, blank=True)
    synthetic_heuristic_bps = models.PositiveIntegerField(null=True, blank=True)
    has_synthetic_signals = models.BooleanField(default=False)
    personal_data_hits = models.PositiveBigIntegerField(default=0)
    catalog_overlap_bps = models.PositiveIntegerField(
        null=True, blank=True, help_text="The largest share of records found in one other listing."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["state", "has_synthetic_signals"], name="provenance_quality_synthetic"
            )
        ]

    def __str__(self) -> str:
        return f"Quality of {self.version_id}: {self.state}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def is_done(self) -> bool:
        return self.state == self.State.DONE

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if self.bytes_total:
            return min(self.bytes_done * 100 // self.bytes_total, 99)
        if self.files_total:
            return min(self.files_done * 100 // self.files_total, 99)
        return 0

    def public_figures(self) -> dict:
        """The figures without the redacted personal-data examples and their locations, which
        only the creator and reviewers see; the counts stay."""
        figures = dict(self.figures or {})
        personal = figures.get("personal_data")
        if isinstance(personal, dict) and isinstance(personal.get("kinds"), dict):
            figures["personal_data"] = {
                **personal,
                "kinds": {
                    kind: {key: value for key, value in entry.items() if key != "examples"}
                    for kind, entry in personal["kinds"].items()
                },
            }
        return figures

    def is_stale(self, now, stale_seconds: int) -> bool:
        last = self.heartbeat_at or self.queued_at
        return last is None or (now - last).total_seconds() > stale_seconds


class QualityBand(models.Model):
    """One LSH band hash of one measured record: the catalog's index for novelty checks.

    A record of a new version whose bands meet a record of an approved version in at least
    two bands is counted as already present there (see `provenance.quality.novelty`).
    """

    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="quality_bands"
    )
    record = models.PositiveIntegerField(help_text="The record's index in the measured sample.")
    key = models.BigIntegerField(help_text="Band number and band values, hashed to 64 bits.")

    class Meta:
        # (key, version): overlap queries look a key up in the versions a buyer licensed; a key
        # index alone made them walk every version's rows of common keys (minutes on SQLite).
        indexes = [models.Index(fields=["key", "version"], name="provenance_qualityband_key_ver")]

    def __str__(self) -> str:
        return f"band {self.key} of {self.version_id}#{self.record}"


@receiver(m2m_changed, sender=ProvenanceDeclaration.parents.through)
def _refuse_lineage_change_when_frozen(sender, instance, action, reverse, **kwargs):
    # The lineage is part of the declaration: an approved version's parents are frozen too.
    if action not in ("pre_add", "pre_remove", "pre_clear") or reverse:
        return
    refuse_if_version_frozen(instance.version_id, "its lineage")


# --- Rights review and rights claims -----------------------------------------------------


class Review(models.Model):
    """A reviewer's decision on a submitted version, with the reason the creator sees.

    One row per decision, never edited: a version sent back for changes and submitted again
    gets a second review. The checklist records what the reviewer confirmed.
    """

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"

    CHECKLIST = (
        ("rights_holder_matches_evidence", "The rights holder matches the evidence"),
        ("consent_basis_plausible", "The consent basis is plausible"),
        ("authorship_declared", "Authorship (human, synthetic or hybrid) is declared"),
        ("no_personal_data_in_samples", "No personal data is visible in the samples"),
    )

    id = PublicIdField(prefix="rev")
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    decision = models.CharField(max_length=20, choices=Decision.choices)
    reason = models.TextField(help_text="Shown to the creator.")
    rights_holder_matches_evidence = models.BooleanField(default=False)
    consent_basis_plausible = models.BooleanField(default=False)
    authorship_declared = models.BooleanField(default=False)
    no_personal_data_in_samples = models.BooleanField(default=False)
    merkle_root = models.CharField(max_length=64, blank=True, help_text="What was reviewed.")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(reason=""),
                name="provenance_review_has_reason",
                violation_error_message="Give a reason the creator can read.",
            ),
            models.CheckConstraint(
                condition=~models.Q(decision="approved")
                | models.Q(
                    rights_holder_matches_evidence=True,
                    consent_basis_plausible=True,
                    authorship_declared=True,
                    no_personal_data_in_samples=True,
                ),
                name="provenance_review_approval_checks_everything",
                violation_error_message="Tick every item of the checklist before approving.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()}: {self.version}"

    def checklist(self) -> list[tuple[str, str, bool]]:
        return [(name, label, getattr(self, name)) for name, label in self.CHECKLIST]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise Conflict("A review decision is a record: it is never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise Conflict("A review decision is a record: it is never deleted.")


class RightsClaim(models.Model):
    """Someone's claim that a listed dataset infringes their rights, and how it was resolved.

    Open claims are triaged by reviewers: dismissed with a reason, or upheld, which suspends
    the dataset. The creator may answer with a counter-statement; a reviewer may then reinstate
    an upheld claim's dataset. The claimant may withdraw an open claim.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Dismissed"
        UPHELD = "upheld", "Upheld"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Basis(models.TextChoices):
        COPYRIGHT = "copyright", "I hold the copyright in some of this data"
        PERSONAL_DATA = "personal_data", "It contains my personal data"
        CONTRACT = "contract", "It breaches a contract or license I am party to"
        CONSENT = "consent", "Contributors did not consent"
        OTHER = "other", "Other"

    id = PublicIdField(prefix="clm")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="claims")
    version = models.ForeignKey(
        DatasetVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claims",
        help_text="The version listed when the claim was filed.",
    )
    claimant_name = models.CharField(max_length=200)
    claimant_email = models.EmailField()
    claimant_organization = models.CharField(max_length=200, blank=True)
    basis = models.CharField(max_length=20, choices=Basis.choices)
    statement = models.TextField(help_text="What the claimant holds rights in, and why.")
    evidence_name = models.CharField(max_length=200, blank=True)
    evidence_storage_name = models.CharField(max_length=1024, blank=True)
    evidence_size_bytes = models.PositiveBigIntegerField(default=0)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    evidence_media_type = models.CharField(max_length=127, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution_reason = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claims_resolved",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    counter_statement = models.TextField(blank=True)
    counter_statement_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="counter_statements",
    )
    counter_statement_at = models.DateTimeField(null=True, blank=True)
    reinstated_at = models.DateTimeField(null=True, blank=True)
    reinstated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claims_reinstated",
    )
    reinstatement_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="provenance_claim_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reinstated_at__isnull=True) | models.Q(status="upheld"),
                name="provenance_rightsclaim_reinstated_only_if_upheld",
            ),
        ]

    def __str__(self) -> str:
        return f"Claim {self.pk} on {self.dataset} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def is_in_force(self) -> bool:
        """Upheld and not reinstated: the dataset stays suspended while this holds."""
        return self.status == self.Status.UPHELD and self.reinstated_at is None


class Manifest(models.Model):
    """The platform's signed manifest of an approved version, in the shared signed envelope.

    Built once per version by a task after approval (approved versions never change, so neither
    does their manifest); `payload_sha256` is what the ledger entry of its issue records.
    """

    id = PublicIdField(prefix="man")
    version = models.OneToOneField(
        DatasetVersion, on_delete=models.PROTECT, related_name="manifest"
    )
    envelope = models.JSONField(help_text='{"payload", "kid", "signature"}')
    payload_sha256 = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issued_at", "id"]

    def __str__(self) -> str:
        return f"Manifest {self.pk} of {self.version_id}"
