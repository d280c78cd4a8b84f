"""Read queries of the marketplace: the public catalog."""

import operator
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Max,
    Min,
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

SORTS = {
    "relevance": ("-relevance", "-published_at", "id"),
    "newest": ("-published_at", "id"),
    "price": ("price_from_minor", "id"),
    "-price": ("-price_from_minor", "id"),
    "size": ("-version__total_bytes", "id"),
    "title": ("dataset__title", "id"),
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


def public_listings() -> QuerySet[Listing]:
    """Published listings with what a catalog card shows, in a constant number of queries.

    The price a listing is offered from is its own column, copied from its cheapest active
    option (services.refresh_search_fields).
    """
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


def _search(listings: QuerySet[Listing], q: str) -> QuerySet[Listing]:
    """Full-text search: ranked tsvector matches on PostgreSQL, a weighted LIKE elsewhere."""
    if _on_postgres():
        query = SearchQuery(q, search_type="websearch", config="english")
        return listings.filter(search_document=query).annotate(
            relevance=SearchRank(F("search_document"), query)
        )
    for term in q.split():
        listings = listings.filter(
            Q(dataset__title__icontains=term)
            | Q(dataset__summary__icontains=term)
            | Q(dataset__description__icontains=term)
            | Q(dataset__tags__icontains=term)
        )
    weights = (("title", 8), ("tags", 4), ("summary", 2), ("description", 1))
    score = Value(0)
    for term in q.split():
        for field, weight in weights:
            score = score + Case(
                When(**{f"dataset__{field}__icontains": term}, then=Value(weight)),
                default=Value(0),
            )
    return listings.annotate(relevance=ExpressionWrapper(score, output_field=FloatField()))


def _bucket(field: str, buckets: dict, key: str) -> Q:
    _, low, high = buckets[key]
    condition = Q(**{f"{field}__gte": low})
    if high is not None:
        condition &= Q(**{f"{field}__lt": high})
    return condition


# The filters that are also facets; `catalog_facets` counts each with all the others applied.
FACETS = frozenset({"modality", "language", "use", "price", "authorship", "size", "exclusive"})


def _permits(use: str) -> Q:
    """License options whose permitted uses include `use`.

    PostgreSQL tests the jsonb array itself (twice as fast as matching its text, which counts
    once per matching listing in the use facet); other databases match the quoted value.
    """
    if _on_postgres():
        return Q(permitted_uses__contains=[use])
    return Q(permitted_uses__icontains=f'"{use}"')


def _in_language(code: str) -> Q:
    return Q(dataset__languages__icontains=f'"{code.lower()}"')


def _filtered(filters: CatalogFilters, *, skip: frozenset[str] = frozenset()) -> QuerySet[Listing]:
    """The published listings matching `filters`, leaving out the facet filters named in `skip`."""
    listings = public_listings()
    if filters.q:
        listings = _search(listings, filters.q)
    if filters.modality in Dataset.Modality.values and "modality" not in skip:
        listings = listings.filter(dataset__modality=filters.modality)
    if filters.language and "language" not in skip:
        listings = listings.filter(_in_language(filters.language))
    if filters.use in Use.values and "use" not in skip:
        listings = listings.filter(
            Exists(
                LicenseOption.objects.filter(
                    _permits(filters.use), dataset=OuterRef("dataset_id"), is_active=True
                )
            )
        )
    if filters.price_max_minor is not None:
        listings = listings.filter(price_from_minor__lte=filters.price_max_minor)
    if filters.price in PRICE_BUCKETS and "price" not in skip:
        listings = listings.filter(_bucket("price_from_minor", PRICE_BUCKETS, filters.price))
    if filters.authorship in AUTHORSHIP.values and "authorship" not in skip:
        listings = listings.filter(version__declaration__authorship=filters.authorship)
    if filters.size in SIZE_BUCKETS and "size" not in skip:
        listings = listings.filter(_bucket("version__total_bytes", SIZE_BUCKETS, filters.size))
    if filters.exclusive and "exclusive" not in skip:
        listings = listings.filter(_exclusive_available())
    # Quality filters (the measured card) keep only listings whose version was measured.
    if filters.no_synthetic:
        listings = listings.filter(
            version__quality_report__state="done",
            version__quality_report__has_synthetic_signals=False,
        )
    if filters.few_duplicates:
        listings = listings.filter(
            version__quality_report__state="done",
            version__quality_report__near_duplicate_bps__lt=100,
        )
    if filters.excluded_versions:
        listings = listings.exclude(version_id__in=filters.excluded_versions)
    return listings


def _exclusive_available() -> Exists:
    return Exists(
        LicenseOption.objects.filter(
            dataset=OuterRef("dataset_id"), is_active=True, is_exclusive=True
        )
    )


def listings_for_catalog(*, filters: CatalogFilters) -> QuerySet[Listing]:
    """The public catalog, searched, filtered and sorted. Everybody sees the same catalog.

    Ranked and sorted on the listing rows alone; the dataset, its creator and the version of a
    page's listings are fetched afterwards for that page only (one query each). Joined into the
    ranking query, PostgreSQL would carry every match's joined row through the sort before
    keeping a page of them: ten times slower for a term in a sixth of 100,000 listings.
    """
    listings = _filtered(filters)
    sort = filters.sort or ("relevance" if filters.q else "newest")
    if sort == "relevance" and not filters.q:
        sort = "newest"
    return (
        listings.select_related(None)
        .prefetch_related("dataset__organization", "version")
        .order_by(*SORTS.get(sort, SORTS["newest"]))
    )


# What `_options_summary` packs into one integer per listing: a bit per permitted use, a bit for
# an exclusive option, and, counted in units above those bits, the cheapest price bucket.
_USE_BITS = {use: 1 << index for index, use in enumerate(Use.values)}
_EXCLUSIVE_BIT = 1 << len(_USE_BITS)
_PRICE_UNIT = _EXCLUSIVE_BIT << 1
_PRICE_KEYS = list(PRICE_BUCKETS)


def _options_summary() -> Subquery:
    """Per listing, its active license options in one integer (see `_USE_BITS`), or null.

    One correlated subquery instead of one per fact: on PostgreSQL each costs an index probe
    into the options for every matching listing, which is what facets of a common term spend.
    The cheapest option's price bucket is the lowest of the options' buckets.
    """
    uses = [
        Max(Case(When(_permits(use), then=Value(bit)), default=Value(0)))
        for use, bit in _USE_BITS.items()
    ]
    exclusive = Max(Case(When(is_exclusive=True, then=Value(_EXCLUSIVE_BIT)), default=Value(0)))
    price = Min(
        Case(
            *[
                When(_bucket("price_minor", PRICE_BUCKETS, key), then=Value(index))
                for index, key in enumerate(_PRICE_KEYS)
            ]
        )
    )
    summary = reduce(operator.add, uses) + exclusive + price * Value(_PRICE_UNIT)
    options = (
        LicenseOption.objects.filter(dataset=OuterRef("dataset_id"), is_active=True)
        .order_by()
        .values("dataset")
        .annotate(summary=summary)
        .values("summary")
    )
    return Subquery(options, output_field=IntegerField())


def _unpack_options(summary: int | None) -> tuple[str | None, frozenset[str], bool]:
    """An options summary as (cheapest price bucket, permitted uses, exclusive offered)."""
    if summary is None:
        return None, frozenset(), False
    uses = frozenset(use for use, bit in _USE_BITS.items() if summary & bit)
    return _PRICE_KEYS[summary // _PRICE_UNIT], uses, bool(summary & _EXCLUSIVE_BIT)


def _chosen_facets(filters: CatalogFilters) -> dict:
    """The facet filters in use, each as a test of a group's facts: `_filtered`'s rules."""
    tests = {}
    if filters.modality in Dataset.Modality.values:
        tests["modality"] = lambda facts: facts["modality"] == filters.modality
    if filters.language:
        tests["language"] = lambda facts: facts["language"]
    if filters.use in Use.values:
        tests["use"] = lambda facts: filters.use in facts["use"]
    if filters.price in PRICE_BUCKETS:
        tests["price"] = lambda facts: facts["price"] == filters.price
    if filters.authorship in AUTHORSHIP.values:
        tests["authorship"] = lambda facts: facts["authorship"] == filters.authorship
    if filters.size in SIZE_BUCKETS:
        tests["size"] = lambda facts: facts["size"] == filters.size
    if filters.exclusive:
        tests["exclusive"] = lambda facts: facts["exclusive"]
    return tests


def catalog_facets(*, filters: CatalogFilters) -> dict[str, list[dict]]:
    """Counts per facet value over the matching listings.

    Each facet counts with every filter but its own applied, so choosing a value still shows
    how many listings the other values of that facet would give. Two queries whatever the
    filters. The first groups the listings matching the search and the filters that are not
    facets by modality, authorship, size bucket and a summary of their license options (a few
    thousand groups at most); each facet sums the groups that pass every other facet's
    filter. The second counts the languages, with every filter but the language applied.
    (Grouping by languages in the first would make nearly every listing a group of its own.)
    """
    sizes = Case(
        *[
            When(_bucket("version__total_bytes", SIZE_BUCKETS, key), then=Value(key))
            for key in SIZE_BUCKETS
        ],
        default=Value(""),
    )
    columns = [
        F("dataset__modality"),
        F("version__declaration__authorship"),
        sizes,
        _options_summary(),
    ]
    if filters.language:
        columns.append(Case(When(_in_language(filters.language), then=1), default=0))
    rows = _filtered(filters, skip=FACETS).order_by().values_list(*columns).annotate(n=Count("pk"))
    tests = _chosen_facets(filters)
    counts = {name: Counter() for name in ("modality", "authorship", "size", "price", "use")}
    exclusive = 0
    for modality, authorship, size, summary, *in_language, n in rows:
        price, permitted, is_exclusive = _unpack_options(summary)
        facts = {
            "modality": modality,
            "authorship": authorship,
            "size": size,
            "price": price,
            "use": permitted,
            "exclusive": is_exclusive,
            "language": bool(in_language and in_language[0]),
        }
        failed = {name for name, test in tests.items() if not test(facts)}
        if len(failed) > 1:
            continue  # left out by two facets' filters, so by all the others of any one facet
        for name in ("modality", "authorship", "size", "price"):
            if not failed - {name}:
                counts[name][facts[name]] += n
        if not failed - {"use"}:
            for use in permitted:
                counts["use"][use] += n
        if is_exclusive and not failed - {"exclusive"}:
            exclusive += n
    languages: Counter = Counter()
    for codes, n in (
        _filtered(filters, skip=frozenset({"language"}))
        .order_by()
        .values_list("dataset__languages")
        .annotate(n=Count("pk"))
    ):
        for code in set(codes or []):
            languages[code] += n

    def choices(values, facet: Counter) -> list[dict]:
        return [
            {"value": value, "label": label, "count": facet[value]}
            for value, label in values
            if facet[value]
        ]

    return {
        "modality": choices(Dataset.Modality.choices, counts["modality"]),
        "language": [
            {"value": code, "label": code, "count": n}
            for code, n in sorted(languages.items(), key=lambda item: (-item[1], item[0]))
        ],
        "use": choices(Use.choices, counts["use"]),
        "price": choices([(k, v[0]) for k, v in PRICE_BUCKETS.items()], counts["price"]),
        "authorship": choices(AUTHORSHIP.choices, counts["authorship"]),
        "size": choices([(k, v[0]) for k, v in SIZE_BUCKETS.items()], counts["size"]),
        "exclusive": [{"value": "1", "label": "Exclusive license offered", "count": exclusive}]
        if exclusive
        else [],
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
