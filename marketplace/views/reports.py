"""Report jobs in the portals: ask for a usage report (or last month's statement), watch its
progress, read why it failed and retry it, read the result as a page or CSV.

The same pages serve both portals: the creator's (`/creator/reports/`: its datasets, the
licenses it sold, its statements) and the buyer's (`/library/reports/`: the licenses it
holds). Jobs load through `reports.report_job_of`, scoped to the acting organization: another
organization's job answers 404.
"""

import csv
import io
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import organization_required
from accounts.errors import DomainError
from accounts.selectors import membership_in
from accounts.views import raise_for_http
from licensing import selectors as licensing_selectors
from marketplace import reports, royalties, selectors
from marketplace.models import ReportJob
from provenance import selectors as provenance_selectors

SIDES = {
    "creator": organization_required(side="creator"),
    "library": organization_required(side="buyer"),
}
# Most licenses offered in the request form's list.
FORM_LICENSES = 200


def _job(request, job_id: str) -> ReportJob:
    job = reports.report_job_of(organization=request.organization, job_id=job_id)
    if job is None:
        raise Http404("No such report.")
    return job


def _licenses(request, side: str):
    if side == "creator":
        licenses = licensing_selectors.licenses_sold(organization=request.organization)
    else:
        licenses = licensing_selectors.licenses_of(organization=request.organization)
    return licenses.select_related("organization", "version__dataset").order_by(
        "-created_at", "id"
    )[:FORM_LICENSES]


def _job_context(request, job: ReportJob, side: str) -> dict:
    now = timezone.now()
    filed_since = reports.reports_filed_since(job=job)
    may_run = job.kind != ReportJob.Kind.ROYALTY_STATEMENTS or (
        (membership := membership_in(organization=request.organization, user=request.user))
        is not None
        and membership.is_owner
    )
    statements = []
    if job.kind == ReportJob.Kind.ROYALTY_STATEMENTS and job.has_succeeded:
        statements = list(
            selectors.royalty_statements_of(organization=request.organization).filter(
                period_starts_on=job.period_starts_on
            )
        )
    return {
        "job": job,
        "side": side,
        "document": job.result if job.has_succeeded else {},
        "generated_at": datetime.fromisoformat(job.result["generated_at"])
        if job.has_succeeded and "generated_at" in job.result
        else None,
        "statements": statements,
        "filed_since": filed_since,
        "is_stale": job.is_stale(now),
        "can_retry": may_run and (job.has_failed or job.is_stale(now) or filed_since > 0),
    }


# --- Pages --------------------------------------------------------------------------------


def report_jobs(request, side: str):
    organization = request.organization
    last_month = royalties.previous_month(timezone.now())
    return render(
        request,
        "marketplace/royalties/report_jobs.html",
        {
            "side": side,
            "jobs": reports.report_jobs_visible_to(organization=organization)[:50],
            "licenses": _licenses(request, side),
            "datasets": provenance_selectors.datasets_of(organization=organization)
            if side == "creator"
            else [],
            "last_month": last_month,
        },
    )


def report_job_new(request, side: str):
    data = request.POST
    try:
        first_month = royalties.parse_period(data.get("first_month", ""))
        last_month = royalties.parse_period(data["last_month"]) if data.get("last_month") else None
        job = reports.request_report_job(
            actor=request.user,
            organization=request.organization,
            kind=data.get("kind", ""),
            first_month=first_month,
            last_month=last_month,
            license_id=data.get("license", ""),
            dataset_id=data.get("dataset", "") if side == "creator" else "",
        )
    except DomainError as error:
        raise_for_http(error)
        messages.error(request, error.message)
        return redirect(f"{side}:report-jobs")
    return redirect(f"{side}:report-job", job.pk)


def report_job_detail(request, side: str, job_id: str):
    job = _job(request, job_id)
    return render(
        request, "marketplace/royalties/report_job.html", _job_context(request, job, side)
    )


def report_job_progress(request, side: str, job_id: str):
    """The progress panel alone, for htmx polling; a plain request gets the whole page."""
    job = _job(request, job_id)
    if not request.headers.get("HX-Request"):
        return redirect(f"{side}:report-job", job.pk)
    response = render(
        request,
        "marketplace/royalties/_report_job_progress.html",
        _job_context(request, job, side),
    )
    if request.GET.get("polling") and not job.is_active:
        # The run just ended: reload the page once, so its result (or reason) shows.
        response["HX-Refresh"] = "true"
    return response


