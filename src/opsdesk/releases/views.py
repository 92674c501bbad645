"""Pages (stub: filled in by its owner; the routes the navigation names answer 501 until then)."""

from django.http import HttpResponse
from django.urls import path


def _stub(request, **kwargs):
    return HttpResponse("not built yet", status=501)


urlpatterns = [
    path("stub-board/", _stub, name="board"),
    path("stub-list/", _stub, name="list"),
    path("stub-deployment_list/", _stub, name="deployment_list"),
    path("stub-create/", _stub, name="create"),
]
