"""The project's URLs plus a pretend new connector whose views check only is_staff (the matrix must catch it)."""
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.urls import include, path

from integrations import urls as integrations_urls


@staff_member_required
def connect(request, integration_pk):
    return HttpResponse("connect")


@staff_member_required
def report(request):
    return HttpResponse("report")


newconn = [path("connect/<int:integration_pk>/", connect, name="connect"), path("report/", report, name="report")]
integrations_patterns = [*integrations_urls.urlpatterns, path("newconn/", include((newconn, "newconn")))]
urlpatterns = [
    path("integrations/", include((integrations_patterns, "integrations"))),
    path("", admin.site.urls),
]
