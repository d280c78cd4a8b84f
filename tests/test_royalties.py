"""Royalty statements and payouts: figures that reconcile to the cent, issued once, never changed,
paid once; other organizations see none of it."""

import csv
import io
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import webhooks
from accounts.errors import Conflict, InvalidInput, PermissionDenied
from accounts.models import Event, Notification, WebhookDelivery
from licensing import services as licensing_services
from licensing import usage
from licensing.models import ImmutableRecord, License, RoyaltyLine, RoyaltyStatement, UsageReport
from marketplace import royalties, services
from marketplace.models import Order, OrderRefund, Payout, ReportJob
from marketplace.tasks import issue_all_royalty_statements_task, pay_out_statements_task
from provenance.models import LedgerEntry
from provenance.services import verify_ledger
from tests.helpers import require
from tests.stripe_double import StripeDouble

OCTOBER = date(2026, 10, 1)


def at(day: int, month: int = 10, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture
def double(settings):
    double = StripeDouble().start()
    settings.STRIPE_SECRET_KEY = "sk_test_double"
    settings.STRIPE_API_BASE = double.url
    settings.PAYOUT_MINIMUM_MINOR = 1000
    settings.PAYOUT_RETRY_BASE_SECONDS = 300
    yield double
    double.stop()


@pytest.fixture
def sell(cast):
    """`sell(listing, paid_at)`: an order of the buyer, paid by invoice at `paid_at`."""

    def make(listing, paid_at: datetime) -> Order:
        order = services.create_order(
            actor=cast.buyer,
            organization=cast.buyer_org,
            option=listing.dataset.license_options.get(),
            payment_method=Order.PaymentMethod.INVOICE,
            po_number="PO-1",
            billing_company="Buyers Ltd",
            now=paid_at - timedelta(minutes=5),
        )
        return services.mark_invoice_paid(actor=cast.reviewer, order=order, now=paid_at)

    return make


def refund(cast, order: Order, amount: int, when: datetime) -> Order:
    return services.refund_order(
        actor=cast.reviewer, order=Order.objects.get(pk=order.pk), amount_minor=amount, now=when
    )


def metered_license(cast, listing, *, price_minor: int, currency: str = "USD") -> License:
    """A metered license of the buyer to the listing, from 1 September: `price_minor` per
    1,000 records used."""
    return licensing_services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={
            "permitted_uses": ["training"],
            "term_days": 365,
            "territories": ["worldwide"],
            "price_model": "metered",
            "price_minor": price_minor,
            "currency": currency,
        },
        source=f"test:metered:{listing.pk}:{currency}",
        now=at(1, 9, 0),
    )


def report(cast, license: License, *, first: date, last: date, records: int, filed: datetime):
    return usage.file_usage_report(
        actor=cast.buyer,
        organization=cast.buyer_org,
        license=license,
        period_start_on=first,
        period_end_on=last,
        purpose="training",
        records_used=records,
        now=filed,
    )


def test_a_month_with_sales_and_a_partial_refund_adds_up_to_the_cent(cast, make_listing, sell):
    tales = make_listing("Coastal tales", price_minor=10_001)
    songs = make_listing("Harbour songs", price_minor=4_999)
    first = sell(tales, at(3))
    second = sell(songs, at(17))
    refund(cast, first, 3_333, at(20))

    [statement] = royalties.issue_royalty_statements(
        actor=cast.creator, organization=cast.creator_org, period_starts_on=OCTOBER, now=at(2, 11)
    )

    first.refresh_from_db()
    second.refresh_from_db()
    [partial] = OrderRefund.objects.filter(order=first)
    # 20% of 10,001 rounds down to 2,000; of 3,333 refunded, 666 of that fee comes back.
    assert (first.platform_fee_minor, second.platform_fee_minor) == (2_000, 999)
    assert partial.platform_fee_minor == 2_000 * 3_333 // 10_001 == 666
    assert statement.gross_sales_minor == 15_000
    assert statement.refunds_minor == 3_333
    assert statement.platform_fee_minor == 2_000 + 999 - 666
    assert statement.metered_minor == 0
    assert statement.net_minor == 15_000 - 3_333 - 2_333 == 9_334
    assert statement.net_minor == (
        first.creator_share_minor + second.creator_share_minor - (3_333 - 666)
    )
    lines = list(statement.lines.order_by("occurred_at", "kind"))
    assert sum(line.amount_minor for line in lines) == statement.net_minor
    assert {(line.kind, line.source) for line in lines} == {
        (RoyaltyLine.Kind.SALE, first.pk),
        (RoyaltyLine.Kind.PLATFORM_FEE, first.pk),
        (RoyaltyLine.Kind.SALE, second.pk),
        (RoyaltyLine.Kind.PLATFORM_FEE, second.pk),
        (RoyaltyLine.Kind.REFUND, partial.pk),
        (RoyaltyLine.Kind.FEE_RETURNED, partial.pk),
    }
    assert statement.period_ends_on == date(2026, 11, 1)
    entry = LedgerEntry.objects.get(action="royalty_statement.issued", subject_id=statement.pk)
    assert entry.payload["net_minor"] == 9_334
    event = Event.objects.get(organization=cast.creator_org, type=Event.Type.STATEMENT_ISSUED)
    assert event.data == {
        "statement": statement.pk,
        "period": "2026-10",
        "currency": "USD",
        "net_minor": 9_334,
    }


