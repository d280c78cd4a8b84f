"""Usage reports in the portals: the buyer files them on its license page, the creator reads
the reports filed against the licenses it sold."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import organization_required
from accounts.errors import DomainError
from licensing import selectors as licensing_selectors
from licensing import usage
from marketplace.forms import UsageReportForm
from marketplace.views.checkout import license_page


@require_POST
@organization_required(side="buyer")
def report_usage(request, license_id: str):
    license = licensing_selectors.license_of(
        organization=request.organization, license_id=license_id
    )
    if license is None:
        raise Http404("No such license.")
    form = UsageReportForm(request.POST)
    if form.is_valid():
        try:
            report = usage.file_usage_report(
                actor=request.user,
                organization=request.organization,
                license=license,
                **form.cleaned_data,
            )
        except DomainError as error:
            fields = [name for name in error.errors if name in form.fields]
            for name in fields:
                for message in error.errors[name]:
                    form.add_error(name, message)
            if not fields:
                form.add_error(None, error.message)
        else:
            if report.is_breach:
                messages.warning(
                    request,
                    "Report filed, but it breaks the license terms: "
                    + "; ".join(item["message"] for item in report.breach_reasons),
                )
            else:
                messages.success(request, "Usage report filed.")
            return redirect("library:license", license.pk)
    return license_page(request, license, usage_form=form, status=400)


@organization_required(side="creator")
def sold_license_usage(request, license_id: str):
    license = (
        licensing_selectors.licenses_sold(organization=request.organization)
        .filter(pk=license_id)
        .select_related("organization", "version__dataset")
        .first()
    )
    if license is None:
        raise Http404("No such license.")
    return render(
        request,
        "marketplace/creator/license_usage.html",
        {
            "license": license,
            "reports": usage.usage_reports_of(organization=request.organization, license=license),
            "must_report": usage.has_reporting_obligation(license.agreed_terms),
        },
    )
