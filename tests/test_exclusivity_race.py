"""Exclusivity under concurrency (PostgreSQL row locks): of twenty exclusive offers accepted at
once one wins, and agreements and list-price sales of one dataset never both win."""

import threading
from functools import partial

import pytest
from django.db import connection

from accounts.errors import Conflict, NotFound
from licensing import services
from licensing.models import Agreement, LicenseOption, Offer
from marketplace import services as marketplace
from marketplace.models import Order
from tests.helpers import require

EXCLUSIVE = {
    "permitted_uses": ["training"],
    "price_minor": 1_000_000,
    "currency": "USD",
    "is_exclusive": True,
}
ATTEMPTS = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_exclusive_accepts_exactly_one_wins(cast, make_listing, on_postgres):
    require(on_postgres, "row locks need PostgreSQL")
    listing = make_listing("Only one may hold this")
    offers = [
        services.open_offer(
            actor=cast.buyer,
            organization=cast.buyer_org,
            dataset=listing.dataset,
            terms={**EXCLUSIVE, "price_minor": 1_000_000 + n},
        )
        for n in range(ATTEMPTS)
    ]
    barrier = threading.Barrier(ATTEMPTS)
    won, refused, failed = [], [], []

    def accept(offer):
        try:
            barrier.wait()
            won.append(
                services.accept_offer(
                    actor=cast.creator, organization=cast.creator_org, offer=offer
                )
            )
        except Conflict as error:
            refused.append(error)
        except Exception as error:
            failed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(offer,)) for offer in offers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert len(won) == 1
    assert len(refused) == ATTEMPTS - 1
    assert Agreement.objects.filter(dataset=listing.dataset).count() == 1
    assert Offer.objects.filter(status=Offer.Status.ACCEPTED).count() == 1
    assert Offer.objects.filter(status=Offer.Status.OPEN).count() == 0


def _run_at_once(jobs) -> tuple[list, list, list]:
    """Run each job in its own thread, released together; (won, refused, failed)."""
    barrier = threading.Barrier(len(jobs))
    won, refused, failed = [], [], []

    def run(job):
        try:
            barrier.wait()
            won.append(job())
        except (Conflict, NotFound) as error:
            refused.append(error)
        except Exception as error:
            failed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, refused, failed


def _with_exclusive_option(cast, listing) -> LicenseOption:
    return services.add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=listing.dataset,
        name="Exclusive",
        terms={**EXCLUSIVE, "price_minor": 2_000_000},
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_exclusive_accepts_and_exclusive_checkouts_at_once_leave_one_holder(
    cast, make_listing, on_postgres
):
    """Ten exclusive offers accepted and ten exclusive list-price orders placed at the same
    moment: the dataset's row lock serializes both paths, so exactly one of the twenty wins."""
    require(on_postgres, "row locks need PostgreSQL")
    listing = make_listing("One holder, two paths")
    option = _with_exclusive_option(cast, listing)
    offers = [
        services.open_offer(
            actor=cast.buyer,
            organization=cast.buyer_org,
            dataset=listing.dataset,
            terms={**EXCLUSIVE, "price_minor": 1_000_000 + n},
        )
        for n in range(ATTEMPTS // 2)
    ]
    accepts = [
        partial(
            services.accept_offer, actor=cast.creator, organization=cast.creator_org, offer=offer
        )
        for offer in offers
    ]
    checkouts = [
        partial(
            marketplace.create_order,
            actor=cast.outsider,
            organization=cast.outsider_org,
            option=option,
        )
        for _ in range(ATTEMPTS // 2)
    ]
    won, refused, failed = _run_at_once(accepts + checkouts)
    assert failed == []
    assert len(won) == 1, won
    assert len(refused) == ATTEMPTS - 1
    agreements = Agreement.objects.filter(dataset=listing.dataset).count()
    orders = Order.objects.filter(version__dataset=listing.dataset).count()
    assert agreements + orders == 1
    if agreements:
        # The winner took the options off the market and closed the other offers.
        assert not LicenseOption.objects.filter(dataset=listing.dataset, is_active=True).exists()
        assert Offer.objects.filter(status=Offer.Status.OPEN).count() == 0
    else:
        # A reservation only holds the offers up: they stay open until the sale is paid.
        assert Offer.objects.filter(status=Offer.Status.OPEN).count() == ATTEMPTS // 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_exclusive_accept_racing_plain_checkouts_never_shares_the_dataset(
    cast, make_listing, on_postgres
):
    """One exclusive acceptance against nineteen non-exclusive checkouts: either the agreement
    wins and no order exists, or it is refused because an order came first."""
    require(on_postgres, "row locks need PostgreSQL")
    listing = make_listing("Exclusive or shared")
    option = listing.dataset.license_options.get()
    offer = services.open_offer(
        actor=cast.buyer, organization=cast.buyer_org, dataset=listing.dataset, terms=EXCLUSIVE
    )
    accept = partial(
        services.accept_offer, actor=cast.creator, organization=cast.creator_org, offer=offer
    )
    checkout = partial(
        marketplace.create_order, actor=cast.outsider, organization=cast.outsider_org, option=option
    )
    won, refused, failed = _run_at_once([accept] + [checkout] * (ATTEMPTS - 1))
    assert failed == []
    agreed = Agreement.objects.filter(dataset=listing.dataset).exists()
    orders = Order.objects.filter(version__dataset=listing.dataset).count()
    if agreed:
        assert orders == 0 and len(won) == 1
    else:
        assert orders == ATTEMPTS - 1 and len(refused) == 1
        assert refused[0].code == "exclusive_unavailable"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_paying_an_exclusive_sale_while_offers_are_accepted_leaves_one_holder(
    cast, make_listing, on_postgres, stripe_settings
):
    """The payment of a reserved exclusive order (it locks the order, then the dataset to take
    it off the market) while the creator accepts nineteen offers opened before the reservation
    (dataset, then offer): no deadlock, no agreement beside the exclusive sale, and every one of
    those offers ends withdrawn."""
    require(on_postgres, "row locks need PostgreSQL")
    listing = make_listing("Paid while negotiated")
    option = _with_exclusive_option(cast, listing)
    plain = {**EXCLUSIVE, "is_exclusive": False}
    offers = [
        services.open_offer(
            actor=cast.outsider,
            organization=cast.outsider_org,
            dataset=listing.dataset,
            terms={**plain, "price_minor": 500_000 + n},
        )
        for n in range(ATTEMPTS - 1)
    ]
    order = marketplace.create_order(actor=cast.buyer, organization=cast.buyer_org, option=option)
    pay = partial(marketplace.pay_with_test_card, order=order)
    accepts = [
        partial(
            services.accept_offer, actor=cast.creator, organization=cast.creator_org, offer=offer
        )
        for offer in offers
    ]
    won, refused, failed = _run_at_once([pay, *accepts])
    assert failed == []
    order.refresh_from_db()
    assert order.status in ("paid", "fulfilled")
    # The reservation came before any accept: each is refused, whether before or after payment.
    assert len(refused) == ATTEMPTS - 1
    assert all(error.code == "exclusively_licensed" for error in refused)
    assert not Agreement.objects.exists()
    assert Offer.objects.filter(status=Offer.Status.WITHDRAWN).count() == ATTEMPTS - 1
