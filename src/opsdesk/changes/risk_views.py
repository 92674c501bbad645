"""Pages of the risk part: the risk questionnaire and re-assessment of a change, the freeze windows
(list, detail, create, edit, cancel) and the change settings. The risk and collision panels on the change
page are record panels (risk.wire, collisions.wire)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.permissions import can, has_role
from opsdesk.core.views import RoleView
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.services.models import Service

from . import freezes, risk, risk_config
from .models import RISK_LEVELS, ChangeRequest, FreezeWindow, RiskQuestion
from .workflows import CHANGE_PLANNED_STATES, OUTCOMES

LOCAL_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local", "class": "form-control"}, format="%Y-%m-%dT%H:%M")
LIST_LIMIT = 100
PAST_LIMIT = 50
CHANGES_IN_FREEZE_LIMIT = 200


def _apply_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- the questionnaire ------------------------------------------------------------------------------------

class QuestionnaireForm(forms.Form):
    """One radio group per active question; a question left blank stays unanswered."""

    def __init__(self, *args, questions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for question in self.questions:
            choices = [(a["key"], f"{a.get('label', a['key'])}") for a in question.answers or []]
            self.fields[question.slug] = forms.ChoiceField(
                label=question.text, help_text=question.help_text, required=False, choices=choices,
                widget=forms.RadioSelect(attrs={"class": "form-check-input"}))

    def weights(self) -> dict[str, dict[str, int]]:
        return {q.slug: {a["key"]: a.get("weight", 0) for a in q.answers or []} for q in self.questions}


def _change(pk) -> ChangeRequest:
    return get_object_or_404(ChangeRequest.objects.select_related("owner_team", "template", "category"), pk=pk)


class QuestionnaireView(RoleView):
    role = "viewer"

    def render_page(self, request, change, form, status=200):
        return render(request, "changes/risk_questionnaire.html", {
            "change": change, "form": form, "weights": form.weights(),
            "can_answer": change.status in risk.ANSWERABLE_STATES and can(request.user, "responder", change),
            "open_state": change.status in risk.ANSWERABLE_STATES}, status=status)

    def get(self, request, pk):
        change = _change(pk)
        questions = RiskQuestion.objects.filter(active=True).order_by("order", "id")
        form = QuestionnaireForm(initial=change.risk_answers or {}, questions=questions, auto_id="risk-%s")
        return self.render_page(request, change, form)

    def post(self, request, pk):
        change = _change(pk)
        if not can(request.user, "responder", change):
            raise PermissionDenied
        questions = RiskQuestion.objects.filter(active=True).order_by("order", "id")
        form = QuestionnaireForm(request.POST, questions=questions, auto_id="risk-%s")
        if form.is_valid():
            try:
                change = risk.answer_questionnaire(change, form.cleaned_data, actor=self.actor())
            except TransitionNotAllowed as exc:
                messages.error(request, str(exc))
                return self.render_page(request, change, form, status=409)
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, _("The answers were saved; %(number)s is now %(level)s risk (%(score)s "
                                            "points).") % {"number": change.number,
                                                           "level": change.get_risk_level_display().lower(),
                                                           "score": change.risk_score})
                return redirect(change.get_absolute_url())
        return self.render_page(request, change, form, status=422)


class ReassessView(RoleView):
    role = "viewer"  # the role on the change's team decides, below

    def post(self, request, pk):
        change = _change(pk)
        if not can(request.user, "responder", change):
            raise PermissionDenied
        try:
            change = risk.reassess(change, actor=self.actor())
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("%(number)s was re-assessed: %(level)s risk (%(score)s points).") % {
                "number": change.number, "level": change.get_risk_level_display().lower(),
                "score": change.risk_score})
        return redirect(change.get_absolute_url())


# --- freeze windows ---------------------------------------------------------------------------------------

class FreezeWindowForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200,
                           widget=forms.TextInput(attrs={"class": "form-control"}))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500, required=False,
                             widget=forms.TextInput(attrs={"class": "form-control"}))
    starts_at = forms.DateTimeField(label=gettext_lazy("Starts"), widget=LOCAL_INPUT,
                                    input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
    ends_at = forms.DateTimeField(label=gettext_lazy("Ends"), widget=LOCAL_INPUT,
                                  input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
    services = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Services"), required=False, queryset=Service.objects.order_by("name"),
        help_text=gettext_lazy("Leave empty to freeze changes on all services."),
        widget=forms.SelectMultiple(attrs={"class": "form-select", "size": 8}))

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("The freeze must end after it starts."))
        return data


class FreezeListView(RoleView):
    role = "viewer"

    def get(self, request):
        now = timezone.now()
        base = FreezeWindow.objects.prefetch_related("services")
        current = list(base.filter(ends_at__gte=now).order_by("starts_at", "id")[:LIST_LIMIT])
        past = list(base.filter(ends_at__lt=now).order_by("-starts_at", "-id")[:PAST_LIMIT])
        return render(request, "changes/freeze_list.html", {
            "current": current, "past": past, "now": now, "can_manage": has_role(request.user, "manager")})


def changes_in_freeze(window: FreezeWindow):
    """The changes planned inside the freeze window (on its services, or any when it names none)."""
    found = ChangeRequest.objects.filter(status__in=CHANGE_PLANNED_STATES, planned_start__lt=window.ends_at,
                                         planned_end__gt=window.starts_at)
    service_ids = [s.pk for s in window.services.all()]
    if service_ids:
        found = found.filter(pk__in=ChangeRequest.services.through.objects.filter(
            service_id__in=service_ids).values("changerequest_id"))
    return found.select_related("owner_team", "implementer").order_by("planned_start", "id")


class FreezeDetailView(RoleView):
    role = "viewer"

    def get(self, request, pk):
        window = get_object_or_404(FreezeWindow.objects.prefetch_related("services"), pk=pk)
        planned = list(changes_in_freeze(window)[:CHANGES_IN_FREEZE_LIMIT + 1])
        return render(request, "changes/freeze_detail.html", {
            "window": window, "changes": planned[:CHANGES_IN_FREEZE_LIMIT],
            "more": len(planned) > CHANGES_IN_FREEZE_LIMIT, "can_manage": has_role(request.user, "manager")})


class FreezeFormView(RoleView):
    role = "manager"

    def render_page(self, request, form, window=None, status=200):
        return render(request, "changes/freeze_form.html", {"form": form, "window": window}, status=status)

    def get(self, request, pk=None):
        window = get_object_or_404(FreezeWindow, pk=pk) if pk else None
        initial = {}
        if window is not None:
            initial = {"name": window.name, "reason": window.reason,
                       "starts_at": timezone.localtime(window.starts_at), "ends_at": timezone.localtime(window.ends_at),
                       "services": list(window.services.all())}
        return self.render_page(request, FreezeWindowForm(initial=initial, auto_id="freeze-%s"), window)

    def post(self, request, pk=None):
        window = get_object_or_404(FreezeWindow, pk=pk) if pk else None
        form = FreezeWindowForm(request.POST, auto_id="freeze-%s")
        if form.is_valid():
            data = dict(form.cleaned_data)
            data["services"] = list(data["services"])
            try:
                if window is None:
                    window = freezes.create_freeze_window(actor=self.actor(), data=data)
                    messages.success(request, _("The freeze window was created."))
                else:
                    window = freezes.update_freeze_window(window, actor=self.actor(), data=data)
                    messages.success(request, _("The freeze window was saved."))
            except TransitionNotAllowed as exc:
                messages.error(request, str(exc))
                return self.render_page(request, form, window, status=409)
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                return redirect("changes:freeze_detail", pk=window.pk)
        return self.render_page(request, form, window, status=422)


class FreezeCancelView(RoleView):
    role = "manager"

    def post(self, request, pk):
        window = get_object_or_404(FreezeWindow, pk=pk)
        try:
            freezes.cancel_freeze_window(window, actor=self.actor())
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("The freeze window “%(name)s” was cancelled.") % {"name": window.name})
        return redirect("changes:freeze_detail", pk=window.pk)


# --- change settings --------------------------------------------------------------------------------------

def _int(label, help_text="", minimum=0, maximum=100000):
    return forms.IntegerField(label=label, help_text=help_text, min_value=minimum, max_value=maximum,
                              widget=forms.NumberInput(attrs={"class": "form-control"}))


class ChangeSettingsForm(forms.Form):
    risk_medium_from = _int(gettext_lazy("Medium risk from (points)"), minimum=1, maximum=1000)
    risk_high_from = _int(gettext_lazy("High risk from (points)"), minimum=1, maximum=1000)
    risk_very_high_from = _int(gettext_lazy("Very high risk from (points)"), minimum=1, maximum=1000)
    min_lead_hours = _int(gettext_lazy("Minimum lead time (hours)"),
                          gettext_lazy("A normal change planned to start sooner after submission adds risk."),
                          maximum=8760)
    history_months = _int(gettext_lazy("History (months)"),
                          gettext_lazy("The owner team's failure rate is counted over this many months."),
                          minimum=1, maximum=120)
    approval_deadline_hours = _int(gettext_lazy("Approval deadline (hours)"), minimum=1, maximum=8760)
    approval_reminder_hours = _int(gettext_lazy("Reminder before the deadline (hours)"), maximum=8760)
    review_outcomes = forms.MultipleChoiceField(
        label=gettext_lazy("Review required for the outcomes"), required=False,
        choices=[(k, v) for k, v in OUTCOMES if k != "cancelled"],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}))
    review_risk_levels = forms.MultipleChoiceField(
        label=gettext_lazy("Review required for the risk levels"), required=False, choices=RISK_LEVELS,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}))


class ChangeSettingsView(RoleView):
    role = "viewer"

    def render_page(self, request, form, status=200):
        return render(request, "changes/risk_settings.html", {
            "form": form, "can_edit": has_role(request.user, "manager")}, status=status)

    def get(self, request):
        return self.render_page(request, ChangeSettingsForm(initial=risk_config.settings_values(),
                                                            auto_id="settings-%s"))

    def post(self, request):
        if not has_role(request.user, "manager"):
            raise PermissionDenied
        form = ChangeSettingsForm(request.POST, auto_id="settings-%s")
        if form.is_valid():
            try:
                changes = risk_config.update_settings(actor=self.actor(), data=form.cleaned_data)
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, _("The change settings were saved.") if changes else _("Nothing changed."))
                return redirect("changes:settings")
        return self.render_page(request, form, status=422)


urlpatterns = [
    path("<int:pk>/risk/", QuestionnaireView.as_view(), name="risk_questionnaire"),
    path("<int:pk>/risk/reassess/", ReassessView.as_view(), name="risk_reassess"),
    path("freeze-windows/", FreezeListView.as_view(), name="freeze_list"),
    path("freeze-windows/new/", FreezeFormView.as_view(), name="freeze_create"),
    path("freeze-windows/<int:pk>/", FreezeDetailView.as_view(), name="freeze_detail"),
    path("freeze-windows/<int:pk>/edit/", FreezeFormView.as_view(), name="freeze_edit"),
    path("freeze-windows/<int:pk>/cancel/", FreezeCancelView.as_view(), name="freeze_cancel"),
    path("settings/", ChangeSettingsView.as_view(), name="settings"),
]
