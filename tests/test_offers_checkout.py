"""From an accepted agreement to a license in the portal: the buyer is led on to check out at the
agreed price (card through localstripe, or invoice), and nobody else can."""

import pytest

from licensing import services as licensing
from licensing.models import License
from marketplace.models import Order

pytestmark = pytest.mark.usefixtures("stripe_settings")

TERMS = {
    "permitted_uses": ["training"],
    "term_days": 90,
    "price_minor": 240_000,
    "currency": "EUR",
    "commercial_use": True,
}


@pytest.fixture
def agreement(cast, make_listing):
    listing = make_listing("Harbour logs")
    offer = licensing.open_offer(
        actor=cast.buyer, organization=cast.buyer_org, dataset=listing.dataset, terms=TERMS
    )
    licensing.counter_offer(
        actor=cast.creator,
        organization=cast.creator_org,
        offer=offer,
        terms={**TERMS, "price_minor": 260_050},
    )
    return licensing.accept_offer(actor=cast.buyer, organization=cast.buyer_org, offer=offer)


def checkout_url(agreement) -> str:
    return f"/library/agreements/{agreement.pk}/checkout/"


def token(page: str) -> str:
    marker = 'name="checkout_token" value="'
    return page.split(marker, 1)[1].split('"', 1)[0]


def test_the_buyer_checks_out_an_agreement_by_card_at_the_agreed_price(
    client, cast, agreement, django_capture_on_commit_callbacks
):
    client.force_login(cast.buyer)
    offer_page = client.get(f"/library/offers/{agreement.offer_id}/").content.decode()
    assert f'href="{checkout_url(agreement)}"' in offer_page
    assert "Check out at the agreed price" in offer_page
    page = client.get(checkout_url(agreement)).content.decode()
    assert "€2,600.50" in page and agreement.terms_sha256 in page
    assert "The license runs for 90 days." in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            checkout_url(agreement),
            {
                "payment_method": "card",
                "test_card": "4242424242424242",
                "checkout_token": token(page),
            },
        )
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/library/orders/{order.pk}/"
    assert order.agreement == agreement and order.option is None
    assert (order.amount_minor, order.currency) == (260_050, "EUR")
    assert order.terms_sha256 == agreement.terms_sha256
    order.refresh_from_db()
    license = License.objects.get()
    assert order.status == "fulfilled" and order.license == license
    assert license.terms_sha256 == agreement.terms_sha256
    # Back on the thread, the order replaces the button; the checkout leads to the order.
    offer_page = client.get(f"/library/offers/{agreement.offer_id}/").content.decode()
    assert order.pk in offer_page and "Check out at the agreed price" not in offer_page
    again = client.get(checkout_url(agreement))
    assert again.status_code == 302 and again["Location"] == f"/library/orders/{order.pk}/"


def test_an_agreement_is_checked_out_by_invoice_once_the_billing_details_are_given(
    client, cast, agreement
):
    client.force_login(cast.buyer)
    page = client.get(checkout_url(agreement)).content.decode()
    missing = client.post(
        checkout_url(agreement), {"payment_method": "invoice", "checkout_token": token(page)}
    )
    assert missing.status_code == 200
    assert "PO number and the billing company" in missing.content.decode()
    assert not Order.objects.exists()
    placed = client.post(
        checkout_url(agreement),
        {
            "payment_method": "invoice",
            "po_number": "PO-77",
            "billing_company": "Buyers Ltd",
            "checkout_token": token(page),
        },
    )
    order = Order.objects.get()
    assert placed["Location"] == f"/library/orders/{order.pk}/"
    assert (order.payment_method, order.status, order.po_number) == ("invoice", "pending", "PO-77")
    assert order.invoice.number.startswith("WS-")
    assert order.amount_minor == agreement.price_minor


def test_a_double_submitted_agreement_checkout_places_one_order(client, cast, agreement):
    client.force_login(cast.buyer)
    form = {
        "payment_method": "invoice",
        "po_number": "PO-1",
        "billing_company": "Buyers Ltd",
        "checkout_token": token(client.get(checkout_url(agreement)).content.decode()),
    }
    first = client.post(checkout_url(agreement), form)
    second = client.post(checkout_url(agreement), form)
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1


def test_only_the_buyer_organization_can_check_out_its_agreement(client, cast, agreement):
    client.force_login(cast.creator)  # a creator-only organization: no buyer pages
    assert client.get(checkout_url(agreement)).status_code == 404
    creator_page = client.get(f"/creator/offers/{agreement.offer_id}/").content.decode()
    assert agreement.terms_sha256 in creator_page
    assert "Waiting for Buyers to check out at the agreed price." in creator_page
    assert checkout_url(agreement) not in creator_page
    client.force_login(cast.outsider)  # a buyer organization, but not this agreement's
    assert client.get(checkout_url(agreement)).status_code == 404
    response = client.post(
        checkout_url(agreement),
        {
            "payment_method": "invoice",
            "po_number": "X",
            "billing_company": "Y",
            "checkout_token": "t",
        },
    )
    assert response.status_code == 404
    assert client.get("/library/agreements/agr_unknown/checkout/").status_code == 404
    assert not Order.objects.exists()


def test_the_navigation_leads_both_sides_to_their_offers(client, cast, db):
    client.force_login(cast.buyer)
    assert 'href="/library/offers/"' in client.get("/library/").content.decode()
    client.force_login(cast.creator)
    page = client.get("/creator/").content.decode()
    assert 'href="/creator/offers/"' in page
    assert client.get("/creator/offers/").status_code == 200
