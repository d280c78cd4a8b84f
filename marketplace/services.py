"""Use cases of the marketplace: publishing listings."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.errors import Conflict
from accounts.models import User
from marketplace.models import Listing
from provenance.models import DatasetVersion
from provenance.services import record_event


def publish_listing(
    *, actor: User | None, version: DatasetVersion, now: datetime | None = None
) -> Listing:
    """Show an approved version in the catalog, creating the dataset's listing or moving it on.

    Raises Conflict when the version is not approved. Writes `listing.published`.
    """
    now = now or timezone.now()
    if version.status != DatasetVersion.Status.APPROVED:
        raise Conflict("Only an approved version can be published.")
    with transaction.atomic():
        listing, created = Listing.objects.select_for_update().get_or_create(
            dataset=version.dataset,
            defaults={"version": version, "published_at": now, "updated_at": now},
        )
        if not created:
            listing.version = version
            listing.status = Listing.Status.PUBLISHED
            listing.updated_at = now
            listing.save(update_fields=["version", "status", "updated_at"])
        record_event(
            action="listing.published",
            subject_type="listing",
            subject_id=listing.pk,
            actor=actor,
            organization=version.dataset.organization,
            payload={"version": version.pk, "merkle_root": version.merkle_root},
            now=now,
        )
    return listing
