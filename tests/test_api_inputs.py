"""What the API accepts is what its schema says: pages, types, text, media types, bodies that
need a field, and the rules stated for each operation. tools/run_schemathesis.py checks this
over the whole API against a live server; these tests pin each rule."""

import re

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from accounts.api import WEBHOOK_URL_PATTERN, WebhookEndpointInputSerializer
from accounts.errors import InvalidInput
from accounts.models import WebhookEndpoint
from accounts.rest import InputSerializer, trimmed_text_pattern
from licensing import services as licensing
from licensing.money import filter_amount_minor
from provenance.api import MEMBER_PATH_PATTERN
from provenance.models import Dataset, RightsClaim
from provenance.paths import normalize_member_path

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_claim_counts():
    # Claims are counted per address in the cache, which outlives a test on Redis.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def buyer_api(cast, api_client, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    return api_client


@pytest.fixture
def creator_api(cast, api_client, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    return api_client


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


# --- Pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["page=abc", "page=0", "page=-1", "page=1.5", "page_size=0", "page_size=null"]
)
def test_a_page_or_page_size_that_is_not_a_whole_number_from_1_is_a_400_naming_it(buyer_api, query):
    body = problem(buyer_api.get(f"/api/v1/orders/?{query}"), 400)
    assert set(body["errors"]) == {query.split("=")[0]}


def test_cursor_lists_refuse_a_bad_page_size_too(buyer_api):
    body = problem(buyer_api.get("/api/v1/events/?page_size=ten"), 400)
    assert "page_size" in body["errors"]


def test_a_page_past_the_last_is_404_and_a_huge_page_size_is_capped(buyer_api, make_listing):
    make_listing("Tide tables")
    problem(buyer_api.get("/api/v1/listings/?page=99"), 404)
    problem(buyer_api.get(f"/api/v1/listings/?page={'9' * 40}"), 404)
    capped = buyer_api.get(f"/api/v1/listings/?page_size={'9' * 40}")
    assert capped.status_code == 200 and capped.json()["count"] == 1


def test_every_paginated_list_documents_its_page_problems(schema):
    lists = 0
    for item in schema["paths"].values():
        for operation in item.values():
            names = {parameter["name"] for parameter in operation.get("parameters", [])}
            if names & {"page", "cursor", "page_size"}:
                lists += 1
                assert {"400", "404"} <= set(operation["responses"]), operation["operationId"]
    assert lists > 10


def test_the_schema_documents_page_parameters_and_their_problems(schema):
    operation = schema["paths"]["/api/v1/orders/"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["page"]["schema"] == {"type": "integer", "minimum": 1}
    assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1}
    assert {"400", "404"} <= set(operation["responses"])
    assert {"400", "404"} <= set(schema["paths"]["/api/v1/events/"]["get"]["responses"])


# --- Types ------------------------------------------------------------------------------------


def test_json_values_must_have_the_documented_type(cast, buyer_api):
    refused = buyer_api.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://hooks.example.com/in", "events": "*"},
        format="json",
    )
    assert problem(refused, 400)["errors"] == {"events": ["Must be a list."]}
    refused = buyer_api.post("/api/v1/certificates/verify/", {"license_id": 12345}, format="json")
    assert problem(refused, 400)["errors"] == {"license_id": ["Must be a string."]}
    assert not WebhookEndpoint.objects.exists()


def test_a_json_boolean_is_true_or_false_and_nothing_changes_otherwise(cast, buyer_api):
    created = buyer_api.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://hooks.example.com/in", "events": ["*"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    endpoint = created.json()["id"]
    refused = buyer_api.patch(
        f"/api/v1/webhook-endpoints/{endpoint}/", {"enabled": 0}, format="json"
    )
    assert problem(refused, 400)["errors"] == {"enabled": ["Must be true or false."]}
    assert WebhookEndpoint.objects.get(pk=endpoint).is_enabled


def test_nested_values_are_checked_too(cast, buyer_api, make_listing):
    listing = make_listing("Tide tables")
    refused = buyer_api.post(
        "/api/v1/offers/",
        {
            "dataset": listing.dataset.slug,
            "terms": {"permitted_uses": ["training"], "price_minor": "500", "currency": "USD"},
        },
        format="json",
    )
    assert problem(refused, 400)["errors"] == {
        "terms": {"price_minor": ["Must be a whole number."]}
    }


