"""One purchase over the API, step by step, and the signed webhook event each step sends to a real
receiver on 127.0.0.1: both organizations subscribe to `*`, and every delivery verifies with the
snippet of docs/webhooks.md and its own endpoint's secret."""

import json
import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.helpers import wait_until
from tests.webhook_receiver import start_receiver

pytestmark = [
    pytest.mark.django_db(transaction=True),  # commits, so tasks and deliveries run for real
    pytest.mark.usefixtures("stripe_settings"),
]


def documented_verify():
    text = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    namespace: dict = {}
    exec(re.search(r"```python\n(.*?)```", text, re.S).group(1), namespace)  # noqa: S102
    return namespace["verify"]


verify = documented_verify()


@pytest.fixture
def receivers(settings):
    """One real receiver on 127.0.0.1 per organization: {"buyer": ..., "creator": ...}."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    started = {side: start_receiver() for side in ("buyer", "creator")}
    yield {side: receiver for side, (receiver, _) in started.items()}
    for _, server in started.values():
        server.shutdown()
        server.server_close()


def client_of(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


def ok(response, status=200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def subscribe(client, receiver) -> str:
    """Register an endpoint for every event; returns its secret, shown this once."""
    body = {"url": receiver.url, "events": ["*"]}
    return ok(client.post("/api/v1/webhook-endpoints/", body, format="json"), 201)["secret"]


def events_at(receiver) -> dict[str, dict]:
    """What arrived, by event type: the last body of each type."""
    return {json.loads(r.body)["type"]: json.loads(r.body) for r in receiver.requests}


def test_each_step_of_a_purchase_sends_a_signed_event_to_the_parties(
    cast, make_listing, key_for, receivers
):
    listing = make_listing(files={"data/records.csv": b"id,text\n1,one\n2,two\n"})
    slug = listing.dataset.slug
    clients = {
        "buyer": client_of(key_for(cast.buyer_org)),
        "creator": client_of(key_for(cast.creator_org)),
    }
    buyer, creator = clients["buyer"], clients["creator"]
    secrets = {side: subscribe(clients[side], receivers[side]) for side in clients}

    # Search -> listing with options -> offer -> counter -> accept.
    found = ok(buyer.get("/api/v1/listings/", {"q": "coastal"}))["results"]
    assert [item["slug"] for item in found] == [slug]
    option = ok(buyer.get(f"/api/v1/listings/{slug}/"))["license_options"][0]
    terms = {**option["terms"], "price_minor": 8_000}
    offer = ok(buyer.post("/api/v1/offers/", {"dataset": slug, "terms": terms}, format="json"), 201)
    countered = {"terms": {**terms, "price_minor": 9_000}, "message": "Meet us at 90."}
    ok(creator.post(f"/api/v1/offers/{offer['id']}/counter/", countered, format="json"))
    agreement = ok(buyer.post(f"/api/v1/offers/{offer['id']}/accept/"))["agreement"]["id"]

    # Order for the agreement, by card -> license -> certificate, manifest -> usage report.
    order = ok(
        buyer.post(
            "/api/v1/orders/", {"agreement": agreement}, format="json", HTTP_IDEMPOTENCY_KEY="o-1"
        ),
        201,
    )
    assert order["amount"] == {"amount_minor": 9_000, "currency": "USD"}
    assert order["card_payment"]["client_secret"].startswith("pi_")
    paid = ok(buyer.post(f"/api/v1/orders/{order['id']}/test-payment/", {}, format="json"))
    license_id = paid["license"]
    certificate = ok(buyer.get(f"/api/v1/licenses/{license_id}/certificate/"))
    assert certificate["payload"]["license_id"] == license_id
    manifest = ok(buyer.get(f"/api/v1/licenses/{license_id}/manifest/"))
    assert manifest["payload"]["license"]["id"] == license_id
    today = paid["paid_at"][:10]
    usage = {
        "period_start_on": today,
        "period_end_on": today,
        "purpose": option["terms"]["permitted_uses"][0],
        "records_used": 2,
    }
    report = ok(
        buyer.post(f"/api/v1/licenses/{license_id}/usage-reports/", usage, format="json"), 201
    )

    expected = {
        "creator": {
            "offer.created": {"offer": offer["id"], "dataset": slug},
            "offer.accepted": {"offer": offer["id"], "agreement": agreement},
            "usage_report.filed": {"usage_report": report["id"], "license": license_id},
        },
        "buyer": {
            "offer.countered": {"offer": offer["id"]},
            "offer.accepted": {"offer": offer["id"], "agreement": agreement},
            "order.paid": {"order": order["id"], "amount_minor": 9_000},
            "license.granted": {"license": license_id},
            "usage_report.filed": {"usage_report": report["id"], "license": license_id},
        },
    }
    for side, wanted in expected.items():
        receiver = receivers[side]
        wait_until(lambda receiver=receiver, wanted=wanted: set(events_at(receiver)) >= set(wanted))
        arrived = events_at(receiver)
        assert set(arrived) == set(wanted), f"{side} got other events too"
        for kind, data in wanted.items():
            assert data.items() <= arrived[kind]["data"].items(), kind
        other_secret = secrets["creator" if side == "buyer" else "buyer"]
        for delivery in receiver.requests:
            header = delivery.headers["Wellspring-Signature"]
            assert verify(delivery.body, header, secrets[side]), delivery.body
            assert not verify(delivery.body, header, other_secret)
            assert json.loads(delivery.body)["id"] == delivery.headers["Wellspring-Event-Id"]
        # The feed for systems that poll lists the same events (and those from before).
        feed = ok(clients[side].get("/api/v1/events/"))["results"]
        assert {json.loads(r.body)["id"] for r in receiver.requests} <= {
            event["id"] for event in feed
        }
