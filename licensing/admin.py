from django.contrib import admin

from licensing.models import LicenseOption, LicenseTemplate


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
