"""Report jobs: statements and usage reports run once per period, show their progress, say why
they failed and can be retried; other organizations see none of it."""

import csv
import io
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from licensing import services as licensing_services
from licensing import usage
from licensing.models import License, RoyaltyStatement
from marketplace import reports, royalties, services
from marketplace.models import Order, Payout, ReportJob
from marketplace.tasks import issue_all_royalty_statements_task, pay_out_statements_task
from provenance.services import verify_ledger
from tests.factories import UserFactory
from tests.helpers import require, wait_until
from tests.stripe_double import StripeDouble
from tests.test_worker import worker  # noqa: F401 - the real worker fixture

Kind = ReportJob.Kind
OCTOBER = date(2026, 10, 1)
RECORD_EVENTS = royalties.record_events


def at(day: int, month: int = 10, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def day_of(month: date, day: int, hour: int = 12) -> datetime:
    return datetime(month.year, month.month, day, hour, tzinfo=UTC)


@pytest.fixture
def last_month() -> date:
    return royalties.previous_month(timezone.now())


@pytest.fixture
def double(settings):
    double = StripeDouble().start()
    settings.STRIPE_SECRET_KEY = "sk_test_double"
    settings.STRIPE_API_BASE = double.url
    settings.PAYOUT_MINIMUM_MINOR = 1000
    yield double
    double.stop()


@pytest.fixture
def sell(cast):
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


def grant(cast, listing, *, starts_at: datetime, **terms) -> License:
    return licensing_services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={
            "permitted_uses": ["training", "evaluation"],
            "term_days": 730,
            "territories": ["worldwide"],
            "model_cap": None,
            "seat_cap": None,
            "price_model": "flat",
            "price_minor": 10_000,
            "currency": "USD",
            **terms,
        },
        source=f"test:{listing.pk}:{terms.get('currency', 'USD')}",
        now=starts_at,
    )


def file(cast, license, first: date, last: date, filed: datetime, **fields):
    return usage.file_usage_report(
        actor=cast.buyer,
        organization=cast.buyer_org,
        license=license,
        period_start_on=first,
        period_end_on=last,
        purpose=fields.pop("purpose", "training"),
        now=filed,
        **fields,
    )


def ledger_is_intact() -> bool:
    return verify_ledger().is_intact


class LedgerDown:
    """The ledger refuses the next `times` batches of appends, as a database under a lock
    timeout would."""

    def __init__(self, times: int):
        self.times = times

    def __call__(self, **kwargs):
        if self.times:
            self.times -= 1
            raise DatabaseError("canceling statement due to lock timeout on the ledger head")
        return RECORD_EVENTS(**kwargs)


# --- Statements: once per period, through the job ----------------------------------------


def test_two_beat_runs_make_one_job_one_statement_and_one_payout(
    cast, make_listing, sell, double, last_month
):
    sell(make_listing(price_minor=50_000), day_of(last_month, 5))
    royalties.connect_payout_account(actor=cast.creator, organization=cast.creator_org)

    assert issue_all_royalty_statements_task.delay().get() == 1
    assert issue_all_royalty_statements_task.delay().get() == 0
    pay_out_statements_task.delay().get()
    pay_out_statements_task.delay().get()

    job = ReportJob.objects.get()
    assert (job.kind, job.scope, job.period_starts_on) == (
        Kind.ROYALTY_STATEMENTS,
        "all",
        last_month,
    )
    assert job.status == ReportJob.Status.SUCCEEDED
    assert job.attempts == 1
    assert (job.progress_done, job.progress_total, job.percent) == (1, 1, 100)
    [statement] = RoyaltyStatement.objects.all()
    assert job.result == {"statements": [statement.pk]}
    payout = Payout.objects.get()
    assert (payout.statement, payout.status, payout.amount_minor) == (statement, "paid", 40_000)
    assert len(double.transfers) == 1


