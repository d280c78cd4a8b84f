from django.db import migrations, models


class Migration(migrations.Migration):
    """What the active license options offer (uses, cheapest price, exclusivity) on the listing."""

    dependencies = [
        ("marketplace", "0007_add_listing_dataset_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="listing",
            name="permitted_uses",
            field=models.JSONField(
                blank=True, default=list, editable=False, help_text="Of the active options, sorted."
            ),
        ),
        migrations.AddField(
            model_name="listing",
            name="price_from_minor",
            field=models.PositiveBigIntegerField(
                blank=True,
                editable=False,
                help_text="The cheapest active option's price.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="listing",
            name="price_from_currency",
            field=models.CharField(blank=True, editable=False, max_length=3),
        ),
        migrations.AddField(
            model_name="listing",
            name="has_exclusive_option",
            field=models.BooleanField(default=False, editable=False),
        ),
    ]
