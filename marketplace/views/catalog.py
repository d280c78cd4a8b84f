"""Public pages: the home page, the catalog and a dataset's page."""

from collections import Counter

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from marketplace import selectors
from marketplace.forms import CatalogFilterForm
from provenance.models import DatasetVersion
from provenance.selectors import files_of_version, quality_report_of

PAGE_SIZE = 12


def home(request):
    listings = list(selectors.recent_listings(limit=6))
    for listing in listings:
        listing.uses = selectors.permitted_uses_of(listing)
    return render(request, "marketplace/home.html", {"listings": listings})


def catalog(request):
    form = CatalogFilterForm(request.GET or None)
    filters = selectors.CatalogFilters()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = selectors.CatalogFilters(
            q=data["q"],
            modality=data["modality"],
            language=data["language"],
            use=data["use"],
            price_max_minor=data["price_max"],
            sort=data["sort"] or "newest",
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
        {"form": form, "page": page, "query_string": query.urlencode()},
    )


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
        },
    )
