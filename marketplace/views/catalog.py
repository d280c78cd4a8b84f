"""Public pages: the home page, the catalog and a dataset's page."""

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts.errors import DomainError
from accounts.views import add_domain_error
from licensing.odrl import MEDIA_TYPE as ODRL_MEDIA_TYPE
from licensing.odrl import odrl_for_option
from marketplace import selectors
from marketplace.forms import CatalogFilterForm, RightsClaimForm
from marketplace.services import exclusivity_conflict
from provenance.claims import check_claim_rate, file_claim
from provenance.models import DatasetVersion
from provenance.selectors import (
    files_of_version,
    media_type_summary,
    preview_thumbnail,
    quality_report_of,
)

PAGE_SIZE = 12
FILES_SHOWN = 50


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
    declaration = getattr(version, "declaration", None)
    return render(
        request,
        "marketplace/listing_detail.html",
        {
            "listing": listing,
            "dataset": listing.dataset,
            "version": version,
            "files": files_of_version(version=version)[:FILES_SHOWN],
            "files_shown": FILES_SHOWN,
            "media_types": media_type_summary(version=version),
            "versions": selectors.approved_versions_of(listing=listing),
            "lineage": selectors.lineage_of(listing=listing),
            "previews": selectors.listing_previews(listing=listing),
            "declaration": declaration,
            "options": listing.dataset.active_options,
            # An exclusive hold (agreed, reserved or sold) keeps Buy and Propose off the page.
            "hold": exclusivity_conflict(
                dataset=listing.dataset, is_exclusive=False, now=timezone.now()
            ),
            "uses": selectors.permitted_uses_of(listing),
            "quality": quality_report_of(version=version),
            "license_overlaps": selectors.overlaps_with_licenses(
                organization=getattr(request, "organization", None), version=version
            ),
        },
    )


def option_odrl(request, slug: str, option_id: str):
    """An active option of a published listing as an ODRL policy, downloaded as JSON-LD."""
    listing = selectors.listing_by_slug(slug=slug)
    option = next(
        (o for o in (listing.dataset.active_options if listing else []) if o.pk == option_id),
        None,
    )
    if option is None:
        raise Http404("No such license option on sale.")
    body = json.dumps(odrl_for_option(option), indent=2, ensure_ascii=False)
    response = HttpResponse(body.encode(), content_type=f"{ODRL_MEDIA_TYPE}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-{option.pk}.odrl.jsonld"'
    return response


def sample_image(request, slug: str, file_id: str):
    """A thumbnail of one of the images a published listing shows among its samples."""
    data_file = selectors.listing_preview_image(slug=slug, file_id=file_id)
    thumbnail = preview_thumbnail(data_file) if data_file is not None else None
    if thumbnail is None:
        raise Http404("No such sample.")
    response = HttpResponse(thumbnail, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=3600"
    return response


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
