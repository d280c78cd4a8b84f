from django.urls import path

from marketplace.views import checkout, library, offers, royalties, training_summary, usage
from marketplace.views.reports import views_for

app_name = "library"

urlpatterns = [
    path("offers/", offers.offers, name="offers"),
    path("offers/<str:offer_id>/", offers.offer_detail, name="offer"),
    path("offers/<str:offer_id>/<str:verb>/", offers.offer_act, name="offer-act"),
    path("propose/<slug:slug>/", offers.offer_new, name="offer-new"),
    path(
        "agreements/<str:agreement_id>/checkout/",
        checkout.agreement_checkout,
        name="agreement-checkout",
    ),
    path("", library.home, name="home"),
    path("dashboard/", royalties.buyer_dashboard, name="dashboard"),
    # Checkout (issue 7): orders, licenses, certificates
    path("orders/", checkout.orders, name="orders"),
    path("orders/<str:order_id>/", checkout.order_detail, name="order"),
    path("orders/<str:order_id>/invoice.pdf", checkout.order_invoice, name="order-invoice"),
    path("licenses/", checkout.licenses, name="licenses"),
    path("licenses/<str:license_id>/", checkout.license_detail, name="license"),
    path("licenses/<str:license_id>/usage/", usage.report_usage, name="license-usage"),
    path(
        "licenses/<str:license_id>/certificate.<str:fmt>",
        checkout.license_certificate,
        name="license-certificate",
    ),
    # Training-content summary (issue 8): HTML here, the same payload as PDF or JSON
    path("training-summary/", training_summary.training_summary, name="training-summary"),
    path(
        "training-summary/summary.<str:fmt>",
        training_summary.training_summary_download,
        name="training-summary-download",
    ),
]

# Report jobs (issue 8): usage reports and statements with progress, failure and retry
_reports = views_for("library")
urlpatterns += [
    path("reports/", _reports["report-jobs"], name="report-jobs"),
    path("reports/new/", _reports["report-job-new"], name="report-job-new"),
    path("reports/<str:job_id>/", _reports["report-job"], name="report-job"),
    path(
        "reports/<str:job_id>/progress/",
        _reports["report-job-progress"],
        name="report-job-progress",
    ),
    path("reports/<str:job_id>/retry/", _reports["report-job-retry"], name="report-job-retry"),
    path("reports/<str:job_id>/report.csv", _reports["report-job-csv"], name="report-job-csv"),
]
