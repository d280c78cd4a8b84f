"""The API v1 router: every app's viewsets, mounted under /api/v1/."""

from rest_framework.routers import DefaultRouter

from marketplace.api import ListingViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("listings", ListingViewSet, basename="listing")

urlpatterns = router.urls