def test_the_statement_builder_reports_progress_per_batch_of_creators(
    cast, make_listing, sell, monkeypatch
):
    sell(make_listing("Coastal tales"), at(3))
    sell(make_listing("Dune songs", organization=cast.outsider_org, actor=cast.outsider), at(4))
    sell(make_listing("Quay logs", organization=cast.outsider_org, actor=cast.outsider), at(5))
    monkeypatch.setattr("marketplace.royalties.BATCH", 1)
    seen = []

    royalties.issue_all_royalty_statements(
        period_starts_on=OCTOBER, now=at(2, 11), progress=lambda done, total: seen.append(
            (done, total, RoyaltyStatement.objects.count())
        )
    )  # fmt: skip

    # Before the first organization, then after each batch (here of one), its statements
    # already written.
    assert seen == [(0, 2, 0), (1, 2, 1), (2, 2, 2)]
    assert ledger_is_intact()
    job = reports.run_statements_for_beat(period_starts_on=date(2026, 11, 1), now=at(2, 12))
    assert (job.status, job.progress_done, job.progress_total) == ("succeeded", 0, 0)
    assert job.result == {"statements": []}


def test_a_failed_job_says_why_and_a_retry_issues_the_statement_once(
    cast, make_listing, sell, client, monkeypatch, django_capture_on_commit_callbacks, last_month
):
    sell(make_listing(price_minor=20_000), day_of(last_month, 9))
    monkeypatch.setattr("marketplace.royalties.record_events", LedgerDown(times=1))
    client.force_login(cast.creator)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post("/creator/statements/issue/", {"period": f"{last_month:%Y-%m}"})

    job = ReportJob.objects.get()
    assert len(queued) == 1
    assert response.url == f"/creator/reports/{job.pk}/"
    assert (job.status, job.attempts, job.scope) == (
        "failed",
        1,
        f"organization:{cast.creator_org.pk}",
    )
    assert "lock timeout on the ledger head" in job.error
    assert RoyaltyStatement.objects.count() == 0  # its transaction rolled back whole
    page = client.get(f"/creator/reports/{job.pk}/").content.decode()
    assert "The report failed" in page and "lock timeout on the ledger head" in page
    assert ">Retry</button>" in page
    # Asking again returns the failed job; it does not start a second one.
    again = client.post("/creator/statements/issue/", {"period": f"{last_month:%Y-%m}"})
    assert again.url == f"/creator/reports/{job.pk}/"

    with django_capture_on_commit_callbacks(execute=True):
        retried = client.post(f"/creator/reports/{job.pk}/retry/")

    assert retried.url == f"/creator/reports/{job.pk}/"
    job.refresh_from_db()
    [statement] = RoyaltyStatement.objects.all()
    assert (job.status, job.attempts, job.error) == ("succeeded", 2, "")
    assert job.result == {"statements": [statement.pk]}
    assert statement.net_minor == 16_000
    page = client.get(f"/creator/reports/{job.pk}/").content.decode()
    assert f"/creator/statements/{statement.pk}/" in page and ">Retry</button>" not in page
    with pytest.raises(Conflict):
        reports.retry_report_job(actor=cast.creator, organization=cast.creator_org, job_id=job.pk)
    done = client.post("/creator/statements/issue/", {"period": f"{last_month:%Y-%m}"})
    assert done.url == f"/creator/statements/{statement.pk}/"
    assert ReportJob.objects.count() == 1


def test_one_failing_creator_does_not_hold_up_the_others(cast, make_listing, sell, monkeypatch):
    sell(make_listing("Coastal tales"), at(3))
    sell(make_listing("Dune songs", organization=cast.outsider_org, actor=cast.outsider), at(4))
    # The batch of both fails, then the first creator alone: the second one's goes through.
    monkeypatch.setattr("marketplace.royalties.record_events", LedgerDown(times=2))

    job = reports.run_statements_for_beat(period_starts_on=OCTOBER, now=at(2, 11))

    [first, second] = sorted([cast.creator_org, cast.outsider_org], key=lambda org: org.pk)
    assert job.status == "failed"
    assert job.error.startswith(
        "Statements of 1 of 2 creator organizations for October 2026 could not be issued"
    )
    assert f"{first.name} (DatabaseError: canceling statement" in job.error
    assert list(RoyaltyStatement.objects.values_list("organization", flat=True)) == [second.pk]
    assert ledger_is_intact()  # the rolled-back batch left no entry behind
    # Beat's next run takes the failed job up again and issues what is left.
    job = reports.run_statements_for_beat(period_starts_on=OCTOBER, now=at(3, 11))
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert RoyaltyStatement.objects.count() == 2


