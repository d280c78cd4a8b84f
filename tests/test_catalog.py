from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

LISTINGS = "/api/v1/listings/"


def test_catalog_api_paginates_with_count_and_links(api_client, make_listing):
    for n in range(5):
        make_listing(f"Dataset number {n}")
    response = api_client.get(LISTINGS, {"page_size": 2})
    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] and body["previous"] is None
    second = api_client.get(body["next"]).json()
    assert {item["slug"] for item in second["results"]}.isdisjoint(
        {item["slug"] for item in body["results"]}
    )


def test_catalog_api_page_size_is_capped(api_client, make_listing):
    make_listing("One")
    response = api_client.get(LISTINGS, {"page_size": 10_000})
    assert response.status_code == 200


def test_catalog_api_filters_by_modality_language_use_and_price(api_client, make_listing):
    make_listing("Tales", modality="text", languages=["cy"], uses=["training"], price_minor=50_000)
    make_listing(
        "Counts", modality="tabular", languages=["en"], uses=["evaluation"], price_minor=5_000
    )
    make_listing(
        "Birds",
        modality="audio",
        languages=["en"],
        uses=["training", "evaluation"],
        price_minor=900_000,
    )

    def titles(**params):
        return sorted(item["title"] for item in api_client.get(LISTINGS, params).json()["results"])

    assert titles(modality="tabular") == ["Counts"]
    assert titles(language="cy") == ["Tales"]
    assert titles(use="training") == ["Birds", "Tales"]
    assert titles(price_max="500.00") == ["Counts", "Tales"]
    assert titles(q="bird") == ["Birds"]
    ordered = [
        item["title"] for item in api_client.get(LISTINGS, {"sort": "price"}).json()["results"]
    ]
    assert ordered == ["Counts", "Tales", "Birds"]


def test_catalog_api_rejects_bad_filters_with_problem_json(api_client, db):
    response = api_client.get(LISTINGS, {"modality": "smell", "price_max": "ten"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) >= {"modality"}


def test_catalog_api_detail_has_terms_and_hash(api_client, make_listing):
    listing = make_listing("Tales", uses=["training", "evaluation"])
    body = api_client.get(f"{LISTINGS}{listing.slug}/").json()
    (option,) = body["license_options"]
    assert option["terms"]["permitted_uses"] == ["evaluation", "training"]
    assert len(option["terms_hash"]) == 64
    assert body["version"]["merkle_root"] == listing.version.merkle_root
    assert body["creator"]["slug"] == "creators"


def test_unpublished_and_unknown_listings_are_404(api_client, make_listing):
    version = make_listing("Waiting", publish=False)
    assert api_client.get(f"{LISTINGS}{version.dataset.slug}/").status_code == 404
    response = api_client.get(f"{LISTINGS}no-such-dataset/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_catalog_page_lists_published_datasets_only(client, make_listing):
    make_listing("Published tales")
    make_listing("Draft secrets", publish=False)
    page = client.get(reverse("catalog:index")).content.decode()
    assert "Published tales" in page
    assert "Draft secrets" not in page


def test_catalog_page_filters_and_explains_bad_input(client, make_listing):
    make_listing("Folk tales", modality="text", summary="Stories.")
    make_listing("Bike counts", modality="tabular", summary="Numbers.")
    page = client.get(reverse("catalog:index"), {"modality": "tabular"}).content.decode()
    assert "Bike counts" in page and "Folk tales" not in page
    bad = client.get(reverse("catalog:index"), {"price_max": "lots"})
    assert bad.status_code == 200
    assert "is not an amount" in bad.content.decode()


def test_dataset_page_shows_files_provenance_and_terms(client, make_listing):
    listing = make_listing("Tales", description="# Heading\n\n<script>alert(1)</script> **bold**")
    page = client.get(reverse("catalog:detail", args=[listing.slug])).content.decode()
    assert listing.version.merkle_root in page
    assert "data/records.jsonl" in page
    assert "Typed by hand." in page
    assert "You may use the data for" in page
    assert "<script>" not in page and "<strong>bold</strong>" in page


def test_dataset_page_of_an_unpublished_dataset_is_404(client, make_listing):
    version = make_listing("Waiting", publish=False)
    assert client.get(reverse("catalog:detail", args=[version.dataset.slug])).status_code == 404


def test_catalog_api_query_count_does_not_grow_with_page_size(api_client, make_listing):
    for n in range(6):
        make_listing(f"Dataset {n}")
    counts = []
    for size in (2, 6):
        with CaptureQueriesContext(connection) as queries:
            assert api_client.get(LISTINGS, {"page_size": size}).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_home_page_shows_recent_listings(client, make_listing):
    make_listing("Freshly listed tales")
    page = client.get("/").content.decode()
    assert "Freshly listed tales" in page
