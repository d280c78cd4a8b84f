"""Read queries of the marketplace: the public catalog."""

import operator
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import reduce

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth

from licensing.models import Agreement, Download, License, LicenseOption, RoyaltyStatement, Use
from marketplace.models import Listing, Order, OrderRefund, Payout
from provenance import selectors as provenance_selectors
from provenance.models import Dataset, DatasetVersion, ProvenanceDeclaration
from provenance.quality.measure import bps

# Every sort reads the listing's own columns (copied by services.refresh_search_fields).
SORTS = {
    "relevance": ("-relevance", "-published_at", "id"),
    "newest": ("-published_at", "id"),
    "price": ("price_from_minor", "id"),
    "-price": ("-price_from_minor", "id"),
    "size": ("-total_bytes", "id"),
    "title": ("title", "id"),
}

MiB = 1024 * 1024
# Facet buckets: key -> (label, lower bound inclusive, upper bound exclusive or None).
SIZE_BUCKETS = {
    "small": ("Under 100 MB", 0, 100 * MiB),
    "medium": ("100 MB to 10 GB", 100 * MiB, 10 * 1024 * MiB),
    "large": ("Over 10 GB", 10 * 1024 * MiB, None),
}
PRICE_BUCKETS = {
    "under-1k": ("Under 1,000", 0, 100_000),
    "1k-10k": ("1,000 to 10,000", 100_000, 1_000_000),
    "10k-plus": ("10,000 and more", 1_000_000, None),
}
AUTHORSHIP = ProvenanceDeclaration.Authorship
# How long the facet counts of the whole catalog (no query, no filter) are kept; see
# `catalog_facets`.
ALL_FACETS_CACHE_SECONDS = 60


@dataclass(frozen=True)
class CatalogFilters:
    q: str = ""
    modality: str = ""
    language: str = ""
    use: str = ""
    price_max_minor: int | None = None
    price: str = ""
    authorship: str = ""
    size: str = ""
    exclusive: bool = False
    sort: str = ""
    no_synthetic: bool = False
    few_duplicates: bool = False
    # Versions to leave out: what overlaps the viewer's licenses (see `overlapping_versions`).
    excluded_versions: frozenset[str] = frozenset()


def _active_options() -> QuerySet[LicenseOption]:
    return LicenseOption.objects.filter(is_active=True).order_by("price_minor", "id")


def _with_page_rows(listings: QuerySet[Listing]) -> QuerySet[Listing]:
    """What a catalog card shows beside the listing's own row, fetched for the listings
    returned only, one query each: the dataset with its creator, the version, the options."""
    return listings.prefetch_related(
        Prefetch("dataset", queryset=Dataset.objects.select_related("organization")),
        "version",
        Prefetch("dataset__license_options", queryset=_active_options(), to_attr="active_options"),
    )


def public_listings() -> QuerySet[Listing]:
    """Published listings with what a catalog card shows, in a constant number of queries."""
    return (
        Listing.objects.filter(status=Listing.Status.PUBLISHED)
        .select_related("dataset__organization", "version")
        .defer("search_document")
        .prefetch_related(
            Prefetch(
                "dataset__license_options", queryset=_active_options(), to_attr="active_options"
            )
        )
    )


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


def _search_query(q: str) -> SearchQuery:
    return SearchQuery(q, search_type="websearch", config="english")


def _matching(listings: QuerySet[Listing], q: str) -> QuerySet[Listing]:
    """Full-text matches: the stored tsvector (GIN) on PostgreSQL, LIKE on the dataset elsewhere."""
    if _on_postgres():
        return listings.filter(search_document=_search_query(q))
    for term in q.split():
        listings = listings.filter(
            Q(dataset__title__icontains=term)
            | Q(dataset__summary__icontains=term)
            | Q(dataset__description__icontains=term)
            | Q(dataset__tags__icontains=term)
        )
    return listings


