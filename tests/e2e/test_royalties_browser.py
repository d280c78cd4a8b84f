"""A creator opens the dashboard, issues last month's statement from the portal and reads it:
charts on the page, the same figures as the statement's lines, and its PDF."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketplace import royalties, services
from marketplace.models import Order
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_creator_opens_the_dashboard_and_a_statement(
    live_server, page, cast, make_listing, login, artifacts
):
    now = timezone.now()
    first = royalties.previous_month(now)
    for title, price, day in (("Coastal tales", 10_001, 3), ("Harbour songs", 4_999, 17)):
        listing = make_listing(title, price_minor=price)
        paid_at = datetime(first.year, first.month, day, 12, tzinfo=UTC)
        order = services.create_order(
            actor=cast.buyer,
            organization=cast.buyer_org,
            option=listing.dataset.license_options.get(),
            payment_method=Order.PaymentMethod.INVOICE,
            po_number="PO-7",
            billing_company="Buyers Ltd",
            now=paid_at - timedelta(minutes=5),
        )
        order = services.mark_invoice_paid(actor=cast.reviewer, order=order, now=paid_at)
    services.refund_order(
        actor=cast.reviewer,
        order=order,
        amount_minor=1_000,
        now=datetime(first.year, first.month, 20, tzinfo=UTC),
    )

    login(page, "creator@example.test", PASSWORD)
    page.goto(f"{live_server.url}/creator/")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Revenue over time")).to_be_visible()
    expect(page.get_by_role("img", name="Your share per month (USD)")).to_be_visible()
    expect(page.get_by_role("img", name="Licenses per dataset")).to_be_visible()
    page.screenshot(path=str(artifacts / "creator-dashboard.png"), full_page=True)

    page.get_by_role("link", name="Statements").first.click()
    page.get_by_role("button", name="Issue statement").click()
    expect(page).to_have_url(re.compile(r"/creator/statements/rst_"))
    # 15,000 sold - 1,000 refunded - fees (2,000 + 999 - 199 returned) = 11,200.
    expect(page.locator("#statement-summary")).to_contain_text("$112.00")
    expect(page.get_by_role("img", name="Statement breakdown")).to_be_visible()
    expect(page.get_by_role("img", name="Net by dataset")).to_be_visible()
    page.screenshot(path=str(artifacts / "royalty-statement.png"), full_page=True)
    href = page.get_by_role("link", name="PDF").get_attribute("href")
    pdf = page.request.get(f"{live_server.url}{href}")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
