"""Run localstripe (a fake Stripe API) for development when no live Stripe keys are configured.

`make run` starts it beside the web server (Procfile `stripe:`). It listens on
`STRIPE_LOCAL_PORT` and registers the app's webhook endpoint, so test payments complete end to
end with events signed by `STRIPE_WEBHOOK_SECRET`. With live keys it only waits, so that honcho
keeps the other processes running.
"""

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run localstripe for development (no-op with live Stripe keys)."

    def handle(self, *args, **options):
        base = settings.STRIPE_API_BASE or ""
        local = base.startswith(("http://127.0.0.1", "http://localhost"))
        if not (settings.STRIPE_TEST_MODE and local):
            self.stdout.write("Stripe keys are configured: localstripe is not needed.")
            signal.pause()
            return
        port = settings.STRIPE_LOCAL_PORT
        exe = Path(sys.executable).with_name("localstripe")
        command = str(exe) if exe.exists() else shutil.which("localstripe")
        if command is None:
            self.stderr.write("localstripe is not installed: pip install localstripe")
            signal.pause()
            return
        if self._listening(port):
            # Registering our webhook with somebody else's server on this port would send its
            # events to us and ours nowhere: refuse, and say how to move.
            raise CommandError(
                f"Port {port} is already in use: stop what listens there or set "
                "STRIPE_LOCAL_PORT (and STRIPE_API_BASE) to a free port."
            )
        process = subprocess.Popen([command, "--port", str(port)])
        # honcho stops us with SIGTERM: leave through `finally`, taking localstripe along.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            self._wait(port, process)
            self._register_webhook(port)
            self.stdout.write(f"localstripe (test mode) on http://127.0.0.1:{port}")
            process.wait()
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)

    @staticmethod
    def _listening(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def _wait(self, port: int, process: subprocess.Popen, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"localstripe exited with status {process.returncode}.")
            if self._listening(port):
                return
            time.sleep(0.1)
        raise CommandError(f"localstripe did not listen on port {port} within {timeout:.0f} s.")

    def _register_webhook(self, port: int) -> None:
        body = json.dumps(
            {
                "url": f"{settings.SITE_URL}/stripe/webhook/",
                "secret": settings.STRIPE_WEBHOOK_SECRET,
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/_config/webhooks/wellspring",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - loopback only
