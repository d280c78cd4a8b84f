"""Outbound webhooks: endpoints, signed deliveries with retries, secret rotation, pings.

A delivery's body is `{"id", "type", "created", "data"}` (created in unix seconds), signed with
`Wellspring-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, one `v1=` per
live secret (two during a rotation). docs/webhooks.md shows receivers how to verify it.

Deliveries run in Celery (`deliver_webhook_task`): a failed attempt is retried after
WEBHOOK_RETRY_BASE_SECONDS * 2^(attempt - 1) until WEBHOOK_RETRY_HOURS have passed (3 days) or
WEBHOOK_MAX_ATTEMPTS were made; then the delivery fails, the endpoint is disabled and marked
failing, and the organization's owners get an email.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.bulk import insert_objects
from accounts.errors import InvalidInput
from accounts.models import (
    Event,
    Membership,
    Organization,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from accounts.services import require_owner

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Wellspring-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
RESPONSE_START_CHARS = 500


# --- Secrets at rest and signatures ---------------------------------------------------------


def _fernet() -> Fernet:
    # Derived from SECRET_KEY: rotating SECRET_KEY means rotating every endpoint's secret too.
    digest = hashlib.sha256(b"wellspring webhook secrets\0" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def live_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    keys = [decrypt_secret(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        keys.append(decrypt_secret(endpoint.previous_secret_encrypted))
    return keys


def signature_header(*, body: bytes, secrets_: list[str], timestamp: int) -> str:
    """`t=<timestamp>,v1=<hmac>[,v1=<hmac>]` over `"<t>.<body>"`."""
    signed = str(timestamp).encode() + b"." + body
    parts = [f"t={timestamp}"]
    for secret in secrets_:
        parts.append("v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest())
    return ",".join(parts)


def verify_signature(
    *, body: bytes, header: str, secret: str, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (docs/webhooks.md has the same lines): any v1 matches, t is fresh."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for name, value in fields if name == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamps[0])) > tolerance_seconds:
        return False
    expected = hmac.new(
        secret.encode(), timestamps[0].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, value) for name, value in fields if name == "v1")


def event_body(event: Event) -> bytes:
    payload = {
        "id": event.id,
        "type": event.type,
        "created": int(event.created_at.timestamp()),
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


# --- Addresses --------------------------------------------------------------------------------


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


def check_webhook_url(url: str) -> None:
    """Refuse URLs that are not http(s), or (in production) that resolve to private addresses.

    Hosts in WEBHOOK_ALLOWED_HOSTS are always allowed; WEBHOOK_ALLOW_PRIVATE_ADDRESSES (on in
    development) lets loopback and private networks through. Raises InvalidInput.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "A webhook URL must be an http or https address.", errors={"url": ["Not http(s)."]}
        )
    if settings.IS_PRODUCTION and parts.scheme != "https":
        raise InvalidInput("A webhook URL must use https.", errors={"url": ["Use https."]})
    host = parts.hostname
    if host in settings.WEBHOOK_ALLOWED_HOSTS or settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443)}
    except (socket.gaierror, UnicodeError):
        raise InvalidInput(
            f"The host {host!r} does not resolve.", errors={"url": ["Host does not resolve."]}
        ) from None
    if not addresses or not all(_is_public(address) for address in addresses):
        raise InvalidInput(
            "Webhook URLs must reach the public internet, not private, loopback or link-local "
            "addresses.",
            errors={"url": ["Resolves to a private address."]},
        )


def _check_events(events: list[str]) -> list[str]:
    events = list(dict.fromkeys(events))
    known = set(Event.Type.values) - {Event.Type.PING}
    unknown = [name for name in events if name != "*" and name not in known]
    if not events or unknown:
        message = (
            f"Unknown event type {unknown[0]!r}." if unknown else "Choose at least one event type."
        )
        raise InvalidInput(
            message + ' Use ["*"] for all, or some of: ' + ", ".join(sorted(known)),
            errors={"events": [message]},
        )
    return events


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# --- Endpoints --------------------------------------------------------------------------------


