"""Exclusivity under concurrent acceptance: of twenty exclusive offers accepted at once, one wins."""

import threading

import pytest
from django.db import connection

from accounts.errors import Conflict
from licensing import services
from licensing.models import Agreement, Offer
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