def _relevance(q: str):
    """How well a matching listing answers `q`: ts_rank on PostgreSQL, weighted LIKE elsewhere."""
    if _on_postgres():
        return SearchRank(F("search_document"), _search_query(q))
    weights = (("title", 8), ("tags", 4), ("summary", 2), ("description", 1))
    score = Value(0)
    for term in q.split():
        for field, weight in weights:
            score = score + Case(
                When(**{f"dataset__{field}__icontains": term}, then=Value(weight)),
                default=Value(0),
            )
    return ExpressionWrapper(score, output_field=FloatField())


def _bucket(field: str, buckets: dict, key: str) -> Q:
    _, low, high = buckets[key]
    condition = Q(**{f"{field}__gte": low})
    if high is not None:
        condition &= Q(**{f"{field}__lt": high})
    return condition


# The filters that are also facets; `catalog_facets` counts each with all the others applied.
FACETS = frozenset({"modality", "language", "use", "price", "authorship", "size", "exclusive"})


def _has_element(field: str, value: str) -> Q:
    """A JSON list field holding `value`: containment on PostgreSQL (jsonb, answered by its GIN
    index), the quoted value in the list's text elsewhere."""
    if _on_postgres():
        return Q(**{f"{field}__contains": [value]})
    return Q(**{f"{field}__icontains": f'"{value}"'})


def _in_language(code: str) -> Q:
    return _has_element("languages", code.lower())


def _facet_values() -> dict[str, dict[str, Q]]:
    """Every value of the facets with a fixed set of values, as the test a listing passes to
    count under it (languages are counted from the listings' own lists)."""
    return {
        "modality": {value: Q(modality=value) for value in Dataset.Modality.values},
        "use": {use: _has_element("permitted_uses", use) for use in Use.values},
        "price": {key: _bucket("price_from_minor", PRICE_BUCKETS, key) for key in PRICE_BUCKETS},
        "authorship": {value: Q(authorship=value) for value in AUTHORSHIP.values},
        "size": {key: _bucket("total_bytes", SIZE_BUCKETS, key) for key in SIZE_BUCKETS},
        "exclusive": {"1": Q(has_exclusive_option=True)},
    }


def _chosen_facets(filters: CatalogFilters) -> dict[str, Q]:
    """The facet filters in use, each as the test a listing must pass. Values that are no
    facet value (the API refuses them; the form may pass an empty choice) filter nothing."""
    values = _facet_values()
    chosen = {
        "modality": filters.modality,
        "use": filters.use,
        "price": filters.price,
        "authorship": filters.authorship,
        "size": filters.size,
        "exclusive": "1" if filters.exclusive else "",
    }
    tests = {name: values[name][value] for name, value in chosen.items() if value in values[name]}
    if filters.language:
        tests["language"] = _in_language(filters.language)
    return tests


def _filtered(filters: CatalogFilters, *, skip: frozenset[str] = frozenset()) -> QuerySet[Listing]:
    """The published listings matching `filters`, leaving out the facet filters named in `skip`.

    Every test but the SQLite full-text fallback reads the listing's own columns. On
    PostgreSQL the covering index `marketplace_listing_facets` (migration 0012) holds each of
    them, so that counting without a query reads that index alone: keep it in step.
    """
    listings = Listing.objects.filter(status=Listing.Status.PUBLISHED).defer("search_document")
    if filters.q:
        listings = _matching(listings, filters.q)
    for name, test in _chosen_facets(filters).items():
        if name not in skip:
            listings = listings.filter(test)
    if filters.price_max_minor is not None:
        listings = listings.filter(price_from_minor__lte=filters.price_max_minor)
    # Quality filters (the measured card) keep only listings whose version was measured: the
    # copied figures are null until its report is done.
    if filters.no_synthetic:
        listings = listings.filter(has_measured_synthetic_signals=False)
    if filters.few_duplicates:
        listings = listings.filter(measured_near_duplicate_bps__lt=100)
    if filters.excluded_versions:
        listings = listings.exclude(version_id__in=filters.excluded_versions)
    return listings