def test_sales_a_partial_refund_and_metered_usage_add_up_to_the_cent(cast, make_listing, sell):
    tales = make_listing("Coastal tales", price_minor=10_001)
    songs = make_listing("Harbour songs", price_minor=4_999)
    order = sell(tales, at(3))
    refund(cast, order, 3_333, at(20))
    # 7 cents per 1,000 records, USD; 333 euro cents per 1,000 records, EUR.
    dollars = metered_license(cast, songs, price_minor=7)
    euros = metered_license(cast, songs, price_minor=333, currency="EUR")
    filed = [
        report(cast, dollars, first=date(2026, 9, 1), last=date(2026, 9, 30), records=1_500,
               filed=at(2)),
        report(cast, dollars, first=date(2026, 10, 1), last=date(2026, 10, 15), records=1_500,
               filed=at(16)),
        report(cast, euros, first=date(2026, 9, 1), last=date(2026, 10, 31), records=12_345,
               filed=at(31, 10, 22)),
    ]  # fmt: skip
    # Filed in November: November's statement bills it, not October's.
    report(cast, dollars, first=date(2026, 10, 16), last=date(2026, 10, 31), records=9_000,
           filed=at(1, 11, 1))  # fmt: skip

    eur, usd = sorted(
        royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(2, 11)),
        key=lambda statement: statement.currency,
    )

    order.refresh_from_db()
    [partial] = OrderRefund.objects.filter(order=order)
    assert [item.billable_minor for item in filed] == [10, 11, 4_110]
    assert (usd.currency, eur.currency) == ("USD", "EUR")
    assert usd.gross_sales_minor == 10_001
    assert usd.refunds_minor == 3_333
    assert usd.metered_minor == 21
    # The order's fee 2,000, less 666 returned with the refund, plus 20% of 21 rounded down.
    assert usd.platform_fee_minor == 2_000 - 666 + 4
    assert usd.net_minor == 10_001 - 3_333 - 1_338 + 21 == 5_351
    assert usd.net_minor == (
        order.creator_share_minor - (partial.amount_minor - partial.platform_fee_minor) + 21 - 4
    )
    assert (eur.gross_sales_minor, eur.metered_minor, eur.platform_fee_minor) == (0, 4_110, 822)
    assert eur.net_minor == 4_110 - 822
    for statement in (usd, eur):
        assert sum(line.amount_minor for line in statement.lines.all()) == statement.net_minor
    metered = usd.lines.filter(kind__in=[RoyaltyLine.Kind.METERED, RoyaltyLine.Kind.METERED_FEE])
    assert {(line.kind, line.source, line.amount_minor) for line in metered} == {
        (RoyaltyLine.Kind.METERED, f"{dollars.pk}:2026-10", 21),
        (RoyaltyLine.Kind.METERED_FEE, f"{dollars.pk}:2026-10", -4),
    }
    assert not any(line.is_adjustment for line in usd.lines.all())
    assert "Harbour songs" in metered.get(kind=RoyaltyLine.Kind.METERED).description
    # Every report filed in October is billed once, on October's statements.
    october = UsageReport.objects.filter(created_at__gte=at(1, 10, 0), created_at__lt=at(1, 11, 0))
    assert sum(item.billable_minor for item in october) == usd.metered_minor + eur.metered_minor

    [november] = royalties.issue_all_royalty_statements(
        period_starts_on=date(2026, 11, 1), now=at(2, 12)
    )
    assert november.metered_minor == 12_000 * 7 // 1_000 - 21 == 63
    assert RoyaltyLine.objects.filter(kind=RoyaltyLine.Kind.METERED).count() == 3