def test_beat_stops_running_a_failed_job_after_its_attempts(cast, make_listing, sell, monkeypatch):
    sell(make_listing(), at(3))
    monkeypatch.setattr("marketplace.royalties.record_events", LedgerDown(times=10))
    for day in range(2, 2 + reports.BEAT_ATTEMPTS):
        assert reports.run_statements_for_beat(period_starts_on=OCTOBER, now=at(day, 11))

    assert reports.run_statements_for_beat(period_starts_on=OCTOBER, now=at(9, 11)) is None
    job = ReportJob.objects.get()
    assert (job.status, job.attempts) == ("failed", reports.BEAT_ATTEMPTS)
    # An owner's own request still gets the creator its statement.
    monkeypatch.setattr("marketplace.royalties.record_events", RECORD_EVENTS)
    own = reports.request_report_job(
        actor=cast.creator,
        organization=cast.creator_org,
        kind=Kind.ROYALTY_STATEMENTS,
        first_month=OCTOBER,
        now=at(9, 11),
    )
    assert reports.run_report_job(job_id=own.pk, now=at(9, 11)).status == "succeeded"
    assert RoyaltyStatement.objects.count() == 1


def test_staff_run_a_job_beat_gave_up_on_again_from_the_admin(
    cast, make_listing, sell, client, monkeypatch, django_capture_on_commit_callbacks
):
    sell(make_listing(), at(3))
    monkeypatch.setattr(
        "marketplace.royalties.record_events", LedgerDown(times=reports.BEAT_ATTEMPTS)
    )
    for day in range(2, 2 + reports.BEAT_ATTEMPTS):
        reports.run_statements_for_beat(period_starts_on=OCTOBER, now=at(day, 11))
    job = ReportJob.objects.get()
    assert (job.status, job.organization) == ("failed", None)
    with pytest.raises(NotFound):  # no organization sees beat's job
        reports.retry_report_job(actor=cast.creator, organization=cast.creator_org, job_id=job.pk)
    client.force_login(UserFactory(email="admin@example.test", is_staff=True, is_superuser=True))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/marketplace/reportjob/",
            {"action": "run_again", "_selected_action": [job.pk]},
            follow=True,
        )

    assert [str(message) for message in response.context["messages"]] == [
        f"{job.pk} is queued again."
    ]
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", reports.BEAT_ATTEMPTS + 1)
    assert RoyaltyStatement.objects.count() == 1


def test_a_job_whose_worker_went_silent_is_taken_over_and_the_first_worker_stops(
    cast, make_listing, sell, monkeypatch
):
    sell(make_listing(), at(3))
    job = reports.request_report_job(
        actor=cast.creator,
        organization=cast.creator_org,
        kind=Kind.ROYALTY_STATEMENTS,
        first_month=OCTOBER,
        now=at(2, 11),
    )
    build = reports.BUILDERS[Kind.ROYALTY_STATEMENTS]
    seen = {}

    def stalls_once(*, job, progress, now):
        if not seen:
            progress(0, 1)
            # The broker delivers the message again while this worker is alive: nothing runs.
            seen["duplicate"] = reports.run_report_job(job_id=job.pk)
            # Then this worker goes silent for longer than STALE_AFTER, and another takes over.
            silent = timezone.now() - ReportJob.STALE_AFTER - timedelta(seconds=1)
            ReportJob.objects.filter(pk=job.pk).update(heartbeat_at=silent)
            seen["takeover"] = reports.run_report_job(job_id=job.pk)
        return build(job=job, progress=progress, now=now)

    monkeypatch.setitem(reports.BUILDERS, Kind.ROYALTY_STATEMENTS, stalls_once)

    first = reports.run_report_job(job_id=job.pk, now=at(2, 11))

    assert seen["duplicate"] is None
    assert (seen["takeover"].status, seen["takeover"].attempts) == ("succeeded", 2)
    assert first is None  # the first worker woke up, found its run taken over and stopped
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("succeeded", 2, "")
    assert RoyaltyStatement.objects.count() == 1


