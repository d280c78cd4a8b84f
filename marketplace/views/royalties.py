"""Royalty statements, payouts and the two dashboards (creator and buyer).

Statements and payouts are loaded through organization-scoped selectors: another organization's
ids answer 404. Owners ask for a month's statements (a report job, whose page shows its
progress), connect a payout account and retry a failed payout.
"""

import csv
import io

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import organization_required
from accounts.errors import DomainError
from accounts.selectors import membership_in
from accounts.views import raise_for_http
from licensing.money import format_minor
from marketplace import reports, royalties, selectors
from marketplace.charts import bar_chart
from marketplace.documents import statement_pdf
from marketplace.models import ReportJob
from marketplace.payments import TransferFailed

creator_required = organization_required(side="creator")
buyer_required = organization_required(side="buyer")


def _statement(request, statement_id: str):
    statement = selectors.royalty_statement_of(
        organization=request.organization, statement_id=statement_id
    )
    if statement is None:
        raise Http404("No such statement.")
    return statement


def _is_owner(request) -> bool:
    membership = membership_in(organization=request.organization, user=request.user)
    return bool(membership and membership.is_owner)


def _money_charts(series: dict[str, list], title: str) -> list[dict]:
    return [
        bar_chart(
            [(f"{month:%b %y}", value) for month, value in points],
            title=f"{title} ({currency})",
            value_label=lambda value, currency=currency: format_minor(value, currency),
        )
        for currency, points in series.items()
    ]


# --- Statements ---------------------------------------------------------------------------


@creator_required
def statements(request):
    now = timezone.now()
    return render(
        request,
        "marketplace/royalties/statements.html",
        {
            "statements": selectors.royalty_statements_of(organization=request.organization),
            "is_owner": _is_owner(request),
            "last_month": royalties.previous_month(now),
            "jobs": reports.report_jobs_visible_to(organization=request.organization).filter(
                kind=ReportJob.Kind.ROYALTY_STATEMENTS
            )[:6],
        },
    )


@creator_required
@require_POST
def statement_issue(request):
    """An owner asks for a month's statements now: through the month's report job, so a
    second click (or beat) finds the same job; its page shows the progress."""
    try:
        period = royalties.parse_period(request.POST.get("period", ""))
        job = reports.request_report_job(
            actor=request.user,
            organization=request.organization,
            kind=ReportJob.Kind.ROYALTY_STATEMENTS,
            first_month=period,
        )
    except DomainError as error:
        raise_for_http(error)
        messages.error(request, error.message)
        return redirect("creator:statements")
    job.refresh_from_db()  # a worker may have finished it already
    if not job.has_succeeded:
        return redirect("creator:report-job", job.pk)
    issued = list(
        selectors.royalty_statements_of(organization=request.organization).filter(
            period_starts_on=job.period_starts_on
        )
    )
    if not issued:
        messages.info(request, f"Nothing was sold, refunded or used in {period:%B %Y}.")
        return redirect("creator:statements")
    messages.success(request, f"The statement for {period:%B %Y} is issued.")
    return redirect("creator:statement", issued[0].pk)


@creator_required
def statement_detail(request, statement_id: str):
    statement = _statement(request, statement_id)
    lines = list(statement.lines.all())
    summary = [
        ("Gross sales", statement.gross_sales_minor),
        ("Refunds", -statement.refunds_minor),
        ("Platform fee", -statement.platform_fee_minor),
        ("Metered usage", statement.metered_minor),
        ("Net owed", statement.net_minor),
    ]
    by_dataset: dict[str, int] = {}
    for line in lines:
        title = line.dataset.title if line.dataset else "Other"
        by_dataset[title] = by_dataset.get(title, 0) + line.amount_minor
    currency = statement.currency
    return render(
        request,
        "marketplace/royalties/statement.html",
        {
            "statement": statement,
            "lines": lines,
            "summary": summary,
            "payout": getattr(statement, "payout", None),
            "summary_chart": bar_chart(
                summary,
                title="Statement breakdown",
                value_label=lambda value: format_minor(value, currency),
            ),
            "dataset_chart": bar_chart(
                sorted(by_dataset.items(), key=lambda item: -item[1])[:12],
                title="Net by dataset",
                value_label=lambda value: format_minor(value, currency),
            ),
        },
    )


