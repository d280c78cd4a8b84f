"""Read queries of the marketplace: the public catalog."""

from dataclasses import dataclass

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from licensing.models import LicenseOption, Use
from marketplace.models import Listing, Order
from provenance.models import Dataset

SORTS = {
    "newest": ("-published_at", "id"),
    "price": ("price_from_minor", "id"),
    "-price": ("-price_from_minor", "id"),
    "size": ("-version__total_bytes", "id"),
    "title": ("dataset__title", "id"),
}


@dataclass(frozen=True)
class CatalogFilters:
    q: str = ""
    modality: str = ""
    language: str = ""
    use: str = ""
    price_max_minor: int | None = None
    sort: str = "newest"


def _active_options() -> QuerySet[LicenseOption]:
    return LicenseOption.objects.filter(is_active=True).order_by("price_minor", "id")


def public_listings() -> QuerySet[Listing]:
    """Published listings with what a catalog card shows, in a constant number of queries."""
    cheapest = _active_options().filter(dataset=OuterRef("dataset_id"))
    return (
        Listing.objects.filter(status=Listing.Status.PUBLISHED)
        .select_related("dataset__organization", "version")
        .annotate(
            price_from_minor=Subquery(cheapest.values("price_minor")[:1]),
            price_from_currency=Subquery(cheapest.values("currency")[:1]),
        )
        .prefetch_related(
            Prefetch(
                "dataset__license_options", queryset=_active_options(), to_attr="active_options"
            )
        )
    )


def listings_for_catalog(*, filters: CatalogFilters) -> QuerySet[Listing]:
    """The public catalog, filtered and sorted. Everybody sees the same catalog."""
    listings = public_listings()
    if filters.q:
        for term in filters.q.split():
            listings = listings.filter(
                Q(dataset__title__icontains=term)
                | Q(dataset__summary__icontains=term)
                | Q(dataset__description__icontains=term)
                | Q(dataset__tags__icontains=term)
            )
    if filters.modality in Dataset.Modality.values:
        listings = listings.filter(dataset__modality=filters.modality)
    if filters.language:
        listings = listings.filter(dataset__languages__icontains=f'"{filters.language.lower()}"')
    if filters.use in Use.values:
        listings = listings.filter(
            dataset__license_options__is_active=True,
            dataset__license_options__permitted_uses__icontains=f'"{filters.use}"',
        ).distinct()
    if filters.price_max_minor is not None:
        listings = listings.filter(price_from_minor__lte=filters.price_max_minor)
    return listings.order_by(*SORTS.get(filters.sort, SORTS["newest"]))


def listing_by_slug(*, slug: str) -> Listing | None:
    return public_listings().filter(dataset__slug=slug).first()


def permitted_uses_of(listing: Listing) -> list[str]:
    """The uses any active option of the listing allows, as labels (from the prefetched options)."""
    uses = {
        use
        for option in getattr(listing.dataset, "active_options", [])
        for use in option.permitted_uses
    }
    return [Use(use).label for use in Use.values if use in uses]


def recent_listings(*, limit: int = 6) -> QuerySet[Listing]:
    return public_listings().order_by("-published_at", "id")[:limit]


# --- Checkout ----------------------------------------------------------------------------


def orders_of(*, organization) -> QuerySet[Order]:
    """The buyer organization's orders, newest first."""
    return (
        Order.objects.filter(organization=organization)
        .select_related("version__dataset", "option", "invoice", "license")
        .order_by("-created_at", "id")
    )


def order_of(*, organization, order_id: str) -> Order | None:
    return orders_of(organization=organization).filter(pk=order_id).first()


def sales_of(*, organization) -> QuerySet[Order]:
    """Paid orders for the creator organization's datasets."""
    return (
        Order.objects.filter(version__dataset__organization=organization)
        .exclude(status__in=[Order.Status.PENDING, Order.Status.CANCELED, Order.Status.EXPIRED])
        .select_related("organization", "version__dataset", "license")
        .order_by("-paid_at", "id")
    )


def orders_for_staff(*, status: str = "") -> QuerySet[Order]:
    orders = Order.objects.select_related("organization", "version__dataset", "invoice")
    if status:
        orders = orders.filter(status=status)
    return orders.order_by("-created_at", "id")
