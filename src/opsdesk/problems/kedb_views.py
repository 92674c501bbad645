"""The known error database pages under /problems/known-errors/: list (status, CI, class, service,
text), detail (the workaround first, the linked problem, where it was applied, related articles),
form (prefilled from a problem with ?problem=<id>), transitions, and "Apply workaround" posted from
an incident's Known errors panel. Views are thin: they parse, authorize and call problems/kedb.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.markup import render_safe
from opsdesk.core.permissions import can
from opsdesk.core.views import Column, RecordUI, UIView, badge, safe_next
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents.models import Incident

from . import kedb
from .kedb_filters import KnownErrorFilterSet
from .kedb_forms import KnownErrorForm
from .models import KnownError, Problem
from .workflows import KNOWN_ERROR_WORKFLOW

STATUS_STYLES = {"active": "warning", "fixed": "success", "retired": "secondary"}
APPLICATIONS_SHOWN = 50
ARTICLES_SHOWN = 20


class KnownErrorUI(RecordUI):
    model = KnownError
    namespace = "problems"
    path_prefix = "known-errors/"
    url_prefix = "knownerror_"
    filterset_class = KnownErrorFilterSet
    form_class = KnownErrorForm
    workflow = KNOWN_ERROR_WORKFLOW
    search_fields = ("title", "symptom", "error_pattern")
    select_related = ("problem",)
    read_only_states = kedb.READ_ONLY_STATES
    create_role = "responder"
    edit_role = "responder"
    comment_role = "responder"
    create_service = staticmethod(kedb.create_known_error)
    update_service = staticmethod(kedb.update_known_error)
    transition_service = staticmethod(kedb.transition_known_error)
    detail_template = "problems/knownerror_detail.html"
    columns = [
        Column("number", gettext_lazy("Number"), sort="id", link=True),
        Column("title", gettext_lazy("Title"), sort="title"),
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("error_pattern", gettext_lazy("Error pattern")),
        Column("problem", gettext_lazy("Problem"), sort="problem__number"),
        Column("times_applied", gettext_lazy("Applied"), sort="times_applied"),
        Column("updated_at", gettext_lazy("Updated"), sort="updated_at"),
    ]
    detail_fields = ["symptom", "error_pattern", "root_cause", "permanent_solution", "cis", "ci_classes", "services",
                     "software_versions", "problem", "status_reason", "last_applied_at"]
    # Left out while empty: a new known error often has only a symptom and a workaround.
    OPTIONAL_ROWS = {"error_pattern", "root_cause", "permanent_solution", "cis", "ci_classes", "services",
                     "software_versions", "problem", "status_reason", "last_applied_at"}

    @classmethod
    def queryset(cls):
        return KnownError.objects.select_related("problem", "created_by")

    # --- cells ---
    def render_title(self, known_error):
        return format_html('<a class="fw-semibold" href="{}">{}</a>', known_error.get_absolute_url(), known_error.title)

    def text_title(self, known_error):
        return known_error.title

    def render_status(self, known_error):
        return badge(known_error.get_status_display(), STATUS_STYLES.get(known_error.status, "secondary"))

    def text_status(self, known_error):
        return known_error.status

    def render_error_pattern(self, known_error):
        if not known_error.error_pattern:
            return ""
        return format_html("<code>{}</code>", known_error.error_pattern)

    def text_error_pattern(self, known_error):
        return known_error.error_pattern

    def render_problem(self, known_error):
        if known_error.problem_id is None:
            return ""
        return format_html('<a href="{}">{}</a>', known_error.problem.get_absolute_url(), known_error.problem.number)

    def text_problem(self, known_error):
        return known_error.problem.number if known_error.problem_id else ""

    def render_updated_at(self, known_error):
        return format_html('<time datetime="{}">{}</time>', known_error.updated_at.isoformat(),
                           known_error.updated_at.strftime("%Y-%m-%d %H:%M"))

    def text_updated_at(self, known_error):
        return known_error.updated_at.isoformat()

    # --- the detail page ---
    def render_symptom(self, known_error):
        return render_safe(known_error.symptom)

    render_symptom.label = gettext_lazy("Symptom")

    def render_root_cause(self, known_error):
        return render_safe(known_error.root_cause) if known_error.root_cause else ""

    render_root_cause.label = gettext_lazy("Root cause")

    def render_permanent_solution(self, known_error):
        return render_safe(known_error.permanent_solution) if known_error.permanent_solution else ""

    render_permanent_solution.label = gettext_lazy("Permanent solution")

    def render_cis(self, known_error):
        return format_html_join(", ", '<a href="{}">{}</a> <span class="text-body-secondary">{}</span>',
                                ((ci.get_absolute_url(), ci.number, ci.name) for ci in known_error.cis.all()))

    render_cis.label = gettext_lazy("Affected CIs")

    def render_services(self, known_error):
        return format_html_join(", ", '<a href="{}">{}</a>', ((s.get_absolute_url(), s.name)
                                                              for s in known_error.services.all()))

    render_services.label = gettext_lazy("Affected services")

    def detail_rows(self, record):
        rows = []
        for name, (label, value) in zip(self.detail_fields, super().detail_rows(record), strict=True):
            if name == "problem":
                value = self.render_problem(record)
            elif name == "error_pattern":
                value = self.render_error_pattern(record)
            elif name == "last_applied_at" and value:
                value = format_html('<time datetime="{}">{}</time>', value.isoformat(),
                                    value.strftime("%Y-%m-%d %H:%M"))
            if name in self.OPTIONAL_ROWS and value in ("", None):
                continue
            rows.append((label, value))
        return rows

    def extra_context(self, record, user) -> dict:
        applications = list(record.applications.select_related("incident", "incident__assignment_group")
                            [:APPLICATIONS_SHOWN])
        articles = list(record.articles.order_by("-id")[:ARTICLES_SHOWN]) if hasattr(record, "articles") else []
        return {
            "status_style": STATUS_STYLES.get(record.status, "secondary"),
            "workaround_html": render_safe(record.workaround) if record.workaround else "",
            "applications": applications,
            "applications_more": max(0, record.times_applied - len(applications)),
            "articles": articles,
        }

    def form_kwargs(self, request, record) -> dict:
        if record is not None:
            return {}
        problem_id = request.GET.get("problem", "")
        if not problem_id.isdigit():
            return {}
        problem = Problem.objects.select_related("service").prefetch_related(
            Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number", "name"))).filter(
            pk=int(problem_id)).first()
        return {"prefill": kedb.prefill_from_problem(problem)} if problem is not None else {}


class ApplyWorkaroundView(UIView):
    """POST from an incident's Known errors panel: record the workaround as applied to that incident.
    Responders of the incident's team (or global responders) may."""

    ui = KnownErrorUI

    def post(self, request, pk, incident_pk):
        known_error = get_object_or_404(KnownError, pk=pk)
        incident = get_object_or_404(Incident, pk=incident_pk)
        if not can(request.user, "responder", incident):
            raise PermissionDenied
        try:
            kedb.apply_workaround(known_error, incident, actor=self.actor())
            messages.success(request, _("The workaround of %(ke)s was applied to %(inc)s and noted on its timeline.")
                             % {"ke": known_error.number, "inc": incident.number})
        except (TransitionNotAllowed, ValidationError) as exc:
            messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        return HttpResponseRedirect(safe_next(request, incident.get_absolute_url()))


urlpatterns = [
    *KnownErrorUI.urls(),
    path("known-errors/<int:pk>/apply/<int:incident_pk>/", ApplyWorkaroundView.as_view(), name="knownerror_apply"),
]
