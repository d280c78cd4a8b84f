from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts import views as accounts_views
from config.views import healthz
from licensing.views import odrl_vocabulary
from marketplace.views.catalog import home
from marketplace.views.checkout import checkout, verify
from marketplace.views.webhooks import stripe_webhook
from provenance.views import jwks_view

admin.site.site_header = "Wellspring administration"
admin.site.site_title = "Wellspring admin"

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path(".well-known/jwks.json", jwks_view, name="jwks"),
    path("ns/odrl", odrl_vocabulary, name="odrl-vocabulary"),
    path("accounts/", include("accounts.urls")),
    path("notifications/", accounts_views.notifications, name="notifications"),
    path("notifications/read/", accounts_views.notifications_read, name="notifications-read"),
    path("catalog/", include("marketplace.urls.catalog")),
    path("creator/", include("marketplace.urls.creator")),
    path("library/", include("marketplace.urls.library")),
    path("review/", include("marketplace.urls.review")),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    path("downloads/", include("licensing.urls")),
    path("checkout/<str:option_id>/", checkout, name="checkout"),
    path("verify/", verify, name="verify"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
# Uploaded files are never served from /media/: every byte goes through a view that checks
# ownership or a license.
