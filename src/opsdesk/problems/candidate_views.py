"""Pages of trend detection and the recurrence check: the problem candidates queue (the incidents behind
each; accept with the problem form prefilled or at once, dismiss with a reason, run detection now), a
candidate's page, the problem settings page (managers edit; the config-as-code validation) and the
context of a problem's "Recurrence" tab. Included by urls.py."""

from __future__ import annotations

import math

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import events
from opsdesk.core.permissions import has_role
from opsdesk.core.views import RoleView
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents.models import Incident

from . import config, trends
from .forms import ProblemForm
from .models import ProblemCandidate, RecurrenceCheck

DETECT_TASK = "opsdesk.problems.tasks.detect_trends"
PER_PAGE = 50
SHOWN_INCIDENTS = 5  # incidents listed per candidate in the queue
DETAIL_INCIDENTS = 500
KIND_ICONS = {"ci": "hdd-network", "service": "diagram-3", "category": "tags", "text": "chat-left-text"}
VERDICT_STYLES = {"effective": "success", "partially_effective": "warning", "not_effective": "danger", "": "secondary"}


# --- forms --------------------------------------------------------------------------------------------


class AcceptForm(ProblemForm):
    """The problem form, prefilled from the candidate's incidents (which the problem links)."""

    class Meta(ProblemForm.Meta):
        fields = ["title", "description", "service", "cis", "category", "impact", "urgency", "owner_team", "owner"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("incidents", "change_numbers"):  # declared on the problem form; not asked here
            self.fields.pop(name, None)


class DismissForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why dismiss it?"), max_length=500,
                             widget=forms.TextInput(attrs={"class": "form-control"}),
                             help_text=gettext_lazy("The same pattern is not proposed again for the dismiss period."))


