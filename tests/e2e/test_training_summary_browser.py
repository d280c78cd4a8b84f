"""A buyer with a license, as in the demo (bought by invoice, marked paid by staff), generates
its training-content summary in the library, downloads it as PDF and JSON, and the PDF names
the dataset; its first page is rendered to PNG as an artifact."""

import io
import json

import pypdfium2
import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from licensing import summaries
from licensing.models import License
from marketplace import services
from marketplace.models import Order
from provenance.signing import verify_envelope
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_buyer_downloads_its_training_content_summary_as_pdf(
    live_server, page, cast, make_listing, login, artifacts
):
    listing = make_listing(
        "Coastal folk tales",
        uses=("training", "evaluation"),
        files={"data/tales.jsonl": b'{"text": "The tide came in."}\n{"text": "A gull."}\n'},
    )
    order = services.create_order(
        actor=cast.buyer,
        organization=cast.buyer_org,
        option=listing.dataset.license_options.get(),
        payment_method=Order.PaymentMethod.INVOICE,
        po_number="PO-8",
        billing_company="Buyers Ltd",
    )
    services.mark_invoice_paid(actor=cast.reviewer, order=order)
    license = License.objects.get(organization=cast.buyer_org)

    login(page, "buyer@example.test", PASSWORD)
    page.goto(f"{live_server.url}/library/")
    page.get_by_role("link", name="Training-content summary").click()
    expect(page.get_by_role("heading", name="Training-content summary")).to_be_visible()
    expect(page.get_by_role("checkbox", name=license.pk, exact=False)).to_be_checked()
    page.get_by_label("Model name (optional)").fill("tide-tales-1b")
    page.get_by_role("button", name="Generate summary").click()

    expect(page.get_by_role("heading", name="Summary", exact=True)).to_be_visible()
    expect(page.locator(f"#row-{license.pk}")).to_contain_text("Coastal folk tales")
    expect(page.locator("#summary-models")).to_have_text("tide-tales-1b")
    payload_sha256 = page.locator("#payload-sha256").inner_text()
    page.screenshot(path=str(artifacts / "training-summary.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = download.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    text = "\n".join(item.extract_text() for item in PdfReader(io.BytesIO(pdf)).pages)
    assert "Coastal folk tales" in text
    assert license.pk in text and payload_sha256 in text

    document = pypdfium2.PdfDocument(pdf)
    image = document[0].render(scale=2).to_pil()
    png = artifacts / "training-summary-page-1.png"
    image.save(png)
    assert image.width > 1000 and png.stat().st_size > 10_000
    document.close()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download signed JSON").click()
    envelope = json.loads(download_info.value.path().read_text())
    assert verify_envelope(envelope)
    assert envelope["payload"]["selection"]["licenses"] == [license.pk]
    assert summaries.payload_sha256(envelope["payload"]) == payload_sha256
