from django.urls import path

from marketplace.views import checkout, creator, offers, royalties, usage
from marketplace.views.reports import views_for

app_name = "creator"

urlpatterns = [
    path("offers/", offers.offers, name="offers"),
    path("offers/<str:offer_id>/", offers.offer_detail, name="offer"),
    path("claims/", creator.claims, name="claims"),
    path("claims/<str:claim_id>/", creator.claim_detail, name="claim"),
    path("", creator.home, name="home"),
    path("sales/", checkout.sales, name="sales"),  # checkout (issue 7)
    # Royalties, payouts and the dashboard (issue 8)
    path("dashboard/", royalties.creator_dashboard, name="dashboard"),
    path("statements/", royalties.statements, name="statements"),
    path("statements/issue/", royalties.statement_issue, name="statement-issue"),
    path("statements/<str:statement_id>/", royalties.statement_detail, name="statement"),
    path(
        "statements/<str:statement_id>/statement.csv",
        royalties.statement_csv,
        name="statement-csv",
    ),
    path(
        "statements/<str:statement_id>/statement.pdf",
        royalties.statement_download_pdf,
        name="statement-pdf",
    ),
    path("payouts/", royalties.payouts, name="payouts"),
    path("payouts/connect/", royalties.payout_account_connect, name="payout-account-connect"),
    path("payouts/<str:payout_id>/retry/", royalties.payout_retry, name="payout-retry"),
    path("sales/licenses/<str:license_id>/", usage.sold_license_usage, name="license-usage"),
    path("datasets/new/", creator.dataset_new, name="dataset-new"),
    path("datasets/<str:dataset_id>/", creator.dataset_detail, name="dataset"),
    path("datasets/<str:dataset_id>/edit/", creator.dataset_edit, name="dataset-edit"),
    path("datasets/<str:dataset_id>/versions/new/", creator.version_new, name="version-new"),
    path("datasets/<str:dataset_id>/licenses/new/", creator.option_new, name="option-new"),
    path("licenses/<str:option_id>/edit/", creator.option_edit, name="option-edit"),
    path("licenses/<str:option_id>/toggle/", creator.option_toggle, name="option-toggle"),
    path("versions/<str:version_id>/", creator.version_detail, name="version"),
    path("versions/<str:version_id>/progress/", creator.version_progress, name="version-progress"),
    path("versions/<str:version_id>/notes/", creator.version_notes, name="version-notes"),
    path("versions/<str:version_id>/files/", creator.files_upload, name="files-upload"),
    path(
        "versions/<str:version_id>/files/<str:file_id>/delete/",
        creator.file_delete,
        name="file-delete",
    ),
    path(
        "versions/<str:version_id>/archives/<str:archive_id>/remove/",
        creator.archive_remove,
        name="archive-remove",
    ),
    path(
        "versions/<str:version_id>/uploads/<str:upload_id>/cancel/",
        creator.upload_cancel,
        name="upload-cancel",
    ),
    path("versions/<str:version_id>/process/", creator.ingest_start, name="ingest-start"),
    path("versions/<str:version_id>/submit/", creator.version_submit, name="version-submit"),
    path("versions/<str:version_id>/declaration/", creator.declaration, name="declaration"),
    path(
        "versions/<str:version_id>/declaration/evidence/",
        creator.evidence_add,
        name="evidence-add",
    ),
    path(
        "versions/<str:version_id>/declaration/evidence/<str:evidence_id>/remove/",
        creator.evidence_remove,
        name="evidence-remove",
    ),
]

# Report jobs (issue 8): usage reports and statements with progress, failure and retry
_reports = views_for("creator")
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
