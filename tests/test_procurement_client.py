"""examples/procurement_client.py runs the whole purchase against a live Wellspring (the demo data,
Stripe in localstripe, webhooks to the client's own receiver on 127.0.0.1) and exits 0 only when
every step holds; by invoice it waits for staff to mark the invoice paid; it exits 1 and names
the step when one does not hold."""

import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from licensing.models import License, UsageReport
from marketplace.models import Order
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server's threads see the test's rows
    pytest.mark.usefixtures("stripe_settings"),
]

CLIENT = Path(__file__).resolve().parent.parent / "examples" / "procurement_client.py"
STEPS = [
    "webhooks",
    "search",
    "offer",
    "counter",
    "accept",
    "order",
    "payment",
    "license",
    "certificate",
    "manifest",
    "files",
    "usage report",
    "events",
]


@pytest.fixture(autouse=True)
def _webhooks_to_loopback(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the client's receiver


def api_key(org: str) -> str:
    """A key made as operators make one: `create_api_key` prints it on its last line."""
    out = io.StringIO()
    call_command("create_api_key", org=org, name="procurement client", stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def client_command(url: str, buyer_key: str, creator_key: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(CLIENT),
        "--base-url",
        url,
        "--buyer-key",
        buyer_key,
        "--creator-key",
        creator_key,
        *extra,
    ]


def steps_done(stdout: str) -> list[str]:
    return [line[5:20].strip() for line in stdout.splitlines() if line.startswith("ok   ")]


def test_the_client_buys_the_demo_by_card_verifies_downloads_reports_and_gets_signed_events(
    live_server,
):
    call_command("seed_demo", stdout=io.StringIO())
    orders_before = set(Order.objects.values_list("pk", flat=True))
    result = subprocess.run(
        client_command(live_server.url, api_key("demo-lab"), api_key("demo-creators")),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert steps_done(result.stdout) == STEPS, result.stdout
    assert result.stdout.splitlines()[-1] == "all steps hold"

    # What the client reported is what happened.
    order = Order.objects.exclude(pk__in=orders_before).get()
    assert order.organization.slug == "demo-lab" and order.payment_method == "card"
    assert order.status == "fulfilled" and order.agreement_id is not None
    license = License.objects.get(pk=order.license_id)
    assert license.status == "active" and license.deliveries.exists()
    assert license.downloads.count() == license.deliveries.count()
    assert UsageReport.objects.filter(license=license, status="ok").count() == 1
    assert f"ok   license        {license.pk} active" in result.stdout
    assert "buyer 5 (" in result.stdout and "creator 3 (" in result.stdout
    # It cleaned up after itself.
    assert not license.organization.webhook_endpoints.exists()
    assert not order.version.dataset.organization.webhook_endpoints.exists()


def test_by_invoice_the_client_waits_until_staff_mark_the_invoice_paid(
    live_server, cast, make_listing, key_for
):
    make_listing(
        files={"data/a.csv": b"id,text\n1,one\n", "data/b.csv": b"id\n2\n", "c.txt": b"x\n"}
    )
    process = subprocess.Popen(
        client_command(
            live_server.url,
            key_for(cast.buyer_org),
            key_for(cast.creator_org),
            "--payment",
            "invoice",
            "--po-number",
            "PO-2026-0042",
            "--timeout",
            "120",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in process.stdout:  # until the client says it waits for the invoice
            lines.append(line)
            if line.startswith("ok   payment") or line.startswith("all steps"):
                break
        waiting = lines[-1] if lines else ""
        assert "for PO PO-2026-0042; waiting for it to be marked paid" in waiting, "".join(
            lines
        ) + (process.stderr.read() if process.poll() is not None else "")
        order_id = re.search(r"ord_[0-9a-z]+", "".join(lines)).group(0)

        # The staff step, as staff do it: in the portal's order desk.
        staff = requests.Session()
        login = f"{live_server.url}/accounts/login/"
        staff.get(login, timeout=30)
        staff.post(
            login,
            {"username": cast.reviewer.email, "password": PASSWORD},
            headers={"X-CSRFToken": staff.cookies["csrftoken"], "Referer": login},
            timeout=30,
        )
        marked = staff.post(
            f"{live_server.url}/review/orders/{order_id}/mark-paid/",
            headers={"X-CSRFToken": staff.cookies["csrftoken"], "Referer": login},
            timeout=30,
        )
        assert marked.status_code == 200 and "marked paid" in marked.text

        rest, errors = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    stdout = "".join(lines) + rest
    assert process.returncode == 0, stdout + errors
    assert steps_done(stdout) == STEPS
    assert "ok   files          3 files" in stdout
    order = Order.objects.get(pk=order_id)
    assert order.payment_method == "invoice" and order.po_number == "PO-2026-0042"
    assert order.license.status == "active"


def test_the_client_names_the_failing_step_and_exits_1(live_server, cast, key_for):
    result = subprocess.run(
        client_command(
            live_server.url,
            key_for(cast.buyer_org),
            key_for(cast.creator_org),
            "--listing",
            "no-such-listing",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "FAILED search: no listing no-such-listing" in result.stderr
    assert steps_done(result.stdout) == ["webhooks"]
    assert not cast.buyer_org.webhook_endpoints.exists()


def test_the_client_refuses_to_start_without_both_keys():
    result = subprocess.run(
        [sys.executable, str(CLIENT), "--buyer-key", "wsk_only_one"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--creator-key" in result.stderr


def load_client():
    spec = importlib.util.spec_from_file_location("procurement_client", CLIENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_clients_checks_refuse_a_tampered_envelope_root_or_webhook():
    import hashlib
    import time

    from accounts.webhooks import signature_header
    from provenance.merkle import merkle_root
    from provenance.signing import jwks, sign_payload

    client = load_client()
    envelope = sign_payload({"type": "wellspring.license-manifest", "files": [], "n": 1})
    assert client.verify_envelope(envelope, jwks())["n"] == 1
    tampered = {**envelope, "payload": {**envelope["payload"], "n": 2}}
    with pytest.raises(client.StepFailed, match="does not verify"):
        client.verify_envelope(tampered, jwks())
    with pytest.raises(client.StepFailed, match="no Ed25519 key"):
        client.verify_envelope({**envelope, "kid": "someone-else"}, jwks())

    files = [(f"d/{n}.csv", hashlib.sha256(b"%d" % n).hexdigest()) for n in range(7)]
    assert client.merkle_root(files) == merkle_root(files)
    assert client.merkle_root([]) == merkle_root([])

    body = b'{"id":"evt_1","type":"order.paid"}'
    header = signature_header(body=body, secrets_=["whsec_a"], timestamp=int(time.time()))
    assert client.webhook_signature_holds(body, header, "whsec_a")
    assert not client.webhook_signature_holds(body.replace(b"paid", b"refunded"), header, "whsec_a")
    assert not client.webhook_signature_holds(body, header, "whsec_b")
    stale = signature_header(body=body, secrets_=["whsec_a"], timestamp=int(time.time()) - 900)
    assert not client.webhook_signature_holds(body, stale, "whsec_a")