def test_metered_usage_of_a_month_without_a_statement_is_billed_next_month_once(cast, make_listing):
    license = metered_license(cast, make_listing("Harbour songs"), price_minor=1_000)
    report(cast, license, first=date(2026, 9, 1), last=date(2026, 9, 4), records=3, filed=at(5, 9))
    report(cast, license, first=date(2026, 10, 1), last=date(2026, 10, 9), records=4, filed=at(10))

    # September's statement was never issued: October's takes September's usage in as an
    # adjusting line.
    [october] = royalties.issue_royalty_statements(
        actor=cast.creator, organization=cast.creator_org, period_starts_on=OCTOBER, now=at(2, 11)
    )
    report(cast, license, first=date(2026, 10, 10), last=date(2026, 10, 31), records=5,
           filed=at(3, 11))  # fmt: skip
    [november] = royalties.issue_all_royalty_statements(
        period_starts_on=date(2026, 11, 1), now=at(2, 12)
    )

    lines = {
        line.source: (line.amount_minor, line.is_adjustment)
        for line in october.lines.filter(kind=RoyaltyLine.Kind.METERED)
    }
    assert lines == {f"{license.pk}:2026-09": (3, True), f"{license.pk}:2026-10": (4, False)}
    assert october.metered_minor == 7
    assert list(november.lines.values_list("kind", "source", "amount_minor")) == [
        (RoyaltyLine.Kind.METERED, f"{license.pk}:2026-11", 5),
        (RoyaltyLine.Kind.METERED_FEE, f"{license.pk}:2026-11", -1),
    ]
    assert october.metered_minor + november.metered_minor == sum(
        UsageReport.objects.values_list("billable_minor", flat=True)
    )


def test_a_month_can_be_issued_only_once_it_has_settled(cast, make_listing, sell):
    sell(make_listing(), at(3))
    with pytest.raises(InvalidInput, match="can be issued from 00:05 UTC"):
        royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(1, 11, 0))
    assert RoyaltyStatement.objects.count() == 0
    [statement] = royalties.issue_all_royalty_statements(
        period_starts_on=OCTOBER, now=at(1, 11, 0) + timedelta(minutes=5)
    )
    assert statement.gross_sales_minor == 10_000


def test_late_sales_and_later_refunds_become_adjusting_lines_next_month(cast, make_listing, sell):
    tales = make_listing("Coastal tales", price_minor=10_001)
    first = sell(tales, at(3))
    [october] = royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(1, 11, 3))
    # Paid on 31 October but recorded after October's statement was issued (a late webhook).
    late = sell(tales, at(31, 10, 23))
    refund(cast, first, 10_001, at(10, 11))  # the rest of the first order, in November

    [november] = royalties.issue_all_royalty_statements(
        period_starts_on=date(2026, 11, 1), now=at(1, 12, 3)
    )

    october.refresh_from_db()
    assert october.gross_sales_minor == 10_001  # unchanged: issued statements never move
    late_lines = november.lines.filter(source=late.pk)
    assert {line.is_adjustment for line in late_lines} == {True}
    assert november.gross_sales_minor == 10_001
    assert november.refunds_minor == 10_001
    # Over both months: every cent of the orders and refunds, exactly once.
    orders = Order.objects.filter(pk__in=[first.pk, late.pk])
    refunds = OrderRefund.objects.filter(order__in=orders)
    expected = sum(order.creator_share_minor for order in orders) - sum(
        item.amount_minor - item.platform_fee_minor for item in refunds
    )
    assert october.net_minor + november.net_minor == expected
    # A full refund returns the whole fee, even when it came in one piece after the sale.
    assert sum(item.platform_fee_minor for item in OrderRefund.objects.filter(order=first)) == (
        Order.objects.get(pk=first.pk).platform_fee_minor
    )


