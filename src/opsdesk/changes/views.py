"""The change request pages: the list (filters by status, type, risk, team, service, planned window and
text; CSV export), the detail page (fields, the plan with its tick buttons while implementing, outcome,
collisions acknowledged, the side panels other parts register, timeline, history, attachments), the form
with its plan editor, and the transitions the change's type may take. Views are thin: they parse,
authorize and call changes/services.py."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from opsdesk.core.markup import render_safe
from opsdesk.core.permissions import can
from opsdesk.core.views import (
    Column,
    RecordDetailView,
    RecordFormView,
    RecordListView,
    RecordUI,
    TransitionView,
    UIView,
    badge,
)
from opsdesk.core.workflow import TransitionNotAllowed

from . import catalog, services
from .filters import ChangeFilterSet
from .forms import ChangeForm, TickForm, rows_for_editor, step_rows_from, template_rows
from .models import ChangeCategory, ChangeRequest, ChangeTemplate, PlanStep
from .workflows import CHANGE_WORKFLOW, OUTCOMES

STATUS_STYLES = {"draft": "secondary", "submitted": "info", "assessment": "primary", "approval": "warning",
                 "scheduled": "primary", "implementing": "warning", "review": "info", "closed": "secondary",
                 "rejected": "danger"}
RISK_STYLES = {"low": "success", "medium": "warning", "high": "danger", "very_high": "dark"}
TYPE_STYLES = {"standard": "light", "normal": "secondary", "emergency": "danger"}
NEW_ROWS = 1  # empty rows offered in the plan editor of a new change


def _time(value):
    if not value:
        return ""
    return format_html('<time datetime="{}">{}</time>', value.isoformat(),
                       timezone.localtime(value).strftime("%Y-%m-%d %H:%M"))


class ChangeUI(RecordUI):
    model = ChangeRequest
    namespace = "changes"
    filterset_class = ChangeFilterSet
    form_class = ChangeForm
    workflow = CHANGE_WORKFLOW
    search_fields = ("title",)
    select_related = ("owner_team", "implementer")
    default_sort = "-id"
    read_only_states = tuple(s for s in CHANGE_WORKFLOW.states if s not in services.EDITABLE_STATES)
    create_role = "responder"
    edit_role = "responder"
    comment_role = "responder"
    detail_template = "changes/change_detail.html"
    table_template = "changes/change_table.html"
    create_service = staticmethod(services.create_change)
    update_service = staticmethod(services.update_change)
    transition_service = staticmethod(services.transition_change)
    panel_filters = ("open", "status", "change_type", "risk", "team", "service", "implementer", "planned_from",
                     "planned_to")
    # The page fits 1366 px: the type sits under the title and the implementer under the team; the CSV
    # export keeps one column each (csv_columns).
    columns = [
        Column("number", gettext_lazy("Number"), sort="id", link=True),
        Column("title", gettext_lazy("Title")),
        Column("risk_level", gettext_lazy("Risk"), sort="risk_level"),
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("planned", gettext_lazy("Planned start"), sort="planned_start"),
        Column("team", gettext_lazy("Team · implementer"), sort="owner_team__name"),
    ]
    csv_columns = [
        Column("number", gettext_lazy("Number")),
        Column("title", gettext_lazy("Title")),
        Column("change_type", gettext_lazy("Type")),
        Column("risk_level", gettext_lazy("Risk")),
        Column("status", gettext_lazy("Status")),
        Column("planned_start", gettext_lazy("Planned start")),
        Column("owner_team", gettext_lazy("Owner team")),
        Column("implementer", gettext_lazy("Implementer")),
    ]
    detail_fields = ["description", "reason", "change_type", "category", "template", "requester", "owner_team",
                     "implementer", "services", "cis", "planned_start", "planned_end", "actual_start", "actual_end",
                     "expected_outage", "test_plan", "communication_plan", "incidents", "problems", "outcome",
                     "outcome_notes", "collisions", "status_reason", "submitted_at", "approved_at", "closed_at",
                     "review_required"]
    OPTIONAL_ROWS = {"template", "actual_start", "actual_end", "incidents", "problems", "outcome", "outcome_notes",
                     "collisions", "status_reason", "submitted_at", "approved_at", "closed_at"}

    @classmethod
    def urls(cls):
        replaced = ("list", "create", "edit", "detail", "transition")
        patterns = [p for p in super().urls() if p.name not in replaced]
        return [
            path(cls.path_prefix, ChangeListView.as_view(ui=cls), name="list"),
            path("new/", ChangeFormView.as_view(ui=cls), name="create"),
            path("plan-rows/", PlanRowsView.as_view(ui=cls), name="plan_rows"),
            path("<int:pk>/", ChangeDetailView.as_view(ui=cls), name="detail"),
            path("<int:pk>/edit/", ChangeFormView.as_view(ui=cls), name="edit"),
            path("<int:pk>/transition/<slug:name>/", ChangeTransitionView.as_view(ui=cls), name="transition"),
            path("steps/<int:step_pk>/<slug:what>/", StepTickView.as_view(ui=cls), name="step_tick"),
            *patterns,
        ]

    def form_kwargs(self, request, record) -> dict:
        """"Use this template" opens the form with ?template=<id>; ?category=<id> proposes its plan."""
        if record is not None:
            return {}
        prefill = {}
        template = _picked_template(request.GET.get("template"))
        if template is not None:
            prefill.update({"template": template, "change_type": "standard" if template.change_type == "standard"
                            else "normal", "title": template.title, "category": template.category,
                            "test_plan": template.test_plan, "communication_plan": template.communication_plan})
        category = _picked_category(request.GET.get("category"))
        if category is not None:
            prefill.setdefault("category", category)
        if request.GET.get("change_type") in services.TYPE_TRANSITIONS:
            prefill.setdefault("change_type", request.GET["change_type"])
        problem = _picked_problem(request.GET.get("problem"))
        if problem is not None:  # "Raise a change" on a problem: the fix, on the problem's service and CIs
            prefill.setdefault("title", _("Fix for %(number)s: %(title)s") % {"number": problem.number,
                                                                               "title": problem.title})
            prefill.setdefault("reason", problem.root_cause or problem.description)
            prefill.setdefault("description", problem.fix_description)
            prefill["problems"] = [problem]
            if problem.service_id:
                prefill["services"] = [problem.service]
            cis = list(problem.cis.all()[:50])
            if cis:
                prefill["cis"] = cis
            if problem.owner_team_id:
                prefill.setdefault("owner_team", problem.owner_team)
        return {"prefill": prefill}

    # --- the list ---
    def render_title(self, change):
        return format_html('<div class="text-wrap change-title"><a class="fw-semibold" href="{}">{}</a></div>'
                           '<div class="small">{}</div>', change.get_absolute_url(), change.title,
                           self.render_change_type(change))

    def text_title(self, change):
        return change.title

    def render_change_type(self, change):
        return badge(change.get_change_type_display(), TYPE_STYLES.get(change.change_type, "secondary"))

    def text_change_type(self, change):
        return str(change.get_change_type_display())

    def render_risk_level(self, change):
        if not change.risk_level:
            return format_html('<span class="text-body-tertiary">{}</span>', _("not assessed"))
        return badge(change.get_risk_level_display(), RISK_STYLES.get(change.risk_level, "secondary"))

    def text_risk_level(self, change):
        return str(change.get_risk_level_display()) if change.risk_level else ""

    def render_status(self, change):
        return badge(change.get_status_display(), STATUS_STYLES.get(change.status, "secondary"))

    def text_status(self, change):
        return str(change.get_status_display())

    def render_planned_start(self, change):
        return _time(change.planned_start)

    def render_planned(self, change):
        """The list's narrow cell: the date over the time."""
        if not change.planned_start:
            return ""
        local = timezone.localtime(change.planned_start)
        return format_html('<time class="text-nowrap" datetime="{}">{}<br>{}</time>', change.planned_start.isoformat(),
                           local.strftime("%Y-%m-%d"), local.strftime("%H:%M"))

    def render_team(self, change):
        if not change.implementer_id:
            return format_html('<div class="text-wrap">{}</div>', change.owner_team.name)
        return format_html('<div class="text-wrap">{}</div><div class="small text-body-secondary text-wrap">{}</div>',
                           change.owner_team.name, change.implementer.display_name)

    def text_team(self, change):
        return change.owner_team.slug

    def text_planned_start(self, change):
        return timezone.localtime(change.planned_start).replace(microsecond=0).isoformat() \
            if change.planned_start else ""

    text_planned = text_planned_start

    def render_owner_team(self, change):
        return change.owner_team.name

    def text_owner_team(self, change):
        return change.owner_team.slug

    def render_implementer(self, change):
        return change.implementer.display_name if change.implementer_id else ""

    def text_implementer(self, change):
        return change.implementer.username if change.implementer_id else ""

    # --- the detail page ---
    def detail_rows(self, record):
        prefetch_related_objects([record], "services", "cis", "incidents", "problems")
        rows = []
        for name, (label, value) in zip(self.detail_fields, super().detail_rows(record), strict=True):
            if name in self.OPTIONAL_ROWS and value in ("—", "", None, [], 0):
                continue
            if isinstance(value, datetime.datetime):
                value = _time(value)
            rows.append((label, value))
        return rows

    def render_description(self, change):
        return render_safe(change.description) if change.description else ""

    render_description.label = gettext_lazy("Description")

    def render_reason(self, change):
        return render_safe(change.reason) if change.reason else ""

    render_reason.label = gettext_lazy("Reason for the change")

    def render_template(self, change):
        if not change.template_id:
            return ""
        return format_html('<a href="{}">{}</a>', change.template.get_absolute_url(), change.template.name)

    render_template.label = gettext_lazy("Template")

    def render_services(self, change):
        return format_html_join(", ", '<a href="{}">{}</a>', ((s.get_absolute_url(), s.name)
                                                              for s in change.services.all()))

    render_services.label = gettext_lazy("Affected services")

    def render_cis(self, change):
        return format_html_join(", ", '<a href="{}">{}</a> <span class="text-body-secondary">{}</span>',
                                ((ci.get_absolute_url(), ci.number, ci.name) for ci in change.cis.all()))

    render_cis.label = gettext_lazy("Affected CIs")

    def render_incidents(self, change):
        return format_html_join(", ", '<a href="{}">{}</a>', ((i.get_absolute_url(), i.number)
                                                              for i in change.incidents.all()))

    render_incidents.label = gettext_lazy("Linked incidents")

    def render_problems(self, change):
        return format_html_join(", ", '<a href="{}">{}</a>', ((p.get_absolute_url(), p.number)
                                                              for p in change.problems.all()))

    render_problems.label = gettext_lazy("Linked problems")

    def render_expected_outage(self, change):
        if not change.expected_outage:
            return _("No")
        if change.outage_minutes:
            return _("Yes, about %(n)s minutes") % {"n": change.outage_minutes}
        return _("Yes")

    render_expected_outage.label = gettext_lazy("Expected outage")

    def render_collisions(self, change):
        if not change.collisions:
            return ""
        items = format_html_join("", "<li>{}</li>", ((c.get("message") or c.get("kind"),) for c in change.collisions))
        who = change.collisions_acknowledged_by.display_name if change.collisions_acknowledged_by_id else ""
        return format_html('<ul class="mb-1">{}</ul><div class="small text-body-secondary">{} {} {}</div>', items,
                           _("Acknowledged by"), who, _time(change.collisions_acknowledged_at))

    render_collisions.label = gettext_lazy("Collisions acknowledged")

    def render_review_required(self, change):
        """The same rule as the review panel: the stored flag or what reviews.review_required says now."""
        return _("Yes") if review_needed(change) else _("No")

    render_review_required.label = gettext_lazy("Review required")

    def render_outcome_notes(self, change):
        return render_safe(change.outcome_notes) if change.outcome_notes else ""

    render_outcome_notes.label = gettext_lazy("Outcome notes")

    def extra_context(self, record, user) -> dict:
        from . import collisions

        transitions = services.available_transitions(record, user)
        names = {t.name for t in transitions}
        warnings = list(collisions.find(record) or []) if "submit" in names else []
        # Requesting approval checks the collisions again: those not acknowledged at submission are shown.
        approval_names = names & {"request_approval", "request_emergency_approval"}
        approval_warnings = (services.new_collisions(record, list(collisions.find(record) or []))
                             if approval_names else [])
        start_warning = early_start_warning(record) if "start_implementation" in names else ""
        return {
            "start_warning": start_warning,
            # Only what the type's flow allows (the core offers every transition of the state).
            "transitions": transitions,
            "status_style": STATUS_STYLES.get(record.status, "secondary"),
            "type_badge": self.render_change_type(record),
            "risk_badge": self.render_risk_level(record),
            "submit_warnings": warnings,
            "outcome_choices": [(value, label) for value, label in OUTCOMES if value in services.FINISH_OUTCOMES],
            "approval_warnings": approval_warnings,
            "review_needed": review_needed(record),
            "modal_transitions": {"submit", "complete"} | (approval_names if approval_warnings else set())
            | ({"start_implementation"} if start_warning else set()),
        }


