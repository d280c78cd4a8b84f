"""A thin gateway over Stripe: the only module that talks to it.

Everything else works with the small dataclasses below, so the rules in services never depend on
the shape of Stripe's objects (or on where localstripe differs from Stripe). The API key and
address come from settings (`STRIPE_SECRET_KEY`, `STRIPE_API_BASE`).
"""

import json
from dataclasses import dataclass, field

import stripe
from django.conf import settings

OPEN_DISPUTE_STATUSES = {
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "under_review",
}


class PaymentDeclined(Exception):
    """The card was declined; the message is Stripe's, safe to show the buyer."""


class TransferFailed(Exception):
    """Stripe refused or could not make a transfer; the message says why."""


@dataclass(frozen=True)
class PaymentState:
    """What Stripe says about one PaymentIntent right now."""

    intent_id: str
    status: str
    amount_minor: int
    currency: str
    amount_refunded_minor: int = 0
    dispute_status: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def is_succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def has_open_dispute(self) -> bool:
        return self.dispute_status in OPEN_DISPUTE_STATUSES


@dataclass(frozen=True)
class InvoiceState:
    invoice_id: str
    status: str
    metadata: dict = field(default_factory=dict)

    @property
    def is_paid(self) -> bool:
        return self.status == "paid"


def _value(obj, name, default=None):
    try:
        return obj.get(name, default) if hasattr(obj, "get") else getattr(obj, name, default)
    except (AttributeError, KeyError):
        return default


def _plain(obj) -> dict:
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway:
    def __init__(self, *, api_key: str | None = None, api_base: str | None = None):
        base = api_base if api_base is not None else settings.STRIPE_API_BASE
        self.client = stripe.StripeClient(
            api_key or settings.STRIPE_SECRET_KEY,
            base_addresses={"api": base} if base else None,
            max_network_retries=2,
        )

    # --- PaymentIntents ---------------------------------------------------------------

    def create_payment_intent(
        self, *, amount_minor: int, currency: str, order_id: str, idempotency_key: str
    ) -> tuple[str, str]:
        """A PaymentIntent for an order: `(id, client_secret)`. The same key never makes two."""
        intent = self.client.v1.payment_intents.create(
            params={
                "amount": amount_minor,
                "currency": currency.lower(),
                "payment_method_types": ["card"],
                "metadata": {"order_id": order_id},
            },
            options={"idempotency_key": idempotency_key},
        )
        return intent.id, intent.client_secret

    def client_secret(self, intent_id: str) -> str:
        return self.client.v1.payment_intents.retrieve(intent_id).client_secret

    def confirm_with_payment_method(self, intent_id: str, payment_method: str) -> None:
        """Test mode: confirm server-side with a test card (`pm_card_visa` or a card number)."""
        try:
            if payment_method.replace(" ", "").isdigit():
                payment_method = self.client.v1.payment_methods.create(
                    params={
                        "type": "card",
                        "card": {
                            "number": payment_method.replace(" ", ""),
                            "exp_month": 12,
                            "exp_year": 2034,
                            "cvc": "123",
                        },
                    }
                ).id
            # localstripe takes the payment method on update, not on confirm.
            self.client.v1.payment_intents.update(
                intent_id, params={"payment_method": payment_method}
            )
            self.client.v1.payment_intents.confirm(intent_id)
        except stripe.CardError as error:
            raise PaymentDeclined(error.user_message or "The card was declined.") from error

    def payment_state(self, intent_id: str) -> PaymentState:
        intent = self.client.v1.payment_intents.retrieve(
            intent_id, params={"expand": ["latest_charge"]}
        )
        charge = _value(intent, "latest_charge")
        if isinstance(charge, str):  # not expanded
            charge = self.client.v1.charges.retrieve(charge)
        refunded = (_value(charge, "amount_refunded", 0) or 0) if charge else 0
        dispute_status = ""
        if charge and _value(charge, "disputed", False):
            disputes = self.client.v1.disputes.list(
                params={"payment_intent": intent_id, "limit": 1}
            )
            if disputes.data:
                dispute_status = disputes.data[0].status
        return PaymentState(
            intent_id=intent.id,
            status=intent.status,
            amount_minor=intent.amount,
            currency=intent.currency.upper(),
            amount_refunded_minor=refunded,
            dispute_status=dispute_status,
            metadata=_plain(_value(intent, "metadata")),
        )

    def cancel_payment_intent(self, intent_id: str) -> None:
        self.client.v1.payment_intents.cancel(intent_id)

    def refund(self, *, intent_id: str, amount_minor: int, idempotency_key: str) -> str:
        refund = self.client.v1.refunds.create(
            params={"payment_intent": intent_id, "amount": amount_minor},
            options={"idempotency_key": idempotency_key},
        )
        return refund.id

    # --- Invoices (pay by purchase order) --------------------------------------------

    def invoice_state(self, invoice_id: str) -> InvoiceState:
        invoice = self.client.v1.invoices.retrieve(invoice_id)
        return InvoiceState(
            invoice_id=invoice.id,
            status=invoice.status,
            metadata=_plain(_value(invoice, "metadata")),
        )

    # --- Connect: creators' payout accounts and transfers -------------------------------

    def create_connected_account(
        self, *, organization_id: str, email: str, country: str = "US"
    ) -> str:
        """A Connect account for a creator organization, able to receive transfers: its id."""
        account = self.client.v1.accounts.create(
            params={
                "type": "express",
                "country": country,
                "email": email,
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"organization_id": organization_id},
            },
            options={"idempotency_key": f"wellspring-account-{organization_id}"},
        )
        return account.id

    def create_transfer(
        self,
        *,
        account_id: str,
        amount_minor: int,
        currency: str,
        payout_id: str,
        idempotency_key: str,
    ) -> str:
        """Move money from the platform's balance to a connected account: the transfer's id.

        The same idempotency key on a retry returns the first transfer instead of a second one.
        Raises TransferFailed with Stripe's message when Stripe refuses it.
        """
        try:
            transfer = self.client.v1.transfers.create(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "destination": account_id,
                    "transfer_group": payout_id,
                    "metadata": {"payout_id": payout_id},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise TransferFailed(error.user_message or str(error)[:300]) from error
        return transfer.id

    # --- Webhooks ----------------------------------------------------------------------

    @staticmethod
    def verify_webhook(payload: bytes, signature_header: str) -> dict:
        """The event, once its signature and timestamp (300 s tolerance) hold.

        Raises ValueError for a body that is not an event, stripe.SignatureVerificationError
        for a bad signature or a stale timestamp.
        """
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"),
            signature_header,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
        event = json.loads(payload)
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise ValueError("not a Stripe event")
        return event


def get_gateway() -> StripeGateway:
    return StripeGateway()
