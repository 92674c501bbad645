"""The problem report downloads: /problems/<pk>/report.md, report.html and report.pdf (viewers of the
problem may read it). The rendering lives in `report`."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views import View

from opsdesk.core.permissions import can

from . import report
from .models import Problem

VIEW_ROLE = "viewer"


def report_urls(problem_pk: int) -> dict:
    return {fmt: reverse(f"problems:report_{fmt}", args=[problem_pk]) for fmt in ("md", "html", "pdf")}


class ReportDownloadView(LoginRequiredMixin, View):
    format = "pdf"

    def get(self, request, pk):
        problem = get_object_or_404(Problem, pk=pk)
        if not can(request.user, VIEW_ROLE, problem):
            raise PermissionDenied
        try:
            return report.download_response(problem, self.format)
        except report.DocumentTooLarge as exc:
            return HttpResponse(str(exc), status=413, content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("<int:pk>/report.md", ReportDownloadView.as_view(format="md"), name="report_md"),
    path("<int:pk>/report.html", ReportDownloadView.as_view(format="html"), name="report_html"),
    path("<int:pk>/report.pdf", ReportDownloadView.as_view(format="pdf"), name="report_pdf"),
]
