from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Switchyard"
admin.site.site_title = "Switchyard"
admin.site.index_title = "Operations"

urlpatterns = [
    path("integrations/", include("integrations.urls")),
    path("", admin.site.urls),
]
