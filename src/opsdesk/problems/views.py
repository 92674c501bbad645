"""The problem pages: the list (filters by status, priority, service, team, owner, open), the detail page
with its tabs (details, linked incidents, root-cause analysis, countermeasures, recurrence, timeline,
history), publishing the workaround and the fix, and the create form prefilled from one or several
incidents. Views are thin: they parse, authorize and call problems/services.py."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.markup import render_safe
from opsdesk.core.permissions import can
from opsdesk.core.views import Column, RecordFormView, RecordUI, TransitionView, UIView, badge
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents.views import level_label

from . import rca_views, selectors, services
from .candidate_views import recurrence_tab_context
from .filters import ProblemFilterSet
from .forms import CountermeasureForm, LinkIncidentsForm, ProblemForm, PublishForm, ResolveProblemForm
from .models import Countermeasure, Problem
from .workflows import COUNTERMEASURE_WORKFLOW, PROBLEM_WORKFLOW

PRIORITY_STYLES = {"P1": "danger", "P2": "warning", "P3": "primary", "P4": "secondary", "P5": "light"}
STATUS_STYLES = {"new": "info", "assessed": "primary", "rca": "primary", "fix_in_progress": "warning",
                 "resolved": "success", "closed": "secondary", "cancelled": "secondary"}
CM_STATUS_STYLES = {"planned": "info", "in_progress": "primary", "done": "success", "cancelled": "secondary"}
# The problem's own tabs, after Details (the core adds Timeline, History and Attachments), each with the
# function that builds its context (set below: the RCA and recurrence parts live in their own modules).
EXTRA_TABS = (("incidents", gettext_lazy("Incidents")), ("rca", gettext_lazy("Root-cause analysis")),
              ("countermeasures", gettext_lazy("Countermeasures")), ("recurrence", gettext_lazy("Recurrence")))


def create_from_form(*, actor, data):
    """The create page: the form was prefilled from the incidents it was opened with, and what the person
    left in it (an emptied field too) is what counts; with incidents the problem's source is "incident",
    and the incidents are linked (their timelines say so)."""
    data = dict(data)
    if data.get("incidents"):
        data["source"] = "incident"
    return services.create_problem(actor=actor, data=data)


class ProblemCreateView(RecordFormView):
    """The create form. Opened from the incident list's "Create problem from selected" (`from=selection`)
    with nothing ticked, it goes back with a message; and it warns about selected incidents that already
    belong to an open problem."""

    def get(self, request, **kwargs):
        ids = request.GET.getlist("incident") or request.GET.getlist("pk")
        if request.GET.get("from") == "selection" and not ids:
            messages.warning(request, _("Tick the incidents the problem is about first."))
            return HttpResponseRedirect(reverse("incidents:list"))
        if ids:
            for number, problems in selectors.open_problems_of_incidents(ids).items():
                messages.warning(request, _("%(incident)s already belongs to the open problem %(problems)s.")
                                 % {"incident": number, "problems": ", ".join(f"{p.number} {p.title}"
                                                                              for p in problems)})
        return super().get(request, **kwargs)


class ProblemTransitionView(TransitionView):
    """Like the core transition, and resolve takes the root cause and the fix from its dialog."""

    def post(self, request, pk, name):
        if name != "resolve":
            return super().post(request, pk, name)
        record = self.get_record(pk)
        transition = PROBLEM_WORKFLOW.get(name)
        if not can(request.user, transition.permission, record):
            raise PermissionDenied
        form = ResolveProblemForm(request.POST)
        data = {"comment": request.POST.get("comment", "")}
        if form.is_valid():
            data.update(form.cleaned_data)
        try:
            services.transition_problem(record, name, actor=self.actor(), data=data)
            messages.success(request, _("%(action)s: done.") % {"action": transition.label})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(record.get_absolute_url())


class ProblemUI(RecordUI):
    model = Problem
    namespace = "problems"
    filterset_class = ProblemFilterSet
    form_class = ProblemForm
    workflow = PROBLEM_WORKFLOW
    search_fields = ("title",)
    select_related = ("service", "owner_team", "owner", "category")
    default_sort = "-id"
    read_only_states = services.READ_ONLY_STATES
    create_role = "responder"
    edit_role = "responder"
    comment_role = "responder"
    detail_template = "problems/detail.html"
    create_service = staticmethod(create_from_form)
    update_service = staticmethod(services.update_problem)
    transition_service = staticmethod(services.transition_problem)
    panel_filters = ("open", "status", "priority", "service", "team", "owner", "source")
    columns = [
        Column("number", gettext_lazy("Number"), sort="id", link=True),
        Column("priority", gettext_lazy("Priority"), sort="priority"),
        Column("title", gettext_lazy("Title")),
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("service", gettext_lazy("Service"), sort="service__name"),
        Column("owner", gettext_lazy("Owner"), sort="owner_team__name"),
        Column("incident_count", gettext_lazy("Incidents")),
        Column("updated_at", gettext_lazy("Updated"), sort="updated_at"),
    ]
    detail_fields = ["description", "service", "cis", "category", "impact", "urgency", "priority", "owner_team",
                     "owner", "linked_changes", "change_numbers", "impact_summary", "root_cause",
                     "contributing_factors", "workaround", "fix_description", "source", "status_reason", "resolved_at",
                     "closed_at"]
    OPTIONAL_ROWS = {"linked_changes", "change_numbers", "impact_summary", "contributing_factors", "status_reason",
                     "resolved_at", "closed_at", "workaround", "fix_description"}

    @classmethod
    def queryset(cls):
        # How many incidents each problem explains, as a subquery: the page and the CSV export alike.
        return super().queryset().annotate(incident_count=selectors.incident_count_subquery())

    extra_tabs = EXTRA_TABS

    @classmethod
    def urls(cls):
        patterns = [p for p in super().urls() if p.name not in ("transition", "create")]
        return [
            path("new/", ProblemCreateView.as_view(ui=cls), name="create"),
            path("<int:pk>/transition/<slug:name>/", ProblemTransitionView.as_view(ui=cls), name="transition"),
            *patterns,
            path("<int:pk>/publish/<slug:what>/", PublishView.as_view(ui=cls), name="publish"),
            path("<int:pk>/incidents/link/", LinkIncidentsView.as_view(ui=cls), name="link_incidents"),
            path("<int:pk>/incidents/<int:incident_pk>/unlink/", UnlinkIncidentView.as_view(ui=cls),
                 name="unlink_incident"),
            path("<int:pk>/countermeasures/", CountermeasureCreateView.as_view(ui=cls), name="countermeasure_create"),
            path("countermeasures/<int:cm_pk>/transition/<slug:name>/", CountermeasureTransitionView.as_view(ui=cls),
                 name="countermeasure_transition"),
        ]

    def form_kwargs(self, request, record) -> dict:
        if record is not None:
            return {}
        ids = request.GET.getlist("incident") or request.GET.getlist("pk")
        incidents = selectors.incidents_by_ids(ids) if ids else []
        if not incidents:
            return {}
        prefill = services.prefill_from_incidents(incidents)
        prefill["incidents"] = incidents
        team = services.shared_assignment_group(incidents)
        if team is not None:
            prefill["owner_team"] = team
        return {"prefill": prefill}

    # --- the list ---
    def render_priority(self, problem):
        style = PRIORITY_STYLES.get(problem.priority, "secondary")
        return format_html('<span class="badge text-bg-{}">{}</span>', style, problem.priority)

    def text_priority(self, problem):
        return problem.priority

    def render_title(self, problem):
        # The list's cells do not wrap (app.css); a title may.
        return format_html('<div class="text-wrap"><a class="fw-semibold" href="{}">{}</a></div>',
                           problem.get_absolute_url(), problem.title)

    def text_title(self, problem):
        return problem.title

    def render_status(self, problem):
        return badge(problem.get_status_display(), STATUS_STYLES.get(problem.status, "secondary"))

    def text_status(self, problem):
        return str(problem.get_status_display())

    def render_service(self, problem):
        return problem.service.name if problem.service_id else ""

    def render_owner(self, problem):
        """The owner team, and the person under it."""
        team = problem.owner_team.name if problem.owner_team_id else ""
        if problem.owner_id is None:
            return team
        return format_html('{}<div class="small text-body-secondary">{}</div>', team, problem.owner.display_name)

    def text_owner(self, problem):
        team = problem.owner_team.slug if problem.owner_team_id else ""
        return f"{team}/{problem.owner.username}" if problem.owner_id else team

    def render_incident_count(self, problem):
        return problem.incident_count or 0

    def text_incident_count(self, problem):
        return str(problem.incident_count or 0)

    def render_updated_at(self, problem):
        return format_html('<time datetime="{}">{}</time>', problem.updated_at.isoformat(),
                           timezone.localtime(problem.updated_at).strftime("%Y-%m-%d %H:%M"))

    def text_updated_at(self, problem):
        """ISO 8601 to the second, in local time with its offset (a spreadsheet reads it)."""
        return timezone.localtime(problem.updated_at).replace(microsecond=0).isoformat()

    # --- the detail page ---
    def detail_rows(self, record):
        prefetch_related_objects([record], "cis")
        rows = []
        for name, (label, value) in zip(self.detail_fields, super().detail_rows(record), strict=True):
            if name in self.OPTIONAL_ROWS and value in ("—", "", None, [], 0):
                continue
            if isinstance(value, datetime.datetime):
                value = format_html('<time datetime="{}">{}</time>', value.isoformat(),
                                    timezone.localtime(value).strftime("%Y-%m-%d %H:%M"))
            rows.append((label, value))
        return rows

    def render_description(self, problem):
        return render_safe(problem.description)

    render_description.label = gettext_lazy("Description")

    def render_cis(self, problem):
        return format_html_join(", ", '<a href="{}">{}</a> <span class="text-body-secondary">{}</span>',
                                ((ci.get_absolute_url(), ci.number, ci.name) for ci in problem.cis.all()))

    render_cis.label = gettext_lazy("CIs")

    def render_impact(self, problem):
        from opsdesk.incidents.services import incident_settings

        return level_label(incident_settings().impact_levels, problem.impact)

    render_impact.label = gettext_lazy("Impact")

    def render_urgency(self, problem):
        from opsdesk.incidents.services import incident_settings

        return level_label(incident_settings().urgency_levels, problem.urgency)

    render_urgency.label = gettext_lazy("Urgency")

    def render_linked_changes(self, problem):
        """The change requests linked to the problem (changes.ChangeRequest.problems), newest first."""
        changes = list(problem.changes.select_related(None).only("id", "number", "title", "status")
                       .order_by("-id")[:LINKED_CHANGES_SHOWN])
        return linked_changes_html(changes)

    render_linked_changes.label = gettext_lazy("Changes")

    def render_change_numbers(self, problem):
        return ", ".join(problem.change_numbers or [])

    render_change_numbers.label = gettext_lazy("External change references")

    def render_contributing_factors(self, problem):
        factors = problem.contributing_factors or []
        if not factors:
            return ""
        return format_html('<ul class="mb-0">{}</ul>', format_html_join("", "<li>{}</li>", ((f,) for f in factors)))

    render_contributing_factors.label = gettext_lazy("Contributing factors")

    def _markdown(self, text):
        return render_safe(text) if text else ""

    def render_impact_summary(self, problem):
        return self._markdown(problem.impact_summary)

    render_impact_summary.label = gettext_lazy("Business impact")

    def render_root_cause(self, problem):
        if not problem.root_cause:
            return format_html('<span class="text-body-tertiary">{}</span>', _("Not known yet"))
        return self._markdown(problem.root_cause)

    render_root_cause.label = gettext_lazy("Root cause")

    def render_workaround(self, problem):
        return self._published(problem.workaround, problem.workaround_published_at)

    render_workaround.label = gettext_lazy("Workaround")

    def render_fix_description(self, problem):
        return self._published(problem.fix_description, problem.fix_published_at)

    render_fix_description.label = gettext_lazy("Fix")

    def _published(self, text, at):
        if not text:
            return ""
        if at is None:
            return format_html('{}<div class="small text-body-secondary">{}</div>', render_safe(text),
                               _("Not published yet"))
        return format_html('{}<div class="small text-body-secondary">{} <time datetime="{}">{}</time></div>',
                           render_safe(text), _("Published"), at.isoformat(),
                           timezone.localtime(at).strftime("%Y-%m-%d %H:%M"))

    def extra_context(self, record, user) -> dict:
        writable = record.status not in self.read_only_states
        responder = can(user, "responder", record)
        return {
            "status_style": STATUS_STYLES.get(record.status, "secondary"),
            "priority_badge": self.render_priority(record),
            "can_publish": responder and writable,
            "can_link": responder and writable,
            "publish_workaround_form": PublishForm(initial={"text": record.workaround}, auto_id="workaround-%s"),
            "publish_fix_form": PublishForm(initial={"text": record.fix_description}, auto_id="fix-%s"),
            "open_countermeasures": self.open_countermeasures(record, responder),
            "resolve_form": ResolveProblemForm(initial={"root_cause": record.root_cause,
                                                        "fix_description": record.fix_description},
                                               auto_id="resolve-%s"),
        }

    @staticmethod
    def open_countermeasures(record, responder) -> list:
        """Countermeasures still planned or in progress, named in the Resolve dialog (resolving stays
        allowed). Read only when the dialog is on the page."""
        resolve = PROBLEM_WORKFLOW.get("resolve")
        if not responder or record.status not in resolve.sources:
            return []
        return list(record.countermeasures.filter(status__in=("planned", "in_progress")).order_by("due_date", "id"))

    def tab_context(self, key, record, request) -> dict:
        if key == "incidents":
            return {"linked": selectors.linked_incidents(record), "link_form": LinkIncidentsForm(auto_id="link-%s")}
        if key == "countermeasures":
            return countermeasures_context(record, request)
        if key == "rca":
            return rca_views.tab_context(record, request)
        if key == "recurrence":
            return recurrence_tab_context(record, request)
        return {}


LINKED_CHANGES_SHOWN = 50


def linked_changes_html(changes) -> str:
    """Linked change requests as links with their status: "CHG-4 Patch the proxies (Scheduled)"."""
    return format_html_join(
        ", ", '<a href="{}" class="linked-change" data-change="{}">{}</a> {} <span class="badge text-bg-light border '
        'fw-normal">{}</span>', ((c.get_absolute_url(), c.number, c.number, c.title, c.get_status_display())
                                 for c in changes))


def countermeasures_context(problem, request, form=None) -> dict:
    today = timezone.localdate()
    user = request.user
    writable = problem.status not in services.READ_ONLY_STATES and can(user, "responder", problem)
    rows = []
    countermeasures = selectors.countermeasures(problem)
    prefetch_related_objects(countermeasures, "changes")  # the linked change requests, one query for all rows
    for cm in countermeasures:
        transitions = [t for t in COUNTERMEASURE_WORKFLOW.available(cm)] if writable else []
        rows.append({"cm": cm, "style": CM_STATUS_STYLES.get(cm.status, "secondary"), "transitions": transitions,
                     "overdue": cm.status in ("planned", "in_progress") and cm.due_date is not None
                     and cm.due_date < today, "changes": linked_changes_html(cm.changes.all())})
    return {"countermeasures": rows, "can_add_countermeasure": writable,
            "countermeasure_form": form or CountermeasureForm(auto_id="cm-%s")}


# --- actions on a problem -------------------------------------------------------------------------------

class ProblemActionView(UIView):
    role = "responder"

    def writable_record(self, request, pk):
        record = self.get_record(pk)
        if not can(request.user, self.role, record):
            raise PermissionDenied
        return record


class PublishView(ProblemActionView):
    def post(self, request, pk, what):
        if what not in ("workaround", "fix"):
            raise Http404
        record = self.writable_record(request, pk)
        form = PublishForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Write the text to publish."))
            return HttpResponseRedirect(record.get_absolute_url())
        publish = services.publish_workaround if what == "workaround" else services.publish_fix
        try:
            publish(record, actor=self.actor(), text=form.cleaned_data["text"])
            messages.success(request, _("The workaround was published.") if what == "workaround"
                             else _("The fix was published."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(record.get_absolute_url())


class LinkIncidentsView(ProblemActionView):
    def post(self, request, pk):
        record = self.writable_record(request, pk)
        form = LinkIncidentsForm(request.POST)
        back = record.get_absolute_url() + "?tab=incidents"
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return HttpResponseRedirect(back)
        try:
            added = services.link_incidents(record, form.cleaned_data["incidents"], actor=self.actor())
            messages.success(request, _("%(n)s incidents were linked.") % {"n": len(added)})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(back)


class UnlinkIncidentView(ProblemActionView):
    def post(self, request, pk, incident_pk):
        record = self.writable_record(request, pk)
        incident = get_object_or_404(record.incidents.all(), pk=incident_pk)
        try:
            services.unlink_incident(record, incident, actor=self.actor())
            messages.success(request, _("%(i)s was unlinked.") % {"i": incident.number})
        except (ValidationError, TransitionNotAllowed) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return HttpResponseRedirect(record.get_absolute_url() + "?tab=incidents")


class CountermeasureCreateView(ProblemActionView):
    def post(self, request, pk):
        record = self.writable_record(request, pk)
        form = CountermeasureForm(request.POST, auto_id="cm-%s")
        back = record.get_absolute_url() + "?tab=countermeasures"
        if not form.is_valid():
            messages.error(request, _("The countermeasure was not added: %(e)s")
                           % {"e": " ".join(f"{form.fields[k].label if k in form.fields else ''}: {' '.join(v)}"
                                            for k, v in form.errors.items())})
            return HttpResponseRedirect(back)
        try:
            services.create_countermeasure(record, actor=self.actor(), data=form.service_data())
            messages.success(request, _("The countermeasure was added."))
        except (ValidationError, TransitionNotAllowed) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return HttpResponseRedirect(back)


class CountermeasureTransitionView(ProblemActionView):
    def post(self, request, cm_pk, name):
        cm = get_object_or_404(Countermeasure.objects.select_related("problem"), pk=cm_pk)
        try:
            transition = COUNTERMEASURE_WORKFLOW.get(name)
        except TransitionNotAllowed:
            raise Http404 from None
        if not can(request.user, transition.permission, cm.problem):
            raise PermissionDenied
        data = {key: request.POST.get(key, "") for key in (*transition.requires, "comment")}
        try:
            services.transition_countermeasure(cm, name, actor=self.actor(), data=data)
            messages.success(request, _("%(action)s: done.") % {"action": transition.label})
        except (ValidationError, TransitionNotAllowed) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return HttpResponseRedirect(cm.problem.get_absolute_url() + "?tab=countermeasures")


urlpatterns = ProblemUI.urls()
