"""Indexes for the catalog on the listing's copied fields.

B-trees for the sorts without a query (price, size, title: newest has one already). On
PostgreSQL only, made here rather than in the model's Meta (as the full-text index is, 0003):
GIN indexes (jsonb_path_ops, which answer `@>`) for the language and permitted-use filters, and
a covering index of the published listings holding every column the facets and filters read,
so that counting the whole catalog reads that index alone (an index-only scan) instead of
every row with its full-text document. A filter on a column it lacks loses that scan, not
its answer. SQLite filters those lists by scanning.
"""

from django.db import migrations, models

POSTGRES_INDEXES = {
    "marketplace_listing_languages_gin": "USING gin (languages jsonb_path_ops)",
    "marketplace_listing_uses_gin": "USING gin (permitted_uses jsonb_path_ops)",
    "marketplace_listing_facets": (
        "(status) INCLUDE (id, modality, authorship, total_bytes, price_from_minor, "
        "has_exclusive_option, permitted_uses, languages, has_measured_synthetic_signals, "
        "measured_near_duplicate_bps, version_id)"
    ),
}


def create_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, definition in POSTGRES_INDEXES.items():
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON marketplace_listing {definition}"
            )


def drop_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in POSTGRES_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0012_fill_listing_search_fields"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(
                fields=["status", "price_from_minor", "id"], name="marketplace_listing_price"
            ),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(fields=["status", "-total_bytes", "id"], name="marketplace_listing_size"),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(fields=["status", "title", "id"], name="marketplace_listing_title"),
        ),
        migrations.RunPython(create_postgres_indexes, drop_postgres_indexes),
    ]
