from django.db import models
from django.utils import timezone

from accounts.ids import PublicIdField
from provenance.models import Dataset, DatasetVersion


class Listing(models.Model):
    """A dataset's place in the public catalog, showing one approved version."""

    class Status(models.TextChoices):
        PUBLISHED = "published", "Published"
        SUSPENDED = "suspended", "Suspended"
        WITHDRAWN = "withdrawn", "Withdrawn"

    id = PublicIdField(prefix="lst")
    dataset = models.OneToOneField(Dataset, on_delete=models.PROTECT, related_name="listing")
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="listings")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PUBLISHED)
    published_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at", "id"]
        indexes = [
            models.Index(fields=["status", "-published_at"], name="marketplace_listing_status_pub")
        ]

    def __str__(self) -> str:
        return str(self.dataset)

    @property
    def slug(self) -> str:
        return self.dataset.slug

    @property
    def is_public(self) -> bool:
        return self.status == self.Status.PUBLISHED