def listings_for_catalog(*, filters: CatalogFilters) -> QuerySet[Listing]:
    """The public catalog, searched, filtered and sorted. Everybody sees the same catalog.

    Searched, filtered, ranked and sorted on the listing rows alone (on PostgreSQL); the
    dataset, its creator, the version and the active options of the listings returned are
    fetched afterwards, one query each, whatever the page size. Ranked only when sorted by
    relevance, so counting the matches ranks nothing.
    """
    listings = _filtered(filters)
    sort = filters.sort or ("relevance" if filters.q else "newest")
    if sort == "relevance" and not filters.q:
        sort = "newest"
    if sort == "relevance":
        listings = listings.annotate(relevance=_relevance(filters.q))
    return _with_page_rows(listings).order_by(*SORTS.get(sort, SORTS["newest"]))


def catalog_facets(*, filters: CatalogFilters) -> dict[str, list[dict]]:
    """Counts per facet value over the matching listings.

    Each facet counts with every filter but its own applied, so choosing a value still shows
    how many listings the other values of that facet would give. One query on the listing rows
    alone, whatever the filters: the listings matching the search and the filters that are not
    facets, grouped by their list of languages (a few hundred lists), with a conditional count
    per facet value that applies the other facets' filters, and one for the languages that
    applies all but the language filter.

    The counts of the whole catalog (no query, no filter: the catalog's first page) are
    cached for ALL_FACETS_CACHE_SECONDS under the time of the newest refresh of any listing,
    which every change of what the facets count moves on: a change shows at once, unless two
    changes commit out of the order of their refreshes (then it shows within that time).
    """
    if replace(filters, sort="") != CatalogFilters():
        return _counted_facets(filters)
    newest = Listing.objects.aggregate(newest=Max("search_refreshed_at"))["newest"]
    key = f"marketplace:catalog-facets:{newest.isoformat() if newest else 'none'}"
    facets = cache.get(key)
    if facets is None:
        facets = _counted_facets(filters)
        cache.set(key, facets, ALL_FACETS_CACHE_SECONDS)
    return facets


def _all_of(tests) -> Q:
    return reduce(operator.and_, tests, Q())


def _counted_facets(filters: CatalogFilters) -> dict[str, list[dict]]:
    chosen = _chosen_facets(filters)

    def others(facet: str) -> Q:
        return _all_of(test for name, test in chosen.items() if name != facet)

    columns = {}
    for facet, values in _facet_values().items():
        for index, (value, test) in enumerate(values.items()):
            columns[f"{facet}_{index}"] = (facet, value, Count("pk", filter=test & others(facet)))
    language_test = others("language")
    by_languages = Count("pk", filter=language_test) if language_test else Count("pk")
    rows = (
        _filtered(filters, skip=FACETS)
        .order_by()
        .values("languages")
        .annotate(in_languages=by_languages, **{name: c[2] for name, c in columns.items()})
    )
    counts = {facet: Counter() for facet in (*_facet_values(), "language")}
    for row in rows:
        for name, (facet, value, _) in columns.items():
            counts[facet][value] += row[name]
        for code in set(row["languages"] or []):
            counts["language"][code] += row["in_languages"]

    def choices(values, facet: str) -> list[dict]:
        return [
            {"value": value, "label": label, "count": counts[facet][value]}
            for value, label in values
            if counts[facet][value]
        ]

    return {
        "modality": choices(Dataset.Modality.choices, "modality"),
        "language": [
            {"value": code, "label": code, "count": n}
            for code, n in sorted(counts["language"].items(), key=lambda item: (-item[1], item[0]))
            if n
        ],
        "use": choices(Use.choices, "use"),
        "price": choices([(k, v[0]) for k, v in PRICE_BUCKETS.items()], "price"),
        "authorship": choices(AUTHORSHIP.choices, "authorship"),
        "size": choices([(k, v[0]) for k, v in SIZE_BUCKETS.items()], "size"),
        "exclusive": choices([("1", "Exclusive license offered")], "exclusive"),
    }


# --- Overlap with what a buyer already licenses (the quality card's novelty index) ---------