def test_asking_for_a_statement_checks_the_owner_and_the_month(cast, make_listing, sell, client):
    sell(make_listing(), at(3))
    for actor, error in ((cast.creator_member, PermissionDenied), (cast.outsider, NotFound)):
        with pytest.raises(error):
            reports.request_report_job(
                actor=actor,
                organization=cast.creator_org,
                kind=Kind.ROYALTY_STATEMENTS,
                first_month=OCTOBER,
                now=at(2, 11),
            )
    with pytest.raises(InvalidInput, match="has not ended"):
        reports.request_report_job(
            actor=cast.creator,
            organization=cast.creator_org,
            kind=Kind.ROYALTY_STATEMENTS,
            first_month=OCTOBER,
            now=at(20),
        )
    with pytest.raises(InvalidInput, match="one month"):
        reports.request_report_job(
            actor=cast.creator,
            organization=cast.creator_org,
            kind=Kind.ROYALTY_STATEMENTS,
            first_month=OCTOBER,
            last_month=date(2026, 11, 1),
            now=at(2, 12),
        )
    client.force_login(cast.creator_member)
    assert client.post("/creator/statements/issue/", {"period": "2026-10"}).status_code == 403
    assert ReportJob.objects.count() == 0


# --- Usage reports of a license and of a dataset ----------------------------------------


@pytest.fixture
def capped(cast, make_listing):
    """A license with caps (2 models, 3 seats) from 15 August 2026 and its reports."""
    license = grant(
        cast, make_listing("Harbour songs"), starts_at=at(15, 8), model_cap=2, seat_cap=3
    )
    file(
        cast,
        license,
        date(2026, 8, 15),
        date(2026, 8, 31),
        at(2, 9),
        models_trained=["a"],
        records_used=100,
        seats=1,
    )
    file(
        cast,
        license,
        date(2026, 9, 1),
        date(2026, 9, 30),
        at(3),
        models_trained=["b", "A "],
        records_used=250,
        tokens_used=7_000,
        seats=4,
    )
    file(
        cast,
        license,
        date(2026, 10, 1),
        date(2026, 10, 31),
        at(4, 11),
        models_trained=["c"],
        records_used=1_000,
        tokens_used=9_000,
        seats=2,
    )
    return license  # fmt: skip


def test_a_license_usage_report_sums_what_was_reported_against_the_caps(cast, capped):
    job = reports.request_report_job(
        actor=cast.buyer,
        organization=cast.buyer_org,
        kind=Kind.LICENSE_USAGE,
        first_month=date(2026, 9, 1),
        last_month=date(2026, 10, 1),
        license_id=capped.pk,
        now=at(5, 11),
    )
    job = reports.run_report_job(job_id=job.pk, now=at(5, 11))

    document = job.result
    assert job.status == "succeeded" and job.period_label == "September 2026 to October 2026"
    # The August report ends in August: it is not in September to October.
    assert [item["period_end_on"] for item in document["reports"]] == ["2026-09-30", "2026-10-31"]
    assert document["totals"] == {
        "reports": 2,
        "records_used": 1_250,
        "tokens_used": 16_000,
        "most_seats": 4,
        "models": 3,
        "breaches": 2,
        "billable_minor": 0,
    }
    assert document["caps"] == [
        {"name": "Models trained, to the end of the period", "limit": 2, "used": 3,
         "is_exceeded": True},
        {"name": "Seats or deployments, most in one report", "limit": 3, "used": 4,
         "is_exceeded": True},
    ]  # fmt: skip
    assert document["months_without_report"] == []
    assert document["licensee"] == "Buyers" and document["licensor"] == "Creators"


def test_a_month_without_a_report_is_named_in_the_usage_report(cast, make_listing):
    license = grant(cast, make_listing(), starts_at=at(15, 8), seat_cap=3)
    file(cast, license, date(2026, 8, 15), date(2026, 9, 2), at(3, 9), records_used=5)

    job = reports.request_report_job(
        actor=cast.creator,
        organization=cast.creator_org,
        kind=Kind.LICENSE_USAGE,
        first_month=date(2026, 8, 1),
        last_month=OCTOBER,
        license_id=license.pk,
        now=at(5, 11),
    )
    document = reports.run_report_job(job_id=job.pk, now=at(5, 11)).result

    # August and September are covered by the one report (counted in September, where it
    # ends); nothing covers October.
    assert document["months_without_report"] == ["2026-10"]
    assert document["totals"]["reports"] == 1


