from django.db import migrations, models


class Migration(migrations.Migration):
    """The shown version's declared authorship, size and records on the listing."""

    dependencies = [
        ("marketplace", "0008_add_listing_option_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="listing",
            name="authorship",
            field=models.CharField(blank=True, editable=False, max_length=16),
        ),
        migrations.AddField(
            model_name="listing",
            name="total_bytes",
            field=models.PositiveBigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="listing",
            name="total_records",
            field=models.PositiveBigIntegerField(blank=True, editable=False, null=True),
        ),
    ]
