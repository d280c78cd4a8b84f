"""The negotiation API: a procurement system opens, counters, accepts and rejects offers."""

import pytest

from licensing.models import Agreement, Offer

OFFERS = "/api/v1/offers/"
TERMS = {"permitted_uses": ["training"], "price_minor": 120_000, "currency": "USD"}


@pytest.fixture
def buyer_client(api_client, cast, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    return api_client


def _client(key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_whole_thread_through_the_api(buyer_client, cast, key_for, make_listing):
    listing = make_listing("Tide tables")
    response = buyer_client.post(
        OFFERS, {"dataset": listing.slug, "terms": TERMS, "message": "Hello"}, format="json"
    )
    assert response.status_code == 201, response.json()
    offer = response.json()
    assert offer["id"].startswith("off_")
    assert offer["status"] == "open" and offer["awaiting"] == "creator"
    assert offer["proposals"][0]["terms"]["territories"] == ["worldwide"]

    creator = _client(key_for(cast.creator_org))
    countered = creator.post(
        f"{OFFERS}{offer['id']}/counter/",
        {"terms": {**TERMS, "price_minor": 150_000}, "message": "Counter"},
        format="json",
    )
    assert countered.status_code == 200, countered.json()
    body = countered.json()
    assert body["awaiting"] == "buyer"
    assert [c["field"] for c in body["proposals"][1]["changes"]] == ["price_minor"]

    listed = creator.get(OFFERS).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == offer["id"]

    accepted = buyer_client.post(f"{OFFERS}{offer['id']}/accept/")
    assert accepted.status_code == 200, accepted.json()
    agreement = accepted.json()["agreement"]
    assert accepted.json()["status"] == "accepted"
    assert agreement["price_minor"] == 150_000
    assert agreement["terms_sha256"] == Agreement.objects.get().terms_sha256
    assert agreement["creator_accepted_by"] == cast.creator.email


def test_third_organizations_get_404_everywhere(buyer_client, cast, key_for, make_listing):
    listing = make_listing()
    offer_id = buyer_client.post(
        OFFERS, {"dataset": listing.slug, "terms": TERMS}, format="json"
    ).json()["id"]
    outsider = _client(key_for(cast.outsider_org))
    assert outsider.get(f"{OFFERS}{offer_id}/").status_code == 404
    assert outsider.get(OFFERS).json()["count"] == 0
    for verb in ("accept", "reject"):
        response = outsider.post(f"{OFFERS}{offer_id}/{verb}/")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
    response = outsider.post(f"{OFFERS}{offer_id}/counter/", {"terms": TERMS}, format="json")
    assert response.status_code == 404
    assert Offer.objects.get().status == "open"


def test_bad_input_is_problem_json_and_writes_nothing(buyer_client, make_listing):
    listing = make_listing()
    response = buyer_client.post(
        OFFERS,
        {"dataset": listing.slug, "terms": {**TERMS, "permitted_uses": ["mining"]}},
        format="json",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "permitted_uses" in response.json()["errors"]["terms"]
    response = buyer_client.post(
        OFFERS,
        {"dataset": listing.slug, "terms": {**TERMS, "territories": ["Mars"]}},
        format="json",
    )
    assert response.status_code == 400
    assert "territories" in response.json()["detail"]
    response = buyer_client.post(OFFERS, {"dataset": "no-such", "terms": TERMS}, format="json")
    assert response.status_code == 404
    assert not Offer.objects.exists()


def test_own_proposal_cannot_be_accepted(buyer_client, make_listing):
    listing = make_listing()
    offer_id = buyer_client.post(
        OFFERS, {"dataset": listing.slug, "terms": TERMS}, format="json"
    ).json()["id"]
    response = buyer_client.post(f"{OFFERS}{offer_id}/accept/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_your_turn"


def test_writes_need_the_offers_scope(api_client, cast, key_for, make_listing):
    listing = make_listing()
    reader = _client(key_for(cast.buyer_org, ["catalog:read"]))
    response = reader.post(OFFERS, {"dataset": listing.slug, "terms": TERMS}, format="json")
    assert response.status_code == 403
    assert "offers:write" in response.json()["detail"]
    assert reader.get(OFFERS).status_code == 200
    writer = _client(key_for(cast.buyer_org, ["offers:write", "catalog:read"]))
    assert (
        writer.post(OFFERS, {"dataset": listing.slug, "terms": TERMS}, format="json").status_code
        == 201
    )
    assert api_client.get(OFFERS).status_code in (401, 403)
