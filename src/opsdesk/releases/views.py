"""The release pages: the board (one column per active environment: the versions it runs and the releases in
that stage), the release list, detail (fields, work items, planned vs actual per environment, notes, rollback
procedure, gate per environment, record a deployment, roll back), the create/edit form and the deployment
history. Views are thin: they parse, authorize and call releases/services.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.markup import render_safe
from opsdesk.core.permissions import can, has_role
from opsdesk.core.views import PER_PAGE_DEFAULT, Column, RecordUI, RoleView, UIView, badge
from opsdesk.core.workflow import TransitionNotAllowed

from . import gates, services
from .filters import DeploymentFilterSet, ReleaseFilterSet
from .forms import DeploymentForm, ReleaseForm, RollbackForm
from .models import DeployedVersion, Deployment, Environment, Release
from .workflows import RELEASE_OPEN_STATES, RELEASE_WORKFLOW

STATUS_STYLES = {"planned": "info", "building": "primary", "in_test": "primary", "approved": "success",
                 "deployed": "success", "closed": "secondary", "rolled_back": "danger", "cancelled": "secondary"}
RESULT_STYLES = {"in_progress": "warning", "succeeded": "success", "failed": "danger"}
BOARD_MAX_RELEASES = 500


def _when(value):
    if not value:
        return ""
    return format_html('<time datetime="{}">{}</time>', value.isoformat(),
                       timezone.localtime(value).strftime("%Y-%m-%d %H:%M"))


class ReleaseUI(RecordUI):
    model = Release
    namespace = "releases"
    filterset_class = ReleaseFilterSet
    form_class = ReleaseForm
    workflow = RELEASE_WORKFLOW
    search_fields = ("title", "version")
    select_related = ("owner_team", "manager", "production_change")
    default_sort = "-id"
    read_only_states = services.READ_ONLY_STATES
    create_role = "responder"
    edit_role = "responder"
    detail_template = "releases/release_detail.html"
    create_service = staticmethod(services.create_release)
    update_service = staticmethod(services.update_release)
    transition_service = staticmethod(services.transition_release)
    panel_filters = ("status", "open", "team", "service", "text")
    columns = [
        Column("number", gettext_lazy("Number"), sort="id", link=True),
        Column("title", gettext_lazy("Title")),
        Column("version", gettext_lazy("Version"), sort="version"),
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("owner_team", gettext_lazy("Owner team"), sort="owner_team__name"),
        Column("deployed_at", gettext_lazy("Deployed to production"), sort="deployed_at"),
        Column("updated_at", gettext_lazy("Updated"), sort="updated_at"),
    ]
    detail_fields = ["version", "owner_team", "manager", "description", "services", "cis", "changes",
                     "production_change", "work_items", "notes", "status_reason", "deployed_at"]

    def render_title(self, release):
        return format_html('<div class="text-wrap"><a class="fw-semibold" href="{}">{}</a></div>',
                           release.get_absolute_url(), release.title)

    def text_title(self, release):
        return release.title

    def render_status(self, release):
        return badge(release.get_status_display(), STATUS_STYLES.get(release.status, "secondary"))

    def text_status(self, release):
        return str(release.get_status_display())

    def render_owner_team(self, release):
        return release.owner_team.name

    def render_manager(self, release):
        return release.manager.display_name if release.manager_id else ""

    render_manager.label = gettext_lazy("Release manager")

    def render_deployed_at(self, release):
        return _when(release.deployed_at)

    def text_deployed_at(self, release):
        return release.deployed_at.isoformat() if release.deployed_at else ""

    def render_updated_at(self, release):
        return _when(release.updated_at)

    def text_updated_at(self, release):
        return timezone.localtime(release.updated_at).replace(microsecond=0).isoformat()

    # --- detail ---
    def detail_rows(self, record):
        prefetch_related_objects([record], "services", "cis", "changes")
        rows = super().detail_rows(record)
        return [(label, value) for label, value in rows if value not in ("", None, [])]

    def render_description(self, release):
        return render_safe(release.description) if release.description else ""

    render_description.label = gettext_lazy("Description")

    def render_notes(self, release):
        return render_safe(release.notes) if release.notes else ""

    render_notes.label = gettext_lazy("Release notes")

    def render_services(self, release):
        return format_html_join(", ", '<a href="{}">{}</a>', ((s.get_absolute_url(), s.name)
                                                              for s in release.services.all()))

    render_services.label = gettext_lazy("Services")

    def render_cis(self, release):
        return format_html_join(", ", '<a href="{}">{}</a> <span class="text-body-secondary">{}</span>',
                                ((ci.get_absolute_url(), ci.number, ci.name) for ci in release.cis.all()))

    render_cis.label = gettext_lazy("Application CIs")

    def render_changes(self, release):
        return format_html_join(", ", '<a href="{}">{}</a> <span class="text-body-secondary">{}</span>',
                                ((c.get_absolute_url(), c.number, c.get_status_display())
                                 for c in release.changes.all()))

    render_changes.label = gettext_lazy("Changes")

    def render_production_change(self, release):
        change = release.production_change
        if change is None:
            return ""
        return format_html('<a href="{}">{}</a> {}', change.get_absolute_url(), str(change),
                           badge(change.get_status_display()))

    render_production_change.label = gettext_lazy("Production change")

    def render_work_items(self, release):
        items = release.work_items or []
        if not items:
            return ""
        return format_html('<ul class="mb-0">{}</ul>', format_html_join(
            "", "<li>{}</li>", ((format_html('<a href="{}" rel="noopener noreferrer">{}</a> {}', i["url"], i["key"],
                                             i.get("title", "")) if i.get("url") else
                                 format_html("{} {}", i["key"], i.get("title", "")),) for i in items)))

    render_work_items.label = gettext_lazy("Work items")

    render_deployed_at.label = gettext_lazy("Deployed to production")

    def extra_context(self, record, user) -> dict:
        return promotion_context(record, user)

    @classmethod
    def urls(cls):
        # The board answers /releases/; the list lives at /releases/list/.
        patterns = [path("list/", p.callback, name="list") if p.name == "list" else p for p in super().urls()]
        return [
            *patterns,
            path("<int:pk>/deploy/<slug:env>/", RecordDeploymentView.as_view(ui=cls), name="record_deployment"),
            path("<int:pk>/rollback/<slug:env>/", RollbackView.as_view(ui=cls), name="rollback"),
            path("<int:pk>/production-change/", ProductionChangeView.as_view(ui=cls), name="production_change"),
        ]


def promotion_context(release, user, forms: dict | None = None) -> dict:
    """Per active environment: planned date, the release's deployments there, the gate's answer, and the
    forms to record a deployment or roll back (responders of the owner team)."""
    environments = list(Environment.objects.filter(active=True).order_by("order", "id"))
    deployments = list(release.deployments.select_related("environment", "deployed_by").order_by("-started_at", "-id"))
    writable = can(user, "responder", release) and release.status not in services.READ_ONLY_STATES
    forms = forms or {}
    rows = []
    for environment in environments:
        here = [d for d in deployments if d.environment_id == environment.pk]
        last_ok = next((d for d in here if d.result == "succeeded"), None)
        answer = gates.check(release, environment)
        rows.append({
            "environment": environment, "planned": (release.planned_dates or {}).get(environment.slug, ""),
            "deployments": here[:5], "last": here[0] if here else None, "answer": answer,
            "can_rollback": writable and last_ok is not None and not last_ok.is_rollback
            and bool(last_ok.previous_version),
            # Say why there is no Roll back when the last version here is the first one deployed there.
            "no_rollback": writable and last_ok is not None and not last_ok.is_rollback
            and not last_ok.previous_version,
            "form": forms.get(environment.slug) or DeploymentForm(auto_id=f"deploy-{environment.slug}-%s",
                                                                  initial={"version": release.version}),
            "rollback_form": RollbackForm(auto_id=f"rollback-{environment.slug}-%s"),
        })
    return {"status_style": STATUS_STYLES.get(release.status, "secondary"), "environment_rows": rows,
            "can_deploy": writable, "result_styles": RESULT_STYLES,
            "can_create_change": writable and not release.production_change_id,
            "notes_html": render_safe(release.notes) if release.notes else ""}


class ReleaseActionView(UIView):
    role = "responder"

    def writable_record(self, request, pk):
        record = self.get_record(pk)
        if not can(request.user, self.role, record):
            raise PermissionDenied
        return record


class RecordDeploymentView(ReleaseActionView):
    def post(self, request, pk, env):
        release = self.writable_record(request, pk)
        environment = get_object_or_404(Environment, slug=env)
        form = DeploymentForm(request.POST, auto_id=f"deploy-{env}-%s")
        if not form.is_valid():
            messages.error(request, _("The deployment was not recorded: %(e)s") % {"e": " ".join(
                f"{form.fields[k].label}: {' '.join(v)}" for k, v in form.errors.items() if k in form.fields)})
            return HttpResponseRedirect(release.get_absolute_url())
        try:
            services.record_deployment(release, environment, actor=self.actor(), data=form.cleaned_data)
            messages.success(request, _("The deployment to %(env)s was recorded.") % {"env": environment.name})
        except services.GateDenied as exc:
            messages.error(request, _("Not allowed to deploy to %(env)s: %(reasons)s")
                           % {"env": environment.name, "reasons": " ".join(exc.reasons)})
        except (ValidationError, TransitionNotAllowed) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return HttpResponseRedirect(release.get_absolute_url())


class RollbackView(ReleaseActionView):
    def post(self, request, pk, env):
        release = self.writable_record(request, pk)
        environment = get_object_or_404(Environment, slug=env)
        form = RollbackForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Say why the release is rolled back."))
            return HttpResponseRedirect(release.get_absolute_url())
        try:
            deployment = services.rollback(release, environment, actor=self.actor(), data=form.cleaned_data)
            messages.success(request, _("%(env)s was rolled back to %(v)s.")
                             % {"env": environment.name, "v": deployment.version})
        except (ValidationError, TransitionNotAllowed) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return HttpResponseRedirect(release.get_absolute_url())


class ProductionChangeView(ReleaseActionView):
    def post(self, request, pk):
        release = self.writable_record(request, pk)
        try:
            change = services.ensure_production_change(release, actor=self.actor())
            messages.success(request, _("%(c)s is the production change of this release.") % {"c": change.number})
        except (ValidationError, TransitionNotAllowed) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return HttpResponseRedirect(release.get_absolute_url())


# --- the board and the deployment history --------------------------------------------------------------

def board_context() -> dict:
    """Columns in environment order. Six queries whatever the number of environments, versions and releases."""
    environments = list(Environment.objects.filter(active=True).order_by("order", "id"))
    versions = {}
    for row in DeployedVersion.objects.filter(environment__active=True).select_related(
            "service", "ci", "release").order_by("service__name", "ci__name", "id"):
        versions.setdefault(row.environment_id, []).append(row)
    releases = list(Release.objects.filter(status__in=RELEASE_OPEN_STATES).select_related("owner_team")
                    .order_by("-id")[:BOARD_MAX_RELEASES])
    order = {e.pk: i for i, e in enumerate(environments)}
    stage = {}
    for release_id, environment_id in Deployment.objects.filter(
            release__in=[r.pk for r in releases], result="succeeded", is_rollback=False,
            environment__active=True).values_list("release_id", "environment_id").distinct():
        if release_id not in stage or order[environment_id] > order[stage[release_id]]:
            stage[release_id] = environment_id
    in_stage, waiting = {}, []
    for release in releases:
        if release.pk in stage:
            in_stage.setdefault(stage[release.pk], []).append(release)
        else:
            waiting.append(release)
    columns = [{"environment": e, "versions": versions.get(e.pk, []), "releases": in_stage.get(e.pk, [])}
               for e in environments]
    return {"columns": columns, "waiting": waiting, "status_styles": STATUS_STYLES,
            "truncated": len(releases) >= BOARD_MAX_RELEASES}


class BoardView(RoleView):
    def get(self, request):
        context = board_context()
        context["can_create"] = has_role(request.user, "responder") or bool(
            request.user.memberships.filter(role__in=("responder", "manager", "admin")).exists())
        return render(request, "releases/board.html", context)


class DeploymentListView(RoleView):
    def get(self, request):
        queryset = Deployment.objects.select_related("release", "environment", "change", "deployed_by")
        filterset = DeploymentFilterSet(request.GET or None, queryset=queryset, request=request)
        for field in filterset.form.fields.values():
            is_select = field.widget.__class__.__name__.endswith("Select") or hasattr(field.widget, "choices")
            field.widget.attrs.setdefault("class", "form-select form-select-sm" if is_select
                                          else "form-control form-control-sm")
        if filterset.is_bound and filterset.is_valid():
            queryset = filterset.qs
        queryset = queryset.order_by("-started_at", "-id")
        page = Paginator(queryset, PER_PAGE_DEFAULT).get_page(request.GET.get("page"))
        params = request.GET.copy()
        params.pop("page", None)
        return render(request, "releases/deployment_list.html", {
            "page": page, "filterset": filterset, "result_styles": RESULT_STYLES, "page_query": params.urlencode()})


urlpatterns = [
    path("", BoardView.as_view(), name="board"),
    path("deployments/", DeploymentListView.as_view(), name="deployment_list"),
    *ReleaseUI.urls(),
]