def create_webhook_endpoint(
    *, actor: User, organization: Organization, url: str, events: list[str]
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret, which is never shown again.

    Owners only. Raises InvalidInput for an unknown event type or a refused URL.
    """
    require_owner(actor=actor, organization=organization)
    events = _check_events(events)
    check_webhook_url(url)
    secret = _new_secret()
    endpoint = WebhookEndpoint(
        organization=organization,
        url=url,
        events=events,
        secret_encrypted=encrypt_secret(secret),
        created_by=actor,
    )
    endpoint.full_clean()
    endpoint.save()
    logger.info("webhook endpoint %s created for %s", endpoint.pk, organization.slug)
    return endpoint, secret


def update_webhook_endpoint(
    *, actor: User, endpoint: WebhookEndpoint, changes: dict
) -> WebhookEndpoint:
    """Change an endpoint's url, events or enabled flag; enabling clears `failing`. Owners only."""
    require_owner(actor=actor, organization=endpoint.organization)
    fields = []
    if "url" in changes:
        check_webhook_url(changes["url"])
        endpoint.url = changes["url"]
        fields.append("url")
    if "events" in changes:
        endpoint.events = _check_events(changes["events"])
        fields.append("events")
    if "enabled" in changes:
        endpoint.is_enabled = bool(changes["enabled"])
        fields.append("is_enabled")
        if endpoint.is_enabled:
            endpoint.failing_since = None
            fields.append("failing_since")
    if fields:
        endpoint.full_clean()
        endpoint.save(update_fields=fields)
    return endpoint


def delete_webhook_endpoint(*, actor: User, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint and its delivery log. Owners only."""
    require_owner(actor=actor, organization=endpoint.organization)
    endpoint.delete()


def rotate_webhook_secret(
    *, actor: User, endpoint: WebhookEndpoint, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """Give the endpoint a new secret; the old one keeps signing for WEBHOOK_ROTATION_HOURS.

    Owners only. Returns the endpoint and the new secret, shown this once.
    """
    require_owner(actor=actor, organization=endpoint.organization)
    now = now or timezone.now()
    secret = _new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = now + timedelta(hours=settings.WEBHOOK_ROTATION_HOURS)
        endpoint.secret_encrypted = encrypt_secret(secret)
        endpoint.save(
            update_fields=[
                "previous_secret_encrypted",
                "previous_secret_expires_at",
                "secret_encrypted",
            ]
        )
    logger.info("webhook endpoint %s secret rotated", endpoint.pk)
    return endpoint, secret


# --- Deliveries -------------------------------------------------------------------------------


def _enqueue(delivery_id: str) -> None:
    from accounts.tasks import deliver_webhook_task

    transaction.on_commit(partial(deliver_webhook_task.delay, delivery_id=delivery_id))


def schedule_deliveries(*, event: Event) -> list[WebhookDelivery]:
    """Create a delivery of the event for each enabled endpoint that listens to its type.

    Called by emit_event inside the transaction of the change; the tasks start after commit.
    """
    endpoints = WebhookEndpoint.objects.filter(
        organization_id=event.organization_id, is_enabled=True
    )
    deliveries = [
        WebhookDelivery.objects.create(endpoint=endpoint, event=event, created_at=event.created_at)
        for endpoint in endpoints
        if endpoint.subscribes_to(event.type)
    ]
    for delivery in deliveries:
        _enqueue(delivery.pk)
    return deliveries


def schedule_deliveries_of(*, events: list[Event]) -> list[WebhookDelivery]:
    """`schedule_deliveries` for many events at once: one read of the endpoints of all their
    organizations and one insert (for batch writers)."""
    endpoints: dict = {}
    for endpoint in WebhookEndpoint.objects.filter(
        organization_id__in={event.organization_id for event in events}, is_enabled=True
    ):
        endpoints.setdefault(endpoint.organization_id, []).append(endpoint)
    deliveries = insert_objects(
        [
            WebhookDelivery(endpoint=endpoint, event=event, created_at=event.created_at)
            for event in events
            for endpoint in endpoints.get(event.organization_id, [])
            if endpoint.subscribes_to(event.type)
        ]
    )
    for delivery in deliveries:
        _enqueue(delivery.pk)
    return deliveries


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is an answer, not an invitation to go elsewhere


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str, str]:
    """POST once; (status, start of the response, error)."""
    # check_webhook_url allowed only http and https.
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return (
                response.status,
                response.read(RESPONSE_START_CHARS).decode("utf-8", "replace"),
                "",
            )
    except urllib.error.HTTPError as error:
        start = error.read(RESPONSE_START_CHARS).decode("utf-8", "replace") if error.fp else ""
        return error.code, start, ""
    except (OSError, ValueError) as error:
        return None, "", str(error)[:300] or error.__class__.__name__


def _send(delivery: WebhookDelivery, number: int, now: datetime) -> WebhookAttempt:
    endpoint = delivery.endpoint
    body = event_body(delivery.event)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Wellspring-Webhooks/1",
        "Wellspring-Event-Id": delivery.event_id,
        "Wellspring-Delivery-Id": delivery.pk,
        SIGNATURE_HEADER: signature_header(
            body=body, secrets_=live_secrets(endpoint, now), timestamp=timestamp
        ),
    }
    started = time.monotonic()
    try:
        check_webhook_url(endpoint.url)  # again: DNS may point elsewhere since it was created
    except InvalidInput as error:
        status_code, start, failure = None, "", error.message
    else:
        status_code, start, failure = _post(endpoint.url, body, headers)
    return WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=now,
        duration_ms=int((time.monotonic() - started) * 1000),
        status_code=status_code,
        response_start=start,
        error=failure,
    )


def retry_delay_seconds(attempt_number: int) -> int:
    """Seconds before the next try after the given failed attempt: exponential backoff."""
    return settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt_number - 1)


def attempt_delivery(*, delivery_id: str, now: datetime | None = None) -> WebhookDelivery | None:
    """Make the next attempt of a pending delivery and record it.

    The attempt is claimed by a conditional update, so two workers never send the same attempt.
    On failure it schedules the next try with backoff, or gives up (see the module docstring).
    Returns the delivery, or None when there was nothing to do.
    """
    now = now or timezone.now()
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    number = delivery.attempt_count + 1
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempt_count=number - 1
    ).update(attempt_count=number, next_attempt_at=None)
    if not claimed:
        logger.info("webhook delivery %s attempt %s already taken", delivery.pk, number)
        return None
    delivery.attempt_count = number
    attempt = _send(delivery, number, now)
    if attempt.succeeded:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.completed_at = timezone.now()
        delivery.save(update_fields=["status", "completed_at"])
        return delivery
    delay = retry_delay_seconds(number)
    deadline = delivery.created_at + timedelta(hours=settings.WEBHOOK_RETRY_HOURS)
    next_at = now + timedelta(seconds=delay)
    if number >= settings.WEBHOOK_MAX_ATTEMPTS or next_at > deadline:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.completed_at = timezone.now()
        delivery.save(update_fields=["status", "completed_at"])
        _mark_failing(delivery.endpoint, now)
        return delivery
    delivery.next_attempt_at = next_at
    delivery.save(update_fields=["next_attempt_at"])
    logger.info("webhook delivery %s failed attempt %s; next in %ss", delivery.pk, number, delay)
    from accounts.tasks import deliver_webhook_task

    deliver_webhook_task.apply_async(kwargs={"delivery_id": delivery.pk}, countdown=delay)
    return delivery


def _mark_failing(endpoint: WebhookEndpoint, now: datetime) -> None:
    changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
        failing_since=now, is_enabled=False
    )
    if not changed:
        return
    logger.warning("webhook endpoint %s marked failing and disabled", endpoint.pk)
    owners = Membership.objects.filter(
        organization_id=endpoint.organization_id, role=Membership.Role.OWNER, user__is_active=True
    ).values_list("user__email", flat=True)
    send_mail(
        subject="A Wellspring webhook endpoint is failing and was disabled",
        message=(
            f"Deliveries to {endpoint.url} kept failing for "
            f"{settings.WEBHOOK_RETRY_HOURS} hours, so the endpoint is now disabled. Fix the "
            "receiver, enable the endpoint again and redeliver what it missed; every event is "
            "also listed at /api/v1/events/.\n"
        ),
        from_email=None,
        recipient_list=list(owners),
        fail_silently=True,
    )


def redeliver(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, as a new delivery. Owners only."""
    require_owner(actor=actor, organization=delivery.endpoint.organization)
    with transaction.atomic():
        again = WebhookDelivery.objects.create(endpoint=delivery.endpoint, event=delivery.event)
        _enqueue(again.pk)
    return again


def ping_webhook_endpoint(*, actor: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a signed `ping` event to this endpoint now, once, and return the delivery.

    Owners only. The answer is in the delivery's attempt; a failed ping is not retried and does
    not count against the endpoint.
    """
    require_owner(actor=actor, organization=endpoint.organization)
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            organization=endpoint.organization,
            type=Event.Type.PING,
            data={"endpoint": endpoint.pk},
            created_at=now,
        )
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event=event, created_at=now, attempt_count=1
        )
    attempt = _send(delivery, 1, now)
    delivery.status = (
        WebhookDelivery.Status.SUCCEEDED if attempt.succeeded else WebhookDelivery.Status.FAILED
    )
    delivery.completed_at = timezone.now()
    delivery.save(update_fields=["status", "completed_at"])
    return delivery
