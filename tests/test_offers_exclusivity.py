"""Exclusivity between the two ways to license a dataset: negotiated agreements and list-price
sales. One exclusive holder at a time, whichever way it came; the races are in
tests/test_exclusivity_race.py (PostgreSQL)."""

from datetime import timedelta

import pytest

from accounts.errors import Conflict, NotFound
from accounts.models import Notification
from licensing import services as licensing
from licensing.models import Agreement, LicenseOption, Offer
from marketplace import services
from marketplace.models import Order
from provenance.models import LedgerEntry

pytestmark = pytest.mark.usefixtures("stripe_settings")

TERMS = {"permitted_uses": ["training"], "price_minor": 90_000, "currency": "USD"}


@pytest.fixture
def listing(make_listing, cast):
    """A dataset with a cheap non-exclusive option and an exclusive one."""
    listing = make_listing("Tide tables", uses=("evaluation",))
    licensing.add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=listing.dataset,
        name="Exclusive training",
        terms={**TERMS, "price_minor": 5_000_000, "is_exclusive": True, "term_days": 365},
    )
    return listing


def exclusive_option(listing) -> LicenseOption:
    return listing.dataset.license_options.get(is_exclusive=True)


def plain_option(listing) -> LicenseOption:
    return listing.dataset.license_options.get(is_exclusive=False)


def offer_by(actor, organization, listing, **terms) -> Offer:
    return licensing.open_offer(
        actor=actor, organization=organization, dataset=listing.dataset, terms={**TERMS, **terms}
    )


def buy(cast, option, django_capture_on_commit_callbacks, *, as_outsider=False) -> Order:
    actor, organization = (
        (cast.outsider, cast.outsider_org) if as_outsider else (cast.buyer, cast.buyer_org)
    )
    order = services.create_order(actor=actor, organization=organization, option=option)
    with django_capture_on_commit_callbacks(execute=True):
        return services.pay_with_test_card(order=order)


def test_an_exclusive_sale_at_list_price_takes_offers_and_options_off_the_market(
    cast, listing, django_capture_on_commit_callbacks, client
):
    waiting = offer_by(cast.outsider, cast.outsider_org, listing)
    order = buy(cast, exclusive_option(listing), django_capture_on_commit_callbacks)
    assert order.status in ("paid", "fulfilled") and order.license.terms["is_exclusive"]
    waiting.refresh_from_db()
    assert waiting.status == Offer.Status.WITHDRAWN
    assert waiting.closed_reason == licensing.EXCLUSIVELY_LICENSED
    told = Notification.objects.get(verb="offer.withdrawn")
    assert (told.recipient, told.link) == (cast.outsider, f"/library/offers/{waiting.pk}/")
    assert listing.dataset.title in told.text and licensing.EXCLUSIVELY_LICENSED in told.text
    assert not LicenseOption.objects.filter(dataset=listing.dataset, is_active=True).exists()
    entry = LedgerEntry.objects.get(action="dataset.taken_off_market")
    assert entry.payload["order"] == order.pk
    assert entry.payload["withdrawn_offers"] == [waiting.pk]
    assert sorted(entry.payload["withdrawn_options"]) == sorted(
        listing.dataset.license_options.values_list("pk", flat=True)
    )
    with pytest.raises(Conflict) as refused:
        offer_by(cast.outsider, cast.outsider_org, listing)
    assert refused.value.code == "exclusively_licensed"
    page = client.get(f"/catalog/{listing.dataset.slug}/").content.decode()
    assert 'id="exclusive-hold"' in page and "Propose terms" not in page


def test_a_pending_exclusive_order_reserves_the_dataset_against_negotiation(cast, listing, client):
    waiting = offer_by(cast.outsider, cast.outsider_org, listing)
    order = services.create_order(
        actor=cast.buyer, organization=cast.buyer_org, option=exclusive_option(listing)
    )
    for attempt in (
        lambda: offer_by(cast.outsider, cast.outsider_org, listing),
        lambda: licensing.accept_offer(
            actor=cast.creator, organization=cast.creator_org, offer=waiting
        ),
        lambda: licensing.counter_offer(
            actor=cast.creator,
            organization=cast.creator_org,
            offer=waiting,
            terms={**TERMS, "price_minor": 95_000},
        ),
    ):
        with pytest.raises(Conflict) as refused:
            attempt()
        assert refused.value.code == "exclusively_licensed"
    assert not Agreement.objects.exists()
    page = client.get(f"/catalog/{listing.dataset.slug}/").content.decode()
    assert "reserved for an exclusive purchase" in page and "Buy Standard" not in page
    # The reservation lapses unpaid: the waiting offer was only held up, never closed.
    services.expire_orders(now=order.expires_at + timedelta(seconds=1))
    waiting.refresh_from_db()
    assert waiting.status == Offer.Status.OPEN
    agreement = licensing.accept_offer(
        actor=cast.creator, organization=cast.creator_org, offer=waiting
    )
    assert agreement.offer == waiting


def test_exclusive_terms_are_not_agreed_while_someone_else_holds_a_license(
    cast, listing, django_capture_on_commit_callbacks
):
    offer = offer_by(cast.buyer, cast.buyer_org, listing, is_exclusive=True)
    buy(cast, plain_option(listing), django_capture_on_commit_callbacks, as_outsider=True)
    with pytest.raises(Conflict) as refused:
        licensing.accept_offer(actor=cast.creator, organization=cast.creator_org, offer=offer)
    assert refused.value.code == "exclusive_unavailable"
    with pytest.raises(Conflict) as refused:
        offer_by(cast.buyer, cast.buyer_org, listing, is_exclusive=True)
    assert refused.value.code == "exclusive_unavailable"
    # Non-exclusive terms are still welcome.
    assert offer_by(cast.buyer, cast.buyer_org, listing).is_open
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN and not Agreement.objects.exists()


