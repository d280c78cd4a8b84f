from django.contrib import admin

from provenance.models import (
    DataFile,
    Dataset,
    DatasetVersion,
    EvidenceDocument,
    IngestProgress,
    LedgerEntry,
    ProvenanceDeclaration,
    QualityReport,
    UploadedArchive,
    UploadSession,
)


class DatasetVersionInline(admin.TabularInline):
    model = DatasetVersion
    extra = 0
    fields = [
        "number",
        "status",
        "file_count",
        "total_bytes",
        "merkle_root",
        "submitted_at",
        "approved_at",
    ]
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["title", "organization", "modality", "slug", "created_at"]
    list_filter = ["modality", "created_at"]
    search_fields = ["title", "slug", "summary", "organization__name"]
    inlines = [DatasetVersionInline]


class DataFileInline(admin.TabularInline):
    model = DataFile
    extra = 0
    fields = ["path", "size_bytes", "media_type", "record_count", "sha256"]
    readonly_fields = fields
    can_delete = False


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "file_count", "total_bytes", "submitted_at", "approved_at"]
    list_filter = ["status", "dataset__modality"]
    search_fields = ["id", "dataset__title", "merkle_root"]
    readonly_fields = ["merkle_root", "file_count", "total_bytes", "total_records", "ingested_at"]
    inlines = [DataFileInline]


@admin.register(DataFile)
class DataFileAdmin(admin.ModelAdmin):
    list_display = ["path", "version", "size_bytes", "media_type", "record_count", "ingested_at"]
    list_filter = ["media_type"]
    search_fields = ["path", "sha256", "version__id"]
    readonly_fields = ["sha256", "size_bytes", "media_type", "record_count", "storage_name"]


class EvidenceInline(admin.TabularInline):
    model = EvidenceDocument
    extra = 0
    fields = ["title", "size_bytes", "sha256", "uploaded_at"]
    readonly_fields = fields


@admin.register(ProvenanceDeclaration)
class ProvenanceDeclarationAdmin(admin.ModelAdmin):
    list_display = [
        "version",
        "authorship",
        "consent_basis",
        "rights_holder",
        "opt_out_status",
        "updated_at",
    ]
    list_filter = ["authorship", "consent_basis", "opt_out_status"]
    search_fields = ["rights_holder", "version__dataset__title"]
    inlines = [EvidenceInline]
    filter_horizontal = ["parents"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = [
        "seq",
        "created_at",
        "action",
        "subject_type",
        "subject_id",
        "organization",
        "actor_label",
    ]
    list_filter = ["action", "subject_type"]
    search_fields = ["subject_id", "entry_hash", "actor_label"]
    ordering = ["-seq"]

    # The ledger is append-only: the admin shows it and never writes.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Uploads and ingest: read-only views for support ------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """State that only the use cases change: the admin shows it, never edits it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IngestProgress)
class IngestProgressAdmin(ReadOnlyAdmin):
    list_display = ["version", "state", "files_done", "files_total", "attempts", "heartbeat_at"]
    list_filter = ["state"]
    search_fields = ["version__id", "version__dataset__title"]


@admin.register(UploadSession)
class UploadSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "path", "version", "backend", "state", "received_bytes", "size_bytes"]
    list_filter = ["state", "backend"]
    search_fields = ["id", "path", "version__id"]


@admin.register(UploadedArchive)
class UploadedArchiveAdmin(ReadOnlyAdmin):
    list_display = ["name", "version", "state", "file_count", "rejected_member", "created_at"]
    list_filter = ["state"]
    search_fields = ["name", "version__id", "rejected_member"]


@admin.register(QualityReport)
class QualityReportAdmin(admin.ModelAdmin):
    list_display = [
        "version",
        "state",
        "near_duplicate_bps",
        "synthetic_evidence_bps",
        "personal_data_hits",
        "catalog_overlap_bps",
        "finished_at",
    ]
    list_filter = ["state", "has_synthetic_signals"]
    readonly_fields = [field.name for field in QualityReport._meta.fields]
