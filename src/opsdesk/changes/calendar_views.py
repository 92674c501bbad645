"""The change calendar pages and its iCal feed (stub: filled in by its owner)."""

from django.http import HttpResponse
from django.urls import path


def _stub(request, **kwargs):
    return HttpResponse("not built yet", status=501)


urlpatterns = [path("stub-calendar/", _stub, name="calendar")]
api_urlpatterns = []
