"""The API v1 router: every app's viewsets, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from accounts.api import EventViewSet, WebhookEndpointViewSet
from licensing.api import (
    CertificateVerifyView,
    LicenseViewSet,
    OfferViewSet,
    TrainingSummaryView,
)
from marketplace.api import ListingViewSet, OrderViewSet
from marketplace.api_versions import (
    VersionCroissantView,
    VersionManifestView,
    VersionQualityView,
)
from provenance.api import (
    ClaimViewSet,
    DatasetViewSet,
    ReviewQueueViewSet,
    UploadViewSet,
    VersionViewSet,
)

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("listings", ListingViewSet, basename="listing")

# --- Creators: datasets, versions, resumable uploads (provenance) ---
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("versions", VersionViewSet, basename="version")
router.register("uploads", UploadViewSet, basename="upload")

# --- Checkout and licenses (marketplace, licensing) ---
router.register("orders", OrderViewSet, basename="order")
router.register("licenses", LicenseViewSet, basename="license")

# --- Negotiation: offers and agreements (licensing) ---
router.register("offers", OfferViewSet, basename="offer")

# --- Rights review and claims (provenance, issue 4) ---
router.register("review/queue", ReviewQueueViewSet, basename="review-queue")
router.register("claims", ClaimViewSet, basename="claim")

# --- Procurement integration: outbound webhooks and the event feed (accounts) ---
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("events", EventViewSet, basename="event")

urlpatterns = [
    # --- Signed manifests and Croissant of approved versions (issue 8) ---
    path(
        "versions/<str:version_id>/manifest/",
        VersionManifestView.as_view(),
        name="version-manifest",
    ),
    path(
        "versions/<str:version_id>/croissant/",
        VersionCroissantView.as_view(),
        name="version-croissant",
    ),
    # The quality report: creators, and buyers of approved versions (issue 10).
    path("versions/<str:id>/quality/", VersionQualityView.as_view(), name="version-quality"),
    *router.urls,
    path("certificates/verify/", CertificateVerifyView.as_view(), name="certificate-verify"),
    # The buyer's training-content summary (issue 8): GET for all or a few, POST for long sets.
    path("training-summary/", TrainingSummaryView.as_view(), name="training-summary"),
]