@pytest.mark.parametrize(
    ("value", "status"), [("1", 400), ("yes", 400), ("true", 200), ("False", 200)]
)
def test_query_booleans_are_the_words_true_or_false(api_client, value, status):
    response = api_client.get(f"/api/v1/listings/?exclusive={value}")
    assert response.status_code == status


# --- Text -------------------------------------------------------------------------------------


def claim(dataset: str, **fields) -> dict:
    return {
        "dataset": dataset,
        "claimant_name": "Ada Holder",
        "claimant_email": "ada@example.test",
        "basis": "copyright",
        "statement": "These recordings are mine; I never licensed them.",
        **fields,
    }


def test_control_characters_in_text_are_refused_and_nothing_is_filed(api_client, make_listing):
    slug = make_listing("Tide tables").dataset.slug
    refused = api_client.post(
        "/api/v1/claims/", claim(slug, claimant_name="Ada\x01"), format="json"
    )
    assert "Control characters" in problem(refused, 400)["errors"]["claimant_name"][0]
    assert not RightsClaim.objects.exists()


def test_text_counts_its_length_as_sent_and_its_content_trimmed(api_client, make_listing):
    slug = make_listing("Tide tables").dataset.slug
    padded = " " * 199 + "Ada"  # 202 characters, 3 of them content; at most 200
    problem(
        api_client.post("/api/v1/claims/", claim(slug, claimant_name=padded), format="json"), 400
    )
    short = "  " + "x" * 19 + "  "  # 23 characters sent, 19 once trimmed: fewer than 20
    problem(api_client.post("/api/v1/claims/", claim(slug, statement=short), format="json"), 400)
    filed = api_client.post("/api/v1/claims/", claim(slug, claimant_name="  Ada  "), format="json")
    assert filed.status_code == 201, filed.content
    assert RightsClaim.objects.get().claimant_name == "Ada"


class _Text(InputSerializer):
    text = serializers.CharField(min_length=3, max_length=12)


class _Blank(InputSerializer):
    text = serializers.CharField(max_length=6, allow_blank=True)


_TRICKY = st.text(
    alphabet=st.sampled_from(
        [
            "a",
            "Z",
            "\u00e9",
            " ",
            "\t",
            "\n",
            "\r",
            "\u00a0",
            "\u2003",
            "\u3000",
            "\x01",
            "\x1f",
            "\x85",
            "\ufeff",
            "\u200b",
        ]
    ),
    max_size=16,
)


@settings(max_examples=400, deadline=None)
@given(text=_TRICKY)
def test_the_text_pattern_matches_exactly_what_a_text_field_accepts(text):
    for serializer_class, field in (
        (_Text, _Text().fields["text"]),
        (_Blank, _Blank().fields["text"]),
    ):
        pattern = trimmed_text_pattern(
            min_length=field.min_length, max_length=field.max_length, allow_blank=field.allow_blank
        )
        matches = re.fullmatch(pattern, text) is not None and len(text) <= field.max_length
        assert matches == serializer_class(data={"text": text}).is_valid(), repr(text)


def test_the_schema_states_text_rules_as_a_pattern_and_length(schema):
    statement = schema["components"]["schemas"]["ClaimJsonInputRequest"]["properties"]["statement"]
    assert statement["maxLength"] == 10_000
    assert re.fullmatch(statement["pattern"], "x" * 20)
    assert not re.fullmatch(statement["pattern"], "  " + "x" * 19 + "  ")


# --- Media types and bodies -------------------------------------------------------------------


def test_bodies_are_json_unless_the_operation_takes_a_file(cast, buyer_api, schema):
    refused = buyer_api.post(
        "/api/v1/webhook-endpoints/",
        "url=https%3A%2F%2Fhooks.example.com%2Fin&events=*",
        content_type="application/x-www-form-urlencoded",
    )
    problem(refused, 415)
    paths = schema["paths"]
    assert set(paths["/api/v1/offers/"]["post"]["requestBody"]["content"]) == {"application/json"}
    assert set(paths["/api/v1/versions/{id}/files/"]["post"]["requestBody"]["content"]) == {
        "multipart/form-data"
    }
    claims = paths["/api/v1/claims/"]["post"]["requestBody"]["content"]
    assert set(claims) == {"application/json", "multipart/form-data"}