def licensed_version_ids(*, organization) -> list[str]:
    """Versions the organization holds a license to: active, expired or suspended ones (it
    received those records either way); revoked licenses don't count."""
    from licensing.models import License

    if organization is None:
        return []
    return list(
        License.objects.filter(organization=organization)
        .exclude(status=License.Status.REVOKED)
        .values_list("version_id", flat=True)
        .distinct()
    )


def overlapping_versions(*, organization) -> frozenset[str]:
    """Approved versions the "no overlap with my licenses" filter hides for the organization:
    the licensed versions themselves and every version with at least one record present in
    one of them (per the novelty index). Empty for no organization."""
    licensed = licensed_version_ids(organization=organization)
    if not licensed:
        return frozenset()
    return frozenset(licensed) | frozenset(provenance_selectors.record_overlaps(against=licensed))


def overlaps_with_licenses(*, organization, version) -> list[dict]:
    """For the dataset page: which of the organization's licensed datasets already hold this
    version's records, largest share first, as `{dataset_title, dataset_slug, version_id,
    records, share_bps}`. The share is of the version's indexed records."""
    licensed = licensed_version_ids(organization=organization)
    if not licensed or version.pk in licensed:
        return []
    found = provenance_selectors.record_overlaps(against=licensed, versions=[version.pk])
    counts = found.get(version.pk, {})
    if not counts:
        return []
    indexed = provenance_selectors.indexed_records_of(version_id=version.pk) or 1
    from provenance.models import DatasetVersion

    others = DatasetVersion.objects.filter(pk__in=counts).select_related("dataset")
    overlaps = [
        {
            "version_id": other.pk,
            "dataset_title": other.dataset.title,
            "dataset_slug": other.dataset.slug,
            "records": counts[other.pk],
            "share_bps": min(10_000, bps(counts[other.pk], indexed)),
        }
        for other in others
    ]
    overlaps.sort(key=lambda item: (-item["share_bps"], item["version_id"]))
    return overlaps


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


# --- A dataset's page: versions, lineage and samples --------------------------------------


def approved_versions_of(*, listing: Listing) -> QuerySet[DatasetVersion]:
    """The dataset's approved versions, newest first (what its page lists with their dates)."""
    return DatasetVersion.objects.filter(
        dataset_id=listing.dataset_id, status=DatasetVersion.Status.APPROVED
    ).order_by("-number", "id")


@dataclass(frozen=True)
class LineageLink:
    title: str
    organization: str
    version_number: int
    slug: str  # empty when that dataset is not in the catalog: named, not linked


@dataclass(frozen=True)
class Lineage:
    parents: list[LineageLink]
    derivatives: list[LineageLink]


def lineage_of(*, listing: Listing) -> Lineage:
    """What the listing's version declares it was derived from, and the published datasets
    whose shown version declares any version of this dataset as a parent."""
    published = Listing.objects.filter(status=Listing.Status.PUBLISHED)
    parents = (
        DatasetVersion.objects.filter(derivatives__version=listing.version_id)
        .select_related("dataset__organization")
        .annotate(
            listed=Exists(published.filter(dataset_id=OuterRef("dataset_id"))),
        )
        .order_by("dataset__title", "number", "id")
    )
    derivatives = (
        published.filter(version__declaration__parents__dataset=listing.dataset_id)
        .exclude(dataset_id=listing.dataset_id)
        .select_related("dataset__organization", "version")
        .distinct()
        .order_by("dataset__title", "id")
    )
    return Lineage(
        parents=[
            LineageLink(
                title=version.dataset.title,
                organization=version.dataset.organization.name,
                version_number=version.number,
                slug=version.dataset.slug if version.listed else "",
            )
            for version in parents
        ],
        derivatives=[
            LineageLink(
                title=derived.dataset.title,
                organization=derived.dataset.organization.name,
                version_number=derived.version.number,
                slug=derived.dataset.slug,
            )
            for derived in derivatives
        ],
    )


def _shows_approved_version(listing: Listing) -> bool:
    return (
        listing.status == Listing.Status.PUBLISHED
        and listing.version.status == DatasetVersion.Status.APPROVED
    )