EARLY_START = datetime.timedelta(hours=1)  # starting sooner than this before the window asks first


def early_start_warning(change: ChangeRequest, now=None) -> str:
    """The dialog's question when the planned window starts more than an hour from now, else ""."""
    now = now or timezone.now()
    if change.planned_start is None or change.planned_start - now <= EARLY_START:
        return ""
    ahead = change.planned_start - now
    if ahead >= datetime.timedelta(days=1):
        days = ahead.days
        distance = ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
    else:
        hours = int(ahead.total_seconds() // 3600)
        distance = ngettext("%(n)s hour", "%(n)s hours", hours) % {"n": hours}
    when = date_format(timezone.localtime(change.planned_start), "j M H:i")
    return _("The planned window starts on %(when)s, in %(distance)s. Start now?") % {"when": when,
                                                                                      "distance": distance}


def review_needed(change: ChangeRequest) -> bool:
    from . import reviews

    return bool(change.review_required) or reviews.review_required(change)


def plan_context(change: ChangeRequest, user) -> dict:
    """The plan's progress counts the implementation steps; backout steps ticked are counted apart."""
    steps = list(change.steps.select_related("done_by"))
    implementing = change.status == "implementing"
    may_tick = implementing and services.may_tick(user, change)
    implementation = [s for s in steps if s.kind == "implementation"]
    backout = [s for s in steps if s.kind == "backout"]
    return {"implementation_steps": implementation, "backout_steps": backout, "may_tick": may_tick,
            "tick_form": TickForm(auto_id=False), "plan_done": sum(1 for s in implementation if s.done_at),
            "plan_total": len(implementation), "backout_done": sum(1 for s in backout if s.done_at),
            "backout_total": len(backout)}


class ChangeDetailView(RecordDetailView):
    def context(self, ui, record, tab):
        context = super().context(ui, record, tab)
        if tab == "details":
            context["tab_template"] = "changes/change_tab_details.html"
            context.update(plan_context(record, self.request.user))
        return context


class ChangeListView(RecordListView):
    """The core list, but filters that do not validate (a window "to" before its "from") answer 400 with
    the errors above the table (422 to htmx, which swaps it) and no rows, rather than every row."""

    invalid_filters = False

    def filtered(self, request):
        ui, queryset, filterset, q, sort = super().filtered(request)
        if filterset is not None and filterset.is_bound and not filterset.is_valid():
            self.invalid_filters = True
            queryset = queryset.none()
        return ui, queryset, filterset, q, sort

    def export_csv(self, ui, queryset):
        ui.columns = ui.csv_columns  # the instance only: one column per field in the export
        return super().export_csv(ui, queryset)

    def get(self, request):
        response = super().get(request)
        if self.invalid_filters and response.status_code == 200:
            response.status_code = 422 if request.htmx else 400
        return response


def _picked_problem(value):
    from opsdesk.problems.models import Problem

    if not str(value or "").isdigit():
        return None
    return Problem.objects.select_related("service", "owner_team").filter(pk=int(value)).first()


def _picked_template(value):
    return ChangeTemplate.objects.select_related("category").filter(pk=value, active=True).first() \
        if str(value or "").isdigit() else None


def _picked_category(value):
    return ChangeCategory.objects.filter(pk=value, active=True).first() if str(value or "").isdigit() else None


class ChangeFormView(RecordFormView):
    """The create and edit form with its plan editor. Add/Remove row buttons post the form back to itself
    (`add_step`, `remove_step`) and the page comes back with the rows as typed: nothing is saved."""

    def rows_for(self, form) -> list[dict]:
        if form.is_bound:
            rows = step_rows_from(form.data) or []
            return [{**r, "kind": r["kind"] or "implementation"} for r in rows]
        if self.record is not None:
            return rows_for_editor(self.record.steps.all())
        template = form.initial.get("template")
        if template and not isinstance(template, ChangeTemplate):
            template = _picked_template(template)
        category = form.initial.get("category")
        if template is None and category is not None:
            template = catalog.plan_template_for(category if isinstance(category, ChangeCategory)
                                                 else _picked_category(category))
        return template_rows(template)

    def render_form(self, form, status=200, rows=None):
        urls = self.ui.record_urls(self.record) if self.record else self.ui.list_urls()
        rows = self.rows_for(form) if rows is None else rows
        if not rows:
            rows = [{"kind": "implementation", "who": "", "action": "", "minutes": "", "verification": ""}] * NEW_ROWS
        return render(self.request, "changes/change_form.html",
                      {"ui": self.ui, "urls": urls, "form": form, "record": self.record,
                       "rows": list(enumerate(rows)), "step_errors": getattr(form, "step_errors", [])},
                      status=status)

    def post(self, request, **kwargs):
        add, remove = request.POST.get("add_step"), request.POST.get("remove_step")
        if add or remove:
            form = self.ui.form_class(request.POST, instance=self.record,
                                      **self.ui().form_kwargs(request, self.record))
            rows = [{**r, "kind": r["kind"] or "implementation"} for r in step_rows_from(request.POST) or []]
            if remove and remove.isdigit() and int(remove) < len(rows):
                rows.pop(int(remove))
            if add in ("implementation", "backout"):
                rows.append({"kind": add, "who": "", "action": "", "minutes": "", "verification": ""})
                rows.sort(key=lambda r: 0 if r["kind"] == "implementation" else 1)
            return self.render_form(_unbound_copy(form), rows=rows)
        return super().post(request, **kwargs)


def _unbound_copy(form):
    """The form as typed but without its errors (an add/remove round trip is not a save)."""
    form.is_valid()
    form._errors = type(form.errors)()
    return form


class PlanRowsView(UIView):
    """htmx: the plan rows of the chosen template (or of the chosen category's plan template)."""

    def get(self, request):
        if not can(request.user, "viewer"):
            raise PermissionDenied
        template = _picked_template(request.GET.get("template"))
        if template is None:
            template = catalog.plan_template_for(_picked_category(request.GET.get("category")))
        rows = template_rows(template) or [{"kind": "implementation", "who": "", "action": "", "minutes": "",
                                            "verification": ""}]
        # Choosing a template also fills the form's Category (swapped out of band, htmx `hx-swap-oob`).
        category_select = ""
        picked = _picked_template(request.GET.get("template")) if template is not None else None
        if picked is not None and picked.category_id and request.headers.get("HX-Trigger-Name") != "category":
            form = ChangeForm(prefill={"category": picked.category})
            category_select = form["category"].as_widget(attrs={"hx-swap-oob": "true"})
        return render(request, "changes/change_plan_rows.html", {"rows": list(enumerate(rows)), "step_errors": [],
                                                                 "category_select": category_select})


class ChangeTransitionView(TransitionView):
    """Like the core transition; submit carries `acknowledge_collisions`, complete the outcome and its notes,
    and a transition the change's type does not take answers with the service's sentence."""

    def post(self, request, pk, name):
        record = self.get_record(pk)
        try:
            transition = CHANGE_WORKFLOW.get(name)
        except TransitionNotAllowed:
            raise Http404 from None
        if transition.internal:
            raise Http404
        if not can(request.user, transition.permission, record):
            raise PermissionDenied
        data = {key: request.POST.get(key, "") for key in (*transition.requires, "comment", "outcome_notes",
                                                            "acknowledge_collisions")}
        try:
            services.transition_change(record, name, actor=self.actor(), data=data)
            messages.success(request, _("%(action)s: done.") % {"action": transition.label})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(record.get_absolute_url())


class StepTickView(UIView):
    def post(self, request, step_pk, what):
        if what not in ("tick", "untick"):
            raise Http404
        step = get_object_or_404(PlanStep.objects.select_related("change"), pk=step_pk)
        change = step.change
        if not services.may_tick(request.user, change):
            raise PermissionDenied
        try:
            if what == "tick":
                form = TickForm(request.POST)
                note = form.cleaned_data["note"] if form.is_valid() else ""
                if not form.is_valid():
                    raise ValidationError({"note": _("The note is limited to 500 characters.")})
                services.tick_step(step, actor=self.actor(), note=note)
                messages.success(request, _("%(step)s is done.") % {"step": services.step_label(step)})
            else:
                services.untick_step(step, actor=self.actor())
                messages.success(request, _("%(step)s is open again.") % {"step": services.step_label(step)})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(change.get_absolute_url() + f"#step-{step.pk}")


urlpatterns = ChangeUI.urls()
