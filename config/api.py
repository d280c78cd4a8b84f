"""The API v1 router: every app's viewsets, mounted under /api/v1/."""

from rest_framework.routers import DefaultRouter

from marketplace.api import ListingViewSet
from provenance.api import DatasetViewSet, UploadViewSet, VersionViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("listings", ListingViewSet, basename="listing")

# --- Creators: datasets, versions, resumable uploads (provenance) ---
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("versions", VersionViewSet, basename="version")
router.register("uploads", UploadViewSet, basename="upload")

urlpatterns = router.urls
