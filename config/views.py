"""Views that belong to the whole site rather than to one app."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health check: database unreachable")
        return "unreachable"
    return "ok"


def _broker_status() -> str:
    try:
        with celery_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        logger.exception("health check: broker unreachable")
        return "unreachable"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_status(), "broker": _broker_status()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )


def _problem(status: int, title: str, detail: str, code: str) -> JsonResponse:
    return JsonResponse(
        {
            "type": f"urn:wellspring:problem:{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        },
        status=status,
        content_type="application/problem+json",
    )


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return _problem(404, "Not found", "Nothing is at this address.", "not_found")
    return render(request, "404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return _problem(
            500,
            "Internal error",
            "Something went wrong on our side; it has been logged.",
            "server_error",
        )
    return render(request, "500.html", status=500)