class CategoriesField(forms.CharField):
    """Fishbone categories as lines "key: Label"."""

    widget = forms.Textarea(attrs={"rows": 7, "class": "form-control font-monospace"})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(f"{c.get('key')}: {c.get('label')}" for c in value)
        return value

    def clean(self, value):
        value = super().clean(value)
        items = []
        for number, line in enumerate((value or "").splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, label = line.partition(":")
            if not sep or not key.strip() or not label.strip():
                raise ValidationError(_("Line %(n)s: write “key: Label”.") % {"n": number})
            items.append({"key": key.strip(), "label": label.strip()})
        return items


class SettingsForm(forms.Form):
    trend_ci_count = forms.IntegerField(label=gettext_lazy("Incidents on one CI"))
    trend_ci_days = forms.IntegerField(label=gettext_lazy("… within days"))
    trend_service_count = forms.IntegerField(label=gettext_lazy("Incidents on one service"))
    trend_service_days = forms.IntegerField(label=gettext_lazy("… within days"))
    trend_category_count = forms.IntegerField(label=gettext_lazy("Incidents in one category"))
    trend_category_days = forms.IntegerField(label=gettext_lazy("… within days"))
    trend_text_count = forms.IntegerField(label=gettext_lazy("Incidents with similar titles"))
    trend_text_days = forms.IntegerField(label=gettext_lazy("… within days"))
    trend_text_similarity = forms.FloatField(label=gettext_lazy("Title similarity (0.1 – 1)"), help_text=gettext_lazy(
        "Share of significant words two titles have in common (Jaccard)."))
    dismiss_days = forms.IntegerField(label=gettext_lazy("A dismissed pattern is silent for days"))
    watch_days = forms.IntegerField(label=gettext_lazy("Recurrence watch after resolution (days)"))
    partial_reduction = forms.FloatField(label=gettext_lazy("“Partially effective” when incidents fell by (0 – 1)"),
                                         help_text=gettext_lazy("0.5: half as many incidents after the fix as before."))
    rca_categories = CategoriesField(label=gettext_lazy("Fishbone categories"),
                                     help_text=gettext_lazy("One per line: key: Label"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "rca_categories":
                field.widget.attrs.setdefault("class", "form-control")
                field.widget.attrs.setdefault("step", "any")


# --- the candidates queue -------------------------------------------------------------------------------


def _shown_incidents():
    return Prefetch("incidents", to_attr="shown_incidents",
                    queryset=Incident.objects.only("id", "number", "title", "status", "created_at")
                    .order_by("-created_at", "-id")[:SHOWN_INCIDENTS])


class CandidateListView(RoleView):
    role = "viewer"

    def get(self, request):
        status = request.GET.get("status", "open")
        if status not in dict(ProblemCandidate.STATES) and status != "all":
            status = "open"
        kind = request.GET.get("kind", "")
        rows = ProblemCandidate.objects.select_related("ci", "service", "category", "problem", "decided_by")
        if status != "all":
            rows = rows.filter(status=status)
        if kind in dict(ProblemCandidate.KINDS):
            rows = rows.filter(kind=kind)
        page = Paginator(rows.prefetch_related(_shown_incidents()), PER_PAGE).get_page(request.GET.get("page"))
        return render(request, "problems/candidate_list.html", {
            "page": page, "status": status, "kind": kind, "states": ProblemCandidate.STATES,
            "kinds": ProblemCandidate.KINDS, "icons": KIND_ICONS, "shown": SHOWN_INCIDENTS,
            "can_decide": has_role(request.user, "responder"), "can_detect": has_role(request.user, "manager")})


def _candidate_context(request, candidate, *, accept_form=None, dismiss_form=None) -> dict:
    from . import services

    incidents = list(candidate.incidents.select_related("service").order_by("-created_at", "-id")[:DETAIL_INCIDENTS])
    can_decide = candidate.status == "open" and has_role(request.user, "responder")
    if can_decide and accept_form is None:
        prefill = services.prefill_from_incidents(incidents[:100]) if incidents else {}
        prefill.update(trends.problem_prefill(candidate, incidents))
        if candidate.ci_id:
            prefill["cis"] = [candidate.ci]
        if candidate.service_id:
            prefill["service"] = candidate.service
        if candidate.category_id:
            prefill["category"] = candidate.category
        accept_form = AcceptForm(prefill=prefill, auto_id="accept-%s")
    return {"candidate": candidate, "incidents": incidents, "can_decide": can_decide, "icons": KIND_ICONS,
            "accept_form": accept_form, "dismiss_form": dismiss_form or DismissForm(auto_id="dismiss-%s")}


def _candidate(pk):
    return get_object_or_404(ProblemCandidate.objects.select_related("ci", "service", "category", "problem",
                                                                     "decided_by"), pk=pk)


class CandidateDetailView(RoleView):
    role = "viewer"

    def get(self, request, pk):
        candidate = _candidate(pk)
        return render(request, "problems/candidate_detail.html", _candidate_context(request, candidate))


class CandidateAcceptView(RoleView):
    """POST: with `direct=1` the problem is created at once from the candidate; otherwise from the form."""

    role = "responder"

    def post(self, request, pk):
        candidate = _candidate(pk)
        data = {}
        if not request.POST.get("direct"):
            form = AcceptForm(request.POST, auto_id="accept-%s")
            if not form.is_valid():
                context = _candidate_context(request, candidate, accept_form=form)
                return render(request, "problems/candidate_detail.html", context, status=422)
            data = form.service_data()
        try:
            problem = trends.accept_candidate(candidate, actor=self.actor(), data=data)
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect(candidate.get_absolute_url())
        except ValidationError as exc:
            form = AcceptForm(request.POST or None, auto_id="accept-%s")
            if form.is_bound:
                form.is_valid()
            else:
                form = AcceptForm(auto_id="accept-%s")
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            context = _candidate_context(request, candidate, accept_form=form)
            return render(request, "problems/candidate_detail.html", context, status=422)
        messages.success(request, _("%(problem)s was created from the candidate.") % {"problem": problem.number})
        return redirect(problem.get_absolute_url())


class CandidateDismissView(RoleView):
    role = "responder"

    def post(self, request, pk):
        candidate = _candidate(pk)
        form = DismissForm(request.POST, auto_id="dismiss-%s")
        if form.is_valid():
            try:
                trends.dismiss_candidate(candidate, actor=self.actor(), reason=form.cleaned_data["reason"])
            except TransitionNotAllowed as exc:
                messages.error(request, str(exc))
                return redirect(candidate.get_absolute_url())
            except ValidationError as exc:
                form.add_error("reason", exc.message_dict.get("reason", exc.messages))
            else:
                messages.success(request, _("The candidate was dismissed."))
                return redirect(request.POST.get("next") == "list" and "problems:candidate_list"
                                or candidate.get_absolute_url())
        context = _candidate_context(request, candidate, dismiss_form=form)
        return render(request, "problems/candidate_detail.html", context, status=422)


class CandidateDetectView(RoleView):
    """Trend detection takes long on much data: the worker runs it, the page says so."""

    role = "manager"

    def post(self, request):
        events.enqueue(DETECT_TASK)
        messages.success(request, _("Trend detection was started; new candidates appear here in a minute or two."))
        return redirect("problems:candidate_list")


# --- settings -----------------------------------------------------------------------------------------


class ProblemSettingsView(RoleView):
    role = "viewer"

    def render_page(self, request, form, status=200):
        return render(request, "problems/settings.html", {
            "form": form, "can_edit": has_role(request.user, "manager"), "values": config.settings_values()},
            status=status)

    def get(self, request):
        return self.render_page(request, SettingsForm(initial=config.settings_values(), auto_id="settings-%s"))

    def post(self, request):
        if not has_role(request.user, "manager"):
            raise PermissionDenied
        form = SettingsForm(request.POST, auto_id="settings-%s")
        if form.is_valid():
            try:
                changes = config.update_settings(actor=self.actor(), data=form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("The problem settings were saved.") if changes
                                 else _("Nothing changed."))
                return redirect("problems:settings")
        return self.render_page(request, form, status=422)


# --- the problem's Recurrence tab ---------------------------------------------------------------------


def recurrence_tab_context(record, request) -> dict:
    """The watch of a resolved problem: status, days left, recurrences, the evaluation and its verdict."""
    checks = list(RecurrenceCheck.objects.filter(problem=record).order_by("-started_at", "-id")
                  .prefetch_related(Prefetch("recurrences", queryset=Incident.objects.only(
                      "id", "number", "title", "status", "created_at").order_by("-created_at", "-id"))))
    now = timezone.now()
    rows = []
    for check in checks:
        days_left = None
        if check.status == "watching":
            days_left = max(0, math.ceil((check.ends_at - now).total_seconds() / 86400))
        rows.append({"check": check, "days_left": days_left, "style": VERDICT_STYLES.get(check.verdict, "secondary"),
                     "recurrences": list(check.recurrences.all())})
    return {"checks": rows, "current": rows[0] if rows else None, "watch_days": config.settings_values()["watch_days"]}


urlpatterns = [
    path("candidates/", CandidateListView.as_view(), name="candidate_list"),
    path("candidates/detect/", CandidateDetectView.as_view(), name="candidate_detect"),
    path("candidates/<int:pk>/", CandidateDetailView.as_view(), name="candidate_detail"),
    path("candidates/<int:pk>/accept/", CandidateAcceptView.as_view(), name="candidate_accept"),
    path("candidates/<int:pk>/dismiss/", CandidateDismissView.as_view(), name="candidate_dismiss"),
    path("settings/", ProblemSettingsView.as_view(), name="settings"),
]