@creator_required
def statement_csv(request, statement_id: str):
    statement = _statement(request, statement_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["statement", "period", "currency", "occurred_at", "kind", "source", "dataset",
         "description", "amount_minor", "is_adjustment"]
    )  # fmt: skip
    for line in statement.lines.all():
        writer.writerow(
            [
                statement.pk,
                f"{statement.period_starts_on:%Y-%m}",
                statement.currency,
                line.occurred_at.isoformat(),
                line.kind,
                line.source,
                line.dataset.title if line.dataset else "",
                line.description,
                line.amount_minor,
                "yes" if line.is_adjustment else "no",
            ]
        )
    for label, field in (
        ("total gross_sales", "gross_sales_minor"),
        ("total refunds", "refunds_minor"),
        ("total platform_fee", "platform_fee_minor"),
        ("total metered", "metered_minor"),
        ("total net", "net_minor"),
    ):
        writer.writerow(
            [statement.pk, f"{statement.period_starts_on:%Y-%m}", statement.currency, "",
             label, "", "", "", getattr(statement, field), ""]
        )  # fmt: skip
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="statement-{statement.period_starts_on:%Y-%m}-'
        f'{statement.currency}.csv"'
    )
    return response


@creator_required
def statement_download_pdf(request, statement_id: str):
    statement = _statement(request, statement_id)
    response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="statement-{statement.period_starts_on:%Y-%m}-{statement.currency}.pdf"'
    )
    return response


# --- Payouts ------------------------------------------------------------------------------


@creator_required
def payouts(request):
    return render(
        request,
        "marketplace/royalties/payouts.html",
        {
            "account": getattr(request.organization, "payout_account", None),
            "payouts": selectors.payouts_of(organization=request.organization),
            "pending": selectors.pending_payouts(organization=request.organization),
            "is_owner": _is_owner(request),
        },
    )


@creator_required
@require_POST
def payout_account_connect(request):
    try:
        royalties.connect_payout_account(actor=request.user, organization=request.organization)
    except DomainError as error:
        raise_for_http(error)
        messages.error(request, error.message)
    except TransferFailed as error:
        messages.error(request, f"Stripe could not create the account: {error}")
    else:
        messages.success(request, "Your payout account is connected.")
    return redirect("creator:payouts")


@creator_required
@require_POST
def payout_retry(request, payout_id: str):
    payout = selectors.payout_of(organization=request.organization, payout_id=payout_id)
    if payout is None:
        raise Http404("No such payout.")
    if not _is_owner(request):
        messages.error(request, "Only the organization's owners can retry a payout.")
        return redirect("creator:payouts")
    try:
        royalties.retry_payout(actor=request.user, organization=request.organization, payout=payout)
    except DomainError as error:
        raise_for_http(error)
        messages.error(request, error.message)
    else:
        messages.success(request, "The payout will be tried again in a few minutes.")
    return redirect("creator:payouts")


# --- Dashboards ---------------------------------------------------------------------------


@creator_required
def creator_dashboard(request):
    now = timezone.now()
    organization = request.organization
    datasets = list(selectors.dataset_license_counts(organization=organization)[:50])
    return render(
        request,
        "marketplace/royalties/creator_dashboard.html",
        {
            "revenue_charts": _money_charts(
                selectors.creator_revenue_by_month(organization=organization, now=now),
                "Your share per month",
            ),
            "datasets": datasets,
            "license_chart": bar_chart(
                [(dataset.title[:14], dataset.license_count) for dataset in datasets[:12]],
                title="Licenses per dataset",
            ),
            "download_chart": bar_chart(
                [(dataset.title[:14], dataset.download_count) for dataset in datasets[:12]],
                title="Downloads per dataset",
            ),
            "pending": selectors.pending_payouts(organization=organization),
            "statements": selectors.royalty_statements_of(organization=organization)[:6],
        },
    )


@buyer_required
def buyer_dashboard(request):
    now = timezone.now()
    organization = request.organization
    active = selectors.active_licenses_count(organization=organization)
    return render(
        request,
        "marketplace/royalties/buyer_dashboard.html",
        {
            "spend_charts": _money_charts(
                selectors.buyer_spend_by_month(organization=organization, now=now),
                "Spend per month",
            ),
            "active_license_count": active,
            "expiring": selectors.expiring_licenses(organization=organization, now=now),
            "reports_due": selectors.usage_reports_due(organization=organization, now=now),
        },
    )
