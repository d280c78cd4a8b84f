"""Outbound webhooks against a real HTTP receiver on 127.0.0.1: signing, retries, failing
endpoints, secret rotation, pings, redelivery, the event feed and refused addresses."""

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from accounts import webhooks
from accounts.models import Event, WebhookDelivery, WebhookEndpoint
from accounts.services import emit_event
from tests.webhook_receiver import start_receiver

ENDPOINTS = "/api/v1/webhook-endpoints/"


def _documented_verify():
    """The verification snippet of docs/webhooks.md, exactly as receivers copy it."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


verify = _documented_verify()


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Api-Key {raw}"}


@pytest.fixture
def endpoint_of(api_client, cast, key_for, receiver):
    """`endpoint_of(organization, events)`: (endpoint id, secret) created through the API."""

    def make(organization=None, events=("*",)):
        raw = key_for(organization or cast.buyer_org, scopes=["webhooks:manage"])
        response = api_client.post(
            ENDPOINTS, {"url": receiver.url, "events": list(events)}, format="json", **auth(raw)
        )
        assert response.status_code == 201, response.json()
        return response.json()["id"], response.json()["secret"]

    return make


def emit(django_capture_on_commit_callbacks, organization, type="license.granted", data=None):
    with django_capture_on_commit_callbacks(execute=True):
        return emit_event(organization=organization, type=type, data=data or {"license": "lic_1"})


def test_an_emitted_event_arrives_signed_as_documented(
    cast, receiver, endpoint_of, django_capture_on_commit_callbacks
):
    _, secret = endpoint_of()
    event = emit(django_capture_on_commit_callbacks, cast.buyer_org)
    assert len(receiver.requests) == 1
    received = receiver.requests[0]
    body = json.loads(received.body)
    assert body == {
        "id": event.id,
        "type": "license.granted",
        "created": int(event.created_at.timestamp()),
        "data": {"license": "lic_1"},
    }
    assert verify(received.body, received.headers["Wellspring-Signature"], secret)
    assert received.headers["Wellspring-Event-Id"] == event.id
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded" and delivery.attempts.get().status_code == 200


def test_a_tampered_body_or_a_stale_timestamp_fails_the_snippet(
    cast, receiver, endpoint_of, django_capture_on_commit_callbacks
):
    _, secret = endpoint_of()
    emit(django_capture_on_commit_callbacks, cast.buyer_org)
    received = receiver.requests[0]
    header = received.headers["Wellspring-Signature"]
    assert not verify(received.body.replace(b"lic_1", b"lic_2"), header, secret)
    assert not verify(received.body, header, "whsec_wrong")
    stale = webhooks.signature_header(
        body=received.body, secrets_=[secret], timestamp=int(time.time()) - 600
    )
    assert not verify(received.body, stale, secret)
    assert verify(received.body, stale, secret, tolerance=3600)


def test_the_secret_is_shown_once_and_stored_encrypted(api_client, cast, key_for, endpoint_of):
    endpoint_id, secret = endpoint_of()
    assert secret.startswith("whsec_")
    stored = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert secret not in stored.secret_encrypted
    assert webhooks.decrypt_secret(stored.secret_encrypted) == secret
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    listed = api_client.get(ENDPOINTS, **auth(raw)).json()
    assert listed["count"] == 1 and "secret" not in listed["results"][0]
    assert "secret" not in api_client.get(f"{ENDPOINTS}{endpoint_id}/", **auth(raw)).json()


def test_endpoints_get_only_the_events_they_listen_to(
    cast, receiver, endpoint_of, django_capture_on_commit_callbacks
):
    endpoint_of(events=["order.paid"])
    emit(django_capture_on_commit_callbacks, cast.buyer_org, type="license.granted")
    emit(django_capture_on_commit_callbacks, cast.buyer_org, type="order.paid", data={"o": 1})
    emit(django_capture_on_commit_callbacks, cast.creator_org, type="order.paid")
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["order.paid"]


def test_a_failing_receiver_is_retried_with_backoff_and_each_attempt_logged(
    api_client, cast, key_for, receiver, endpoint_of, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    endpoint_id, secret = endpoint_of()
    receiver.statuses = [500, 500]
    emit(django_capture_on_commit_callbacks, cast.buyer_org)
    assert len(receiver.requests) == 3
    assert all(verify(r.body, r.headers["Wellspring-Signature"], secret) for r in receiver.requests)
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    log = api_client.get(f"{ENDPOINTS}{endpoint_id}/deliveries/", **auth(raw)).json()
    assert log["count"] == 1
    delivery = log["results"][0]
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 3
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["attempts"][0]["response_start"] == "receiver is down"
    assert all(a["duration_ms"] >= 0 for a in delivery["attempts"])
    assert [webhooks.retry_delay_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_a_receiver_that_stays_down_ends_failing_and_owners_are_told(
    cast, receiver, endpoint_of, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    endpoint_id, _ = endpoint_of()
    receiver.default_status = 503
    emit(django_capture_on_commit_callbacks, cast.buyer_org)
    assert len(receiver.requests) == 4
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts.count() == 4
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert endpoint.status == "failing" and not endpoint.is_enabled
    assert mail.outbox[-1].to == [cast.buyer.email]
    assert endpoint.url in mail.outbox[-1].body
    # Disabled: the next event is not sent, but it is still listed for polling.
    emit(django_capture_on_commit_callbacks, cast.buyer_org, type="order.paid")
    assert len(receiver.requests) == 4
    assert Event.objects.filter(type="order.paid").exists()


def test_retries_stop_after_three_days(cast, receiver, endpoint_of, settings, monkeypatch):
    from accounts.tasks import deliver_webhook_task

    scheduled = []
    monkeypatch.setattr(
        deliver_webhook_task, "apply_async", lambda **options: scheduled.append(options)
    )
    settings.WEBHOOK_RETRY_BASE_SECONDS = 3600 * 48
    endpoint_of()
    receiver.default_status = 500
    emit_event(organization=cast.buyer_org, type="order.paid", data={})
    delivery = WebhookDelivery.objects.get()
    webhooks.attempt_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    assert scheduled == [{"kwargs": {"delivery_id": delivery.pk}, "countdown": 3600 * 48}]
    webhooks.attempt_delivery(delivery_id=delivery.pk)  # the next wait would pass 72 hours
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempt_count == 2


def test_an_unreachable_receiver_is_logged_as_an_error(cast, endpoint_of, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint_id, _ = endpoint_of()
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(url="http://127.0.0.1:9/nothing")
    emit_event(organization=cast.buyer_org, type="order.paid", data={})
    webhooks.attempt_delivery(delivery_id=WebhookDelivery.objects.get().pk)
    attempt = WebhookDelivery.objects.get().attempts.get()
    assert attempt.status_code is None and attempt.error


def test_a_rotated_secret_keeps_verifying_during_the_overlap(
    api_client, cast, key_for, receiver, endpoint_of, django_capture_on_commit_callbacks
):
    endpoint_id, old_secret = endpoint_of()
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    response = api_client.post(f"{ENDPOINTS}{endpoint_id}/rotate-secret/", **auth(raw))
    assert response.status_code == 200
    new_secret = response.json()["secret"]
    assert new_secret != old_secret and response.json()["secret_rotation_ends_at"]
    emit(django_capture_on_commit_callbacks, cast.buyer_org)
    received = receiver.requests[-1]
    header = received.headers["Wellspring-Signature"]
    assert header.count("v1=") == 2
    assert verify(received.body, header, old_secret)
    assert verify(received.body, header, new_secret)
    # After 24 hours only the new secret signs.
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    emit(django_capture_on_commit_callbacks, cast.buyer_org)
    received = receiver.requests[-1]
    header = received.headers["Wellspring-Signature"]
    assert header.count("v1=") == 1
    assert verify(received.body, header, new_secret)
    assert not verify(received.body, header, old_secret)


def test_ping_sends_a_signed_ping_and_reports_the_answer(
    api_client, cast, key_for, receiver, endpoint_of
):
    endpoint_id, secret = endpoint_of()
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    response = api_client.post(f"{ENDPOINTS}{endpoint_id}/ping/", **auth(raw))
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert response.json()["attempts"][0]["status_code"] == 200
    received = receiver.requests[0]
    assert json.loads(received.body)["type"] == "ping"
    assert verify(received.body, received.headers["Wellspring-Signature"], secret)
    # Pings are not part of the event feed.
    assert api_client.get("/api/v1/events/", **auth(raw)).json()["count"] == 0


def test_a_delivery_can_be_sent_again(
    api_client, cast, key_for, receiver, endpoint_of, django_capture_on_commit_callbacks
):
    endpoint_id, _ = endpoint_of()
    emit(django_capture_on_commit_callbacks, cast.buyer_org)
    first = WebhookDelivery.objects.get()
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    url = f"{ENDPOINTS}{endpoint_id}/deliveries/{first.pk}/redeliver/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(url, **auth(raw))
    assert response.status_code == 202
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert WebhookDelivery.objects.count() == 2


def test_events_are_listed_newest_first_in_stable_cursor_pages(
    api_client, cast, key_for, django_capture_on_commit_callbacks
):
    for number in range(5):
        emit_event(organization=cast.buyer_org, type="order.paid", data={"n": number})
    emit_event(organization=cast.creator_org, type="order.paid", data={"n": 99})
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    page = api_client.get("/api/v1/events/", {"page_size": 2}, **auth(raw)).json()
    assert page["count"] == 5
    assert [event["data"]["n"] for event in page["results"]] == [4, 3]
    emit_event(organization=cast.buyer_org, type="order.paid", data={"n": 5})  # arrives meanwhile
    following = api_client.get(page["next"], **auth(raw)).json()
    assert [event["data"]["n"] for event in following["results"]] == [2, 1]


def test_another_organizations_endpoint_answers_404(api_client, cast, key_for, endpoint_of):
    endpoint_id, _ = endpoint_of()
    raw = key_for(cast.outsider_org, scopes=["webhooks:manage"])
    for method, path in [
        ("get", f"{ENDPOINTS}{endpoint_id}/"),
        ("post", f"{ENDPOINTS}{endpoint_id}/ping/"),
        ("post", f"{ENDPOINTS}{endpoint_id}/rotate-secret/"),
        ("get", f"{ENDPOINTS}{endpoint_id}/deliveries/"),
        ("delete", f"{ENDPOINTS}{endpoint_id}/"),
    ]:
        response = getattr(api_client, method)(path, **auth(raw))
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/problem+json"
    assert WebhookEndpoint.objects.filter(pk=endpoint_id).exists()


def test_a_key_without_the_webhooks_scope_gets_403(api_client, cast, key_for, receiver):
    raw = key_for(cast.buyer_org, scopes=["catalog:read"])
    response = api_client.post(
        ENDPOINTS, {"url": receiver.url, "events": ["*"]}, format="json", **auth(raw)
    )
    assert response.status_code == 403 and "webhooks:manage" in response.json()["detail"]
    assert api_client.get("/api/v1/events/", **auth(raw)).status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_members_who_are_not_owners_get_403(api_client, cast, receiver):
    api_client.force_login(cast.creator_member)
    response = api_client.post(ENDPOINTS, {"url": receiver.url, "events": ["*"]}, format="json")
    assert response.status_code == 403
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.test/x", "events": ["*"]}, "url"),
        ({"url": "https://example.test/x", "events": []}, "events"),
        ({"url": "https://example.test/x", "events": ["license.exploded"]}, "events"),
        ({"events": ["*"]}, "url"),
    ],
)
def test_bad_endpoints_get_400_naming_the_field(api_client, cast, key_for, body, field):
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    response = api_client.post(ENDPOINTS, body, format="json", **auth(raw))
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_private_addresses_are_refused_unless_allowed(api_client, cast, key_for, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_ALLOWED_HOSTS = []
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    for url in ["http://127.0.0.1:8000/x", "http://169.254.169.254/latest", "http://10.0.0.5/"]:
        response = api_client.post(
            ENDPOINTS, {"url": url, "events": ["*"]}, format="json", **auth(raw)
        )
        assert response.status_code == 400, url
        assert "private" in response.json()["detail"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    response = api_client.post(
        ENDPOINTS, {"url": "http://127.0.0.1:8000/x", "events": ["*"]}, format="json", **auth(raw)
    )
    assert response.status_code == 201


def test_a_delivery_to_an_address_that_became_private_is_refused(
    cast, receiver, endpoint_of, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint_of()
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    emit_event(organization=cast.buyer_org, type="order.paid", data={})
    webhooks.attempt_delivery(delivery_id=WebhookDelivery.objects.get().pk)
    assert receiver.requests == []
    assert "private" in WebhookDelivery.objects.get().attempts.get().error


def test_disabling_and_enabling_an_endpoint(api_client, cast, key_for, endpoint_of):
    endpoint_id, _ = endpoint_of()
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        failing_since=timezone.now(), is_enabled=False
    )
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    response = api_client.patch(
        f"{ENDPOINTS}{endpoint_id}/", {"enabled": True}, format="json", **auth(raw)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "enabled" and response.json()["failing_since"] is None


def test_creating_an_endpoint_honours_idempotency_key(api_client, cast, key_for, receiver):
    raw = key_for(cast.buyer_org, scopes=["webhooks:manage"])
    body = {"url": receiver.url, "events": ["*"]}
    first = api_client.post(ENDPOINTS, body, format="json", HTTP_IDEMPOTENCY_KEY="e1", **auth(raw))
    again = api_client.post(ENDPOINTS, body, format="json", HTTP_IDEMPOTENCY_KEY="e1", **auth(raw))
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert WebhookEndpoint.objects.count() == 1


def test_owners_manage_endpoints_and_read_the_log_in_the_portal(
    client, cast, receiver, django_capture_on_commit_callbacks
):
    client.force_login(cast.buyer)
    response = client.post("/accounts/webhooks/", {"url": receiver.url, "events": ["*"]})
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    secret = webhooks.decrypt_secret(endpoint.secret_encrypted)
    assert secret in page
    assert secret not in client.get(response["Location"]).content.decode()  # shown once
    client.post(f"/accounts/webhooks/{endpoint.pk}/ping/")
    emit(django_capture_on_commit_callbacks, cast.buyer_org, type="order.paid")
    page = client.get(f"/accounts/webhooks/{endpoint.pk}/").content.decode()
    assert "order.paid" in page and "ping" in page and "200 in" in page
    delivery = WebhookDelivery.objects.filter(event__type="order.paid").get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/accounts/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver/")
    assert len(receiver.requests) == 3
    client.post(f"/accounts/webhooks/{endpoint.pk}/disable/")
    assert not WebhookEndpoint.objects.get().is_enabled


def test_the_portal_hides_endpoints_from_other_organizations_and_members(client, cast, endpoint_of):
    endpoint_id, _ = endpoint_of()
    client.force_login(cast.outsider)
    assert client.get(f"/accounts/webhooks/{endpoint_id}/").status_code == 404
    assert client.post(f"/accounts/webhooks/{endpoint_id}/delete/").status_code == 404
    client.force_login(cast.creator_member)
    assert client.get("/accounts/webhooks/").status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint_id).exists()
