from django.urls import re_path

from integrations.sandbox import views

app_name = "sandbox"

urlpatterns = [
    re_path(r"^tiktok/(?P<path>.+)$", views.tiktok, name="tiktok"),
    re_path(r"^images/(?P<name>[a-z]+)\.png$", views.image, name="image"),
]
