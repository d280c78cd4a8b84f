from django.urls import path

from marketplace.views import library

app_name = "library"

urlpatterns = [
    path("", library.home, name="home"),
]
