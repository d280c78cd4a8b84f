from django.contrib import admin, messages

from accounts.errors import DomainError
from marketplace import reports
from marketplace.models import (
    Invoice,
    Listing,
    Order,
    OrderRefund,
    Payout,
    PayoutAccount,
    ReportJob,
    StripeEvent,
)


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["dataset", "version", "status", "published_at", "updated_at"]
    list_filter = ["status", "dataset__modality", "published_at"]
    search_fields = ["dataset__title", "dataset__slug", "id"]
    raw_id_fields = ["version"]
    autocomplete_fields = ["dataset"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "version", "status", "amount_minor", "currency"]
    list_filter = ["status", "payment_method", "currency"]
    search_fields = ["id", "organization__name", "po_number", "stripe_payment_intent_id"]
    readonly_fields = [field.name for field in Order._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "received_at", "processed_at", "deliveries"]
    list_filter = ["type"]
    search_fields = ["id"]


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "order", "issued_at", "due_at", "paid_at"]
    search_fields = ["number", "order__id", "order__po_number"]


@admin.register(OrderRefund)
class OrderRefundAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "amount_minor", "platform_fee_minor", "refunded_at"]
    search_fields = ["id", "order__id"]
    readonly_fields = [field.name for field in OrderRefund._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(PayoutAccount)
class PayoutAccountAdmin(admin.ModelAdmin):
    list_display = ["organization", "stripe_account_id", "connected_at"]
    search_fields = ["organization__name", "stripe_account_id"]
    readonly_fields = ["organization", "stripe_account_id", "connected_at", "connected_by"]


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "amount_minor", "currency", "status", "attempts"]
    list_filter = ["status", "currency"]
    search_fields = ["id", "organization__name", "stripe_transfer_id"]
    readonly_fields = [field.name for field in Payout._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ReportJob)
class ReportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "scope", "period_starts_on", "status", "attempts", "error"]
    list_filter = ["kind", "status", "period_starts_on"]
    search_fields = ["id", "scope", "error"]
    readonly_fields = [field.name for field in ReportJob._meta.fields]
    actions = ["run_again"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Run the selected failed jobs again")
    def run_again(self, request, queryset):
        for job in queryset:
            try:
                reports.retry_report_job(actor=request.user, organization=None, job_id=job.pk)
            except DomainError as error:
                self.message_user(request, f"{job.pk}: {error.message}", messages.WARNING)
            else:
                self.message_user(request, f"{job.pk} is queued again.", messages.SUCCESS)