def report_job_retry(request, side: str, job_id: str):
    job = _job(request, job_id)
    try:
        reports.retry_report_job(
            actor=request.user, organization=request.organization, job_id=job.pk
        )
    except DomainError as error:
        raise_for_http(error)
        messages.error(request, error.message)
    else:
        messages.success(request, "The report is queued again.")
    return redirect(f"{side}:report-job", job.pk)


def _cell(text) -> str:
    """User-written text for a spreadsheet: never read as a formula."""
    text = str(text)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _license_usage_rows(document: dict) -> list[list]:
    rows = [
        ["license", "licensee", "dataset", "report", "period_start_on", "period_end_on",
         "purpose", "models_trained", "records_used", "tokens_used", "seats", "status",
         "breaches", "billable_minor", "currency", "filed_at"]
    ]  # fmt: skip
    common = [document["license"], _cell(document["licensee"]), _cell(document["dataset"])]
    for item in document["reports"]:
        rows.append(
            [
                *common,
                item["id"],
                item["period_start_on"],
                item["period_end_on"],
                item["purpose"],
                _cell("; ".join(item["models_trained"])),
                item["records_used"],
                item["tokens_used"],
                item["seats"],
                item["status"],
                _cell("; ".join(item["breaches"])),
                item["billable_minor"],
                item["currency"],
                item["filed_at"],
            ]
        )
    totals = document["totals"]
    rows.append(
        [*common, "total", "", "", "", totals["models"], totals["records_used"],
         totals["tokens_used"], totals["most_seats"], "", totals["breaches"],
         totals["billable_minor"], document["currency"], ""]
    )  # fmt: skip
    return rows


def _dataset_usage_rows(document: dict) -> list[list]:
    rows = [
        ["dataset", "license", "licensee", "version", "status", "price_model", "reports",
         "records_used", "tokens_used", "most_seats", "breaches", "months_without_report",
         "billable_minor", "currency"]
    ]  # fmt: skip
    title = _cell(document["dataset"])
    for item in document["licenses"]:
        rows.append(
            [
                title,
                item["license"],
                _cell(item["licensee"]),
                item["version"],
                item["status"],
                item["price_model"],
                item["reports"],
                item["records_used"],
                item["tokens_used"],
                item["most_seats"],
                item["breaches"],
                " ".join(item["months_without_report"]),
                item["billable_minor"],
                item["currency"],
            ]
        )
    totals = document["totals"]
    for currency, billable in totals["billable_minor"].items() or [("", 0)]:
        rows.append(
            [title, "total", "", "", "", "", totals["reports"], totals["records_used"],
             totals["tokens_used"], "", totals["breaches"], totals["missing_months"], billable,
             currency]
        )  # fmt: skip
    return rows


def report_job_csv(request, side: str, job_id: str):
    job = _job(request, job_id)
    if job.kind == ReportJob.Kind.ROYALTY_STATEMENTS:
        raise Http404("Statements have their own CSV, on each statement's page.")
    if not job.has_succeeded:
        return HttpResponse(
            "The report is not ready yet.", status=409, content_type="text/plain; charset=utf-8"
        )
    if job.kind == ReportJob.Kind.LICENSE_USAGE:
        rows, name = _license_usage_rows(job.result), job.license_id
    else:
        rows, name = _dataset_usage_rows(job.result), job.dataset_id
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="usage-{name}-{job.period_starts_on:%Y-%m}-'
        f'{job.period_ends_on:%Y-%m}.csv"'
    )
    return response


def _bind(view, side: str, *, method=require_GET):
    """The view for one portal: its guard, the HTTP method it takes, and `side` passed in."""

    def bound(request, *args, **kwargs):
        return view(request, side, *args, **kwargs)

    bound.__name__ = f"{side}_{view.__name__}"
    bound.__doc__ = view.__doc__
    return SIDES[side](method(bound))


def views_for(side: str) -> dict:
    """The report job views of one portal, by URL name."""
    return {
        "report-jobs": _bind(report_jobs, side),
        "report-job-new": _bind(report_job_new, side, method=require_POST),
        "report-job": _bind(report_job_detail, side),
        "report-job-progress": _bind(report_job_progress, side),
        "report-job-retry": _bind(report_job_retry, side, method=require_POST),
        "report-job-csv": _bind(report_job_csv, side),
    }
