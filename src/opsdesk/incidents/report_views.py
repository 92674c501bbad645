"""The incident report pages under /incidents/<pk>/report/: read and edit the review (sections in
Markdown, the timeline rows, the action items), start it, complete it, and download it as PDF,
Markdown or HTML. Viewers read; responders of the incident's team edit. Views are thin: they
authorize, parse the form and call `reports`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from opsdesk.core import markup
from opsdesk.core.actors import Actor
from opsdesk.core.permissions import can
from opsdesk.core.workflow import TransitionNotAllowed

from . import report_render, reports
from .models import ActionItem, Incident, IncidentReport

VIEW_ROLE = "viewer"
EDIT_ROLE = "responder"
BLANK_TIMELINE_ROWS = 3
SUMMARY_CHARS = 600  # of the summary shown on the incident's tab


def report_urls(incident_pk: int) -> dict:
    names = {"page": "report", "start": "report_start", "complete": "report_complete", "reopen": "report_reopen",
             "pdf": "report_pdf", "md": "report_md", "html": "report_html", "item_add": "report_item_add"}
    return {key: reverse(f"incidents:{name}", args=[incident_pk]) for key, name in names.items()}


def report_of(incident: Incident) -> IncidentReport | None:
    return IncidentReport.objects.filter(incident=incident).first()


def tab_context(incident: Incident, request) -> dict:
    """What the incident detail's "Report" tab (_tab_report.html) shows: state, what is missing, downloads."""
    report = report_of(incident)
    items = list(report.action_items.select_related("owner")) if report else []
    today = timezone.localdate()
    sections = reports.report_sections(report) if report else []
    summary = next((s["text"].strip() for s in sections if s["key"] == "summary"), "")
    return {
        "report": report,
        "report_required": reports.is_required(incident),
        "report_close_blocker": reports.missing_for_close(incident) if incident.status == "resolved" else "",
        "report_missing": [s["title"] for s in sections if s["required"] and not s["text"].strip()],
        "report_summary": markup.render_safe(summary[:SUMMARY_CHARS] + ("…" if len(summary) > SUMMARY_CHARS else ""))
        if summary else "",
        "report_items_open": sum(1 for i in items if i.status in reports.OPEN_ITEM_STATES),
        "report_items_overdue": sum(1 for i in items if reports.is_overdue(i, today)),
        "report_items_total": len(items),
        "report_urls": report_urls(incident.pk),
        "report_can_edit": can(request.user, EDIT_ROLE, incident),
    }


class ReportPageBase(LoginRequiredMixin, View):
    """Finds the incident, checks the role on it (its team counts) and gives the actor for writes."""

    role = VIEW_ROLE

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.incident = get_object_or_404(Incident.objects.select_related("service", "assignment_group"),
                                          pk=kwargs["pk"])
        if not can(request.user, self.role, self.incident):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def actor(self) -> Actor:
        return Actor.for_user(self.request.user)

    def get_report(self) -> IncidentReport:
        return get_object_or_404(IncidentReport.objects.select_related("incident"), incident=self.incident)

    def back(self):
        return redirect("incidents:report", pk=self.incident.pk)


def _timeline_from_post(post) -> list[dict]:
    try:
        count = min(int(post.get("timeline-count", "0")), reports.MAX_TIMELINE_ROWS + BLANK_TIMELINE_ROWS)
    except ValueError:
        count = 0
    rows = []
    for index in range(count):
        at = post.get(f"timeline-{index}-at", "").strip()
        text = post.get(f"timeline-{index}-text", "").strip()
        if post.get(f"timeline-{index}-remove") or (not at and not text):
            continue
        rows.append({"at": at, "text": text})
    return rows


def _timeline_inputs(timeline: list[dict]) -> list[dict]:
    """Rows for the form: the local time as a datetime-local value, then blank rows to add to."""
    rows = []
    for row in timeline:
        moment = reports.parse_moment(row.get("at"))
        value = timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M") if moment else str(row.get("at") or "")
        rows.append({"at": value, "text": row.get("text", "")})
    return rows + [{"at": "", "text": ""} for _ in range(BLANK_TIMELINE_ROWS)]


def _errors_of(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"non_field_errors": exc.messages}


def _owner_from(value: str):
    """An owner by username; "" clears it. Unknown or inactive names are a field error."""
    username = (value or "").strip()
    if not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationError({"owner": _("No active user %(name)s.") % {"name": username}})
    return user


def _owner_choices(incident: Incident) -> list[str]:
    """Suggested owners: the incident's team and the people already on the case."""
    names = set()
    if incident.assignment_group_id:
        names.update(incident.assignment_group.memberships.filter(user__is_active=True)
                     .values_list("user__username", flat=True)[:200])
    for user in (incident.assignee, incident.commander, incident.communications_lead, incident.scribe):
        if user is not None:
            names.add(user.username)
    return sorted(names)


