"""Report jobs in the browser: a creator watches a usage report build (the progress panel polls
and the page reloads with the result), then retries a failed statement job and reads it."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from licensing import services as licensing_services
from licensing import usage
from marketplace import reports, royalties, services
from marketplace.models import Order, ReportJob
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_creator_watches_a_usage_report_finish_and_retries_a_failed_statement(
    live_server, page, cast, make_listing, login, artifacts
):
    last_month = royalties.previous_month(timezone.now())
    first_day = datetime(last_month.year, last_month.month, 1, tzinfo=UTC)
    listing = make_listing("Harbour songs", price_minor=30_000)
    license = licensing_services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={"permitted_uses": ["training"], "seat_cap": 2, "price_model": "flat",
               "price_minor": 30_000, "currency": "USD"},
        source="test:e2e-usage",
        now=first_day - timedelta(days=3),
    )  # fmt: skip
    usage.file_usage_report(
        actor=cast.buyer,
        organization=cast.buyer_org,
        license=license,
        period_start_on=last_month,
        period_end_on=last_month + timedelta(days=6),
        purpose="training",
        records_used=4_200,
        seats=3,
        now=first_day + timedelta(days=7),
    )
    # A usage report waiting for a worker (none runs in this test until we say so).
    job = ReportJob.objects.create(
        kind=ReportJob.Kind.DATASET_USAGE,
        scope=listing.dataset_id,
        dataset=listing.dataset,
        period_starts_on=last_month,
        period_ends_on=royalties.next_month(last_month),
        requested_by=cast.creator,
        requested_by_organization=cast.creator_org,
    )

    login(page, "creator@example.test", PASSWORD)
    page.goto(f"{live_server.url}/creator/reports/{job.pk}/")
    expect(page.get_by_test_id("job-status")).to_have_text("Queued")
    reports.run_report_job(job_id=job.pk)  # a worker picks it up; the page is polling
    expect(page.get_by_test_id("job-status")).to_have_text("Done")
    expect(page.locator("#dataset-usage")).to_contain_text("4,200")
    expect(page.get_by_role("link", name="CSV")).to_be_visible()
    page.screenshot(path=str(artifacts / "report-job-usage.png"), full_page=True)

    # Last month's statement job failed earlier; the owner retries it from its page.
    order = services.create_order(
        actor=cast.buyer,
        organization=cast.buyer_org,
        option=listing.dataset.license_options.get(),
        payment_method=Order.PaymentMethod.INVOICE,
        po_number="PO-9",
        billing_company="Buyers Ltd",
        now=first_day + timedelta(days=2),
    )
    services.mark_invoice_paid(actor=cast.reviewer, order=order, now=first_day + timedelta(days=3))
    failed = ReportJob.objects.create(
        kind=ReportJob.Kind.ROYALTY_STATEMENTS,
        scope=f"organization:{cast.creator_org.pk}",
        organization=cast.creator_org,
        period_starts_on=last_month,
        period_ends_on=royalties.next_month(last_month),
        requested_by=cast.creator,
        status=ReportJob.Status.FAILED,
        attempts=1,
        error="OperationalError: the database connection was lost",
        finished_at=timezone.now(),
    )
    page.goto(f"{live_server.url}/creator/statements/")
    page.get_by_role("link", name="Royalty statements").click()
    expect(page.get_by_test_id("job-error")).to_have_text(
        "OperationalError: the database connection was lost"
    )
    page.screenshot(path=str(artifacts / "report-job-failed.png"), full_page=True)
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_test_id("job-status")).to_have_text("Done")
    expect(page.locator("#job-result")).to_contain_text("$240.00 net")
    page.locator("#job-result").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/creator/statements/rst_"))
    assert ReportJob.objects.get(pk=failed.pk).attempts == 2

    page.goto(f"{live_server.url}/creator/dashboard/")
    page.get_by_role("link", name="Usage reports").click()
    expect(page.locator("#report-jobs")).to_contain_text("Usage report of a dataset")
    expect(page.locator("#report-jobs")).to_contain_text("Royalty statements")
    page.screenshot(path=str(artifacts / "report-jobs.png"), full_page=True)