def test_a_claim_carries_evidence_only_in_multipart(api_client, make_listing, schema):
    slug = make_listing("Tide tables").dataset.slug
    in_json = api_client.post("/api/v1/claims/", claim(slug, evidence="not a file"), format="json")
    assert in_json.status_code == 201, in_json.content
    with_file = api_client.post(
        "/api/v1/claims/",
        claim(slug, evidence=SimpleUploadedFile("contract.txt", b"signed")),
        format="multipart",
    )
    assert with_file.status_code == 201, with_file.content
    assert RightsClaim.objects.exclude(evidence_sha256="").count() == 1
    components = schema["components"]["schemas"]
    assert "evidence" not in components["ClaimJsonInputRequest"]["properties"]
    assert "evidence" in components["ClaimInputRequest"]["properties"]


def test_a_body_that_needs_a_field_is_required(api_client, schema):
    problem(api_client.post("/api/v1/certificates/verify/"), 400)
    operation = schema["paths"]["/api/v1/certificates/verify/"]["post"]
    assert operation["requestBody"]["required"] is True
    rules = schema["components"]["schemas"]["VerifyInputRequest"]["anyOf"]
    assert rules == [{"required": ["certificate"]}, {"required": ["license_id"]}]


def test_an_order_names_an_option_or_an_agreement_never_both(buyer_api, schema):
    both = buyer_api.post(
        "/api/v1/orders/", {"option": "opt_1", "agreement": "agr_1"}, format="json"
    )
    problem(both, 400)
    assert "oneOf" in schema["components"]["schemas"]["OrderInputRequest"]


# --- Idempotency-Key --------------------------------------------------------------------------


def test_every_operation_honouring_idempotency_key_documents_its_problems(schema):
    seen = 0
    for item in schema["paths"].values():
        for operation in item.values():
            names = {parameter["name"]: parameter for parameter in operation.get("parameters", [])}
            if "Idempotency-Key" not in names:
                continue
            seen += 1
            assert names["Idempotency-Key"]["schema"] == {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": r"\S",
            }
            assert {"400", "409", "422"} <= set(operation["responses"]), operation["operationId"]
    assert seen > 10


# --- Operation rules --------------------------------------------------------------------------


def test_a_buyer_organization_creating_a_dataset_gets_403(buyer_api):
    refused = buyer_api.post(
        "/api/v1/datasets/", {"title": "Mine", "modality": "text"}, format="json"
    )
    assert problem(refused, 403)["code"] == "not_a_creator"
    assert not Dataset.objects.exists()


def test_a_new_version_based_on_an_unknown_version_is_404(creator_api, make_listing):
    dataset = make_listing("Tide tables").dataset
    refused = creator_api.post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"based_on": "dsv_nothing"}, format="json"
    )
    assert "based_on" in problem(refused, 404)["errors"]
    assert dataset.versions.count() == 1


def test_a_version_patch_without_fields_changes_nothing(creator_api, make_listing):
    version = make_listing("Tide tables").version
    response = creator_api.patch(f"/api/v1/versions/{version.pk}/", {}, format="json")
    assert response.status_code == 200 and response.json()["id"] == version.pk


def test_a_method_a_staff_route_lacks_is_405_for_everyone(buyer_api):
    assert buyer_api.get("/api/v1/review/queue/").status_code == 404
    assert buyer_api.generic("TRACE", "/api/v1/review/queue/").status_code == 405
    assert buyer_api.generic("TRACE", "/api/v1/claims/").status_code == 405


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"permitted_uses": []}, "permitted_uses"),
        ({"term_days": 10**9}, "term_days"),
        ({"seat_cap": 0}, "seat_cap"),
        ({"price_minor": 10**16}, "price_minor"),
        ({"territories": ["usa"]}, "territories"),
    ],
)
def test_proposed_terms_out_of_bounds_are_refused_naming_the_field(
    buyer_api, make_listing, terms, field
):
    listing = make_listing("Tide tables")
    proposed = {"permitted_uses": ["training"], "price_minor": 500, "currency": "USD", **terms}
    refused = buyer_api.post(
        "/api/v1/offers/", {"dataset": listing.dataset.slug, "terms": proposed}, format="json"
    )
    assert field in problem(refused, 400)["errors"]["terms"]


