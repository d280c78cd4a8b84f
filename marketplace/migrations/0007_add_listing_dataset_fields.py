from django.db import migrations, models


class Migration(migrations.Migration):
    """The dataset's title, modality and languages on its listing, for catalog searches."""

    dependencies = [
        ("marketplace", "0006_add_report_jobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="listing",
            name="title",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.AddField(
            model_name="listing",
            name="modality",
            field=models.CharField(blank=True, editable=False, max_length=16),
        ),
        migrations.AddField(
            model_name="listing",
            name="languages",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
    ]
