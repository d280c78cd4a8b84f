"""The portal pages of checkout: buy, see the order and license, download, check the
certificate; creators see their sales, staff refund and mark invoices paid."""

import json

import pytest

from licensing.models import Download, License
from marketplace.models import Order
from provenance.models import LedgerEntry

pytestmark = pytest.mark.usefixtures("stripe_settings")


@pytest.fixture
def option(make_listing):
    return make_listing(files={"data/a.csv": b"id\n1\n2\n"}).dataset.license_options.get()


def buy(client, option, **fields):
    page = client.get(f"/checkout/{option.pk}/")
    token = page.context["form"].initial["checkout_token"]
    data = {"payment_method": "card", "test_card": "4242424242424242", "checkout_token": token}
    return client.post(f"/checkout/{option.pk}/", {**data, **fields})


def test_a_buyer_buys_with_a_test_card_and_downloads(
    client, cast, option, django_capture_on_commit_callbacks
):
    client.force_login(cast.buyer)
    page = client.get(f"/checkout/{option.pk}/")
    assert page.status_code == 200 and b"Test mode" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = buy(client, option)
    assert response.status_code == 302
    order = Order.objects.get()
    assert response["Location"] == f"/library/orders/{order.pk}/"
    assert order.status in ("paid", "fulfilled")
    license = order.license
    page = client.get(f"/library/licenses/{license.pk}/")
    assert page.status_code == 200 and b"data/a.csv" in page.content
    url = page.context["files"][0][1]
    download = client.get(url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content).replace(b"\r\n", b"\n") == b"id\n1\n2\n"
    assert Download.objects.get().user == cast.buyer
    assert b"My licenses" in client.get("/library/licenses/").content
    envelope = json.loads(client.get(f"/library/licenses/{license.pk}/certificate.json").content)
    assert envelope["payload"]["license_id"] == license.pk
    pdf = client.get(f"/library/licenses/{license.pk}/certificate.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_a_double_submitted_checkout_places_one_order(
    client, cast, option, django_capture_on_commit_callbacks
):
    client.force_login(cast.buyer)
    page = client.get(f"/checkout/{option.pk}/")
    token = page.context["form"].initial["checkout_token"]
    data = {
        "payment_method": "invoice",
        "po_number": "PO-1",
        "billing_company": "B",
        "checkout_token": token,
    }
    client.post(f"/checkout/{option.pk}/", data)
    client.post(f"/checkout/{option.pk}/", data)
    assert Order.objects.count() == 1


def test_a_declined_card_shows_an_error(client, cast, option):
    client.force_login(cast.buyer)
    response = buy(client, option, test_card="pm_card_chargeCustomerFail")
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert License.objects.count() == 0


def test_the_public_verify_page_reports_valid_then_revoked(
    client, cast, option, django_capture_on_commit_callbacks
):
    client.force_login(cast.buyer)
    with django_capture_on_commit_callbacks(execute=True):
        buy(client, option)
    order = Order.objects.get()
    envelope = client.get(f"/library/licenses/{order.license_id}/certificate.json").content
    client.logout()
    page = client.post("/verify/", {"certificate": envelope.decode(), "license_id": ""})
    assert b"Valid and active" in page.content
    client.force_login(cast.reviewer)
    client.post(f"/review/orders/{order.pk}/refund/", {"amount": "", "reason": "asked"})
    order.refresh_from_db()
    assert order.status == "refunded"
    client.logout()
    page = client.get(f"/verify/?license={order.license_id}")
    assert b"revoked" in page.content
    assert b"Not genuine" in client.post("/verify/", {"certificate": "{}"}).content


def test_other_organizations_get_404_on_order_license_and_certificate_pages(
    client, cast, option, django_capture_on_commit_callbacks
):
    client.force_login(cast.buyer)
    with django_capture_on_commit_callbacks(execute=True):
        buy(client, option)
    order = Order.objects.get()
    client.force_login(cast.outsider)
    for url in (
        f"/library/orders/{order.pk}/",
        f"/library/licenses/{order.license_id}/",
        f"/library/licenses/{order.license_id}/certificate.json",
        f"/library/licenses/{order.license_id}/certificate.pdf",
        f"/library/orders/{order.pk}/invoice.pdf",
    ):
        assert client.get(url).status_code == 404, url
    assert client.get("/review/orders/").status_code == 404


def test_an_invoice_order_gets_a_pdf_and_staff_mark_it_paid(
    client, cast, option, django_capture_on_commit_callbacks
):
    client.force_login(cast.buyer)
    page = client.get(f"/checkout/{option.pk}/")
    client.post(
        f"/checkout/{option.pk}/",
        {
            "payment_method": "invoice",
            "po_number": "PO-9",
            "billing_company": "Buyers GmbH",
            "billing_vat_id": "DE999",
            "checkout_token": page.context["form"].initial["checkout_token"],
        },
    )
    order = Order.objects.get()
    assert order.status == "pending" and order.invoice.number.startswith("WS-")
    pdf = client.get(f"/library/orders/{order.pk}/invoice.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    client.force_login(cast.reviewer)
    assert order.pk.encode() in client.get("/review/orders/").content
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/review/orders/{order.pk}/mark-paid/")
    order.refresh_from_db()
    assert order.status == "fulfilled" and order.license.status == "active"
    entry = LedgerEntry.objects.get(action="invoice.marked_paid", subject_id=order.pk)
    assert entry.actor == cast.reviewer
    client.force_login(cast.creator)
    sales = client.get("/creator/sales/")
    assert sales.status_code == 200 and b"Buyers" in sales.content
