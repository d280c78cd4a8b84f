"""Signed Stripe events for webhook tests: our real verification code checks them."""

import json
import time

import stripe

from tests.helpers import free_port  # noqa: F401  (re-exported for the Stripe double)


def signed_stripe_event(
    event: dict, secret: str, timestamp: int | None = None
) -> tuple[bytes, str]:
    payload = json.dumps(event)
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return payload.encode(), f"t={timestamp},v1={signature}"


def event_for(event_id: str, type: str, obj: dict) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": int(time.time()),
        "data": {"object": obj},
    }
