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
]
