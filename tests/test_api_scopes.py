"""Each API key scope, one request that needs it: a key with only that scope succeeds; a key
with every other scope gets 403 problem JSON naming the missing one."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from licensing.services import grant_license

pytestmark = pytest.mark.usefixtures("stripe_settings")

ALL_SCOPES = [scope for scope in ApiKey.Scope.values if scope != ApiKey.Scope.ALL]


@pytest.fixture
def world(cast, make_listing):
    listing = make_listing("Scoped tales")
    license = grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={"permitted_uses": ["training"], "model_cap": 3, "term_days": 365},
        source="test:scopes",
        now=timezone.now() - timedelta(days=90),
    )
    return {"listing": listing, "option": listing.dataset.license_options.get(), "license": license}


def last_month() -> tuple[str, str]:
    first_of_this = timezone.now().date().replace(day=1)
    end = first_of_this - timedelta(days=1)
    return end.replace(day=1).isoformat(), end.isoformat()


def request_for(scope: str, world: dict) -> tuple[str, str, str, dict | None]:
    """(side, method, path, body) of one request that needs `scope`."""
    start, end = last_month()
    license = world["license"]
    return {
        "catalog:read": ("buyer", "get", "/api/v1/listings/", None),
        "datasets:write": (
            "creator",
            "post",
            "/api/v1/datasets/",
            {"title": "Scoped logs", "modality": "text", "languages": ["en"]},
        ),
        "offers:write": (
            "buyer",
            "post",
            "/api/v1/offers/",
            {
                "dataset": world["listing"].dataset.slug,
                "terms": {"permitted_uses": ["training"], "price_minor": 5_000, "currency": "USD"},
            },
        ),
        "orders:write": ("buyer", "post", "/api/v1/orders/", {"option": world["option"].pk}),
        "licenses:read": ("buyer", "get", f"/api/v1/licenses/{license.pk}/", None),
        "usage:write": (
            "buyer",
            "post",
            f"/api/v1/licenses/{license.pk}/usage-reports/",
            {
                "period_start_on": start,
                "period_end_on": end,
                "purpose": "training",
                "models_trained": ["scoped-small"],
                "records_used": 10,
            },
        ),
        "webhooks:manage": (
            "buyer",
            "post",
            "/api/v1/webhook-endpoints/",
            {"url": "https://hooks.example.test/wellspring", "events": ["*"]},
        ),
    }[scope]


def call(key: str, method: str, path: str, body: dict | None):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


def test_every_scope_has_a_request_here():
    assert set(ALL_SCOPES) == {
        "catalog:read",
        "datasets:write",
        "offers:write",
        "orders:write",
        "licenses:read",
        "usage:write",
        "webhooks:manage",
    }


@pytest.mark.parametrize("scope", ALL_SCOPES)
def test_a_key_with_the_scope_succeeds_and_one_without_it_gets_403_naming_it(
    cast, key_for, world, scope
):
    side, method, path, body = request_for(scope, world)
    organization = cast.creator_org if side == "creator" else cast.buyer_org

    without = key_for(organization, [other for other in ALL_SCOPES if other != scope])
    refused = call(without, method, path, body)
    assert refused.status_code == 403, refused.content
    assert refused["Content-Type"].startswith("application/problem+json")
    assert scope in refused.json()["detail"]

    allowed = call(key_for(organization, [scope]), method, path, body)
    assert 200 <= allowed.status_code < 300, allowed.content
