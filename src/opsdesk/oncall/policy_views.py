"""Escalation policy pages: the list, a policy with its steps (add, remove, move up and down), the
create and edit forms. Managers (or the managers of the policy's team) edit; everyone reads."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.permissions import best_role, has_role
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.services.models import Service

from . import escalation, policies
from .models import URGENCIES, EscalationPolicy, EscalationStep, Schedule
from .paging_views import StyledForm


class PolicyForm(StyledForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    slug = forms.SlugField(label=gettext_lazy("Key"), max_length=100, required=False,
                           help_text=gettext_lazy("Used by configuration files; empty: made from the name."))
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    team = forms.ModelChoiceField(label=gettext_lazy("Team"), queryset=Team.objects.order_by("name"), required=False,
                                  help_text=gettext_lazy("The team's managers may edit the policy."))
    repeat_count = forms.IntegerField(label=gettext_lazy("Repeat the steps"), min_value=0,
                                      max_value=policies.MAX_REPEATS, initial=0,
                                      help_text=gettext_lazy("How many times the steps run again after the first "
                                                             "pass when nobody acknowledges. When the last step "
                                                             "notifies, the repeat waits as long as the last wait "
                                                             "step first."))
    services = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Services"), queryset=Service.objects.order_by("name"), required=False,
        help_text=gettext_lazy("An incident on one of these services (not opened by an alert) starts this policy. "
                               "A service has one policy; you attach the services of the teams you manage."))


class StepForm(StyledForm):
    kind = forms.ChoiceField(label=gettext_lazy("Step"), choices=EscalationStep.KINDS)
    users = forms.ModelMultipleChoiceField(label=gettext_lazy("People"), required=False,
                                           queryset=get_user_model().objects.filter(is_active=True)
                                           .order_by("username"),
                                           help_text=gettext_lazy("For “Notify people”."))
    schedule = forms.ModelChoiceField(label=gettext_lazy("Schedule"), required=False,
                                      queryset=Schedule.objects.order_by("name"),
                                      help_text=gettext_lazy("For “Notify the on-call of a schedule”."))
    team = forms.ModelChoiceField(label=gettext_lazy("Team"), required=False, queryset=Team.objects.order_by("name"),
                                  help_text=gettext_lazy("For “Notify a team”."))
    team_role = forms.ChoiceField(label=gettext_lazy("In the team"), required=False,
                                  choices=[("", gettext_lazy("every member")),
                                           ("manager", gettext_lazy("the managers (team leads)"))])
    wait_minutes = forms.IntegerField(label=gettext_lazy("Wait (minutes)"), required=False, min_value=0,
                                      max_value=policies.MAX_WAIT_MINUTES, help_text=gettext_lazy("For “Wait”."))
    urgency = forms.ChoiceField(label=gettext_lazy("Urgency"), choices=URGENCIES, initial="high",
                                help_text=gettext_lazy("Picks the notification rules of the people paged."))

    def step(self) -> dict:
        data = dict(self.cleaned_data)
        data["users"] = list(data.get("users") or [])
        data["wait_minutes"] = data.get("wait_minutes") or 0
        return data


def _steps_of(policy) -> list[dict]:
    return [{"kind": s.kind, "users": list(s.users.all()), "schedule": s.schedule, "team": s.team,
             "team_role": s.team_role, "wait_minutes": s.wait_minutes, "urgency": s.urgency}
            for s in policy.steps.order_by("position", "id").select_related("schedule", "team")
            .prefetch_related("users")]


def _may_edit(user, policy=None, team=None) -> bool:
    if has_role(user, "manager"):
        return True
    target = team if team is not None else (policy.team if policy is not None else None)
    return target is not None and has_role(user, "manager", target)


def _refuse_unmanaged_services(form, user, policy, services) -> bool:
    """False (with the error on the form) when `user` may not attach or detach some of the services."""
    refused = policies.services_not_managed(user, policy, services)
    if refused:
        form.add_error("services", _("Only the managers of a service's owner team attach it to a policy: "
                                     "%(services)s.") % {"services": ", ".join(s.name for s in refused)})
    return not refused


def _add_errors(form, error: ValidationError) -> None:
    for field, messages_ in error.message_dict.items():
        name = field.rsplit(".", 1)[-1] if field.startswith("steps.") else field
        form.add_error(name if name in form.fields else None, messages_)


class PolicyListView(LoginRequiredMixin, View):
    def get(self, request):
        rows = (EscalationPolicy.objects.select_related("team").annotate(step_count=Count("steps", distinct=True))
                .prefetch_related(Prefetch("services", queryset=Service.objects.only("pk", "name", "slug")))
                .order_by("name"))
        return render(request, "oncall/policy_list.html", {
            "policies": rows, "can_create": best_role(request.user) in ("manager", "admin")})


class PolicyCreateView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and best_role(request.user) not in ("manager", "admin"):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return render(request, "oncall/policy_form.html", {"form": PolicyForm(), "step_form": StepForm(prefix="step")})

    def post(self, request):
        form, step_form = PolicyForm(request.POST), StepForm(request.POST, prefix="step")
        if form.is_valid() and step_form.is_valid():
            data = {**form.cleaned_data, "services": list(form.cleaned_data["services"]),
                    "steps": [step_form.step()]}
            if not _may_edit(request.user, team=data["team"]):
                form.add_error("team", _("You manage policies of your own teams only."))
            elif _refuse_unmanaged_services(form, request.user, None, data["services"]):
                try:
                    policy = policies.save_policy(actor=Actor.for_user(request.user), data=data)
                    messages.success(request, _("Escalation policy %(name)s created.") % {"name": policy.name})
                    return redirect(policy.get_absolute_url())
                except ValidationError as error:
                    _add_errors(form, error)
                    _add_errors(step_form, error)
        return render(request, "oncall/policy_form.html", {"form": form, "step_form": step_form}, status=422)


class PolicyEditView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.policy = get_object_or_404(EscalationPolicy, pk=kwargs["pk"])
        if not _may_edit(request.user, self.policy):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, pk):
        policy = self.policy
        form = PolicyForm(initial={"name": policy.name, "slug": policy.slug, "description": policy.description,
                                   "team": policy.team, "repeat_count": policy.repeat_count,
                                   "services": list(policy.services.all())})
        return render(request, "oncall/policy_form.html", {"form": form, "policy": policy})

    def post(self, request, pk):
        form = PolicyForm(request.POST)
        if form.is_valid():
            data = {**form.cleaned_data, "services": list(form.cleaned_data["services"])}
            if data["team"] != self.policy.team and not _may_edit(request.user, team=data["team"]):
                form.add_error("team", _("You manage policies of your own teams only."))
            elif _refuse_unmanaged_services(form, request.user, self.policy, data["services"]):
                try:
                    policies.save_policy(self.policy, actor=Actor.for_user(request.user), data=data)
                    messages.success(request, _("Escalation policy saved."))
                    return redirect(self.policy.get_absolute_url())
                except ValidationError as error:
                    _add_errors(form, error)
        return render(request, "oncall/policy_form.html", {"form": form, "policy": self.policy}, status=422)


class PolicyDetailView(LoginRequiredMixin, View):
    def context(self, request, policy, step_form=None):
        steps = list(policy.steps.order_by("position", "id").select_related("schedule", "team")
                     .prefetch_related("users"))
        return {"policy": policy, "steps": [(s, escalation.step_description(s)) for s in steps],
                "services": list(policy.services.order_by("name")), "can_edit": _may_edit(request.user, policy),
                "step_form": step_form or StepForm(prefix="step"),
                "runs": policy.runs.select_related("incident").order_by("-started_at", "-id")[:10]}

    def get(self, request, pk):
        policy = get_object_or_404(EscalationPolicy.objects.select_related("team"), pk=pk)
        return render(request, "oncall/policy_detail.html", self.context(request, policy))

    def post(self, request, pk):
        policy = get_object_or_404(EscalationPolicy.objects.select_related("team"), pk=pk)
        if not _may_edit(request.user, policy):
            raise PermissionDenied
        actor = Actor.for_user(request.user)
        what = request.POST.get("what")
        if what == "delete":
            try:
                policies.delete_policy(policy, actor=actor)
            except TransitionNotAllowed as error:
                messages.error(request, str(error))
                return redirect(policy.get_absolute_url())
            messages.success(request, _("Escalation policy deleted."))
            return redirect("oncall:policy_list")
        steps = _steps_of(policy)
        step_form = None
        try:
            index = int(request.POST.get("index", "-1"))
        except ValueError:
            index = -1
        if what == "step_add":
            step_form = StepForm(request.POST, prefix="step")
            if not step_form.is_valid():
                return render(request, "oncall/policy_detail.html", self.context(request, policy, step_form),
                              status=422)
            steps.append(step_form.step())
        elif what in ("step_remove", "step_up", "step_down") and 0 <= index < len(steps):
            if what == "step_remove":
                steps.pop(index)
            else:
                other = index - 1 if what == "step_up" else index + 1
                if 0 <= other < len(steps):
                    steps[index], steps[other] = steps[other], steps[index]
        else:
            messages.error(request, _("Unknown action."))
            return redirect(policy.get_absolute_url())
        try:
            policies.save_policy(policy, actor=actor, data={"steps": steps})
        except ValidationError as error:
            if step_form is not None:
                prefix = f"steps.{len(steps) - 1}."
                for field, errors in error.message_dict.items():
                    name = field[len(prefix):] if field.startswith(prefix) else None
                    step_form.add_error(name if name in step_form.fields else None, errors)
                return render(request, "oncall/policy_detail.html", self.context(request, policy, step_form),
                              status=422)
            messages.error(request, " ".join(error.messages))
            return redirect(policy.get_absolute_url())
        messages.success(request, _("Steps saved."))
        return redirect(policy.get_absolute_url())


urlpatterns = [
    path("policies/", PolicyListView.as_view(), name="policy_list"),
    path("policies/new/", PolicyCreateView.as_view(), name="policy_create"),
    path("policies/<int:pk>/", PolicyDetailView.as_view(), name="policy_detail"),
    path("policies/<int:pk>/edit/", PolicyEditView.as_view(), name="policy_edit"),
]
