"""Error pages: JSON in the error format for /api/, HTML for people."""

from django.shortcuts import render
from django.utils.translation import gettext as _

from .api import json_error


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if _is_api(request):
        return json_error(request, 404, "not_found", _("No such resource."))
    return render(request, "errors/404.html", status=404)


def forbidden(request, exception=None):
    if _is_api(request):
        return json_error(request, 403, "permission_denied", _("Your role does not allow this."))
    return render(request, "errors/403.html", status=403)


def server_error(request):
    if _is_api(request):
        return json_error(request, 500, "server_error", _("Something went wrong on our side; it was logged."))
    return render(request, "errors/500.html", status=500)