def test_a_dataset_usage_report_covers_each_license_for_the_creator(cast, make_listing, capped):
    metered = grant(
        cast, make_listing("Quay logs"), starts_at=at(1, 9), price_model="metered",
        price_minor=7, currency="EUR",
    )  # fmt: skip
    file(cast, metered, date(2026, 9, 1), date(2026, 9, 30), at(1), records_used=3_001)
    other = grant(cast, capped.version.dataset.listing, starts_at=at(20, 9), currency="EUR")
    sold = [capped, other]

    job = reports.request_report_job(
        actor=cast.creator_member,
        organization=cast.creator_org,
        kind=Kind.DATASET_USAGE,
        first_month=date(2026, 9, 1),
        last_month=OCTOBER,
        dataset_id=capped.version.dataset_id,
        now=at(5, 11),
    )
    document = reports.run_report_job(job_id=job.pk, now=at(5, 11)).result

    rows = {row["license"]: row for row in document["licenses"]}
    assert set(rows) == {license.pk for license in sold}  # not the other dataset's license
    assert (rows[capped.pk]["reports"], rows[capped.pk]["records_used"]) == (2, 1_250)
    assert (rows[capped.pk]["most_seats"], rows[capped.pk]["breaches"]) == (4, 2)
    assert rows[other.pk]["reports"] == 0 and rows[other.pk]["months_without_report"] == []
    assert document["totals"]["reports"] == 2
    assert document["totals"]["billable_minor"] == {"EUR": 0, "USD": 0}
    assert ReportJob.objects.get(pk=job.pk).progress_total == 2

    quay = reports.request_report_job(
        actor=cast.creator,
        organization=cast.creator_org,
        kind=Kind.DATASET_USAGE,
        first_month=date(2026, 9, 1),
        dataset_id=metered.version.dataset_id,
        now=at(5, 11),
    )
    totals = reports.run_report_job(job_id=quay.pk, now=at(5, 11)).result["totals"]
    assert totals["billable_minor"] == {"EUR": 3_001 * 7 // 1_000}


def test_a_buyer_reads_its_license_usage_report_as_a_page_and_csv(
    cast, make_listing, client, django_capture_on_commit_callbacks, last_month
):
    license = grant(
        cast, make_listing("Harbour songs"), starts_at=day_of(last_month, 1, 0) - timedelta(days=40),
        model_cap=1, price_model="metered", price_minor=9,
    )  # fmt: skip
    filed = file(
        cast, license, last_month, last_month + timedelta(days=9), day_of(last_month, 11),
        models_trained=["=HYPERLINK(1)", "tide"], records_used=10_000, seats=2,
    )  # fmt: skip
    client.force_login(cast.buyer)
    form = client.get("/library/reports/").content.decode()
    assert license.pk in form and 'name="dataset"' not in form

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/library/reports/new/",
            {"kind": "license_usage", "license": license.pk, "first_month": f"{last_month:%Y-%m}"},
        )

    job = ReportJob.objects.get()
    assert response.url == f"/library/reports/{job.pk}/"
    page = client.get(response.url).content.decode()
    assert "Done" in page and "$0.90" in page and "Exceeded" in page
    assert "tide" in page and 'id="usage-reports"' in page
    rows = list(csv.reader(io.StringIO(client.get(f"{response.url}report.csv").content.decode())))
    assert rows[0][:4] == ["license", "licensee", "dataset", "report"]
    assert rows[1][3] == filed.pk
    assert rows[1][7] == "'=HYPERLINK(1); tide"  # never a formula in a spreadsheet
    assert rows[-1][3] == "total" and rows[-1][13] == "90" == str(filed.billable_minor)
    # The creator sees the same report from its side.
    client.force_login(cast.creator)
    assert client.get(f"/creator/reports/{job.pk}/").status_code == 200
    assert job.pk in client.get("/creator/reports/").content.decode()


