"""`Idempotency-Key` for creating POSTs: a retried request replays the first answer.

A route opts in by decorating its handler with `@idempotent` (a viewset method, an `@action`
or an APIView's `post`); the decorator also documents the header in the OpenAPI schema.

The first request with a key claims it by inserting an `IdempotencyRecord` (unique per
organization and key) before the handler runs, then stores the answer. A request that finds the
key claimed compares fingerprints (method, path, body): a different request gets 422; the same one
waits for the first to finish and replays its status and body with `Idempotent-Replayed: true`.
Server errors (5xx, exceptions) release the key so that the client may retry.
"""

import functools
import hashlib
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http.request import RawPostDataException
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from accounts.models import IdempotencyRecord
from accounts.rest import problem_response, request_organization

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name=HEADER,
    # Surrounding spaces are ignored, so a key needs one character that is not a space.
    type={"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": r"\S"},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique value (a UUID) per intended operation. Sent again with the same body within "
        "24 hours, the first response is replayed with `Idempotent-Replayed: true`; with a "
        "different body the request is refused with 422; while the first is still being processed, "
        "with 409."
    ),
)


def _body_bytes(request) -> bytes:
    try:
        return request.body
    except (RawPostDataException, RequestDataTooBig):
        # A large multipart upload: fingerprint its fields and its files' names and sizes.
        fields = sorted(
            (name, str(value)) for name, value in request.data.items() if name not in request.FILES
        )
        files = sorted((name, f.name, f.size) for name, f in request.FILES.items())
        return json.dumps([fields, files]).encode()


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), _body_bytes(request)):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    headers = {REPLAYED_HEADER: "true"}
    if record.location:
        headers["Location"] = record.location
    return Response(
        record.body,
        status=record.status,
        headers=headers,
        content_type=record.content_type or None,
    )


def _claim(*, organization, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Insert the record for this key (claimed=True), or return the one already there."""
    now = timezone.now()
    expired_before = now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    IdempotencyRecord.objects.filter(
        organization=organization, key=key, created_at__lt=expired_before
    ).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                organization=organization, key=key, fingerprint=fingerprint, created_at=now
            )
        return record, True
    except IntegrityError:
        return IdempotencyRecord.objects.get(organization=organization, key=key), False


def _wait_for_completion(record: IdempotencyRecord) -> IdempotencyRecord | None:
    deadline = time.monotonic() + settings.IDEMPOTENCY_WAIT_SECONDS
    while time.monotonic() < deadline:
        current = IdempotencyRecord.objects.filter(pk=record.pk).first()
        if current is None or current.is_complete:
            return current
        time.sleep(0.05)
    return record


def _conflict(detail: str, code: str, status_code: int):
    return problem_response(
        status_code=status_code, title="Idempotency-Key", detail=detail, code=code
    )


def idempotent(handler):
    """Make a creating POST honour `Idempotency-Key` (see the module docstring)."""

    @functools.wraps(handler)
    def wrapped(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        organization = request_organization(request)
        if key is None or organization is None or request.method != "POST":
            return handler(view, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            return _conflict(
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.",
                "invalid_idempotency_key",
                400,
            )
        fingerprint = _fingerprint(request)
        for _ in range(3):
            record, claimed = _claim(organization=organization, key=key, fingerprint=fingerprint)
            if claimed:
                break
            if record.fingerprint != fingerprint:
                return _conflict(
                    f"This {HEADER} was already used for a different request; "
                    "use a new key for a new operation.",
                    "idempotency_key_reused",
                    422,
                )
            finished = _wait_for_completion(record)
            if finished is None:
                continue  # the first request failed and released the key: claim it again
            if not finished.is_complete:
                return _conflict(
                    f"A request with this {HEADER} is still being processed; retry shortly.",
                    "idempotency_key_in_progress",
                    409,
                )
            return _replay(finished)
        else:  # pragma: no cover - three releases in a row
            return _conflict("Try again.", "idempotency_key_in_progress", 409)

        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                response = view.handle_exception(exc)
        except BaseException:
            record.delete()
            raise
        if response.status_code >= 500:
            record.delete()
            return response
        data = getattr(response, "data", None)
        record.status = response.status_code
        record.body = json.loads(json.dumps(data, cls=JSONEncoder)) if data is not None else None
        record.content_type = getattr(response, "content_type", None) or ""
        record.location = response.get("Location", "")
        record.save(update_fields=["status", "body", "content_type", "location"])
        return response

    return extend_schema(methods=["POST"], parameters=[IDEMPOTENCY_PARAMETER])(wrapped)
