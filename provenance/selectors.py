"""Read queries for provenance, scoped by organization or viewer first."""

import csv
import io
import json
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from PIL import Image, UnidentifiedImageError

from accounts.models import Organization, User
from provenance import storage
from provenance.models import (
    DataFile,
    Dataset,
    DatasetVersion,
    EvidenceDocument,
    IngestProgress,
    LedgerEntry,
    ProvenanceDeclaration,
    QualityBand,
    QualityReport,
    Review,
    RightsClaim,
    UploadedArchive,
    UploadSession,
)


def datasets_of(*, organization: Organization) -> QuerySet[Dataset]:
    return Dataset.objects.filter(organization=organization).order_by("-created_at", "id")


def dataset_of(*, organization: Organization, dataset_id: str) -> Dataset | None:
    """One dataset of the organization, or None (another organization's reads as missing)."""
    return datasets_of(organization=organization).filter(pk=dataset_id).first()


def versions_of(*, organization: Organization) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset__organization=organization).select_related(
        "dataset"
    )


def version_of(*, organization: Organization, version_id: str) -> DatasetVersion | None:
    """One version of the organization's datasets, with its dataset and progress, or None."""
    return (
        versions_of(organization=organization)
        .select_related("dataset__organization", "based_on")
        .filter(pk=version_id)
        .first()
    )


def versions_of_dataset(*, dataset: Dataset) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=dataset).order_by("-number")


def files_of_version(*, version: DatasetVersion) -> QuerySet[DataFile]:
    return DataFile.objects.filter(version=version).order_by("path", "id")


def archives_of_version(*, version: DatasetVersion) -> QuerySet[UploadedArchive]:
    return UploadedArchive.objects.filter(version=version).order_by("created_at", "id")


def upload_of(*, organization: Organization, upload_id: str) -> UploadSession | None:
    return (
        UploadSession.objects.filter(version__dataset__organization=organization, pk=upload_id)
        .select_related("version__dataset__organization")
        .first()
    )


def open_uploads_of_version(*, version: DatasetVersion) -> QuerySet[UploadSession]:
    return UploadSession.objects.filter(version=version, state=UploadSession.State.OPEN).order_by(
        "created_at", "id"
    )


def evidence_of(*, organization: Organization, evidence_id: str) -> EvidenceDocument | None:
    return (
        EvidenceDocument.objects.filter(
            declaration__version__dataset__organization=organization, pk=evidence_id
        )
        .select_related("declaration__version")
        .first()
    )


def ingest_progress_of(*, version: DatasetVersion) -> IngestProgress:
    """The version's ingest progress; versions from before progress was kept read as done."""
    progress = IngestProgress.objects.filter(version=version).first()
    if progress is None:
        state = IngestProgress.State.DONE if version.ingested_at else IngestProgress.State.IDLE
        progress = IngestProgress(version=version, state=state)
    return progress


def declaration_of(*, version: DatasetVersion) -> ProvenanceDeclaration:
    declaration = ProvenanceDeclaration.objects.filter(version=version).first()
    return declaration or ProvenanceDeclaration(version=version)


def lineage_candidates(*, version: DatasetVersion) -> QuerySet[DatasetVersion]:
    """Versions a derived dataset may name as parents: approved ones, of any organization.

    Approved versions are the ones the catalog shows, so naming them reveals nothing. The
    dataset's own versions are its history (`based_on`), not its lineage.
    """
    return (
        DatasetVersion.objects.filter(status=DatasetVersion.Status.APPROVED)
        .exclude(dataset_id=version.dataset_id)
        .select_related("dataset__organization")
        .order_by("dataset__title", "-number")
    )


# Consent bases whose explanation is the evidence itself ("Other (explained in the evidence)").
EVIDENCE_REQUIRED_FOR = frozenset({ProvenanceDeclaration.ConsentBasis.OTHER})


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


def declaration_problems(*, version: DatasetVersion) -> list[Problem]:
    """What the declaration still lacks for review, each with a message a creator can act on."""
    declaration = ProvenanceDeclaration.objects.filter(version=version).first()
    if declaration is None:
        return [Problem("declaration", "Fill in the provenance declaration.")]
    messages = {
        "source": "Say where the data came from: a source URL or a description.",
        "collection_method": "Describe how the data was collected.",
        "consent_basis": "Choose the consent basis.",
        "rights_holder": "Name the rights holder.",
        "opt_out_status": "Say whether opt-out or TDM reservations were checked.",
    }
    problems = [Problem(name, messages[name]) for name in declaration.missing_fields()]
    if declaration.consent_basis in EVIDENCE_REQUIRED_FOR and not declaration.evidence.exists():
        problems.append(
            Problem(
                "evidence",
                "Attach the evidence that explains the consent basis “Other”.",
            )
        )
    return problems