def test_a_batch_of_creators_gets_its_ledger_entries_events_webhooks_and_notifications(
    cast, make_listing, sell, django_capture_on_commit_callbacks, mailoutbox
):
    sell(make_listing("Coastal tales"), at(3))
    sell(make_listing("Dune songs", organization=cast.outsider_org, actor=cast.outsider), at(4))
    endpoint, _ = webhooks.create_webhook_endpoint(
        actor=cast.creator,
        organization=cast.creator_org,
        url="https://hooks.example.test/wellspring",
        events=["statement.issued"],
    )

    with django_capture_on_commit_callbacks() as queued:
        statements = royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(2, 11))
    for callback in queued:
        if "deliver_webhook_task" not in repr(callback):
            callback()  # the mails; a delivery would call the (unreachable) receiver

    assert len(statements) == 2
    assert verify_ledger().is_intact
    for statement in statements:
        entry = LedgerEntry.objects.get(action="royalty_statement.issued", subject_id=statement.pk)
        assert entry.organization == statement.organization
        assert entry.payload["net_minor"] == statement.net_minor
    events = Event.objects.filter(type=Event.Type.STATEMENT_ISSUED)
    assert {event.organization for event in events} == {cast.creator_org, cast.outsider_org}
    [delivery] = WebhookDelivery.objects.all()  # only the creator listens
    assert (delivery.endpoint, delivery.event.organization) == (endpoint, cast.creator_org)
    notified = Notification.objects.filter(verb="statement.issued")
    assert sorted(item.recipient.email for item in notified) == [
        "creator@example.test",
        "member@example.test",
        "outsider@example.test",
    ]
    assert sorted(message.to[0] for message in mailoutbox) == [
        "creator@example.test",
        "member@example.test",
        "outsider@example.test",
    ]
    assert "Your royalty statement for October 2026 is ready" in mailoutbox[0].subject


def test_issued_statements_and_their_lines_cannot_change(cast, make_listing, sell):
    sell(make_listing(), at(3))
    [statement] = royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(2, 11))
    line = statement.lines.first()

    statement.net_minor = 1
    with pytest.raises(ImmutableRecord):
        statement.save()
    with pytest.raises(ImmutableRecord):
        statement.delete()
    with pytest.raises(ImmutableRecord):
        RoyaltyStatement.objects.filter(pk=statement.pk).update(net_minor=1)
    with pytest.raises(ImmutableRecord):
        RoyaltyStatement.objects.filter(pk=statement.pk).delete()
    line.amount_minor = 1
    with pytest.raises(ImmutableRecord):
        line.save()
    with pytest.raises(ImmutableRecord):
        RoyaltyLine.objects.filter(pk=line.pk).update(amount_minor=1)
    assert RoyaltyStatement.objects.get(pk=statement.pk).net_minor == 8_000


def test_only_owners_issue_statements_and_only_for_months_that_ended(cast, make_listing, sell):
    sell(make_listing(), at(3))
    with pytest.raises(PermissionDenied):
        royalties.issue_royalty_statements(
            actor=cast.creator_member,
            organization=cast.creator_org,
            period_starts_on=OCTOBER,
            now=at(2, 11),
        )
    with pytest.raises(InvalidInput):
        royalties.issue_royalty_statements(
            actor=cast.creator, organization=cast.creator_org, period_starts_on=OCTOBER, now=at(9)
        )
    royalties.issue_royalty_statements(
        actor=cast.creator,
        organization=cast.creator_org,
        period_starts_on=date(2026, 11, 1),
        now=at(2, 12),
    )
    with pytest.raises(Conflict):
        royalties.issue_royalty_statements(
            actor=cast.creator,
            organization=cast.creator_org,
            period_starts_on=OCTOBER,
            now=at(2, 12),
        )
    assert RoyaltyStatement.objects.count() == 1


def last_month_day(now: datetime, day: int) -> datetime:
    first = royalties.previous_month(now)
    return datetime(first.year, first.month, day, 12, tzinfo=UTC)


def test_the_beat_jobs_twice_give_one_statement_and_one_payout(cast, make_listing, sell, double):
    now = timezone.now()
    sell(make_listing(price_minor=50_000), last_month_day(now, 5))
    account = royalties.connect_payout_account(actor=cast.creator, organization=cast.creator_org)

    assert issue_all_royalty_statements_task.delay().get() == 1
    assert issue_all_royalty_statements_task.delay().get() == 0
    pay_out_statements_task.delay().get()
    pay_out_statements_task.delay().get()

    [statement] = RoyaltyStatement.objects.all()
    payout = Payout.objects.get()
    assert payout.statement == statement
    assert payout.status == Payout.Status.PAID
    assert payout.amount_minor == statement.net_minor == 40_000
    assert list(double.transfers.values()) == [
        {
            "id": payout.stripe_transfer_id,
            "object": "transfer",
            "amount": 40_000,
            "currency": "usd",
            "destination": account.stripe_account_id,
            "transfer_group": payout.pk,
            "metadata": {"payout_id": payout.pk},
        }
    ]
    assert account.stripe_account_id.startswith("acct_")
    assert LedgerEntry.objects.filter(action="payout.paid", subject_id=payout.pk).count() == 1


