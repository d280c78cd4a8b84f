"""Rate limits per API key: headers on every answer, 429 with Retry-After past the budget."""

import pytest
from django.core.cache import cache

LISTINGS = "/api/v1/listings/"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Api-Key {raw}"}


def test_answers_carry_the_rate_limit_headers(api_client, cast, key_for, settings):
    settings.API_RATE_LIMIT_READS = 5
    response = api_client.get(LISTINGS, **auth(key_for(cast.buyer_org)))
    assert response.status_code == 200
    assert response["RateLimit-Limit"] == "5"
    assert response["RateLimit-Remaining"] == "4"
    assert 1 <= int(response["RateLimit-Reset"]) <= settings.API_RATE_LIMIT_WINDOW_SECONDS


def test_reads_past_the_limit_get_429_with_retry_after(api_client, cast, key_for, settings):
    settings.API_RATE_LIMIT_READS = 3
    raw = key_for(cast.buyer_org)
    statuses = [api_client.get(LISTINGS, **auth(raw)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = api_client.get(LISTINGS, **auth(raw))
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) >= 1
    assert response["RateLimit-Remaining"] == "0"
    assert response["RateLimit-Limit"] == "3"


def test_each_key_has_its_own_budget(api_client, cast, key_for, settings):
    settings.API_RATE_LIMIT_READS = 1
    first, second = key_for(cast.buyer_org), key_for(cast.buyer_org)
    assert api_client.get(LISTINGS, **auth(first)).status_code == 200
    assert api_client.get(LISTINGS, **auth(first)).status_code == 429
    assert api_client.get(LISTINGS, **auth(second)).status_code == 200


def test_writes_have_their_own_budget(api_client, cast, key_for, settings):
    settings.API_RATE_LIMIT_READS = 1
    settings.API_RATE_LIMIT_WRITES = 1
    raw = key_for(cast.creator_org)
    body = {"title": "Harbour logs", "modality": "text"}
    assert api_client.get("/api/v1/datasets/", **auth(raw)).status_code == 200
    assert api_client.post("/api/v1/datasets/", body, format="json", **auth(raw)).status_code == 201
    response = api_client.post("/api/v1/datasets/", body, format="json", **auth(raw))
    assert response.status_code == 429


def test_a_new_window_restores_the_budget(cast, key_for, settings):
    from accounts.ratelimit import take_request

    allowed = [
        take_request(key_id="key_x", kind="read", limit=2, window_seconds=60, now=120.0 + n)[0]
        for n in range(3)
    ]
    assert allowed == [True, True, False]
    assert take_request(key_id="key_x", kind="read", limit=2, window_seconds=60, now=181.0)[0]


def test_session_users_are_not_limited(client, cast, settings):
    settings.API_RATE_LIMIT_READS = 1
    client.force_login(cast.buyer)
    assert client.get(LISTINGS).status_code == 200
    response = client.get(LISTINGS)
    assert response.status_code == 200 and "RateLimit-Limit" not in response
