"""The orders and licenses API: create, read, certificate, files and downloads, public checks;
every other organization's object answers 404."""

import io
import zipfile

import pytest
from django.core import signing
from django.test import override_settings

from licensing import delivery as delivering
from licensing.models import Download
from marketplace import services
from marketplace.models import Order

pytestmark = pytest.mark.usefixtures("stripe_settings")

CSV = b"id,text\n" + b"".join(b"%d,line %d\n" % (n, n) for n in range(2000))


@pytest.fixture
def option(make_listing):
    listing = make_listing(files={"data/a.csv": CSV, "b.bin": bytes(range(256)) * 40})
    return listing.dataset.license_options.get()


@pytest.fixture
def buyer_api(api_client, cast, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    return api_client


@pytest.fixture
def outsider_api(cast, key_for):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    return client


@pytest.fixture
def license(cast, option, django_capture_on_commit_callbacks):
    order = services.create_order(actor=cast.buyer, organization=cast.buyer_org, option=option)
    with django_capture_on_commit_callbacks(execute=True):
        services.pay_with_test_card(order=order)
    order.refresh_from_db()
    return order.license


def test_creating_a_card_order_returns_a_client_secret_once(buyer_api, option):
    body = {"option": option.pk}
    response = buyer_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["id"].startswith("ord_") and data["status"] == "pending"
    assert data["amount"] == {"amount_minor": 10_000, "currency": "USD"}
    assert data["card_payment"]["client_secret"].startswith("pi_")
    assert data["card_payment"]["test_mode"] is True
    again = buyer_api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201 and again.json()["id"] == data["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    read = buyer_api.get(f"/api/v1/orders/{data['id']}/")
    assert read.json()["payment_state"] == "awaiting_payment"
    listed = buyer_api.get("/api/v1/orders/").json()
    assert listed["count"] == 1 and set(listed) == {"count", "next", "previous", "results"}


def test_bad_order_input_answers_problem_json(buyer_api, option):
    response = buyer_api.post("/api/v1/orders/", {}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    response = buyer_api.post("/api/v1/orders/", {"option": "opt_nope"}, format="json")
    assert response.status_code == 404
    response = buyer_api.post(
        "/api/v1/orders/", {"option": option.pk, "payment_method": "invoice"}, format="json"
    )
    assert response.status_code == 400
    assert "po_number" in response.json()["errors"]
    assert Order.objects.count() == 0


def test_an_invoice_order_carries_its_po_and_invoice_number(buyer_api, option):
    response = buyer_api.post(
        "/api/v1/orders/",
        {
            "option": option.pk,
            "payment_method": "invoice",
            "po_number": "PO-2026-17",
            "billing_company": "Buyers GmbH",
            "billing_vat_id": "de123456789",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["card_payment"] is None
    assert data["po_number"] == "PO-2026-17" and data["billing_vat_id"] == "DE123456789"
    assert data["invoice"]["number"].startswith("WS-")


def test_a_key_without_the_orders_scope_cannot_order(api_client, cast, key_for, option):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org, ['licenses:read'])}"
    )
    response = api_client.post("/api/v1/orders/", {"option": option.pk}, format="json")
    assert response.status_code == 403


def test_the_buyer_reads_its_license_certificate_and_files(buyer_api, license):
    listed = buyer_api.get("/api/v1/licenses/").json()
    assert [item["id"] for item in listed["results"]] == [license.pk]
    detail = buyer_api.get(f"/api/v1/licenses/{license.pk}/").json()
    assert detail["status"] == "active" and detail["certificate_id"].startswith("cert_")
    envelope = buyer_api.get(f"/api/v1/licenses/{license.pk}/certificate/").json()
    assert envelope["payload"]["license_id"] == license.pk
    files = buyer_api.get(f"/api/v1/licenses/{license.pk}/files/").json()
    assert [item["path"] for item in files["files"]] == ["b.bin", "data/a.csv"]
    csv = files["files"][1]
    response = buyer_api.get(csv["download_url"])
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and len(body) == csv["size"]
    import hashlib

    assert hashlib.sha256(body).hexdigest() == csv["sha256"]
    assert body.replace(b"\r\n", b"\n") == CSV
    assert Download.objects.filter(license=license, path="data/a.csv").count() == 1


def test_the_public_verify_endpoint_needs_no_key(api_client, buyer_api, license):
    envelope = buyer_api.get(f"/api/v1/licenses/{license.pk}/certificate/").json()
    response = api_client.post(
        "/api/v1/certificates/verify/", {"certificate": envelope}, format="json"
    )
    assert response.status_code == 200
    assert (
        response.json()["is_active"] is True and response.json()["message"] == "Valid and active."
    )
    by_id = api_client.post(
        "/api/v1/certificates/verify/", {"license_id": license.pk}, format="json"
    )
    assert by_id.json()["signature_valid"] is True
    envelope["payload"]["terms_sha256"] = "0" * 64
    forged = api_client.post(
        "/api/v1/certificates/verify/", {"certificate": envelope}, format="json"
    )
    assert forged.json()["signature_valid"] is False
    assert api_client.post("/api/v1/certificates/verify/", {}, format="json").status_code == 400


def test_ranges_resume_a_download(buyer_api, license):
    csv = buyer_api.get(f"/api/v1/licenses/{license.pk}/files/").json()["files"][1]
    whole = b"".join(buyer_api.get(csv["download_url"]).streaming_content)
    part = buyer_api.get(csv["download_url"], HTTP_RANGE="bytes=100-4099")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-4099/{csv['size']}"
    assert b"".join(part.streaming_content) == whole[100:4100]
    tail = buyer_api.get(csv["download_url"], HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == whole[-10:]
    binary = buyer_api.get(f"/api/v1/licenses/{license.pk}/files/").json()["files"][0]
    raw = buyer_api.get(binary["download_url"], HTTP_RANGE="bytes=5000-")
    assert b"".join(raw.streaming_content) == (bytes(range(256)) * 40)[5000:]
    bad = buyer_api.get(csv["download_url"], HTTP_RANGE=f"bytes={csv['size']}-")
    assert bad.status_code == 416


def test_the_archive_streams_every_file_as_delivered(buyer_api, license):
    files = buyer_api.get(f"/api/v1/licenses/{license.pk}/files/").json()
    response = buyer_api.get(files["archive_url"])
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    import hashlib

    for item in files["files"]:
        assert hashlib.sha256(archive.read(item["path"])).hexdigest() == item["sha256"]


def test_an_expired_or_tampered_link_is_refused(buyer_api, license):
    url = buyer_api.get(f"/api/v1/licenses/{license.pk}/files/").json()["files"][1]["download_url"]
    token = url.rstrip("/").rsplit("/", 1)[-1]
    tampered = url.replace(token, token[:-2] + ("aa" if not token.endswith("aa") else "bb"))
    assert buyer_api.get(tampered).status_code == 403
    with override_settings(DOWNLOAD_LINK_SECONDS=0):
        import time

        time.sleep(1.1)
        assert buyer_api.get(url).status_code == 403
    # A link forged for another delivery id without the key fails too.
    forged = signing.dumps({"k": "file", "d": "dlv_x", "o": 1}, salt="other")
    assert buyer_api.get(f"/downloads/{forged}/").status_code == 403


def test_revoking_the_license_stops_its_links_at_once(buyer_api, cast, license):
    files = buyer_api.get(f"/api/v1/licenses/{license.pk}/files/").json()
    order = Order.objects.get(license=license)
    services.refund_order(actor=cast.reviewer, order=order)
    assert buyer_api.get(files["files"][0]["download_url"]).status_code == 403
    assert buyer_api.get(files["archive_url"]).status_code == 403
    assert buyer_api.get(f"/api/v1/licenses/{license.pk}/files/").status_code == 409


def test_other_organizations_get_404_on_orders_licenses_and_certificates(outsider_api, license):
    order = Order.objects.get(license=license)
    for url in (
        f"/api/v1/orders/{order.pk}/",
        f"/api/v1/licenses/{license.pk}/",
        f"/api/v1/licenses/{license.pk}/certificate/",
        f"/api/v1/licenses/{license.pk}/files/",
    ):
        response = outsider_api.get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/problem+json"
    assert outsider_api.get("/api/v1/licenses/").json()["count"] == 0
    assert outsider_api.get("/api/v1/orders/").json()["count"] == 0


def test_a_link_names_its_organization_and_cannot_be_moved_to_another(cast, license):
    from licensing.models import Delivery

    delivery = Delivery.objects.filter(license=license).first()
    moved = signing.dumps(
        {"k": "file", "d": delivery.pk, "o": cast.outsider_org.pk}, salt=delivering.SALT
    )
    with pytest.raises(delivering.LinkRefused):
        delivering.open_token(moved)
