"""Catalog search: ranking, facets with counts, sorting, on SQLite and PostgreSQL alike."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing.services import update_license_option
from marketplace import selectors
from tests.helpers import require

LISTINGS = "/api/v1/listings/"


def _titles(api_client, **params):
    return [item["title"] for item in api_client.get(LISTINGS, params).json()["results"]]


def test_a_title_match_ranks_above_a_description_match(api_client, make_listing):
    make_listing(
        "Harbour sounds",
        summary="Field recordings.",
        description="Gulls and ropes; includes a few lighthouse foghorns.",
    )
    make_listing("Lighthouse keepers' logs", summary="Handwritten logs.", description="Weather.")
    make_listing("Unrelated", summary="Nothing here.", description="Plain text.")
    assert _titles(api_client, q="lighthouse") == ["Lighthouse keepers' logs", "Harbour sounds"]


def test_tags_rank_between_title_and_description(api_client, make_listing):
    make_listing("Alpha", description="about otters in rivers")
    make_listing("Beta", tags=["otters"])
    make_listing("Otters of the north")
    assert _titles(api_client, q="otters") == ["Otters of the north", "Beta", "Alpha"]


def test_search_follows_edits_of_the_dataset(api_client, make_listing, cast):
    from provenance import services as provenance

    listing = make_listing("Old name")
    assert _titles(api_client, q="seabirds") == []
    provenance.update_dataset(
        actor=cast.creator, dataset=listing.dataset, changes={"title": "Seabirds at dawn"}
    )
    assert _titles(api_client, q="seabirds") == ["Seabirds at dawn"]


def test_facets_count_matches_with_every_other_filter_applied(api_client, make_listing):
    make_listing("Tales one", modality="text", languages=["en"], uses=["training"])
    make_listing("Tales two", modality="text", languages=["cy", "en"], uses=["evaluation"])
    make_listing("Tales sung", modality="audio", languages=["cy"], uses=["training"])
    body = api_client.get(LISTINGS, {"q": "tales", "facets": "true"}).json()
    facets = {
        name: {v["value"]: v["count"] for v in values} for name, values in body["facets"].items()
    }
    assert facets["modality"] == {"text": 2, "audio": 1}
    assert facets["language"] == {"en": 2, "cy": 2}
    assert facets["use"] == {"training": 2, "evaluation": 1}
    assert facets["authorship"] == {"human": 3}
    assert facets["size"] == {"small": 3}

    narrowed = api_client.get(
        LISTINGS, {"q": "tales", "modality": "text", "language": "cy", "facets": "true"}
    ).json()
    assert [item["title"] for item in narrowed["results"]] == ["Tales two"]
    modality = {v["value"]: v["count"] for v in narrowed["facets"]["modality"]}
    # The modality facet ignores its own choice: with Welsh, one text and one audio listing.
    assert modality == {"text": 1, "audio": 1}
    language = {v["value"]: v["count"] for v in narrowed["facets"]["language"]}
    assert language == {"en": 2, "cy": 1}


def test_exclusive_facet_and_filter(api_client, make_listing, cast):
    plain = make_listing("Plain")
    exclusive = make_listing("Exclusive one")
    option = exclusive.dataset.license_options.get()
    update_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        option=option,
        name=option.name,
        terms={**option.terms_dict(), "is_exclusive": True},
    )
    assert _titles(api_client, exclusive="true") == ["Exclusive one"]
    facets = api_client.get(LISTINGS, {"facets": "true"}).json()["facets"]
    assert facets["exclusive"] == [{"value": "1", "label": "Exclusive license offered", "count": 1}]
    assert plain


def test_price_buckets_and_sorting_by_price_and_size(api_client, make_listing):
    make_listing("Cheap", price_minor=5_000, files={"a.txt": b"x" * 10})
    make_listing("Middling", price_minor=500_000, files={"a.txt": b"x" * 1000})
    make_listing("Dear", price_minor=5_000_000, files={"a.txt": b"x" * 100})
    assert _titles(api_client, price="1k-10k") == ["Middling"]
    assert _titles(api_client, sort="price") == ["Cheap", "Middling", "Dear"]
    assert _titles(api_client, sort="size") == ["Middling", "Dear", "Cheap"]
    prices = api_client.get(LISTINGS, {"facets": "true"}).json()["facets"]["price"]
    assert {v["value"]: v["count"] for v in prices} == {"under-1k": 1, "1k-10k": 1, "10k-plus": 1}


def test_bad_facet_values_are_problem_json(api_client, db):
    response = api_client.get(LISTINGS, {"size": "huge", "authorship": "robots", "sort": "mood"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert {"size", "authorship", "sort"} <= set(response.json()["errors"])


def test_queries_per_search_do_not_grow_with_page_size(api_client, make_listing):
    for n in range(12):
        make_listing(f"Corpus {n}", tags=["corpus"])

    def queries(page_size):
        with CaptureQueriesContext(connection) as captured:
            response = api_client.get(
                LISTINGS, {"q": "corpus", "page_size": page_size, "facets": "true"}
            )
        assert len(response.json()["results"]) == page_size
        return len(captured)

    assert queries(2) == queries(12)


def test_catalog_page_shows_facets_that_narrow(client, make_listing):
    make_listing("Harbour stories", modality="text", summary="Stories.")
    make_listing("Birdsong", modality="audio", summary="Songs.")
    page = client.get("/catalog/").content.decode()
    assert 'data-facet="modality"' in page and 'Audio <span class="count">(1)</span>' in page
    narrowed = client.get("/catalog/", {"modality": "audio"}).content.decode()
    assert "Birdsong" in narrowed and "Harbour stories" not in narrowed
    assert selectors.SORTS["relevance"][0] == "-relevance"


@pytest.mark.postgres
def test_postgres_connections_run_without_jit_compilation(db, on_postgres):
    require(on_postgres, "JIT is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
