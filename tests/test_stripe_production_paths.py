"""Disputes and Stripe invoices: the production paths localstripe cannot exercise, against a
Stripe-compatible double, through our real gateway and webhook verification."""

import pytest

from marketplace import services
from marketplace.models import Order
from provenance.models import LedgerEntry
from tests.stripe_double import StripeDouble
from tests.stripe_helpers import event_for, signed_stripe_event

SECRET = "whsec_double"


@pytest.fixture
def double(settings):
    double = StripeDouble().start()
    settings.STRIPE_SECRET_KEY = "sk_test_double"
    settings.STRIPE_API_BASE = double.url
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    yield double
    double.stop()


@pytest.fixture
def option(make_listing):
    return make_listing().dataset.license_options.get()


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """Deliver a signed event and run the task it enqueues."""

    def deliver(event):
        body, signature = signed_stripe_event(event, SECRET)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/stripe/webhook/",
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature,
            )

    return deliver


@pytest.fixture
def paid_order(cast, option, double, post):
    order = services.create_order(actor=cast.buyer, organization=cast.buyer_org, option=option)
    Order.objects.filter(pk=order.pk).update(stripe_payment_intent_id="pi_double1")
    double.paid_intent("pi_double1", order.amount_minor)
    post(
        event_for(
            "evt_paid", "payment_intent.succeeded", {"id": "pi_double1", "object": "payment_intent"}
        )
    )
    order.refresh_from_db()
    assert order.status == "fulfilled"
    return order


def dispute_event(event_id, status):
    return event_for(
        event_id,
        "charge.dispute.updated",
        {"id": "dp_x", "object": "dispute", "status": status, "payment_intent": "pi_double1"},
    )


def test_a_dispute_suspends_the_license_and_winning_it_reinstates(post, double, paid_order):
    double.dispute("pi_double1", "needs_response")
    post(dispute_event("evt_dispute_open", "needs_response"))
    paid_order.refresh_from_db()
    assert paid_order.status == "disputed" and paid_order.license.status == "suspended"
    double.dispute("pi_double1", "won")
    post(dispute_event("evt_dispute_won", "won"))
    # The stale "opened" event arriving again changes nothing: Stripe says won.
    post(dispute_event("evt_dispute_open", "needs_response"))
    paid_order.refresh_from_db()
    assert paid_order.status == "fulfilled" and paid_order.license.status == "active"


def test_a_lost_dispute_revokes_the_license(post, double, paid_order):
    double.dispute("pi_double1", "under_review")
    post(dispute_event("evt_d1", "under_review"))
    double.dispute("pi_double1", "lost")
    post(dispute_event("evt_d2", "lost"))
    paid_order.refresh_from_db()
    assert paid_order.status == "refunded" and paid_order.license.status == "revoked"
    assert paid_order.refunded_minor == paid_order.amount_minor


def test_a_paid_stripe_invoice_grants_the_license(cast, option, double, post):
    order = services.create_order(
        actor=cast.buyer,
        organization=cast.buyer_org,
        option=option,
        payment_method="invoice",
        po_number="PO-5",
        billing_company="Buyers",
    )
    double.invoices["in_1"] = {
        "id": "in_1",
        "object": "invoice",
        "status": "open",
        "metadata": {"order_id": order.pk},
    }
    event = event_for("evt_inv_open", "invoice.finalized", {"id": "in_1", "object": "invoice"})
    post(event)
    order.refresh_from_db()
    assert order.status == "pending"
    double.invoices["in_1"]["status"] = "paid"
    post(event_for("evt_inv_paid", "invoice.paid", {"id": "in_1", "object": "invoice"}))
    order.refresh_from_db()
    assert order.status == "fulfilled" and order.license.status == "active"
    assert order.invoice.stripe_invoice_id == "in_1" and order.invoice.paid_at
    assert LedgerEntry.objects.filter(action="invoice.paid", subject_id=order.pk).exists()
