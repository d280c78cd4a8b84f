from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self):
        # Receivers of provenance's signals (reviews and takedowns).
        from marketplace import handlers  # noqa: F401
