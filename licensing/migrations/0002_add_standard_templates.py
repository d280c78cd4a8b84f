from django.db import migrations

# The platform's standard license templates. Creators start from one and adjust the terms.
TEMPLATES = [
    {
        "key": "evaluation-only",
        "name": "Evaluation only",
        "description": "Benchmark and evaluate models. No training. Good for a first look.",
        "permitted_uses": ["evaluation"],
        "commercial_use": True,
        "term_days": 365,
        "is_exclusive": False,
        "attribution_required": False,
        "price_minor": 25_000,
        "position": 1,
    },
    {
        "key": "research-training",
        "name": "Research training",
        "description": "Train and fine-tune models for non-commercial research. Credit the creator in publications.",
        "permitted_uses": ["training", "fine_tuning", "evaluation"],
        "commercial_use": False,
        "term_days": 730,
        "is_exclusive": False,
        "attribution_required": True,
        "model_cap": 5,
        "price_minor": 150_000,
        "position": 2,
    },
    {
        "key": "commercial-training",
        "name": "Commercial training",
        "description": "Train, fine-tune and evaluate models used in commercial products.",
        "permitted_uses": ["training", "fine_tuning", "evaluation"],
        "commercial_use": True,
        "term_days": None,
        "is_exclusive": False,
        "attribution_required": False,
        "price_minor": 900_000,
        "position": 3,
    },
    {
        "key": "exclusive-commercial",
        "name": "Exclusive commercial",
        "description": "Every commercial use, exclusively: the dataset leaves the market while the license runs.",
        "permitted_uses": ["training", "fine_tuning", "evaluation", "retrieval"],
        "commercial_use": True,
        "term_days": 365,
        "is_exclusive": True,
        "attribution_required": False,
        "price_minor": 4_500_000,
        "position": 4,
    },
]


def add_templates(apps, schema_editor):
    LicenseTemplate = apps.get_model("licensing", "LicenseTemplate")
    for template in TEMPLATES:
        values = {"territories": ["worldwide"], "currency": "USD", "price_model": "flat", **template}
        key = values.pop("key")
        LicenseTemplate.objects.update_or_create(key=key, defaults=values)


def remove_templates(apps, schema_editor):
    LicenseTemplate = apps.get_model("licensing", "LicenseTemplate")
    LicenseTemplate.objects.filter(key__in=[t["key"] for t in TEMPLATES], organization__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("licensing", "0001_initial")]

    operations = [migrations.RunPython(add_templates, remove_templates)]
