"""Orders from an accepted agreement (a negotiated offer): its frozen terms, hash and price."""

import pytest

from accounts.errors import Conflict, NotFound
from licensing import services as licensing
from marketplace import services
from marketplace.models import Order

pytestmark = pytest.mark.usefixtures("stripe_settings")

TERMS = {
    "permitted_uses": ["training"],
    "term_days": 365,
    "territories": ["worldwide"],
    "price_minor": 240_000,
    "currency": "EUR",
    "commercial_use": True,
}


@pytest.fixture
def agreement(cast, make_listing):
    listing = make_listing("Harbour logs")
    offer = licensing.open_offer(
        actor=cast.buyer,
        organization=cast.buyer_org,
        dataset=listing.dataset,
        terms=TERMS,
        message="We would like to train on this.",
    )
    licensing.counter_offer(
        actor=cast.creator,
        organization=cast.creator_org,
        offer=offer,
        terms={**TERMS, "price_minor": 250_001},
        message="ok",
    )
    return licensing.accept_offer(actor=cast.buyer, organization=cast.buyer_org, offer=offer)


def test_an_agreement_is_ordered_paid_and_licensed_under_its_hash(
    cast, agreement, django_capture_on_commit_callbacks
):
    order = services.create_order_from_agreement(
        actor=cast.buyer, organization=cast.buyer_org, agreement=agreement
    )
    assert order.agreement == agreement and order.option is None
    assert order.terms_sha256 == agreement.terms_sha256
    assert (order.amount_minor, order.currency) == (250_001, "EUR")
    assert order.platform_fee_minor + order.creator_share_minor == 250_001
    with pytest.raises(Conflict):
        services.create_order_from_agreement(
            actor=cast.buyer, organization=cast.buyer_org, agreement=agreement
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.pay_with_test_card(order=order)
    order.refresh_from_db()
    license = order.license
    assert order.status == "fulfilled" and license.terms_sha256 == agreement.terms_sha256
    assert (license.ends_at - license.starts_at).days == 365
    assert license.certificate.envelope["payload"]["terms_sha256"] == agreement.terms_sha256


def test_another_organization_cannot_order_an_agreement(cast, agreement, api_client, key_for):
    with pytest.raises(NotFound):
        services.create_order_from_agreement(
            actor=cast.outsider, organization=cast.outsider_org, agreement=agreement
        )
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    response = api_client.post("/api/v1/orders/", {"agreement": agreement.pk}, format="json")
    assert response.status_code == 404
    assert not Order.objects.exists()


def test_the_api_orders_an_agreement(cast, agreement, api_client, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    response = api_client.post("/api/v1/orders/", {"agreement": agreement.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["agreement"] == agreement.pk
    both = api_client.post(
        "/api/v1/orders/", {"agreement": agreement.pk, "option": "opt_x"}, format="json"
    )
    assert both.status_code == 400
