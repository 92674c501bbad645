"""Pages of the DORA figures, the environments (with what each runs now) and the release settings.

- /releases/dora/                         the four DORA figures per month, per service and overall (viewer)
- /releases/environments/                 environments in order, current versions, last deployment (viewer)
- /releases/environments/new/, <pk>/edit/ create / edit an environment (manager)
- /releases/settings/                     the release settings: watch and production change (viewer; managers edit)
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Prefetch, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.permissions import has_role
from opsdesk.core.views import RoleView

from . import dora, environments
from .models import DeployedVersion, Deployment, Environment

MONTH_CHOICES = [(n, format_lazy(gettext_lazy("Last {n} months"), n=n)) for n in (3, 6, 12, 24)]
BAND_STYLES = {"elite": "success", "high": "primary", "medium": "warning", "low": "danger"}


class DoraFilterForm(forms.Form):
    months = forms.TypedChoiceField(label=gettext_lazy("Months"), choices=MONTH_CHOICES, coerce=int, required=False,
                                    widget=forms.Select(attrs={"class": "form-select form-select-sm"}))
    service = forms.ModelChoiceField(label=gettext_lazy("Service"), queryset=None, to_field_name="slug",
                                     required=False, empty_label=gettext_lazy("All services"),
                                     widget=forms.Select(attrs={"class": "form-select form-select-sm"}))

    def __init__(self, *args, **kwargs):
        from opsdesk.services.models import Service

        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.order_by("name")


class DoraView(RoleView):
    def get(self, request):
        # Unbound, the form shows the default period it reports on.
        form = DoraFilterForm(request.GET or None, auto_id="dora-%s", initial={"months": dora.DEFAULT_MONTHS})
        months, service, status = dora.DEFAULT_MONTHS, None, 200
        if form.is_bound:
            if form.is_valid():
                months = form.cleaned_data["months"] or dora.DEFAULT_MONTHS
                service = form.cleaned_data["service"]
            else:
                status = 400
        report = dora.report(months, service)
        return render(request, "releases/dora.html", {
            "form": form, "report": report, "rows": report.rows(), "method": dora.METHOD,
            "band_labels": dora.BAND_LABELS, "band_styles": BAND_STYLES, "months": months, "service": service},
            status=status)


# --- environments -----------------------------------------------------------------------------------------


def environments_context() -> dict:
    """The environments in order with their current versions and their last deployment: three queries."""
    last = Deployment.objects.filter(environment=OuterRef("pk")).order_by("-started_at", "-id").values("pk")[:1]
    envs = list(Environment.objects.order_by("order", "id").annotate(last_deployment_id=Subquery(last))
                .prefetch_related(Prefetch("versions", queryset=DeployedVersion.objects.select_related(
                    "service", "ci", "release").order_by("service__name", "ci__name", "id"))))
    ids = [e.last_deployment_id for e in envs if e.last_deployment_id]
    deployments = {d.pk: d for d in Deployment.objects.filter(pk__in=ids).select_related("release")} if ids else {}
    return {"environments": [{"environment": e, "versions": list(e.versions.all()),
                              "last": deployments.get(e.last_deployment_id)} for e in envs]}


class EnvironmentListView(RoleView):
    def get(self, request):
        context = environments_context()
        context["can_edit"] = has_role(request.user, "manager")
        return render(request, "releases/environment_list.html", context)


class EnvironmentForm(forms.Form):
    slug = forms.SlugField(label=gettext_lazy("Key"), max_length=64,
                           help_text=gettext_lazy("Used by CI/CD and the configuration file; cannot change later."))
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    order = forms.IntegerField(label=gettext_lazy("Order"), min_value=0, max_value=100000,
                               help_text=gettext_lazy("Releases promote through active environments in this order."))
    is_production = forms.BooleanField(label=gettext_lazy("Production"), required=False)
    requires_change = forms.BooleanField(label=gettext_lazy("Requires an approved change"), required=False,
                                         help_text=gettext_lazy("Always on for production."))
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["slug"]
        for field in self.fields.values():
            css = "form-check-input" if isinstance(field, forms.BooleanField) else "form-control"
            field.widget.attrs.setdefault("class", css)


def add_errors(form, exc: ValidationError) -> None:
    for field, errors in (exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]):
        form.add_error(field if field in form.fields else None, errors)


class EnvironmentFormView(RoleView):
    role = "manager"

    def get_environment(self, pk):
        return get_object_or_404(Environment, pk=pk) if pk is not None else None

    def render_form(self, request, form, environment, status=200):
        return render(request, "releases/environment_form.html", {"form": form, "environment": environment},
                      status=status)

    def get(self, request, pk=None):
        environment = self.get_environment(pk)
        initial = ({name: getattr(environment, name) for name in environments.ENVIRONMENT_FIELDS}
                   if environment is not None else {"active": True})
        return self.render_form(request, EnvironmentForm(initial=initial, editing=environment is not None,
                                                         auto_id="env-%s"), environment)

    def post(self, request, pk=None):
        environment = self.get_environment(pk)
        form = EnvironmentForm(request.POST, editing=environment is not None, auto_id="env-%s")
        if form.is_valid():
            try:
                saved = environments.save_environment(environment, actor=self.actor(), data=form.cleaned_data)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("The environment %(name)s was saved.") % {"name": saved.name})
                return redirect("releases:environment_list")
        return self.render_form(request, form, environment, status=400)


# --- release settings -------------------------------------------------------------------------------------


class ReleaseSettingsForm(forms.Form):
    watch_hours = forms.IntegerField(label=gettext_lazy("Watch window (hours)"), min_value=1, max_value=720,
                                     help_text=gettext_lazy("After a production deployment, incidents and alerts are "
                                                            "compared with the same hours before it."))
    rise_factor = forms.FloatField(label=gettext_lazy("Rise factor"), min_value=1, max_value=100,
                                   help_text=gettext_lazy("A rise is at least this many times the count before."))
    rise_min_count = forms.IntegerField(label=gettext_lazy("Rise minimum count"), min_value=1, max_value=100000,
                                        help_text=gettext_lazy("…and at least this many incidents (or alerts) after."))
    auto_create_change = forms.BooleanField(label=gettext_lazy("Create the production change from the release"),
                                            required=False)
    change_template = forms.ChoiceField(label=gettext_lazy("Change template"), required=False,
                                        help_text=gettext_lazy("Used for the change created from a release."))

    def __init__(self, *args, **kwargs):
        from opsdesk.changes.models import ChangeTemplate

        super().__init__(*args, **kwargs)
        self.fields["change_template"].choices = [("", _("None (a normal change)"))] + list(
            ChangeTemplate.objects.order_by("name").values_list("slug", "name"))
        for field in self.fields.values():
            css = ("form-check-input" if isinstance(field, forms.BooleanField) else
                   "form-select" if isinstance(field, forms.ChoiceField) else "form-control")
            field.widget.attrs.setdefault("class", css)


class ReleaseSettingsView(RoleView):
    def render_page(self, request, form, status=200):
        return render(request, "releases/environment_settings.html",
                      {"form": form, "can_edit": has_role(request.user, "manager")}, status=status)

    def get(self, request):
        return self.render_page(request, ReleaseSettingsForm(initial=environments.settings_values(),
                                                             auto_id="settings-%s"))

    def post(self, request):
        if not has_role(request.user, "manager"):
            raise PermissionDenied
        form = ReleaseSettingsForm(request.POST, auto_id="settings-%s")
        if form.is_valid():
            try:
                changes = environments.update_release_settings(actor=self.actor(), data=form.cleaned_data)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("The release settings were saved.") if changes else _("Nothing changed."))
                return redirect("releases:release_settings")
        return self.render_page(request, form, status=400)


urlpatterns = [
    path("dora/", DoraView.as_view(), name="dora"),
    path("environments/", EnvironmentListView.as_view(), name="environment_list"),
    path("environments/new/", EnvironmentFormView.as_view(), name="environment_create"),
    path("environments/<int:pk>/edit/", EnvironmentFormView.as_view(), name="environment_edit"),
    path("settings/", ReleaseSettingsView.as_view(), name="release_settings"),
]
