"""Races that only a real database shows (PostgreSQL row locks): one event delivered 100 times
at once, and two buyers paying for the last exclusive option at the same moment."""

import threading

import pytest
from django.db import connection
from django.test import Client

from accounts.errors import Conflict
from licensing.models import Certificate, Delivery, License
from marketplace import services
from marketplace.models import Order, StripeEvent
from marketplace.payments import get_gateway
from provenance.models import LedgerEntry
from tests.helpers import require
from tests.stripe_helpers import event_for, signed_stripe_event

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stripe_settings"),
]


def run_at_once(count: int, work, *, threads: int | None = None) -> list:
    """Run `work` `count` times from `threads` threads released together (each thread holds one
    database connection: the server's connection limit is shared)."""
    threads = threads or count
    barrier = threading.Barrier(threads)
    results: list = []
    per_thread = [count // threads + (n < count % threads) for n in range(threads)]

    def one(times: int):
        barrier.wait()
        try:
            for _ in range(times):
                try:
                    results.append(work())
                except Exception as error:
                    results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(times,)) for times in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_one_event_delivered_100_times_at_once_grants_one_license(cast, make_listing, on_postgres):
    require(on_postgres, "row locks need PostgreSQL")
    option = make_listing().dataset.license_options.get()
    order = services.create_order(actor=cast.buyer, organization=cast.buyer_org, option=option)
    services.start_card_payment(order=order)
    order.refresh_from_db()
    get_gateway().confirm_with_payment_method(order.stripe_payment_intent_id, "pm_card_visa")
    event = event_for(
        "evt_concurrent",
        "payment_intent.succeeded",
        {"id": order.stripe_payment_intent_id, "object": "payment_intent"},
    )
    body, signature = signed_stripe_event(event, "whsec_tests")

    def deliver():
        return (
            Client()
            .post(
                "/stripe/webhook/",
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature,
            )
            .status_code
        )

    results = run_at_once(100, deliver, threads=10)
    assert results == [200] * 100
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert License.objects.count() == 1 and Certificate.objects.count() == 1
    assert Delivery.objects.count() == 1
    assert StripeEvent.objects.get().deliveries == 100
    assert LedgerEntry.objects.filter(action="order.paid").count() == 1


def test_two_buyers_of_the_last_exclusive_option_end_with_one_order(
    cast, make_listing, on_postgres
):
    require(on_postgres, "row locks need PostgreSQL")
    option = make_listing().dataset.license_options.get()
    option.is_exclusive = True
    option.save(update_fields=["is_exclusive"])
    buyers = iter([(cast.buyer, cast.buyer_org), (cast.outsider, cast.outsider_org)])
    lock = threading.Lock()

    def order():
        with lock:
            actor, organization = next(buyers)
        return services.create_order(actor=actor, organization=organization, option=option)

    results = run_at_once(2, order)
    orders = [result for result in results if isinstance(result, Order)]
    refused = [result for result in results if isinstance(result, Conflict)]
    assert len(orders) == 1 and len(refused) == 1, results
    # The one who got the order pays; the other was never charged (no PaymentIntent at all).
    paid = services.pay_with_test_card(order=orders[0])
    assert paid.status in ("paid", "fulfilled")
    assert Order.objects.exclude(stripe_payment_intent_id="").count() == 1
    assert License.objects.count() == 1