def test_an_exclusive_agreement_blocks_list_price_checkout(cast, listing, api_client, key_for):
    offer = offer_by(cast.buyer, cast.buyer_org, listing, is_exclusive=True)
    licensing.accept_offer(actor=cast.creator, organization=cast.creator_org, offer=offer)
    option = plain_option(listing)
    with pytest.raises(NotFound):
        services.create_order(actor=cast.outsider, organization=cast.outsider_org, option=option)
    # Even an option the creator puts back on sale cannot be bought over the agreement.
    licensing.set_license_option_active(
        actor=cast.creator, organization=cast.creator_org, option=option, is_active=True
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    response = api_client.post("/api/v1/orders/", {"option": option.pk}, format="json")
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "exclusively_licensed"
    assert not Order.objects.exists()


def test_the_offers_api_answers_409_while_the_dataset_is_reserved(
    cast, listing, api_client, key_for
):
    services.create_order(
        actor=cast.buyer, organization=cast.buyer_org, option=exclusive_option(listing)
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    response = api_client.post(
        "/api/v1/offers/", {"dataset": listing.dataset.slug, "terms": TERMS}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "exclusively_licensed"
    assert not Offer.objects.exists()


def test_an_option_withdrawn_while_a_buyer_queued_is_not_sold(cast, listing, monkeypatch):
    """The option is read before the dataset's lock is taken; it is checked again under it."""
    option = exclusive_option(listing)
    real_lock = services.Dataset.objects.select_for_update

    def lock_after_withdrawal(*args, **kwargs):
        # What a concurrent exclusive agreement does while this checkout waits for the lock.
        LicenseOption.objects.filter(dataset=listing.dataset).update(is_active=False)
        return real_lock(*args, **kwargs)

    monkeypatch.setattr(services.Dataset.objects, "select_for_update", lock_after_withdrawal)
    with pytest.raises(NotFound):
        services.create_order(actor=cast.buyer, organization=cast.buyer_org, option=option)
    assert not Order.objects.exists()


def test_an_unpaid_agreement_overtaken_by_an_exclusive_sale_says_why_it_cannot_be_checked_out(
    cast, listing, django_capture_on_commit_callbacks, client
):
    offer = offer_by(cast.buyer, cast.buyer_org, listing)
    agreement = licensing.accept_offer(
        actor=cast.creator, organization=cast.creator_org, offer=offer
    )
    client.force_login(cast.buyer)
    page = client.get(f"/library/offers/{offer.pk}/").content.decode()
    assert "Check out at the agreed price</a>" in page and "agreement-unavailable" not in page

    buy(cast, exclusive_option(listing), django_capture_on_commit_callbacks, as_outsider=True)

    told = Notification.objects.get(verb="agreement.unavailable")
    assert (told.recipient, told.link) == (cast.buyer, f"/library/offers/{offer.pk}/")
    assert agreement.pk in told.text and licensing.EXCLUSIVELY_LICENSED in told.text
    for user, portal in ((cast.buyer, "library"), (cast.creator, "creator")):
        client.force_login(user)
        page = client.get(f"/{portal}/offers/{offer.pk}/").content.decode()
        assert 'id="agreement-unavailable"' in page
        assert "Check out at the agreed price</a>" not in page
        assert agreement.terms_sha256 in page  # the agreement itself stays on record
    client.force_login(cast.buyer)
    checkout = client.get(f"/library/agreements/{agreement.pk}/checkout/").content.decode()
    assert 'id="checkout-unavailable"' in checkout and 'id="pay"' not in checkout
    placed = client.post(
        f"/library/agreements/{agreement.pk}/checkout/", {"payment_method": "card"}
    )
    assert placed.status_code == 200 and "licensed exclusively" in placed.content.decode()
    with pytest.raises(Conflict) as refused:
        services.create_order_from_agreement(
            actor=cast.buyer, organization=cast.buyer_org, agreement=agreement
        )
    assert refused.value.code == "exclusively_licensed"
    assert not Order.objects.filter(agreement=agreement).exists()


def test_an_exclusive_agreement_tells_only_the_holders_of_agreements_never_checked_out(
    cast, listing, django_capture_on_commit_callbacks
):
    checked_out = licensing.accept_offer(
        actor=cast.creator,
        organization=cast.creator_org,
        offer=offer_by(cast.outsider, cast.outsider_org, listing, price_minor=70_000),
    )
    order = services.create_order_from_agreement(
        actor=cast.outsider, organization=cast.outsider_org, agreement=checked_out
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.pay_with_test_card(order=order)
    services.refund_order(actor=cast.reviewer, order=Order.objects.get(pk=order.pk))
    waiting = licensing.accept_offer(
        actor=cast.creator,
        organization=cast.creator_org,
        offer=offer_by(cast.buyer, cast.buyer_org, listing),
    )
    exclusive = offer_by(cast.buyer, cast.buyer_org, listing, is_exclusive=True, term_days=90)
    licensing.accept_offer(actor=cast.creator, organization=cast.creator_org, offer=exclusive)

    told = Notification.objects.filter(verb="agreement.unavailable")
    assert [(n.recipient, n.link) for n in told] == [
        (cast.buyer, f"/library/offers/{waiting.offer_id}/")
    ]
