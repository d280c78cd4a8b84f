"""Rate limits per API key: fixed windows counted in the cache (Redis when configured).

Reads (GET, HEAD, OPTIONS) and writes have separate budgets, API_RATE_LIMIT_READS and
API_RATE_LIMIT_WRITES per API_RATE_LIMIT_WINDOW_SECONDS. Every answer to a key carries
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds); a refused request gets
429 problem JSON with `Retry-After`. Session users (the portal) are not limited here.
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int

    @property
    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


def take_request(
    *, key_id: str, kind: str, limit: int, window_seconds: int, now: float | None = None
):
    """Count one request of `kind` against the key's current window; (allowed, state)."""
    now = time.time() if now is None else now
    window_start = int(now // window_seconds) * window_seconds
    cache_key = f"ratelimit:{key_id}:{kind}:{window_start}"
    cache.add(cache_key, 0, timeout=window_seconds + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, timeout=window_seconds + 5)
        count = 1
    reset = max(1, math.ceil(window_start + window_seconds - now))
    state = RateLimitState(limit=limit, remaining=max(0, limit - count), reset_seconds=reset)
    return count <= limit, state


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        is_read = request.method in SAFE_METHODS
        allowed, state = take_request(
            key_id=request.auth.pk,
            kind="read" if is_read else "write",
            limit=settings.API_RATE_LIMIT_READS if is_read else settings.API_RATE_LIMIT_WRITES,
            window_seconds=settings.API_RATE_LIMIT_WINDOW_SECONDS,
        )
        # The middleware copies these onto every answer, the 429 included.
        request._request.rate_limit = state
        self.state = state
        return allowed

    def wait(self):
        return self.state.reset_seconds
