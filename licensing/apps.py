from django.apps import AppConfig


class LicensingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "licensing"
    verbose_name = "Licensing"

    def ready(self):
        # Receivers of provenance's signals (reviews and takedowns).
        from licensing import handlers  # noqa: F401