def listing_previews(*, listing: Listing) -> list[provenance_selectors.FilePreview]:
    """Samples of the files of the listing's published, approved version, and of no other."""
    if not _shows_approved_version(listing):
        return []
    return provenance_selectors.file_previews(version=listing.version)


def listing_preview_image(*, slug: str, file_id: str):
    """The image `file_id` when the published listing `slug` shows it among its samples."""
    listing = listing_by_slug(slug=slug)
    if listing is None or not _shows_approved_version(listing):
        return None
    return provenance_selectors.preview_image(version=listing.version, file_id=file_id)


# --- Checkout ----------------------------------------------------------------------------


def orders_of(*, organization) -> QuerySet[Order]:
    """The buyer organization's orders, newest first."""
    return (
        Order.objects.filter(organization=organization)
        .select_related("version__dataset", "option", "invoice", "license")
        .order_by("-created_at", "id")
    )


def agreement_to_order(*, organization, agreement_id: str) -> Agreement | None:
    """An agreement the buyer organization accepted, with what its checkout page shows; None
    for an unknown id or another organization's agreement (the creator's side included)."""
    return (
        Agreement.objects.filter(pk=agreement_id, buyer_org=organization)
        .select_related("dataset__listing__version", "creator_org", "proposal", "offer")
        .first()
    )


def live_order_of_agreement(*, agreement: Agreement, now) -> Order | None:
    """The agreement's order that is awaiting payment or paid, if any (one at a time)."""
    return (
        Order.objects.filter(agreement=agreement)
        .filter(
            Q(status=Order.Status.PENDING, expires_at__gt=now) | Q(status__in=Order.PAID_STATES)
        )
        .order_by("-created_at", "id")
        .first()
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


# --- Signed manifests and Croissant of approved versions (issue 8) ---


def documented_version(*, viewer, organization, version_id: str):
    """An approved (or suspended) version whose manifest and Croissant the viewer may read.

    Readable by staff, by the creator organization, by an organization holding a license to it
    (in any status: a buyer checks what it received long after), and by anyone while a
    published listing shows it (the catalog shows the same files and declaration). Anything
    else, drafts included, is None, which the API answers with 404.
    """
    from licensing.models import License
    from provenance.models import DatasetVersion

    version = (
        DatasetVersion.objects.filter(pk=version_id, status__in=DatasetVersion.FROZEN_STATUSES)
        .select_related("dataset__organization")
        .first()
    )
    if version is None:
        return None
    if viewer is not None and viewer.is_authenticated and viewer.is_staff:
        return version
    if organization is not None and (
        version.dataset.organization_id == organization.pk
        or License.objects.filter(organization=organization, version=version).exists()
    ):
        return version
    if Listing.objects.filter(version=version, status=Listing.Status.PUBLISHED).exists():
        return version
    return None


# --- Royalties, payouts and dashboards -----------------------------------------------------


def royalty_statements_of(*, organization) -> QuerySet:
    return RoyaltyStatement.objects.filter(organization=organization).select_related("payout")


def royalty_statement_of(*, organization, statement_id: str):
    """One of the organization's statements with its lines, or None (another org's too)."""
    return (
        RoyaltyStatement.objects.filter(organization=organization, pk=statement_id)
        .prefetch_related("lines__dataset")
        .first()
    )


def payouts_of(*, organization) -> QuerySet:
    return Payout.objects.filter(organization=organization).select_related("statement")


def payout_of(*, organization, payout_id: str):
    return payouts_of(organization=organization).filter(pk=payout_id).first()


def pending_payouts(*, organization) -> list:
    """Statements owed money and not yet paid, with their payout where one exists."""
    return [
        statement
        for statement in royalty_statements_of(organization=organization).filter(net_minor__gt=0)
        if getattr(statement, "payout", None) is None
        or statement.payout.status != Payout.Status.PAID
    ]


def _month_keys(*, now, months: int) -> list:
    first = now.date().replace(day=1)
    keys = []
    for _ in range(months):
        keys.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(keys))