def submission_problems(*, version: DatasetVersion) -> list[Problem]:
    """Everything that stands between a draft and the review queue; empty when it may go."""
    problems = []
    has_files = DataFile.objects.filter(version=version).exists()
    if not has_files:
        problems.append(Problem("files", "Add at least one file."))
    if UploadSession.objects.filter(version=version, state=UploadSession.State.OPEN).exists():
        problems.append(Problem("uploads", "Finish or cancel the uploads under way."))
    progress = ingest_progress_of(version=version)
    if has_files:
        if progress.state == IngestProgress.State.FAILED:
            problems.append(
                Problem("ingest", "Processing found errors: fix them and process the files again.")
            )
        elif (
            progress.state != IngestProgress.State.DONE
            or not version.merkle_root
            or DataFile.objects.filter(version=version, ingested_at__isnull=True).exists()
            or UploadedArchive.objects.filter(
                version=version, state=UploadedArchive.State.PENDING
            ).exists()
        ):
            problems.append(
                Problem("ingest", "Process the files and wait until every file is processed.")
            )
    problems.extend(declaration_problems(version=version))
    return problems


def review_queue(
    *, viewer: User, modality: str = "", organization: str = "", q: str = ""
) -> QuerySet[DatasetVersion]:
    """Submitted versions, oldest first, optionally filtered by modality, creator organization
    (slug) and words of the title. Empty for anyone who is not staff."""
    if not viewer.is_staff:
        return DatasetVersion.objects.none()
    versions = DatasetVersion.objects.filter(status=DatasetVersion.Status.SUBMITTED)
    if modality:
        versions = versions.filter(dataset__modality=modality)
    if organization:
        versions = versions.filter(dataset__organization__slug=organization)
    for term in q.split():
        versions = versions.filter(dataset__title__icontains=term)
    return versions.select_related("dataset__organization").order_by("submitted_at", "id")


def version_for_review(*, viewer: User, version_id: str) -> DatasetVersion | None:
    """Any version, for a staff reviewer (to inspect or decide); None for everybody else."""
    if not viewer.is_staff:
        return None
    return (
        DatasetVersion.objects.select_related("dataset__organization", "based_on")
        .filter(pk=version_id)
        .first()
    )


def reviews_of(*, version: DatasetVersion) -> QuerySet[Review]:
    return (
        Review.objects.filter(version=version)
        .select_related("reviewer")
        .order_by("decided_at", "id")
    )


def latest_review(*, version: DatasetVersion) -> Review | None:
    return reviews_of(version=version).last()


def evidence_for_viewer(*, viewer: User, organization, evidence_id: str):
    """An evidence document a staff reviewer or the owning organization may read, or None."""
    documents = EvidenceDocument.objects.select_related("declaration__version__dataset")
    if not viewer.is_staff:
        if organization is None:
            return None
        documents = documents.filter(declaration__version__dataset__organization=organization)
    return documents.filter(pk=evidence_id).first()


PREVIEW_RECORDS = 5
PREVIEW_BYTES = 64 * 1024
PREVIEW_TEXT_CHARS = 600
PREVIEW_COLUMNS = 12
PREVIEW_CELL_CHARS = 200
IMAGE_PREVIEW_MAX_BYTES = 5 * 1024 * 1024
THUMBNAIL_SIDE = 320
_RECORD_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv")
_RECORD_TYPES = ("application/jsonl", "application/x-ndjson", "text/csv")
_TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


@dataclass(frozen=True)
class FilePreview:
    """A sample of one file: its first records (raw lines, and as a table when they parse),
    an image, or the start of a text."""

    data_file: DataFile
    kind: str  # "records", "image" or "text"
    records: list[str]
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    excerpt: str = ""


def _preview_kind(data_file: DataFile) -> str:
    media = data_file.media_type or ""
    path = data_file.path.lower()
    if media.startswith("image/") and not media.startswith("image/svg"):
        return "image" if data_file.size_bytes <= IMAGE_PREVIEW_MAX_BYTES else ""
    if path.endswith(_RECORD_SUFFIXES) or media in _RECORD_TYPES:
        return "records"
    if path.endswith(_TEXT_SUFFIXES) or media in ("text/plain", "text/markdown"):
        return "text"
    return ""


def _preview_candidates(version: DatasetVersion, limit: int) -> list[tuple[DataFile, str]]:
    """Which files a preview shows, decided from the database alone (no file is read)."""
    chosen = []
    for data_file in files_of_version(version=version)[:200]:
        if len(chosen) >= limit:
            break
        kind = _preview_kind(data_file)
        if kind:
            chosen.append((data_file, kind))
    return chosen


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:PREVIEW_CELL_CHARS]


