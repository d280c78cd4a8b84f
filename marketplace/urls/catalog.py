from django.urls import path

from marketplace.views import catalog

app_name = "catalog"

urlpatterns = [
    path("", catalog.catalog, name="index"),
    path("<slug:slug>/", catalog.listing_detail, name="detail"),
    path("<slug:slug>/claim/", catalog.listing_claim, name="claim"),
]
