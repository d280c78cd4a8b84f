"""`manage.py local_stripe`: what `make run` starts so test payments work without a Stripe account."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.helpers import free_port, wait_for_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


def test_local_stripe_serves_a_fake_stripe_api_on_the_configured_port(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "STRIPE_LOCAL_PORT": str(port),
        "STRIPE_SECRET_KEY": "",
        "STRIPE_API_BASE": "",
        "WELLSPRING_VAR_DIR": str(tmp_path),
    }
    log = tmp_path / "out.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "local_stripe"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, timeout=30)
        wait_until(lambda: "test mode" in log.read_text(), timeout=30)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/customers",
            headers={"Authorization": "Bearer sk_test_localstripe"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
    # localstripe went with it.
    time.sleep(0.5)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_local_stripe_refuses_a_port_another_server_already_holds(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "STRIPE_LOCAL_PORT": str(port),
            "STRIPE_SECRET_KEY": "",
            "STRIPE_API_BASE": "",
            "WELLSPRING_VAR_DIR": str(tmp_path),
        }
        result = subprocess.run(
            [sys.executable, "manage.py", "local_stripe"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"Port {port} is already in use" in result.stderr
