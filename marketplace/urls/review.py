from django.urls import path

from marketplace.views import checkout, review

app_name = "review"

urlpatterns = [
    path("", review.queue, name="queue"),
    # Checkout (issue 7): the staff order desk
    path("orders/", checkout.staff_orders, name="orders"),
    path("orders/<str:order_id>/refund/", checkout.staff_refund, name="order-refund"),
    path(
        "orders/<str:order_id>/mark-paid/",
        checkout.staff_mark_invoice_paid,
        name="order-mark-paid",
    ),
    path("versions/<str:version_id>/", review.version_review, name="version"),
    path("versions/<str:version_id>/decide/", review.version_decide, name="version-decide"),
    path("evidence/<str:evidence_id>/", review.evidence_view, name="evidence"),
    path("files/<str:file_id>/", review.file_view, name="file"),
    path("claims/", review.claims, name="claims"),
    path("claims/<str:claim_id>/", review.claim_detail, name="claim"),
    path("claims/<str:claim_id>/evidence/", review.claim_evidence, name="claim-evidence"),
    path(
        "claims/<str:claim_id>/<slug:action>/",
        review.claim_action,
        name="claim-action",
    ),
]