def _table(data_file: DataFile, lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """The records as columns and rows, or nothing when they do not parse as such."""
    path = data_file.path.lower()
    if path.endswith((".csv", ".tsv")) or data_file.media_type == "text/csv":
        parsed = list(csv.reader(lines, delimiter="\t" if path.endswith(".tsv") else ","))
        if not parsed:
            return [], []
        header = [_cell(name) for name in parsed[0][:PREVIEW_COLUMNS]]
        return header, [[_cell(cell) for cell in row[: len(header)]] for row in parsed[1:]]
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            return [], []
        if not isinstance(record, dict):
            return [], []
        records.append(record)
    columns: list[str] = []
    for record in records:
        columns.extend(key for key in record if key not in columns)
    columns = columns[:PREVIEW_COLUMNS]
    return [_cell(c) for c in columns], [
        [_cell(record[c]) if c in record else "" for c in columns] for record in records
    ]


def file_previews(*, version: DatasetVersion, limit: int = 6) -> list[FilePreview]:
    """The first records of a few JSONL and CSV files, the start of text files and the
    version's first images (SVG never: it can carry scripts).

    Reads at most PREVIEW_BYTES from each file's start, so a reviewer sees real samples (and
    any personal data in them) without loading whole files. A file that cannot be read is left
    out. The catalog shows the same samples of a published version (marketplace.selectors).
    """
    previews = []
    for data_file, kind in _preview_candidates(version, limit):
        if kind == "image":
            previews.append(FilePreview(data_file, "image", []))
            continue
        try:
            head = storage.read_range(data_file.storage_name, 0, PREVIEW_BYTES)
        except (OSError, FileNotFoundError):
            continue
        text = head.decode("utf-8", errors="replace")
        if kind == "text":
            excerpt = text[:PREVIEW_TEXT_CHARS]
            if len(text) > PREVIEW_TEXT_CHARS and " " in excerpt:
                excerpt = excerpt.rsplit(" ", 1)[0] + " …"
            previews.append(FilePreview(data_file, "text", excerpt.splitlines(), excerpt=excerpt))
            continue
        lines = text.splitlines()
        if len(head) == PREVIEW_BYTES and lines:
            lines = lines[:-1]  # the last line may be cut
        lines = [line[:500] for line in lines[: PREVIEW_RECORDS + 1] if line.strip()]
        columns, rows = _table(data_file, lines)
        previews.append(FilePreview(data_file, "records", lines, columns, rows[:PREVIEW_RECORDS]))
    return previews


def preview_image(*, version: DatasetVersion, file_id: str, limit: int = 6) -> DataFile | None:
    """The image file `file_id` when it is one of the images `file_previews` shows, else None."""
    for data_file, kind in _preview_candidates(version, limit):
        if kind == "image" and data_file.pk == file_id:
            return data_file
    return None


def preview_thumbnail(data_file: DataFile) -> bytes | None:
    """A PNG at most THUMBNAIL_SIDE pixels a side, redrawn from the pixels alone (no metadata,
    no full resolution), or None when the file is missing or not a readable image."""
    try:
        with storage.open_stream(data_file.storage_name) as stream:
            data = stream.read(IMAGE_PREVIEW_MAX_BYTES + 1)
    except (OSError, FileNotFoundError):
        return None
    if len(data) > IMAGE_PREVIEW_MAX_BYTES:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            mode = "RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"
            output = io.BytesIO()
            image.convert(mode).save(output, format="PNG", optimize=True)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return output.getvalue()


def media_type_summary(*, version: DatasetVersion) -> list[dict]:
    """Files, bytes and records of the version per media type, most files first (measured at
    ingest), in one query however many files the version holds."""
    return list(
        DataFile.objects.filter(version=version)
        .values("media_type")
        .annotate(files=Count("id"), bytes=Sum("size_bytes"), records=Sum("record_count"))
        .order_by("-files", "media_type")
    )


def file_for_review(*, viewer: User, file_id: str) -> DataFile | None:
    if not viewer.is_staff:
        return None
    return DataFile.objects.filter(pk=file_id).select_related("version").first()


def claims_for_review(*, viewer: User, status: str = "") -> QuerySet[RightsClaim]:
    """Rights claims for staff triage, open ones first then newest. Empty for non-staff."""
    if not viewer.is_staff:
        return RightsClaim.objects.none()
    claims = RightsClaim.objects.select_related("dataset__organization")
    if status:
        claims = claims.filter(status=status)
    return claims.order_by("created_at", "id")


def claim_for_review(*, viewer: User, claim_id: str) -> RightsClaim | None:
    return claims_for_review(viewer=viewer).filter(pk=claim_id).first()


def claims_of(*, organization) -> QuerySet[RightsClaim]:
    """Claims on the organization's datasets, newest first (what the creator must answer)."""
    return (
        RightsClaim.objects.filter(dataset__organization=organization)
        .select_related("dataset")
        .order_by("-created_at", "id")
    )


def claim_of(*, organization, claim_id: str) -> RightsClaim | None:
    return claims_of(organization=organization).filter(pk=claim_id).first()


def ledger_for_version(*, version: DatasetVersion) -> QuerySet[LedgerEntry]:
    """The version's history and its dataset's (claims, suspensions), oldest first."""
    return (
        LedgerEntry.objects.filter(
            Q(subject_type="dataset_version", subject_id=version.pk)
            | Q(subject_type="dataset", subject_id=version.dataset_id)
        )
        .select_related("actor")
        .order_by("seq")
    )


def ledger_for_subject(*, subject_type: str, subject_id: str) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(subject_type=subject_type, subject_id=subject_id).order_by(
        "seq"
    )


def quality_report_of(*, version: DatasetVersion) -> QualityReport | None:
    """The version's quality report, or None when it was never measured."""
    return QualityReport.objects.filter(version=version).first()


# SQLite refuses a compound SELECT of more than 500 terms; one query covers this many licensed
# versions, and more take another query.
_OVERLAP_VERSIONS_PER_QUERY = 100


def record_overlaps(
    *, against: list[str], versions: list[str] | None = None
) -> dict[str, dict[str, int]]:
    """How many indexed records of approved versions already appear in the `against` versions.

    Uses the catalog's novelty index (`QualityBand`): a record is present in another version
    when at least `NOVELTY_MIN_BANDS` of its LSH band keys are in that version's index, the
    rule the quality card uses. Returns `{version_id: {against_id: records}}`, only pairs with
    at least one record, never a version against itself. `versions` narrows the versions
    checked (all approved versions when None). One query per 100 `against` versions.
    """
    from provenance.quality.service import NOVELTY_MIN_BANDS

    against = sorted(set(against))
    if not against or versions == []:
        return {}
    overlaps: dict[str, dict[str, int]] = {}
    for start in range(0, len(against), _OVERLAP_VERSIONS_PER_QUERY):
        chunk = against[start : start + _OVERLAP_VERSIONS_PER_QUERY]
        sql, params = _record_overlaps_sql(
            against=chunk, versions=versions, min_bands=NOVELTY_MIN_BANDS
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for version_id, against_id, records in cursor.fetchall():
                overlaps.setdefault(version_id, {})[against_id] = records
    return overlaps


def _record_overlaps_sql(*, against: list[str], versions: list[str] | None, min_bands: int):
    """One SELECT per licensed version, each testing the checked bands against that version's
    keys as a set (`key IN (subquery)`). A join of band rows on `key` instead multiplies
    records that share a key: tabular versions repeat one band key in thousands of records,
    and such a join ran for minutes on a page view; a set is probed once per checked band."""
    band = QualityBand._meta.db_table
    version_table = DatasetVersion._meta.db_table
    narrowed = ""
    if versions is not None:
        narrowed = f"AND checked.version_id IN ({', '.join(['%s'] * len(versions))})"
    # Only our table names and %s placeholders are interpolated; every value is a parameter.
    branch = f"""
        SELECT checked.version_id AS version_id, %s AS against_id, checked.record AS record
        FROM {band} checked
        JOIN {version_table} v ON v.id = checked.version_id
        WHERE checked.key IN (SELECT held.key FROM {band} held WHERE held.version_id = %s)
          AND checked.version_id <> %s
          AND v.status = %s {narrowed}
        GROUP BY checked.version_id, checked.record
        HAVING COUNT(DISTINCT checked.key) >= %s
    """  # noqa: S608
    params: list = []
    for against_id in against:
        params.extend([against_id, against_id, against_id, DatasetVersion.Status.APPROVED])
        params.extend(versions or [])
        params.append(min_bands)
    present = " UNION ALL ".join([branch] * len(against))
    sql = f"""
        SELECT version_id, against_id, COUNT(*) FROM ({present}) present
        GROUP BY version_id, against_id
    """  # noqa: S608
    return sql, params


def indexed_records_of(*, version_id: str) -> int:
    """How many records of the version the novelty index holds (the share's denominator)."""
    return QualityBand.objects.filter(version_id=version_id).values("record").distinct().count()


def listed_dataset(*, slug: str) -> Dataset | None:
    """A dataset by slug, if it has an approved version (what the catalog can show)."""
    return (
        Dataset.objects.filter(slug=slug, versions__status=DatasetVersion.Status.APPROVED)
        .select_related("organization")
        .distinct()
        .first()
    )
