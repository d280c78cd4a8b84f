"""Read queries of licensing, scoped to the viewer's organization first."""

from django.db.models import QuerySet

from accounts.models import Organization
from licensing.models import Delivery, Download, License


def licenses_of(*, organization: Organization) -> QuerySet[License]:
    """The organization's licenses (as licensee), newest first."""
    return License.objects.filter(organization=organization).select_related(
        "version__dataset__organization", "certificate"
    )


def license_of(*, organization: Organization, license_id: str) -> License | None:
    return licenses_of(organization=organization).filter(pk=license_id).first()


def deliveries_of(*, license: License) -> QuerySet[Delivery]:
    return Delivery.objects.filter(license=license).select_related("data_file")


def downloads_of(*, license: License) -> QuerySet[Download]:
    return Download.objects.filter(license=license).select_related("delivery", "user")


def licenses_sold(*, organization: Organization) -> QuerySet[License]:
    """Licenses to the creator organization's datasets, for its sales pages."""
    return License.objects.filter(version__dataset__organization=organization).select_related(
        "organization", "version__dataset"
    )


def downloads_of_creator(*, organization: Organization) -> QuerySet[Download]:
    return Download.objects.filter(
        license__version__dataset__organization=organization
    ).select_related("license__organization", "user")
