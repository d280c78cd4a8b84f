"""Fill the copied search fields of the listings that exist, as refresh_search_fields does.

Written against the models as they are at this migration, not against the app's service, so
that it still runs when the service changes later.
"""

from django.db import migrations
from django.db.models import Exists, JSONField, OuterRef, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

BATCH = 2000
PERMITTED_USES_SQL = {
    "postgresql": """(
        SELECT coalesce(jsonb_agg(DISTINCT u.value ORDER BY u.value), '[]'::jsonb)
        FROM licensing_licenseoption AS o, jsonb_array_elements_text(o.permitted_uses) AS u
        WHERE o.dataset_id = marketplace_listing.dataset_id AND o.is_active)""",
    "sqlite": """(
        SELECT json_group_array(value) FROM (
            SELECT DISTINCT u.value FROM licensing_licenseoption AS o, json_each(o.permitted_uses) AS u
            WHERE o.dataset_id = marketplace_listing.dataset_id AND o.is_active
            ORDER BY u.value))""",
}


def fill(apps, schema_editor):
    Listing = apps.get_model("marketplace", "Listing")
    Dataset = apps.get_model("provenance", "Dataset")
    DatasetVersion = apps.get_model("provenance", "DatasetVersion")
    ProvenanceDeclaration = apps.get_model("provenance", "ProvenanceDeclaration")
    QualityReport = apps.get_model("provenance", "QualityReport")
    LicenseOption = apps.get_model("licensing", "LicenseOption")
    vendor = schema_editor.connection.vendor

    dataset = Dataset.objects.filter(pk=OuterRef("dataset_id"))
    version = DatasetVersion.objects.filter(pk=OuterRef("version_id"))
    declaration = ProvenanceDeclaration.objects.filter(version_id=OuterRef("version_id"))
    report = QualityReport.objects.filter(version_id=OuterRef("version_id"), state="done")
    active = LicenseOption.objects.filter(dataset_id=OuterRef("dataset_id"), is_active=True)
    cheapest = active.order_by("price_minor", "id")
    values = {
        "title": Subquery(dataset.values("title")[:1]),
        "modality": Subquery(dataset.values("modality")[:1]),
        "languages": Subquery(dataset.values("languages")[:1]),
        "permitted_uses": RawSQL(PERMITTED_USES_SQL[vendor], [], JSONField()),  # noqa: S611
        "price_from_minor": Subquery(cheapest.values("price_minor")[:1]),
        "price_from_currency": Coalesce(Subquery(cheapest.values("currency")[:1]), Value("")),
        "has_exclusive_option": Exists(active.filter(is_exclusive=True)),
        "authorship": Coalesce(Subquery(declaration.values("authorship")[:1]), Value("")),
        "total_bytes": Subquery(version.values("total_bytes")[:1]),
        "total_records": Subquery(version.values("total_records")[:1]),
        "measured_near_duplicate_bps": Subquery(report.values("near_duplicate_bps")[:1]),
        "has_measured_synthetic_signals": Subquery(report.values("has_synthetic_signals")[:1]),
        "search_refreshed_at": Value(timezone.now()),
    }
    ids = list(Listing.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        Listing.objects.filter(pk__in=ids[start : start + BATCH]).update(**values)


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0011_add_listing_search_refreshed_at"),
        ("licensing", "0008_add_license_expiry_notified_at"),
        ("provenance", "0008_index_quality_bands_by_key_and_version"),
    ]

    # Going back drops the columns (the migrations before this one): nothing to undo here.
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
