"""Read queries for provenance, scoped by organization or viewer first."""

from django.db.models import QuerySet

from accounts.models import Organization, User
from provenance.models import DataFile, Dataset, DatasetVersion, LedgerEntry


def datasets_of(*, organization: Organization) -> QuerySet[Dataset]:
    return Dataset.objects.filter(organization=organization).order_by("-created_at", "id")


def versions_of(*, organization: Organization) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset__organization=organization).select_related(
        "dataset"
    )


def files_of_version(*, version: DatasetVersion) -> QuerySet[DataFile]:
    return DataFile.objects.filter(version=version).order_by("path")


def review_queue(*, viewer: User) -> QuerySet[DatasetVersion]:
    """Submitted versions, oldest first. Empty for anyone who is not staff."""
    if not viewer.is_staff:
        return DatasetVersion.objects.none()
    return (
        DatasetVersion.objects.filter(status=DatasetVersion.Status.SUBMITTED)
        .select_related("dataset__organization")
        .order_by("submitted_at", "id")
    )


def ledger_for_subject(*, subject_type: str, subject_id: str) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(subject_type=subject_type, subject_id=subject_id).order_by(
        "seq"
    )
