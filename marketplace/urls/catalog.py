from django.urls import path

from marketplace.views import catalog

app_name = "catalog"

urlpatterns = [
    path("", catalog.catalog, name="index"),
    path("<slug:slug>/", catalog.listing_detail, name="detail"),
    path("<slug:slug>/claim/", catalog.listing_claim, name="claim"),
    path(
        "<slug:slug>/options/<str:option_id>/odrl.jsonld",
        catalog.option_odrl,
        name="option-odrl",
    ),
    path("<slug:slug>/samples/<str:file_id>.png", catalog.sample_image, name="sample-image"),
]
