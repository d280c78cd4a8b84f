"""Checkout against a real localstripe: orders, card payments, webhooks, refunds, expiry and
reconciliation. Money and entitlements are never lost, doubled or given to the wrong buyer."""

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, PermissionDenied
from accounts.models import Notification
from licensing.models import Certificate, Delivery, License
from marketplace import services
from marketplace.models import Order, StripeEvent
from marketplace.payments import get_gateway
from provenance.models import LedgerEntry
from tests.factories import MembershipFactory, OrganizationFactory
from tests.stripe_helpers import event_for, signed_stripe_event

pytestmark = pytest.mark.usefixtures("stripe_settings")


@pytest.fixture
def listing(make_listing):
    return make_listing(files={"data/a.csv": b"id,text\n1,one\n2,two\n", "b.bin": b"\0" * 10})


@pytest.fixture
def option(listing):
    return listing.dataset.license_options.get()


def order_for(cast, option, **kwargs):
    return services.create_order(
        actor=cast.buyer, organization=cast.buyer_org, option=option, **kwargs
    )


def pay(order, django_capture_on_commit_callbacks, card="pm_card_visa"):
    with django_capture_on_commit_callbacks(execute=True):
        return services.pay_with_test_card(order=order, card=card)


def test_paying_by_card_grants_a_fulfilled_license(
    cast, option, django_capture_on_commit_callbacks
):
    order = order_for(cast, option)
    assert (
        order.status,
        order.amount_minor,
        order.platform_fee_minor,
        order.creator_share_minor,
    ) == (
        "pending",
        10_000,
        2_000,
        8_000,
    )
    assert order.terms_sha256 == option.terms_hash()
    order = pay(order, django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == "fulfilled"
    license = order.license
    assert license.status == "active" and license.organization == cast.buyer_org
    assert license.terms_sha256 == order.terms_sha256
    assert Certificate.objects.filter(license=license).exists()
    assert Delivery.objects.filter(license=license).count() == 2
    actions = set(LedgerEntry.objects.filter(subject_id=order.pk).values_list("action", flat=True))
    assert {"order.created", "order.paid", "order.fulfilled"} <= actions
    subjects = [message.subject for message in mail.outbox]
    assert any("license" in subject and "ready" in subject for subject in subjects)
    assert any("You sold" in subject for subject in subjects)
    assert Notification.objects.filter(
        recipient=cast.buyer, verb="license.granted", link=f"/library/licenses/{license.pk}/"
    ).exists()
    assert Notification.objects.filter(recipient=cast.creator, verb="license.sold").exists()


def test_paying_twice_never_charges_or_grants_twice(
    cast, option, django_capture_on_commit_callbacks
):
    order = pay(order_for(cast, option), django_capture_on_commit_callbacks)
    with pytest.raises(Conflict):
        services.pay_with_test_card(order=order)
    assert License.objects.count() == 1


def test_a_declined_card_leaves_the_order_pending(cast, option):
    order = order_for(cast, option)
    with pytest.raises(InvalidInput) as error:
        services.pay_with_test_card(order=order, card="pm_card_chargeCustomerFail")
    assert error.value.code == "card_declined"
    order.refresh_from_db()
    assert order.status == "pending" and order.license is None


def test_only_buyers_order_and_never_their_own_dataset(cast, option):
    with pytest.raises(PermissionDenied):
        services.create_order(actor=cast.creator, organization=cast.creator_org, option=option)
    both = OrganizationFactory(is_creator=True, is_buyer=True)
    MembershipFactory(organization=both, user=cast.creator)
    option.dataset.organization = both
    option.dataset.save(update_fields=["organization"])
    with pytest.raises(Conflict):
        services.create_order(actor=cast.creator, organization=both, option=option)


def test_an_idempotency_key_returns_the_first_order(cast, option):
    first = order_for(cast, option, idempotency_key="po-77")
    assert order_for(cast, option, idempotency_key="po-77").pk == first.pk
    assert Order.objects.count() == 1


def test_a_withdrawn_option_cannot_be_ordered(cast, option):
    option.is_active = False
    option.save(update_fields=["is_active"])
    with pytest.raises(Exception, match="No such license option"):
        order_for(cast, option)


@pytest.mark.parametrize(
    ("currency", "price", "fee", "share"),
    [("USD", 12_345, 2_469, 9_876), ("EUR", 999, 199, 800), ("JPY", 5_001, 1_000, 4_001)],
)
def test_amounts_add_up_for_every_currency_exponent(
    cast, option, currency, price, fee, share, django_capture_on_commit_callbacks
):
    option.currency, option.price_minor = currency, price
    option.save(update_fields=["currency", "price_minor"])
    order = order_for(cast, option)
    assert (order.amount_minor, order.platform_fee_minor, order.creator_share_minor) == (
        price,
        fee,
        share,
    )
    order = pay(order, django_capture_on_commit_callbacks)
    state = get_gateway().payment_state(order.stripe_payment_intent_id)
    assert (state.amount_minor, state.currency) == (price, currency)


def test_an_exclusive_option_is_sold_once(cast, option, make_listing):
    option.is_exclusive = True
    option.save(update_fields=["is_exclusive"])
    first = order_for(cast, option)
    with pytest.raises(Conflict) as error:
        services.create_order(actor=cast.outsider, organization=cast.outsider_org, option=option)
    assert error.value.code == "exclusively_licensed"
    # An unpaid order's hold ends when it expires; then someone else may buy.
    assert services.expire_orders(now=timezone.now() + timedelta(hours=1)) == 1
    first.refresh_from_db()
    assert first.status == "expired"
    services.create_order(actor=cast.outsider, organization=cast.outsider_org, option=option)


def test_a_payment_arriving_after_expiry_is_refunded(
    cast, option, django_capture_on_commit_callbacks
):
    order = order_for(cast, option)
    services.start_card_payment(order=order)
    order.refresh_from_db()
    Order.objects.filter(pk=order.pk).update(status="expired")
    gateway = get_gateway()
    gateway.confirm_with_payment_method(order.stripe_payment_intent_id, "pm_card_visa")
    services.sync_order_payment(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == "expired" and order.license is None
    state = gateway.payment_state(order.stripe_payment_intent_id)
    assert state.amount_refunded_minor == order.amount_minor
    assert LedgerEntry.objects.filter(
        action="order.late_payment_refunded", subject_id=order.pk
    ).exists()


def test_reconciliation_finds_a_payment_whose_webhook_was_lost(
    cast, option, django_capture_on_commit_callbacks
):
    order = order_for(cast, option)
    services.start_card_payment(order=order)
    order.refresh_from_db()
    get_gateway().confirm_with_payment_method(order.stripe_payment_intent_id, "pm_card_visa")
    assert Order.objects.get(pk=order.pk).status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        changed = services.reconcile_pending_orders(min_age_seconds=0)
    assert changed == 1
    order.refresh_from_db()
    assert order.status == "fulfilled" and order.license.status == "active"


def test_staff_refunds_in_part_then_in_full(cast, option, django_capture_on_commit_callbacks):
    order = pay(order_for(cast, option), django_capture_on_commit_callbacks)
    with pytest.raises(PermissionDenied):
        services.refund_order(actor=cast.buyer, order=order, amount_minor=100)
    with pytest.raises(InvalidInput):
        services.refund_order(actor=cast.reviewer, order=order, amount_minor=10_001)
    order = services.refund_order(actor=cast.reviewer, order=order, amount_minor=2_500)
    order.refresh_from_db()
    assert (order.status, order.refunded_minor, order.license.status) == (
        "partially_refunded",
        2_500,
        "active",
    )
    order = services.refund_order(actor=cast.reviewer, order=order)
    order.refresh_from_db()
    assert (order.status, order.refunded_minor, order.license.status) == (
        "refunded",
        10_000,
        "revoked",
    )
    with pytest.raises(Conflict):
        services.refund_order(actor=cast.reviewer, order=order, amount_minor=1)


# --- Webhooks ---------------------------------------------------------------------------


WEBHOOK_SECRET = "whsec_tests"


def post_event(client, event, secret=WEBHOOK_SECRET, timestamp=None):
    body, signature = signed_stripe_event(event, secret, timestamp)
    return client.post(
        "/stripe/webhook/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def intent_paid_at_stripe(cast, option):
    order = order_for(cast, option)
    services.start_card_payment(order=order)
    order.refresh_from_db()
    get_gateway().confirm_with_payment_method(order.stripe_payment_intent_id, "pm_card_visa")
    return order


def intent_event(event_id, order, type="payment_intent.succeeded"):
    return event_for(
        event_id,
        type,
        {"id": order.stripe_payment_intent_id, "object": "payment_intent", "metadata": {}},
    )


def test_the_same_event_delivered_100_times_grants_one_license(
    client, cast, option, django_capture_on_commit_callbacks
):
    order = intent_paid_at_stripe(cast, option)
    event = intent_event("evt_same_100", order)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(100):
            assert post_event(client, event).status_code == 200
    assert License.objects.count() == 1
    stored = StripeEvent.objects.get(pk="evt_same_100")
    assert stored.deliveries == 100 and stored.processed_at is not None
    assert LedgerEntry.objects.filter(action="order.paid", subject_id=order.pk).count() == 1


def test_a_refund_arriving_before_the_success_event_ends_refunded(
    client, cast, option, django_capture_on_commit_callbacks
):
    order = intent_paid_at_stripe(cast, option)
    get_gateway().refund(
        intent_id=order.stripe_payment_intent_id, amount_minor=10_000, idempotency_key="r1"
    )
    charge_refunded = event_for(
        "evt_refund_first",
        "charge.refunded",
        {"id": "ch_x", "object": "charge", "payment_intent": order.stripe_payment_intent_id},
    )
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, charge_refunded)
        post_event(client, intent_event("evt_success_late", order))
    order.refresh_from_db()
    assert order.status == "refunded" and order.refunded_minor == 10_000
    # Paid and refunded in one go: no license was ever handed out.
    assert order.license is None and License.objects.count() == 0


def test_a_late_success_event_after_a_refund_changes_nothing(
    client, cast, option, django_capture_on_commit_callbacks
):
    order = pay(order_for(cast, option), django_capture_on_commit_callbacks)
    services.refund_order(actor=cast.reviewer, order=order)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, intent_event("evt_very_late", order))
    order.refresh_from_db()
    assert order.status == "refunded" and order.license.status == "revoked"


@pytest.mark.parametrize(
    ("secret", "age"), [("whsec_wrong", 0), ("whsec_tests", 301)], ids=["bad-signature", "stale"]
)
def test_a_bad_or_stale_signature_gets_400_and_stores_nothing(client, cast, option, secret, age):
    order = intent_paid_at_stripe(cast, option)
    response = post_event(client, intent_event("evt_forged", order), secret, int(time.time()) - age)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    order.refresh_from_db()
    assert order.status == "pending"


def test_a_webhook_without_a_signature_gets_400(client, db):
    response = client.post("/stripe/webhook/", b"{}", content_type="application/json")
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_an_event_for_an_unknown_payment_is_stored_and_ignored(
    client, db, django_capture_on_commit_callbacks
):
    event = event_for(
        "evt_other", "payment_intent.succeeded", {"id": "pi_unknown", "object": "payment_intent"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event).status_code == 200
    assert StripeEvent.objects.get(pk="evt_other").processed_at is not None
