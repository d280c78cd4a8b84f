from django.db import migrations, models


class Migration(migrations.Migration):
    """When a listing's search fields were last copied; the newest names the catalog's state."""

    dependencies = [
        ("marketplace", "0010_add_listing_quality_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="listing",
            name="search_refreshed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(fields=["search_refreshed_at"], name="marketplace_listing_refreshed"),
        ),
    ]