def test_a_retried_transfer_reuses_its_idempotency_key(cast, make_listing, sell, double):
    """A worker that died after Stripe made the transfer retries it; Stripe answers with the
    first transfer, so the creator is paid once."""
    sell(make_listing(price_minor=50_000), at(5))
    royalties.connect_payout_account(actor=cast.creator, organization=cast.creator_org)
    royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(1, 11, 3))
    [payout] = royalties.schedule_payouts(now=at(1, 11, 4))
    royalties.attempt_payout(payout_id=payout.pk, now=at(1, 11, 4))
    # Pretend the first attempt crashed before recording its result.
    Payout.objects.filter(pk=payout.pk).update(
        status=Payout.Status.PROCESSING, stripe_transfer_id=""
    )

    payout = royalties.attempt_payout(payout_id=payout.pk, now=at(1, 11, 5))

    assert payout.status == Payout.Status.PAID
    assert len(double.transfers) == 1
    assert payout.stripe_transfer_id in double.transfers


def test_a_failing_payout_is_retried_with_backoff_and_shown_to_the_creator(
    cast, make_listing, sell, double, client
):
    sell(make_listing(price_minor=50_000), at(5))
    royalties.connect_payout_account(actor=cast.creator, organization=cast.creator_org)
    royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(1, 11, 3))
    double.failing_transfers = 1

    royalties.pay_out_statements(now=at(1, 11, 4))

    payout = Payout.objects.get()
    assert payout.status == Payout.Status.FAILED
    assert payout.attempts == 1
    assert "insufficient funds" in payout.last_error
    assert payout.next_attempt_at == at(1, 11, 4) + timedelta(seconds=300)
    client.force_login(cast.creator)
    page = client.get("/creator/payouts/").content.decode()
    assert "Failed, will retry" in page and "insufficient funds" in page
    assert LedgerEntry.objects.filter(action="payout.failed", subject_id=payout.pk).exists()

    royalties.pay_out_statements(now=at(1, 11, 4) + timedelta(seconds=60))  # still backing off
    assert Payout.objects.get().attempts == 1

    royalties.pay_out_statements(now=at(1, 11, 4) + timedelta(seconds=301))
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert payout.attempts == 2
    assert payout.last_error == ""
    assert len(double.transfers) == 1


def test_a_payout_that_keeps_failing_stops_and_an_owner_can_retry_it(
    cast, make_listing, sell, double, client, settings
):
    settings.PAYOUT_MAX_ATTEMPTS = 2
    sell(make_listing(price_minor=50_000), at(5))
    royalties.connect_payout_account(actor=cast.creator, organization=cast.creator_org)
    royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(1, 11, 3))
    double.failing_transfers = 2
    royalties.pay_out_statements(now=at(1, 11, 4))
    royalties.pay_out_statements(now=at(1, 11, 5))
    payout = Payout.objects.get()
    assert payout.status == Payout.Status.GAVE_UP
    royalties.pay_out_statements(now=at(2, 11))
    assert Payout.objects.get().attempts == 2

    client.force_login(cast.creator)
    response = client.post(f"/creator/payouts/{payout.pk}/retry/")
    assert response.status_code == 302
    royalties.pay_out_statements()
    assert Payout.objects.get().status == Payout.Status.PAID


def test_statements_below_the_minimum_or_without_an_account_are_not_paid(
    cast, make_listing, sell, double, settings
):
    settings.PAYOUT_MINIMUM_MINOR = 100_000
    sell(make_listing(price_minor=50_000), at(5))
    royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(1, 11, 3))
    assert royalties.pay_out_statements(now=at(1, 11, 4)) == []
    royalties.connect_payout_account(actor=cast.creator, organization=cast.creator_org)
    assert royalties.pay_out_statements(now=at(1, 11, 4)) == []
    settings.PAYOUT_MINIMUM_MINOR = 1000
    assert [payout.status for payout in royalties.pay_out_statements(now=at(1, 11, 5))] == ["paid"]