def test_a_usage_report_is_refreshed_when_reports_are_filed_after_it_ran(
    cast, make_listing, client, django_capture_on_commit_callbacks, last_month
):
    license = grant(cast, make_listing(), starts_at=day_of(last_month, 1, 0) - timedelta(days=5))
    client.force_login(cast.buyer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/library/reports/new/",
            {"kind": "license_usage", "license": license.pk, "first_month": f"{last_month:%Y-%m}"},
        )
    job = ReportJob.objects.get()
    assert job.result["totals"]["reports"] == 0
    page = client.get(f"/library/reports/{job.pk}/").content.decode()
    assert ">Refresh</button>" not in page
    with pytest.raises(Conflict, match="already has every report"):
        reports.retry_report_job(actor=cast.buyer, organization=cast.buyer_org, job_id=job.pk)

    file(cast, license, last_month, last_month + timedelta(days=3), timezone.now(), records_used=7)
    page = client.get(f"/library/reports/{job.pk}/").content.decode()
    assert "1 report for these months was filed since" in page and ">Refresh</button>" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/library/reports/{job.pk}/retry/")

    job.refresh_from_db()
    assert (job.status, job.attempts, job.result["totals"]["records_used"]) == ("succeeded", 2, 7)
    assert ReportJob.objects.count() == 1


def test_bad_usage_report_requests_get_clear_errors(cast, make_listing, client, last_month):
    license = grant(cast, make_listing(), starts_at=at(1, 1))
    ask = {
        "actor": cast.buyer,
        "organization": cast.buyer_org,
        "kind": Kind.LICENSE_USAGE,
        "license_id": license.pk,
        "now": at(5, 11),
    }
    for first, last, message in (
        (OCTOBER, date(2026, 9, 1), "comes before the first"),
        (date(2026, 11, 1), None, "has not ended yet"),
        (date(2025, 1, 1), OCTOBER, "at most 12 months"),
    ):
        with pytest.raises(InvalidInput, match=message):
            reports.request_report_job(first_month=first, last_month=last, **ask)
    with pytest.raises(InvalidInput, match="Choose a report"):
        reports.request_report_job(first_month=OCTOBER, **{**ask, "kind": "everything"})
    with pytest.raises(NotFound):
        reports.request_report_job(
            first_month=OCTOBER,
            **{**ask, "actor": cast.outsider, "organization": cast.outsider_org},
        )
    with pytest.raises(NotFound):  # a buyer asks for a creator's dataset report
        reports.request_report_job(
            first_month=OCTOBER,
            **{**ask, "kind": Kind.DATASET_USAGE, "dataset_id": license.version.dataset_id},
        )
    client.force_login(cast.buyer)
    response = client.post(
        "/library/reports/new/",
        {"kind": "license_usage", "license": license.pk, "first_month": "last spring"},
        follow=True,
    )
    assert response.status_code == 200 and "is not a month" in response.content.decode()
    assert ReportJob.objects.count() == 0


# --- Progress in the portal and other organizations --------------------------------------


