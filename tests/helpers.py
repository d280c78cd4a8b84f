"""Small test helpers: free ports, waiting on conditions, components that may be missing."""

import os
import socket
import time

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing answered on port {port} within {timeout}s") from None
            time.sleep(0.05)


def wait_until(condition, timeout: float = 20.0, interval: float = 0.05):
    """Poll `condition` until it returns something truthy; return that, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def require(available: bool, reason: str) -> None:
    """Skip locally when a component is missing; in CI a missing component is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI must have this component: {reason}")
    pytest.skip(reason)
