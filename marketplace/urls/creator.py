from django.urls import path

from marketplace.views import creator

app_name = "creator"

urlpatterns = [
    path("", creator.home, name="home"),
]