class ReportView(ReportPageBase):
    """GET: the report (the form when it is a draft the user may edit). POST: save sections and timeline."""

    def page(self, report, *, errors=None, posted_sections=None, posted_timeline=None, item_errors=None,
             item_form=None, status=200):
        can_edit = can(self.request.user, EDIT_ROLE, self.incident)
        context = {
            "incident": self.incident,
            "report": report,
            "urls": report_urls(self.incident.pk),
            "can_edit": can_edit,
            "editing": report is not None and can_edit and report.status == "draft",
            "required": reports.is_required(self.incident),
            "errors": errors or {},
            "item_errors": item_errors or {},
            "item_form": item_form or {},
            "tz_name": timezone.localtime().tzname(),
        }
        if report is not None:
            sections = reports.report_sections(report)
            for section in sections:
                if posted_sections is not None and section["key"] in posted_sections:
                    section["text"] = posted_sections[section["key"]]
                section["errors"] = (errors or {}).get(section["key"], [])
            document = report_render.document_context(report)
            context.update({
                "sections": sections,
                "document": document,
                "timeline_rows": _timeline_inputs(posted_timeline if posted_timeline is not None
                                                  else report.timeline),
                "missing": [s["title"] for s in reports.missing_sections(report)],
                "items": document["action_items"],
                "item_states": ActionItem.STATES,
                "owner_choices": _owner_choices(self.incident),
                "close_blocker": reports.missing_for_close(self.incident) if self.incident.status == "resolved"
                else "",
            })
        return render(self.request, "incidents/report.html", context, status=status)

    def get(self, request, pk):
        return self.page(report_of(self.incident))

    def post(self, request, pk):
        if not can(request.user, EDIT_ROLE, self.incident):
            raise PermissionDenied
        report = self.get_report()
        allowed = [s["key"] for s in reports.template_sections()]
        sections = {key: request.POST.get(f"section-{key}", "") for key in allowed
                    if f"section-{key}" in request.POST}
        timeline = _timeline_from_post(request.POST)
        try:
            report = reports.update_report(report, actor=self.actor(), sections=sections, timeline=timeline)
        except ValidationError as exc:
            return self.page(report, errors=_errors_of(exc), posted_sections=sections, posted_timeline=timeline,
                             status=422)
        except TransitionNotAllowed as exc:
            return self.page(report, errors={"non_field_errors": [str(exc)]}, status=409)
        if request.POST.get("then") != "complete":
            messages.success(request, _("The report was saved."))
            return self.back()
        # "Complete" pressed while editing: what was typed is saved first, then the report is completed.
        try:
            reports.complete_report(report, actor=self.actor())
        except ValidationError as exc:
            messages.success(request, _("The report was saved."))
            return self.page(report, errors=_errors_of(exc), status=422)
        except TransitionNotAllowed as exc:
            return self.page(report, errors={"non_field_errors": [str(exc)]}, status=409)
        messages.success(request, _("The report is final."))
        return self.back()


class ReportActionView(ReportPageBase):
    """POST-only actions on the report: start, complete, back to draft."""

    role = EDIT_ROLE
    action = ""

    def post(self, request, pk):
        try:
            if self.action == "start":
                reports.start_report(self.incident, actor=self.actor())
                messages.success(request, _("The report was started from the incident's timeline."))
            elif self.action == "complete":
                reports.complete_report(self.get_report(), actor=self.actor())
                messages.success(request, _("The report is final."))
            else:
                reports.reopen_report(self.get_report(), actor=self.actor())
                messages.success(request, _("The report is a draft again."))
        except ValidationError as exc:
            errors = _errors_of(exc)
            messages.error(request, " ".join(errors.pop("non_field_errors", [])) or " ".join(
                message for messages_ in errors.values() for message in messages_))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return self.back()


class ActionItemView(ReportPageBase):
    """POST: add an action item (no item_pk) or change one."""

    role = EDIT_ROLE

    def post(self, request, pk, item_pk=None):
        report = self.get_report()
        item = get_object_or_404(ActionItem, pk=item_pk, report=report) if item_pk else None
        data = {name: request.POST.get(name, "") for name in ("title", "due_date", "status") if name in request.POST}
        try:
            if "owner" in request.POST:
                data["owner"] = _owner_from(request.POST.get("owner", ""))
            if item is None:
                reports.add_action_item(report, actor=self.actor(), data=data)
                messages.success(request, _("The action item was added."))
            else:
                reports.update_action_item(item, actor=self.actor(), data=data)
                messages.success(request, _("The action item was saved."))
        except ValidationError as exc:
            errors = _errors_of(exc)
            form = {**{k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}, "pk": item_pk}
            return ReportView(request=request, incident=self.incident).page(
                report, item_errors=errors, item_form=form, status=422)
        return redirect(reverse("incidents:report", args=[self.incident.pk]) + "#action-items")


class ReportDownloadView(ReportPageBase):
    FORMATS = {
        "pdf": ("application/pdf", "pdf"),
        "md": ("text/markdown; charset=utf-8", "md"),
        "html": ("text/html; charset=utf-8", "html"),
    }
    format = "pdf"

    def get(self, request, pk):
        report = self.get_report()
        content_type, extension = self.FORMATS[self.format]
        if self.format == "pdf":
            body = report_render.to_pdf(report)
        elif self.format == "md":
            body = report_render.to_markdown(report)
        else:
            body = report_render.to_html(report)
        response = HttpResponse(body, content_type=content_type)
        # A download, not a page of this site: the document's own inline styles stay out of our CSP.
        response["Content-Disposition"] = f'attachment; filename="{report_render.filename(report, extension)}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


urlpatterns = [
    path("<int:pk>/report/", ReportView.as_view(), name="report"),
    path("<int:pk>/report/start/", ReportActionView.as_view(action="start"), name="report_start"),
    path("<int:pk>/report/complete/", ReportActionView.as_view(action="complete"), name="report_complete"),
    path("<int:pk>/report/reopen/", ReportActionView.as_view(action="reopen"), name="report_reopen"),
    path("<int:pk>/report/action-items/", ActionItemView.as_view(), name="report_item_add"),
    path("<int:pk>/report/action-items/<int:item_pk>/", ActionItemView.as_view(), name="report_item_edit"),
    path("<int:pk>/report.pdf", ReportDownloadView.as_view(format="pdf"), name="report_pdf"),
    path("<int:pk>/report.md", ReportDownloadView.as_view(format="md"), name="report_md"),
    path("<int:pk>/report.html", ReportDownloadView.as_view(format="html"), name="report_html"),
]
