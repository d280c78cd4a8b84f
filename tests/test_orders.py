"""Orders: the state machine and the money invariants the database holds."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.models import IllegalTransition, Order


@pytest.fixture
def order(cast, make_listing):
    listing = make_listing()
    option = listing.dataset.license_options.get()
    return Order.objects.create(
        organization=cast.buyer_org,
        version=listing.version,
        option=option,
        terms=option.terms_dict(),
        terms_sha256=option.terms_hash(),
        amount_minor=10_000,
        currency="USD",
        platform_fee_minor=2_000,
        creator_share_minor=8_000,
        expires_at=timezone.now() + timedelta(minutes=30),
    )


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        (["paid", "fulfilled", "partially_refunded", "refunded"], "paid"),
        (["paid", "disputed", "fulfilled"], "pending"),
        (["expired"], "paid"),
        (["canceled"], "pending"),
    ],
)
def test_orders_follow_the_transition_table(order, path, illegal):
    for status in path:
        order.move_to(status)
    with pytest.raises(IllegalTransition):
        order.move_to(illegal)


def test_fee_and_share_must_add_up_to_the_amount(order):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(platform_fee_minor=2_001)


def test_a_refund_never_exceeds_the_amount(order):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(refunded_minor=10_001)
    Order.objects.filter(pk=order.pk).update(refunded_minor=10_000)
