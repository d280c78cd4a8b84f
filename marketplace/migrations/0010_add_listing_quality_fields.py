from django.db import migrations, models


class Migration(migrations.Migration):
    """The measured figures the catalog's quality filters test, on the listing."""

    dependencies = [
        ("marketplace", "0009_add_listing_version_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="listing",
            name="measured_near_duplicate_bps",
            field=models.PositiveIntegerField(
                blank=True,
                editable=False,
                help_text="Null until the quality report is done.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="listing",
            name="has_measured_synthetic_signals",
            field=models.BooleanField(
                blank=True,
                editable=False,
                help_text="Null until the quality report is done.",
                null=True,
            ),
        ),
    ]
