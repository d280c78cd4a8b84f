from django.contrib import admin

from marketplace.models import Listing


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["dataset", "version", "status", "published_at", "updated_at"]
    list_filter = ["status", "dataset__modality", "published_at"]
    search_fields = ["dataset__title", "dataset__slug", "id"]
    raw_id_fields = ["version"]
    autocomplete_fields = ["dataset"]
