from django.urls import path

from licensing import views

app_name = "licensing"

urlpatterns = [
    path("<str:token>/", views.download, name="download"),
]