def test_the_progress_panel_polls_while_the_job_runs_and_reloads_when_it_ends(
    cast, make_listing, client
):
    job = ReportJob.objects.create(
        kind=Kind.DATASET_USAGE,
        scope="ds_x",
        dataset=make_listing().dataset,
        period_starts_on=date(2026, 9, 1),
        period_ends_on=OCTOBER,
        status=ReportJob.Status.RUNNING,
        progress_done=3,
        progress_total=8,
        attempts=1,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    client.force_login(cast.creator)
    url = f"/creator/reports/{job.pk}/progress/?polling=1"

    running = client.get(url, HTTP_HX_REQUEST="true")
    html = running.content.decode()
    assert 'hx-trigger="every 1s"' in html and "3 of 8 licenses" in html and "37%" in html
    assert "HX-Refresh" not in running
    assert client.get(url).url == f"/creator/reports/{job.pk}/"  # without htmx: the page

    ReportJob.objects.filter(pk=job.pk).update(
        status=ReportJob.Status.FAILED, error="The dataset's licenses could not be read."
    )
    ended = client.get(url, HTTP_HX_REQUEST="true")
    assert ended["HX-Refresh"] == "true"
    assert "could not be read" in ended.content.decode()
    assert "every 1s" not in ended.content.decode()


def test_other_organizations_get_404_on_report_jobs(cast, make_listing, sell, client, capped):
    sell(make_listing("Coastal tales"), at(3))
    statements = reports.request_report_job(
        actor=cast.creator,
        organization=cast.creator_org,
        kind=Kind.ROYALTY_STATEMENTS,
        first_month=OCTOBER,
        now=at(2, 11),
    )
    ReportJob.objects.filter(pk=statements.pk).update(status="failed", error="Ledger down.")
    dataset = reports.request_report_job(
        actor=cast.creator,
        organization=cast.creator_org,
        kind=Kind.DATASET_USAGE,
        first_month=OCTOBER,
        dataset_id=capped.version.dataset_id,
        now=at(5, 11),
    )
    reports.run_report_job(job_id=dataset.pk, now=at(5, 11))
    licensed = reports.request_report_job(
        actor=cast.buyer,
        organization=cast.buyer_org,
        kind=Kind.LICENSE_USAGE,
        first_month=OCTOBER,
        license_id=capped.pk,
        now=at(5, 11),
    )
    reports.run_report_job(job_id=licensed.pk, now=at(5, 11))
    beat = reports.run_statements_for_beat(period_starts_on=OCTOBER, now=at(2, 11))

    def hidden(side: str, job: ReportJob) -> None:
        base = f"/{side}/reports/{job.pk}/"
        for url in (base, f"{base}report.csv", f"{base}progress/"):
            assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404, url
        assert client.post(f"{base}retry/").status_code == 404
        assert job.pk not in client.get(f"/{side}/reports/").content.decode()

    client.force_login(cast.outsider)  # creator and buyer: both portals open to it
    for job in (statements, dataset, licensed, beat):
        hidden("creator", job)
        hidden("library", job)
    client.force_login(cast.buyer)  # the licensee sees its license's report only
    for job in (statements, dataset, beat):
        hidden("library", job)
    assert client.get(f"/library/reports/{licensed.pk}/").status_code == 200
    assert client.get("/creator/reports/").status_code == 404  # a buyer has no creator pages
    with pytest.raises(NotFound):
        reports.retry_report_job(
            actor=cast.outsider, organization=cast.outsider_org, job_id=statements.pk
        )
    assert ReportJob.objects.get(pk=statements.pk).status == "failed"
    # A member of the creator sees the failed statements job but only an owner retries it.
    client.force_login(cast.creator_member)
    assert "Ledger down." in client.get(f"/creator/reports/{statements.pk}/").content.decode()
    assert client.post(f"/creator/reports/{statements.pk}/retry/").status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_beat_runs_make_one_job_and_run_it_once(cast, make_listing, sell, on_postgres):
    require(on_postgres, "concurrent claims need PostgreSQL")
    sell(make_listing(price_minor=50_000), at(5))
    barrier = threading.Barrier(4)
    ran, failed = [], []

    def beat():
        try:
            barrier.wait()
            ran.append(reports.run_statements_for_beat(period_starts_on=OCTOBER, now=at(2, 11)))
        except Exception as error:
            failed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failed == []
    assert [job.status for job in ran if job is not None] == ["succeeded"]  # one run, three skips
    job = ReportJob.objects.get()
    assert (job.status, job.attempts) == ("succeeded", 1)
    assert RoyaltyStatement.objects.count() == 1


# --- A real worker -----------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.usefixtures("worker")
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_report_jobs_taken_from_the_queue(
    cast, make_listing, sell, tmp_path, last_month
):
    listing = make_listing(price_minor=50_000)
    sell(listing, day_of(last_month, 5))
    license = grant(cast, listing, starts_at=day_of(last_month, 1, 0) - timedelta(days=2))
    file(cast, license, last_month, last_month + timedelta(days=4), day_of(last_month, 6),
         records_used=12)  # fmt: skip
    try:
        assert issue_all_royalty_statements_task.delay().get(timeout=90) == 1
        assert issue_all_royalty_statements_task.delay().get(timeout=90) == 0
        # Asked for in the portal: queued after the commit, run by the worker.
        job = reports.request_report_job(
            actor=cast.buyer,
            organization=cast.buyer_org,
            kind=Kind.LICENSE_USAGE,
            first_month=last_month,
            license_id=license.pk,
        )
        done = wait_until(
            lambda: ReportJob.objects.filter(pk=job.pk, status="succeeded").first(), timeout=90
        )
    except Exception:
        print((tmp_path / "worker.log").read_text())
        raise
    assert done.result["totals"]["records_used"] == 12
    assert RoyaltyStatement.objects.count() == 1
    assert ReportJob.objects.filter(kind=Kind.ROYALTY_STATEMENTS).count() == 1
