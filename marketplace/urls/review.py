from django.urls import path

from marketplace.views import review

app_name = "review"

urlpatterns = [
    path("", review.queue, name="queue"),
]
