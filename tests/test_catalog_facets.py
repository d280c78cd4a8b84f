"""Catalog facets agree with the filters: a value's count is how many listings the catalog
shows when that value is chosen in place of the facet's own choice, whatever else is chosen."""

import dataclasses

import pytest
from django.core.files.base import ContentFile

from licensing.models import Use
from licensing.services import add_license_option, set_license_option_active, update_license_option
from marketplace import selectors
from provenance import services as provenance
from provenance.models import Dataset

pytestmark = pytest.mark.django_db

CHOICES = {
    "modality": Dataset.Modality.values,
    "language": ["cy", "en", "fr"],
    "use": Use.values,
    "price": list(selectors.PRICE_BUCKETS),
    "authorship": selectors.AUTHORSHIP.values,
    "size": list(selectors.SIZE_BUCKETS),
    "exclusive": [True],
}


def hybrid_listing(cast, title: str):
    """A published text listing declared partly synthetic (the declaration is set before review)."""
    dataset = provenance.create_dataset(
        actor=cast.creator,
        organization=cast.creator_org,
        title=title,
        modality="text",
        languages=["en"],
    )
    version = dataset.versions.get()
    provenance.add_file(
        actor=cast.creator,
        version=version,
        path="data/records.jsonl",
        content=ContentFile(b'{"text": "one"}\n'),
    )
    provenance.update_declaration(
        actor=cast.creator,
        version=version,
        changes={
            "source_description": "Written by our members, expanded by a model.",
            "collection_method": "Typed by hand, then paraphrased.",
            "consent_basis": "own_work",
            "rights_holder": cast.creator_org.name,
            "opt_out_status": "not_applicable",
            "authorship": "hybrid",
            "synthetic_share_bps": 4000,
        },
    )
    provenance.ingest_version(version_id=version.pk)
    version = provenance.submit_version(actor=cast.creator, version=version)
    add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=dataset,
        name="Standard",
        terms={"permitted_uses": ["evaluation"], "price_minor": 200_000, "currency": "USD"},
    )
    provenance.approve_version(actor=cast.reviewer, version=version, reason="Looks right.")


@pytest.fixture
def catalog(cast, make_listing):
    voices = make_listing(
        "Harbour voices",
        modality="audio",
        languages=["cy", "en"],
        uses=["training"],
        price_minor=5_000,
    )
    # A withdrawn option counts for nothing: neither its use nor its price.
    withdrawn = add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=voices.dataset,
        name="Old retrieval terms",
        terms={"permitted_uses": ["retrieval"], "price_minor": 100, "currency": "USD"},
    )
    set_license_option_active(
        actor=cast.creator, organization=cast.creator_org, option=withdrawn, is_active=False
    )
    make_listing(
        "Harbour ledgers",
        modality="tabular",
        languages=["en"],
        uses=["evaluation", "retrieval"],
        price_minor=500_000,
    )
    tales = make_listing(
        "Harbour tales",
        modality="text",
        languages=["cy"],
        uses=["fine_tuning"],
        price_minor=5_000_000,
    )
    # Two active options: the listing is priced from the cheaper and offers both uses.
    add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=tales.dataset,
        name="Evaluation only",
        terms={"permitted_uses": ["evaluation"], "price_minor": 50_000, "currency": "EUR"},
    )
    charts = make_listing(
        "Harbour charts",
        modality="image",
        languages=["fr"],
        uses=["training", "evaluation"],
        price_minor=50_000,
    )
    for option in charts.dataset.license_options.all():
        update_license_option(
            actor=cast.creator,
            organization=cast.creator_org,
            option=option,
            name=option.name,
            terms={**option.terms_dict(), "is_exclusive": True},
        )
    hybrid_listing(cast, "Harbour paraphrases")
    make_listing("Inland songs", modality="audio", languages=["en"], uses=["training"])


def counted_by_filtering(filters: selectors.CatalogFilters) -> dict:
    """Each facet value's count, from the catalog's own filtering with that value chosen."""
    expected = {}
    for facet, values in CHOICES.items():
        counts = {}
        for value in values:
            chosen = dataclasses.replace(filters, **{facet: value})
            count = selectors.listings_for_catalog(filters=chosen).count()
            if count:
                counts["1" if value is True else value] = count
        expected[facet] = counts
    return expected


def counted_by_facets(filters: selectors.CatalogFilters) -> dict:
    return {
        facet: {item["value"]: item["count"] for item in items}
        for facet, items in selectors.catalog_facets(filters=filters).items()
    }


@pytest.mark.parametrize(
    "chosen",
    [
        {},
        {"q": "harbour"},
        {"q": "harbour", "modality": "audio"},
        {"q": "harbour", "use": "training", "language": "cy"},
        {"price": "under-1k", "exclusive": True},
        {"authorship": "hybrid", "use": "evaluation"},
        {"modality": "text", "language": "EN", "price": "1k-10k", "size": "small"},
        {"q": "harbour", "price_max_minor": 100_000, "use": "evaluation"},
        {"modality": "video"},
    ],
    ids=lambda chosen: ",".join(chosen) or "nothing",
)
def test_every_facet_count_is_what_choosing_that_value_shows(catalog, chosen):
    filters = selectors.CatalogFilters(**chosen)
    assert counted_by_facets(filters) == counted_by_filtering(filters)


def test_the_fixture_spreads_over_every_facet(catalog):
    facets = counted_by_facets(selectors.CatalogFilters(q="harbour"))
    assert facets["authorship"] == {"human": 4, "hybrid": 1}
    assert facets["price"] == {"under-1k": 3, "1k-10k": 2}
    assert facets["use"] == {"training": 2, "evaluation": 4, "fine_tuning": 1, "retrieval": 1}
    assert facets["exclusive"] == {"1": 1}
    assert facets["language"] == {"en": 3, "cy": 2, "fr": 1}
