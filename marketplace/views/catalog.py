"""Public pages: the home page, the catalog and a dataset's page."""

from collections import Counter

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render

from accounts.errors import DomainError
from accounts.views import add_domain_error
from marketplace import selectors
from marketplace.forms import CatalogFilterForm, RightsClaimForm
from provenance.claims import check_claim_rate, file_claim
from provenance.models import DatasetVersion
from provenance.selectors import files_of_version, quality_report_of

PAGE_SIZE = 12


def home(request):
    listings = list(selectors.recent_listings(limit=6))
    for listing in listings:
        listing.uses = selectors.permitted_uses_of(listing)
    return render(request, "marketplace/home.html", {"listings": listings})


def catalog(request):
    organization = getattr(request, "organization", None)
    has_licenses = bool(selectors.licensed_version_ids(organization=organization))
    form = CatalogFilterForm(request.GET or None, has_licenses=has_licenses)
    filters = selectors.CatalogFilters()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = selectors.CatalogFilters(
            q=data["q"],
            modality=data["modality"],
            language=data["language"],
            use=data["use"],
            price_max_minor=data["price_max"],
            price=data["price"],
            authorship=data["authorship"],
            size=data["size"],
            exclusive=data["exclusive"],
            sort=data["sort"],
            no_synthetic=data["no_synthetic"],
            few_duplicates=data["few_duplicates"],
            excluded_versions=selectors.overlapping_versions(organization=organization)
            if data.get("no_overlap")
            else frozenset(),
        )
    page = Paginator(selectors.listings_for_catalog(filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for listing in page.object_list:
        listing.uses = selectors.permitted_uses_of(listing)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "marketplace/catalog.html",
        {
            "form": form,
            "page": page,
            "query_string": query.urlencode(),
            "facets": _facet_links(request, selectors.catalog_facets(filters=filters)),
        },
    )


FACET_TITLES = {
    "modality": "Modality",
    "language": "Language",
    "use": "Permitted use",
    "price": "Price",
    "authorship": "Authorship",
    "size": "Size",
    "exclusive": "Exclusivity",
}


def _facet_links(request, facets: dict) -> list[dict]:
    """Each facet value with its count and a link that chooses it, or clears it when chosen."""
    groups = []
    for name, values in facets.items():
        links = []
        for value in values:
            query = request.GET.copy()
            query.pop("page", None)
            chosen = query.get(name) == value["value"]
            if chosen:
                query.pop(name)
            else:
                query[name] = value["value"]
            links.append({**value, "chosen": chosen, "href": "?" + query.urlencode()})
        if links:
            groups.append({"name": name, "title": FACET_TITLES[name], "values": links})
    return groups


def listing_detail(request, slug: str):
    listing = selectors.listing_by_slug(slug=slug)
    if listing is None:
        raise Http404("No published dataset has this address.")
    version: DatasetVersion = listing.version
    files = list(files_of_version(version=version))
    media_types = Counter(data_file.media_type or "unknown" for data_file in files)
    declaration = getattr(version, "declaration", None)
    return render(
        request,
        "marketplace/listing_detail.html",
        {
            "listing": listing,
            "dataset": listing.dataset,
            "version": version,
            "files": files[:50],
            "file_total": len(files),
            "media_types": media_types.most_common(),
            "declaration": declaration,
            "options": listing.dataset.active_options,
            "uses": selectors.permitted_uses_of(listing),
            "quality": quality_report_of(version=version),
            "license_overlaps": selectors.overlaps_with_licenses(
                organization=getattr(request, "organization", None), version=version
            ),
        },
    )


def client_address(request) -> str:
    # REMOTE_ADDR, not a forwarded header a client could forge; a proxy in front sets it.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def listing_claim(request, slug: str):
    """The public rights-claim form of a listing (throttled per address and hour)."""
    listing = selectors.listing_by_slug(slug=slug)
    if listing is None:
        raise Http404("No published dataset has this address.")
    form = RightsClaimForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                check_claim_rate(client_key=client_address(request))
                data = dict(form.cleaned_data)
                file_claim(dataset=listing.dataset, evidence=data.pop("evidence"), **data)
            except DomainError as error:
                add_domain_error(form, error)
                status = error.status if error.status == 429 else 400
            else:
                messages.success(
                    request,
                    "Your claim was filed. A reviewer will look at it and write to you.",
                )
                return redirect("catalog:detail", slug=slug)
    return render(
        request,
        "marketplace/claim_form.html",
        {"listing": listing, "dataset": listing.dataset, "form": form},
        status=status,
    )