def creator_revenue_by_month(*, organization, now, months: int = 12) -> dict[str, list]:
    """The creator's share per month and currency: sales net of the platform fee, less refunds
    net of the fee they returned, each in the month it happened. `{currency: [(month, minor)]}`."""
    keys = _month_keys(now=now, months=months)
    since = datetime(keys[0].year, keys[0].month, 1, tzinfo=UTC)
    totals: dict[str, dict] = {}
    sales = (
        Order.objects.filter(version__dataset__organization=organization, paid_at__gte=since)
        .annotate(month=TruncMonth("paid_at"))
        .values("month", "currency")
        .annotate(total=Sum("creator_share_minor"))
    )
    for row in sales:
        totals.setdefault(row["currency"], {}).setdefault(row["month"].date(), 0)
        totals[row["currency"]][row["month"].date()] += row["total"]
    refunds = (
        OrderRefund.objects.filter(
            order__version__dataset__organization=organization, refunded_at__gte=since
        )
        .annotate(month=TruncMonth("refunded_at"))
        .values("month", "order__currency")
        .annotate(total=Sum(F("amount_minor") - F("platform_fee_minor")))
    )
    for row in refunds:
        by_month = totals.setdefault(row["order__currency"], {})
        by_month[row["month"].date()] = by_month.get(row["month"].date(), 0) - row["total"]
    return {
        currency: [(key, by_month.get(key, 0)) for key in keys]
        for currency, by_month in sorted(totals.items())
    }


def buyer_spend_by_month(*, organization, now, months: int = 12) -> dict[str, list]:
    """What the buyer paid per month and currency, less refunds in the month they came."""
    keys = _month_keys(now=now, months=months)
    since = datetime(keys[0].year, keys[0].month, 1, tzinfo=UTC)
    totals: dict[str, dict] = {}
    paid = (
        Order.objects.filter(organization=organization, paid_at__gte=since)
        .annotate(month=TruncMonth("paid_at"))
        .values("month", "currency")
        .annotate(total=Sum("amount_minor"))
    )
    for row in paid:
        totals.setdefault(row["currency"], {})[row["month"].date()] = row["total"]
    refunds = (
        OrderRefund.objects.filter(order__organization=organization, refunded_at__gte=since)
        .annotate(month=TruncMonth("refunded_at"))
        .values("month", "order__currency")
        .annotate(total=Sum("amount_minor"))
    )
    for row in refunds:
        by_month = totals.setdefault(row["order__currency"], {})
        by_month[row["month"].date()] = by_month.get(row["month"].date(), 0) - row["total"]
    return {
        currency: [(key, by_month.get(key, 0)) for key in keys]
        for currency, by_month in sorted(totals.items())
    }


def dataset_license_counts(*, organization) -> QuerySet:
    """The creator's datasets with how many licenses were granted and files downloaded."""
    licenses = (
        License.objects.filter(version__dataset=OuterRef("pk"))
        .order_by()
        .values("version__dataset")
        .annotate(n=Count("pk"))
        .values("n")
    )
    downloads = (
        Download.objects.filter(license__version__dataset=OuterRef("pk"))
        .order_by()
        .values("license__version__dataset")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Dataset.objects.filter(organization=organization)
        .annotate(
            license_count=Coalesce(Subquery(licenses), 0),
            download_count=Coalesce(Subquery(downloads), 0),
        )
        .order_by("-license_count", "title", "id")
    )


def expiring_licenses(*, organization, now, days: int = 30) -> QuerySet:
    return (
        License.objects.filter(
            organization=organization,
            status=License.Status.ACTIVE,
            ends_at__gt=now,
            ends_at__lte=now + timedelta(days=days),
        )
        .select_related("version__dataset")
        .order_by("ends_at", "id")
    )


def active_licenses_count(*, organization) -> int:
    return License.objects.filter(organization=organization, status=License.Status.ACTIVE).count()


def usage_reports_due(*, organization, now) -> list[License]:
    """Active metered licenses: their usage is billed from reports, due every month."""
    return list(
        License.objects.filter(
            organization=organization,
            status=License.Status.ACTIVE,
            terms__price_model="metered",
        )
        .select_related("version__dataset")
        .order_by("created_at", "id")[:50]
    )