def test_clean_terms_bounds_the_portal_too():
    with pytest.raises(licensing.InvalidInput) as refused:
        licensing.clean_terms(
            {
                "permitted_uses": ["training"],
                "price_minor": 1,
                "currency": "USD",
                "term_days": 10**6,
            }
        )
    assert refused.value.errors == {
        "term_days": ["Must be a whole number from 1 to 36525, or empty for none."]
    }


def test_catalog_filters_take_empty_values_and_amounts_past_the_minor_unit(
    api_client, make_listing
):
    make_listing("Tide tables", price_minor=199)
    assert api_client.get("/api/v1/listings/?modality=&use=&sort=").json()["count"] == 1
    assert api_client.get("/api/v1/listings/?price_max=1.989").json()["count"] == 0
    assert api_client.get("/api/v1/listings/?price_max=1.999").json()["count"] == 1
    assert api_client.get(f"/api/v1/listings/?price_max={'9' * 60}").json()["count"] == 1
    problem(api_client.get("/api/v1/listings/?price_max=cheap"), 400)


def test_filter_amounts_drop_digits_past_the_minor_unit():
    assert filter_amount_minor("1,234.567", "USD") == 123456
    assert filter_amount_minor("1.5", "JPY") == 1
    assert filter_amount_minor(".5", "EUR") == 50
    for text in (".", "", "-1", "1.2.3", "\u0663"):
        with pytest.raises(ValueError):
            filter_amount_minor(text, "USD")


# --- Webhook URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/wellspring?key=1#top",
        "http://127.0.0.1:8000/hook",
        "http://localhost:9000/",
        "https://user:p%40ss@a.b.example.co.uk/in",
    ],
)
def test_usual_webhook_urls_match_the_documented_pattern(url):
    assert re.fullmatch(WEBHOOK_URL_PATTERN, url)


def test_a_webhook_url_outside_the_pattern_is_refused(cast, buyer_api):
    too_long_label = "https://" + "a" * 64 + ".example.com/"
    for url in (too_long_label, "ftp://example.com/", "https://example.com/a b"):
        refused = buyer_api.post(
            "/api/v1/webhook-endpoints/", {"url": url, "events": ["*"]}, format="json"
        )
        assert "url" in problem(refused, 400)["errors"]


@settings(max_examples=150, deadline=None)
@given(url=st.from_regex(WEBHOOK_URL_PATTERN, fullmatch=True).filter(lambda url: len(url) <= 500))
def test_every_url_the_pattern_allows_is_accepted(url):
    assert WebhookEndpointInputSerializer(data={"url": url, "events": ["*"]}).is_valid()


def test_the_croissant_document_is_documented_as_json_ld(schema):
    responses = schema["paths"]["/api/v1/versions/{version_id}/croissant/"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"application/ld+json"}


# --- Member paths -----------------------------------------------------------------------------

_PATH_CHARACTERS = st.text(
    alphabet=st.sampled_from(list("ab.:/\\ \t") + ["\x01", "\u00e9", "\x7f"]), max_size=10
)


def _service_accepts(path: str) -> bool:
    try:
        normalize_member_path(path)
    except InvalidInput:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@given(path=_PATH_CHARACTERS)
def test_the_path_pattern_matches_exactly_the_paths_ingest_accepts(path):
    assert (re.fullmatch(MEMBER_PATH_PATTERN, path) is not None) == _service_accepts(path)


def test_an_upload_larger_than_a_file_may_be_is_refused_as_documented(creator_api, schema):
    size = schema["components"]["schemas"]["UploadInputRequest"]["properties"]["size"]
    assert size["maximum"] == django_settings.UPLOAD_MAX_FILE_BYTES


def test_files_are_documented_as_not_empty_and_refused_when_empty(
    creator_api, make_listing, schema
):
    components = schema["components"]["schemas"]
    assert components["EvidenceInputRequest"]["properties"]["file"]["minLength"] == 1
    assert components["FileInputRequest"]["properties"]["file"]["minLength"] == 1
    draft = creator_api.post(
        "/api/v1/datasets/", {"title": "Logs", "modality": "text"}, format="json"
    )
    version = draft.json()["versions"][0]["id"]
    refused = creator_api.post(
        f"/api/v1/versions/{version}/files/",
        {"file": SimpleUploadedFile("empty.txt", b"")},
        format="multipart",
    )
    assert "file" in problem(refused, 400)["errors"]