def test_statement_page_csv_and_pdf_show_the_same_figures(cast, make_listing, sell, client):
    first = sell(make_listing("Coastal tales", price_minor=10_001), at(3))
    refund(cast, first, 3_333, at(20))
    [statement] = royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(2, 11))
    client.force_login(cast.creator_member)

    page = client.get(f"/creator/statements/{statement.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "$100.01" in html and "$53.34" in html
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/creator/statements/{statement.pk}/statement.csv"
    ).content.decode())))  # fmt: skip
    lines = [row for row in rows if row["source"]]
    assert sum(int(row["amount_minor"]) for row in lines) == statement.net_minor == 5_334
    assert rows[-1]["kind"] == "total net" and rows[-1]["amount_minor"] == "5334"
    pdf = client.get(f"/creator/statements/{statement.pk}/statement.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_owner_issues_last_months_statement_from_the_portal(
    cast, make_listing, sell, client, django_capture_on_commit_callbacks
):
    now = timezone.now()
    sell(make_listing(price_minor=20_000), last_month_day(now, 9))
    client.force_login(cast.creator)
    period = f"{royalties.previous_month(now):%Y-%m}"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/creator/statements/issue/", {"period": period})
    again = client.post("/creator/statements/issue/", {"period": period})

    statement = RoyaltyStatement.objects.get()
    job = ReportJob.objects.get()  # the builder ran as a report job, after the request
    assert response.url == f"/creator/reports/{job.pk}/"
    assert again.url == f"/creator/statements/{statement.pk}/"
    bad = client.post("/creator/statements/issue/", {"period": "October"}, follow=True)
    assert "is not a month" in bad.content.decode()
    client.force_login(cast.creator_member)
    assert client.post("/creator/statements/issue/", {"period": period}).status_code == 403


def test_other_organizations_get_404_on_statements_and_payouts(
    cast, make_listing, sell, double, client
):
    sell(make_listing(price_minor=50_000), at(5))
    royalties.connect_payout_account(actor=cast.creator, organization=cast.creator_org)
    [statement] = royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(2, 11))
    double.failing_transfers = 1
    [payout] = royalties.pay_out_statements(now=at(2, 11))

    client.force_login(cast.outsider)
    for url in (
        f"/creator/statements/{statement.pk}/",
        f"/creator/statements/{statement.pk}/statement.csv",
        f"/creator/statements/{statement.pk}/statement.pdf",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/creator/payouts/{payout.pk}/retry/").status_code == 404
    assert statement.pk not in client.get("/creator/statements/").content.decode()
    assert payout.pk not in client.get("/creator/payouts/").content.decode()
    client.force_login(cast.buyer)  # a buyer-only organization has no creator pages
    assert client.get("/creator/dashboard/").status_code == 404
    assert client.get(f"/creator/statements/{statement.pk}/").status_code == 404
    assert Payout.objects.get().attempts == 1


def test_dashboards_draw_revenue_spend_and_expiring_licenses(cast, make_listing, sell, client):
    now = timezone.now()
    order = sell(make_listing("Coastal tales", price_minor=12_345), now - timedelta(days=1))
    client.force_login(cast.creator)
    creator_page = client.get("/creator/dashboard/").content.decode()
    assert "Your share per month (USD)" in creator_page and "<svg" in creator_page
    assert "Coastal tales" in creator_page
    client.force_login(cast.buyer)
    buyer_page = client.get("/library/dashboard/")
    assert buyer_page.status_code == 200
    html = buyer_page.content.decode()
    assert "Spend per month (USD)" in html and "$123.45" in html
    assert '<span id="active-license-count">1</span>' in html
    assert order.license_id not in html.split('id="expiring"')[1].split("</table>")[0]
    assert "/library/dashboard/" in client.get("/library/").content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_builders_issue_one_statement(cast, make_listing, sell, on_postgres):
    require(on_postgres, "row locks need PostgreSQL")
    sell(make_listing(price_minor=50_000), at(5))
    barrier = threading.Barrier(6)
    results, failed = [], []

    def build(index):
        try:
            barrier.wait()
            if index % 2:
                results.append(
                    royalties.issue_all_royalty_statements(period_starts_on=OCTOBER, now=at(2, 11))
                )
            else:
                results.append(
                    royalties.issue_royalty_statements(
                        actor=cast.creator,
                        organization=cast.creator_org,
                        period_starts_on=OCTOBER,
                        now=at(2, 11),
                    )
                )
        except Exception as error:
            failed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=build, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert RoyaltyStatement.objects.count() == 1
    assert RoyaltyLine.objects.filter(kind=RoyaltyLine.Kind.SALE).count() == 1
    assert LedgerEntry.objects.filter(action="royalty_statement.issued").count() == 1
