from django.contrib import admin

from licensing.models import (
    Certificate,
    Delivery,
    Download,
    License,
    LicenseOption,
    LicenseTemplate,
    RoyaltyLine,
    RoyaltyStatement,
    UsageReport,
    UsageReportReminder,
)


@admin.register(LicenseTemplate)
class LicenseTemplateAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "key",
        "organization",
        "price_model",
        "price_minor",
        "currency",
        "is_exclusive",
        "term_days",
    ]
    list_filter = ["price_model", "is_exclusive", "commercial_use", "currency"]
    search_fields = ["name", "key"]


@admin.register(LicenseOption)
class LicenseOptionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "dataset",
        "price_model",
        "price_minor",
        "currency",
        "is_exclusive",
        "is_active",
    ]
    list_filter = ["is_active", "is_exclusive", "price_model", "currency"]
    search_fields = ["name", "dataset__title"]
    autocomplete_fields = ["dataset"]


# Licenses change state only through services (ledger entries, events): read-only here.
class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(License)
class LicenseAdmin(ReadOnlyAdmin):
    list_display = ["id", "organization", "version", "status", "starts_at", "ends_at"]
    list_filter = ["status"]
    search_fields = ["id", "organization__name", "version__dataset__title", "source"]


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = ["id", "license", "issued_at"]
    search_fields = ["id", "license__id"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "license", "data_file", "fingerprint_method", "size_bytes"]
    list_filter = ["fingerprint_method"]
    search_fields = ["license__id"]


@admin.register(Download)
class DownloadAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "license", "path", "user", "bytes_sent", "byte_range"]
    search_fields = ["license__id", "path"]


class RoyaltyLineInline(admin.TabularInline):
    model = RoyaltyLine
    fields = ["occurred_at", "kind", "source", "description", "amount_minor", "is_adjustment"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RoyaltyStatement)
class RoyaltyStatementAdmin(ReadOnlyAdmin):
    list_display = ["id", "organization", "period_starts_on", "currency", "net_minor", "issued_at"]
    list_filter = ["period_starts_on", "currency"]
    search_fields = ["id", "organization__name"]
    inlines = [RoyaltyLineInline]


@admin.register(UsageReport)
class UsageReportAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "license",
        "organization",
        "period_start_on",
        "period_end_on",
        "purpose",
        "status",
        "billable_minor",
        "currency",
        "created_at",
    ]
    list_filter = ["status", "purpose"]
    search_fields = ["id", "license__id", "organization__name"]


@admin.register(UsageReportReminder)
class UsageReportReminderAdmin(ReadOnlyAdmin):
    list_display = ["license", "period_start_on", "period_end_on", "flagged_at"]
    search_fields = ["license__id"]
