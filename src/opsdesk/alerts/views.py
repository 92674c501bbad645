"""The alerts pages: alerts and their groups (read-only: processing writes them), integrations (the URL to
paste, the key shown once, rotate key, send a test alert), routes, silences and maintenance windows.
Views are thin: parse, authorize, call alerts/services.py or alerts/integrations.py."""

from __future__ import annotations

import datetime
import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.permissions import has_role
from opsdesk.core.views import (
    Column,
    RecordDetailView,
    RecordFormView,
    RecordListView,
    RecordUI,
    RoleView,
    UIView,
    _add_errors,
    badge,
)
from opsdesk.core.workflow import TransitionNotAllowed

from . import integrations, services
from .filters import (
    AlertFilterSet,
    AlertGroupFilterSet,
    IntegrationFilterSet,
    MaintenanceWindowFilterSet,
    RouteFilterSet,
    SilenceFilterSet,
)
from .forms import IntegrationForm, MaintenanceWindowForm, RouteForm, SilenceForm
from .models import Alert, AlertGroup, Integration, MaintenanceWindow, Route, Silence

SEVERITY_STYLES = {"critical": "danger", "error": "danger", "warning": "warning", "info": "info"}
STATUS_STYLES = {"firing": "danger", "resolved": "success"}
SILENCE_STYLES = {"active": "primary", "pending": "info", "expired": "secondary"}
WINDOW_STYLES = {"now": "warning", "upcoming": "info", "past": "secondary", "cancelled": "secondary"}
LABELS_SHOWN = 4
GROUP_ALERTS_SHOWN = 200


def when(moment):
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    return format_html('<time datetime="{}">{}</time>', moment.isoformat(), local.strftime("%Y-%m-%d %H:%M"))


def severity_badge(severity: str, label: str = ""):
    if not severity:
        return ""
    return badge(label or severity, SEVERITY_STYLES.get(severity, "secondary"))


def matcher_text(matchers) -> str:
    return ", ".join(f'{m.get("label")}{m.get("op", "=")}"{m.get("value", "")}"' for m in matchers or [])


def matchers_html(matchers):
    if not matchers:
        return format_html('<span class="text-body-tertiary">{}</span>', _("any labels"))
    return format_html_join(" ", '<code class="label-chip">{}{}"{}"</code>',
                            ((m.get("label"), m.get("op", "="), m.get("value", "")) for m in matchers))


def labels_html(labels: dict, limit: int | None = None):
    items = sorted((labels or {}).items())
    more = len(items) - limit if limit and len(items) > limit else 0
    chips = format_html_join(" ", '<span class="label-chip">{}={}</span>', items[:limit] if limit else items)
    return format_html('{} <span class="text-body-tertiary small">+{}</span>', chips, more) if more else chips


def heartbeat_status(integration: Integration, now=None) -> dict:
    """What the integrations list and page say about heartbeats: (state, text, style)."""
    now = now or timezone.now()
    if not integration.heartbeat_interval_minutes:
        return {"state": "off", "text": _("not expected"), "style": "light"}
    if integration.heartbeat_due_at and integration.heartbeat_due_at <= now:
        since = integration.last_heartbeat_at
        text = _("missing since %(at)s") % {"at": timezone.localtime(since).strftime("%Y-%m-%d %H:%M")} \
            if since else _("none received yet")
        return {"state": "missing", "text": text, "style": "danger"}
    if integration.last_heartbeat_at is None:
        return {"state": "waiting", "text": _("waiting for the first"), "style": "info"}
    return {"state": "ok", "text": _("OK, last %(at)s") % {
        "at": timezone.localtime(integration.last_heartbeat_at).strftime("%Y-%m-%d %H:%M")}, "style": "success"}


class AlertsFormView(RecordFormView):
    """The core form page, with the alerts app's script (the matcher editor's "Add a row")."""

    def render_form(self, form, status=200):
        urls = self.ui.record_urls(self.record) if self.record else self.ui.list_urls()
        return render(self.request, "alerts/form.html",
                      {"ui": self.ui, "urls": urls, "form": form, "record": self.record}, status=status)


class AlertsRecordUI(RecordUI):
    """The rule pages of the app: the core record pages with the app's list and form templates."""

    namespace = "alerts"
    list_template = "alerts/list.html"
    form_view = AlertsFormView

    @classmethod
    def urls(cls):
        p, n = cls.path_prefix, cls.url_prefix
        patterns = [pattern for pattern in super().urls() if pattern.name not in (f"{n}create", f"{n}edit")]
        return [path(f"{p}new/", cls.form_view.as_view(ui=cls), name=f"{n}create"),
                path(f"{p}<int:pk>/edit/", cls.form_view.as_view(ui=cls), name=f"{n}edit"), *patterns]


# --- alerts -------------------------------------------------------------------------------------------------

class AlertUI(RecordUI):
    model = Alert
    namespace = "alerts"
    url_prefix = "alert_"
    filterset_class = AlertFilterSet
    search_fields = ("summary", "source", "fingerprint")
    default_sort = "-last_seen_at"
    list_template = "alerts/list.html"
    panel_filters = ("status", "severity", "integration", "suppressed", "flapping", "label", "incident")
    columns = [
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("severity", gettext_lazy("Severity"), sort="severity"),
        Column("summary", gettext_lazy("Alert")),
        Column("integration", gettext_lazy("Integration"), sort="integration__name"),
        Column("repeat_count", gettext_lazy("Repeats"), sort="repeat_count"),
        Column("incident", gettext_lazy("Incident")),
        Column("last_seen_at", gettext_lazy("Last seen"), sort="last_seen_at"),
    ]

    @classmethod
    def queryset(cls):
        return Alert.objects.select_related("integration", "group__incident").defer(
            "state_changes", "annotations", "integration__description", "integration__imap_password",
            "integration__hmac_secret", "group__group_key", "group__incident__description")

    def render_status(self, alert):
        shown = badge(alert.get_status_display(), STATUS_STYLES.get(alert.status, "secondary"))
        if alert.flapping:
            shown = format_html('{} {}', shown, badge(_("flapping"), "warning"))
        if alert.suppressed:
            shown = format_html('{} {}', shown, badge(_("silenced") if alert.suppressed == "silence"
                                                      else _("in maintenance"), "secondary"))
        return shown

    def text_status(self, alert):
        return alert.status

    def render_severity(self, alert):
        return severity_badge(alert.severity, alert.get_severity_display())

    def text_severity(self, alert):
        return alert.severity

    def render_summary(self, alert):
        return format_html('<a class="fw-semibold" href="{}">{}</a><div class="small alert-labels">{}</div>',
                           alert.get_absolute_url(), str(alert)[:200], labels_html(alert.labels, LABELS_SHOWN))

    def text_summary(self, alert):
        return str(alert)

    def render_integration(self, alert):
        return alert.integration.name

    def render_incident(self, alert):
        incident = alert.group.incident if alert.group_id and alert.group.incident_id else None
        if incident is None:
            return ""
        return format_html('<a href="{}">{}</a>', incident.get_absolute_url(), incident.number)

    def text_incident(self, alert):
        return alert.group.incident.number if alert.group_id and alert.group.incident_id else ""

    def render_last_seen_at(self, alert):
        return when(alert.last_seen_at)

    def text_last_seen_at(self, alert):
        return alert.last_seen_at.isoformat()


def pretty_payload(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False, sort_keys=False)
    except ValueError:
        return body


class AlertDetailView(UIView):
    ui = AlertUI

    def get(self, request, pk):
        if not has_role(request.user, "viewer"):
            raise PermissionDenied
        alert = get_object_or_404(Alert.objects.select_related(
            "integration", "group__incident", "group__route", "ci", "silence", "maintenance", "last_payload"), pk=pk)
        payload = alert.last_payload
        retention = alert.integration.payload_retention_days
        context = {
            "ui": AlertUI, "urls": AlertUI.list_urls(), "alert": alert, "record": alert,
            "labels": sorted(alert.labels.items()), "annotations": sorted(alert.annotations.items()),
            "payload": payload, "payload_text": pretty_payload(payload.body) if payload else "",
            "retention_days": retention,
            "payload_kept_until": payload.received_at + datetime.timedelta(days=retention) if payload else None,
            "state_changes": alert.state_changes[-10:],
            "can_silence": has_role(request.user, SilenceUI.create_role),
            "silence_url": f"{reverse('alerts:silence_create')}?alert={alert.pk}",
            "severity_badge": severity_badge(alert.severity, alert.get_severity_display()),
            "status_badge": AlertUI().render_status(alert),
        }
        return render(request, "alerts/alert_detail.html", context)


# --- alert groups ---------------------------------------------------------------------------------------------

class AlertGroupUI(RecordUI):
    model = AlertGroup
    namespace = "alerts"
    path_prefix = "groups/"
    url_prefix = "group_"
    list_template = "alerts/list.html"
    filterset_class = AlertGroupFilterSet
    search_fields = ("title",)
    default_sort = "-last_alert_at"
    columns = [
        Column("title", gettext_lazy("Group")),
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("severity", gettext_lazy("Severity"), sort="severity"),
        Column("integration", gettext_lazy("Integration"), sort="integration__name"),
        Column("incident", gettext_lazy("Incident")),
        Column("counts", gettext_lazy("Alerts (firing)"), sort="alert_count"),
        Column("last_alert_at", gettext_lazy("Last alert"), sort="last_alert_at"),
    ]

    @classmethod
    def label_plural(cls):
        return _("Alert groups")

    @classmethod
    def queryset(cls):
        return AlertGroup.objects.select_related("integration", "incident").defer(
            "group_key", "integration__description", "integration__imap_password", "integration__hmac_secret",
            "incident__description")

    def render_title(self, group):
        return format_html('<a class="fw-semibold" href="{}">{}</a>', reverse("alerts:group_detail", args=[group.pk]),
                           str(group)[:200])

    def text_title(self, group):
        return str(group)

    def render_status(self, group):
        shown = badge(group.get_status_display(), STATUS_STYLES.get(group.status, "secondary"))
        if group.suppressed:
            shown = format_html('{} {}', shown, badge(group.get_suppressed_display(), "secondary"))
        return shown

    def render_severity(self, group):
        return severity_badge(group.severity, group.get_severity_display())

    def render_integration(self, group):
        return group.integration.name

    def render_incident(self, group):
        if group.incident_id is None:
            return ""
        return format_html('<a href="{}">{}</a> <span class="small text-body-secondary">{}</span>',
                           group.incident.get_absolute_url(), group.incident.number,
                           group.incident.get_status_display())

    def text_incident(self, group):
        return group.incident.number if group.incident_id else ""

    def render_counts(self, group):
        return format_html('<a href="{}?group={}">{}</a> ({})', reverse("alerts:alert_list"), group.pk,
                           group.alert_count, group.firing_count)

    def text_counts(self, group):
        return f"{group.alert_count} ({group.firing_count})"

    def render_last_alert_at(self, group):
        return when(group.last_alert_at)

    def text_last_alert_at(self, group):
        return group.last_alert_at.isoformat()


class AlertGroupListView(RecordListView):
    """Open groups unless the query string says otherwise."""

    def get(self, request):
        if not request.GET:
            request.GET = QueryDict("open=true")
        return super().get(request)


class AlertGroupDetailView(UIView):
    ui = AlertGroupUI

    def get(self, request, pk):
        if not has_role(request.user, "viewer"):
            raise PermissionDenied
        group = get_object_or_404(AlertGroup.objects.select_related("integration", "incident", "route"), pk=pk)
        alerts = list(group.alerts.select_related("ci").defer("state_changes", "annotations")
                      .order_by("-last_seen_at", "-id")[:GROUP_ALERTS_SHOWN])
        ui = AlertUI()
        return render(request, "alerts/group_detail.html", {
            "ui": AlertGroupUI, "urls": AlertGroupUI.list_urls(), "group": group, "record": group,
            "alerts": [(alert, ui.render_status(alert), severity_badge(alert.severity, alert.get_severity_display()),
                        labels_html(alert.labels, LABELS_SHOWN)) for alert in alerts],
            "more": group.alert_count > len(alerts),
            "alerts_url": f"{reverse('alerts:alert_list')}?group={group.pk}",
        })


# --- integrations -------------------------------------------------------------------------------------------

def alertmanager_snippet(url: str, name: str) -> str:
    """A receiver for alertmanager.yml: send resolved alerts too, so incidents resolve."""
    return (f"receivers:\n  - name: opsdesk-{name}\n    webhook_configs:\n      - url: '{url}'\n"
            "        send_resolved: true\n        max_alerts: 0\n")


class IntegrationUI(AlertsRecordUI):
    model = Integration
    path_prefix = "integrations/"
    url_prefix = "integration_"
    filterset_class = IntegrationFilterSet
    form_class = IntegrationForm
    search_fields = ("name", "description", "key_prefix")
    default_sort = "name"
    create_role = "manager"
    edit_role = "manager"
    select_related = ("team", "service")
    detail_template = "alerts/integration_detail.html"
    create_service = staticmethod(integrations.create_integration)
    update_service = staticmethod(integrations.update_integration)
    columns = [
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("kind", gettext_lazy("Kind"), sort="kind"),
        Column("enabled", gettext_lazy("Enabled"), sort="enabled"),
        Column("last_alert_at", gettext_lazy("Last alert"), sort="last_alert_at"),
        Column("heartbeat", gettext_lazy("Heartbeat")),
        Column("team", gettext_lazy("Default team"), sort="team__name"),
    ]
    detail_fields = ["kind", "enabled", "description", "team", "service", "grouping_template", "severity_map",
                     "ci_labels", "auto_resolve", "reopen_window_minutes", "flapping", "payload_retention_days",
                     "heartbeat_interval_minutes", "checks", "imap"]

    def render_enabled(self, integration):
        return _("Yes") if integration.enabled else _("No")

    def render_last_alert_at(self, integration):
        return when(integration.last_alert_at) or format_html('<span class="text-body-tertiary">{}</span>',
                                                              _("never"))

    def text_last_alert_at(self, integration):
        return integration.last_alert_at.isoformat() if integration.last_alert_at else ""

    def render_heartbeat(self, integration):
        status = heartbeat_status(integration)
        return badge(status["text"], status["style"])

    def text_heartbeat(self, integration):
        return heartbeat_status(integration)["state"]

    def render_severity_map(self, integration):
        mapping = integration.severity_map or {}
        return ", ".join(f"{severity} → {priority}" for severity, priority in mapping.items()) or \
            _("default (critical P1, error P2, warning P3, info P4)")

    render_severity_map.label = gettext_lazy("Priority per severity")

    def render_ci_labels(self, integration):
        return ", ".join(integration.ci_labels or []) or _("default (instance, host, hostname, ci)")

    render_ci_labels.label = gettext_lazy("CI labels")

    def render_grouping_template(self, integration):
        return format_html("<code>{}</code>", integration.grouping_template) if integration.grouping_template \
            else _("Alertmanager's groupKey (other kinds: the dedup key or fingerprint)")

    render_grouping_template.label = gettext_lazy("Grouping key")

    def render_flapping(self, integration):
        return _("more than %(n)s state changes in %(m)s minutes") % {"n": integration.flapping_changes,
                                                                     "m": integration.flapping_window_minutes}

    render_flapping.label = gettext_lazy("Flapping")

    def render_checks(self, integration):
        checks = [_("HMAC signature") if integration.hmac_secret else "",
                  _("bearer token") if integration.bearer_token_hash else ""]
        return ", ".join(c for c in checks if c) or _("the key in the URL only")

    render_checks.label = gettext_lazy("Request checks")

    def render_imap(self, integration):
        if integration.kind != "email":
            return ""
        return f"{integration.imap_username}@{integration.imap_host}:{integration.imap_port or ''} " \
               f"{integration.imap_folder} ({'TLS' if integration.imap_ssl else _('no TLS')})"

    render_imap.label = gettext_lazy("Mailbox")

    def detail_rows(self, record):
        return [(label, value) for label, value in super().detail_rows(record) if value not in ("", None)]

    def extra_context(self, record, user) -> dict:
        recent = list(record.alerts.defer("state_changes", "annotations").order_by("-last_seen_at", "-id")[:10])
        return {
            "integration": record,
            "masked_url": masked_url(record),
            "heartbeat_url": masked_url(record, "heartbeat"),
            "heartbeat": heartbeat_status(record),
            "recent_alerts": recent,
            "alerts_url": f"{reverse('alerts:alert_list')}?integration={record.pk}",
            "can_manage": has_role(user, "manager"),
            "http_kind": record.kind in integrations.HTTP_KINDS,
        }

    @classmethod
    def urls(cls):
        p, n = cls.path_prefix, cls.url_prefix
        return [path(f"{p}<int:pk>/rotate-key/", RotateKeyView.as_view(), name=f"{n}rotate_key"),
                path(f"{p}<int:pk>/new-key/", NewKeyView.as_view(), name=f"{n}new_key"),
                path(f"{p}<int:pk>/test/", SendTestAlertView.as_view(), name=f"{n}test"), *super().urls()]


def masked_url(integration: Integration, kind: str | None = None) -> str:
    """The URL with the key's first characters only ("…/alertmanager/AbCd1234…/")."""
    return integrations.ingest_url(integration, "KEY", kind).replace("/KEY/", f"/{integration.key_prefix}…/")


def render_with_key(request, integration: Integration, key: str, status: int = 200):
    """The integration's page with its full URL, once: after create and after rotate."""
    view = RecordDetailView(request=request, ui=IntegrationUI)
    context = view.context(IntegrationUI(), integration, "details")
    url = integrations.ingest_url(integration, key)
    context.update(new_key=key, new_url=url, new_heartbeat_url=integrations.ingest_url(integration, key, "heartbeat"),
                   snippet=alertmanager_snippet(url, integration.name.lower().replace(" ", "-")))
    return render(request, IntegrationUI.detail_template, context, status=status)


NEW_KEY_SESSION = "alerts_new_key_%s"


def show_key_once(request, integration: Integration, key: str):
    """Post/redirect/get for a new key: the key waits in the person's session and the next GET of the key
    page takes it out, so reloading the page neither creates a second integration nor rotates again,
    and the key is not shown a second time."""
    request.session[NEW_KEY_SESSION % integration.pk] = key
    return redirect("alerts:integration_new_key", pk=integration.pk, permanent=False)


class NewKeyView(RoleView):
    role = "manager"

    def get(self, request, pk):
        integration = get_object_or_404(Integration, pk=pk)
        key = request.session.pop(NEW_KEY_SESSION % pk, None)
        if key is None or integrations.integration_for_key(key) != integration:
            messages.info(request, _("The key is shown only once. Rotate it to get a new URL."))
            return redirect(integration.get_absolute_url())
        return render_with_key(request, integration, key)


class IntegrationFormView(AlertsFormView):
    def post(self, request, **kwargs):
        form = self.ui.form_class(request.POST, instance=self.record)
        if not form.is_valid():
            return self.render_form(form, status=422)
        data, bearer = form.service_data(), form.bearer_token_change()
        actor = self.actor()
        key = None
        try:
            with transaction.atomic():
                if self.record is None:
                    integration, key = integrations.create_integration(actor=actor, data=data)
                else:
                    integration = integrations.update_integration(self.record, actor=actor, data=data)
                if bearer is not None and (bearer or integration.bearer_token_hash):
                    integration = integrations.set_bearer_token(integration, actor=actor, token=bearer)
        except ValidationError as exc:
            _add_errors(form, exc)
            return self.render_form(form, status=422)
        if key is not None:
            messages.success(request, _("%(record)s was created. Copy its URL now: the key is shown only once.")
                             % {"record": integration})
            return show_key_once(request, integration, key)
        messages.success(request, _("%(record)s was saved.") % {"record": integration})
        return redirect(integration.get_absolute_url())


IntegrationUI.form_view = IntegrationFormView


class RotateKeyView(RoleView):
    role = "manager"

    def post(self, request, pk):
        integration = get_object_or_404(Integration, pk=pk)
        key = integrations.rotate_key(integration, actor=self.actor())
        integration.refresh_from_db()
        messages.success(request, _("The key was replaced; the old URL no longer works. Copy the new one now."))
        return show_key_once(request, integration, key)


class SendTestAlertView(RoleView):
    role = "manager"

    def post(self, request, pk):
        integration = get_object_or_404(Integration, pk=pk)
        try:
            integrations.send_test_alert(integration, actor=self.actor())
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(integration.get_absolute_url())
        messages.success(request, _("A test alert was sent to %(name)s. It is listed below once processed.")
                         % {"name": integration})
        return redirect(f"{reverse('alerts:alert_list')}?integration={integration.pk}")


# --- routes -----------------------------------------------------------------------------------------------

class RouteUI(AlertsRecordUI):
    model = Route
    path_prefix = "routes/"
    url_prefix = "route_"
    filterset_class = RouteFilterSet
    form_class = RouteForm
    search_fields = ("name", "source_pattern")
    default_sort = "order"
    create_role = "manager"
    edit_role = "manager"
    select_related = ("integration", "service", "team", "escalation_policy")
    detail_template = "alerts/route_detail.html"
    create_service = staticmethod(services.create_route)
    update_service = staticmethod(services.update_route)
    columns = [
        Column("order", gettext_lazy("Order"), sort="order"),
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("conditions", gettext_lazy("When")),
        Column("target", gettext_lazy("Then")),
        Column("enabled", gettext_lazy("Enabled"), sort="enabled"),
    ]
    detail_fields = ["order", "enabled", "integration", "matchers", "severities", "source_pattern", "service", "team",
                     "escalation_policy", "priority"]

    def render_conditions(self, route):
        parts = [matchers_html(route.matchers)]
        if route.integration_id:
            parts.append(format_html("{} {}", _("from"), route.integration.name))
        if route.severities:
            parts.append(format_html("{} {}", _("severity"), ", ".join(route.severities)))
        if route.source_pattern:
            parts.append(format_html('{} <code>{}</code>', _("source ~"), route.source_pattern))
        return format_html_join(" · ", "{}", ((p,) for p in parts))

    def text_conditions(self, route):
        return "; ".join(filter(None, [matcher_text(route.matchers), ",".join(route.severities or []),
                                       route.source_pattern]))

    def render_target(self, route):
        parts = [(_("service"), route.service.name if route.service_id else ""),
                 (_("team"), route.team.name if route.team_id else ""),
                 (_("policy"), route.escalation_policy.name if route.escalation_policy_id else ""),
                 (_("priority"), route.priority)]
        return ", ".join(f"{label} {value}" for label, value in parts if value) or _("the integration's defaults")

    text_target = render_target

    def render_enabled(self, route):
        return _("Yes") if route.enabled else _("No")

    def render_matchers(self, route):
        return matchers_html(route.matchers)

    render_matchers.label = gettext_lazy("Label matchers")

    def render_severities(self, route):
        return ", ".join(route.severities or []) or _("any")

    render_severities.label = gettext_lazy("Severities")

    def render_integration(self, route):
        return route.integration.name if route.integration_id else _("any")

    render_integration.label = gettext_lazy("Only from integration")

    def extra_context(self, record, user) -> dict:
        return {"can_delete": has_role(user, self.edit_role),
                "delete_url": reverse("alerts:route_delete", args=[record.pk])}


class DeleteRouteView(RoleView):
    role = "manager"

    def post(self, request, pk):
        route = get_object_or_404(Route, pk=pk)
        services.delete_route(route, actor=self.actor())
        messages.success(request, _("The route %(name)s was deleted.") % {"name": route.name})
        return redirect("alerts:route_list")


# --- silences -------------------------------------------------------------------------------------------------

class SilenceUI(AlertsRecordUI):
    model = Silence
    path_prefix = "silences/"
    url_prefix = "silence_"
    filterset_class = SilenceFilterSet
    form_class = SilenceForm
    search_fields = ("comment",)
    default_sort = "-starts_at"
    create_role = "responder"
    edit_role = "responder"
    select_related = ("integration", "created_by")
    detail_template = "alerts/silence_detail.html"
    create_service = staticmethod(services.create_silence)
    update_service = staticmethod(services.update_silence)
    columns = [
        Column("state", gettext_lazy("State")),
        Column("matchers", gettext_lazy("Matchers")),
        Column("comment", gettext_lazy("Comment")),
        Column("starts_at", gettext_lazy("Starts"), sort="starts_at"),
        Column("ends_at", gettext_lazy("Ends"), sort="ends_at"),
        Column("created_by", gettext_lazy("Created by"), sort="created_by__username"),
    ]
    detail_fields = ["state", "matchers", "comment", "integration", "starts_at", "ends_at", "expired_early_at",
                     "created_by"]

    @classmethod
    def label_plural(cls):
        return _("Silences")

    def render_state(self, silence):
        state = services.silence_state(silence)
        return badge(dict(SILENCE_LABELS)[state], SILENCE_STYLES[state])

    render_state.label = gettext_lazy("State")

    def text_state(self, silence):
        return services.silence_state(silence)

    def render_matchers(self, silence):
        return format_html('<a href="{}">{}</a>', silence.get_absolute_url(), matchers_html(silence.matchers))

    def text_matchers(self, silence):
        return matcher_text(silence.matchers)

    def render_comment(self, silence):
        return silence.comment[:200]

    def render_starts_at(self, silence):
        return when(silence.starts_at)

    def render_ends_at(self, silence):
        return when(silence.expired_early_at or silence.ends_at)

    def render_expired_early_at(self, silence):
        return when(silence.expired_early_at)

    render_expired_early_at.label = gettext_lazy("Ended by hand")

    def render_created_by(self, silence):
        return silence.created_by.username if silence.created_by_id else ""

    render_created_by.label = gettext_lazy("Created by")

    def render_integration(self, silence):
        return silence.integration.name if silence.integration_id else _("any")

    render_integration.label = gettext_lazy("Only from integration")

    def form_kwargs(self, request, record) -> dict:
        """`?alert=<id>`: a new silence prefilled with that alert's labels ("silence alerts like this")."""
        alert_id = request.GET.get("alert", "")
        if record is not None or not alert_id.isdigit():
            return {}
        alert = Alert.objects.filter(pk=int(alert_id)).only("labels", "integration_id", "summary").first()
        if alert is None:
            return {}
        matchers = [{"label": k, "op": "=", "value": v} for k, v in sorted(alert.labels.items())]
        return {"initial": {"matchers": matchers, "integration": alert.integration_id,
                            "comment": _("Silenced from the alert “%(alert)s”.") % {"alert": str(alert)[:150]}}}

    def extra_context(self, record, user) -> dict:
        state = services.silence_state(record)
        return {"state": state, "can_expire": state != "expired" and has_role(user, self.edit_role),
                "expire_url": reverse("alerts:silence_expire", args=[record.pk]),
                "silenced_count": record.alerts.count(),
                "alerts_url": f"{reverse('alerts:alert_list')}?silence={record.pk}"}


SILENCE_LABELS = [("active", gettext_lazy("active")), ("pending", gettext_lazy("pending")),
                  ("expired", gettext_lazy("expired"))]


class ExpireSilenceView(RoleView):
    role = "responder"

    def post(self, request, pk):
        silence = get_object_or_404(Silence, pk=pk)
        try:
            services.expire_silence(silence, actor=self.actor())
            messages.success(request, _("The silence was expired; matching alerts page again."))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return redirect(silence.get_absolute_url())


# --- maintenance windows --------------------------------------------------------------------------------------

class MaintenanceWindowUI(AlertsRecordUI):
    model = MaintenanceWindow
    path_prefix = "maintenance/"
    url_prefix = "maintenance_"
    filterset_class = MaintenanceWindowFilterSet
    form_class = MaintenanceWindowForm
    search_fields = ("title", "description")
    default_sort = "-starts_at"
    create_role = "responder"
    edit_role = "responder"
    select_related = ("created_by",)
    detail_template = "alerts/maintenance_detail.html"
    create_service = staticmethod(services.create_maintenance_window)
    update_service = staticmethod(services.update_maintenance_window)
    columns = [
        Column("state", gettext_lazy("State")),
        Column("title", gettext_lazy("Title"), sort="title", link=True),
        Column("starts_at", gettext_lazy("Starts"), sort="starts_at"),
        Column("ends_at", gettext_lazy("Ends"), sort="ends_at"),
        Column("scope", gettext_lazy("Services and CIs")),
    ]
    detail_fields = ["state", "starts_at", "ends_at", "services", "cis", "description", "cancelled_at"]

    @classmethod
    def queryset(cls):
        return MaintenanceWindow.objects.select_related("created_by").prefetch_related(
            Prefetch("services", queryset=MaintenanceWindow.services.rel.model.objects.only("id", "slug", "name")),
            Prefetch("cis", queryset=MaintenanceWindow.cis.rel.model.objects.only("id", "number", "name")))

    def render_state(self, window):
        state = services.window_state(window)
        return badge(dict(WINDOW_LABELS)[state], WINDOW_STYLES[state])

    render_state.label = gettext_lazy("State")

    def text_state(self, window):
        return services.window_state(window)

    def render_starts_at(self, window):
        return when(window.starts_at)

    def render_ends_at(self, window):
        return when(window.ends_at)

    def render_cancelled_at(self, window):
        return when(window.cancelled_at)

    def render_scope(self, window):
        names = [s.name for s in window.services.all()] + [f"{ci.number} {ci.name}" for ci in window.cis.all()]
        return ", ".join(names[:6]) + (f" +{len(names) - 6}" if len(names) > 6 else "")

    text_scope = render_scope

    def render_cis(self, window):
        return format_html_join(", ", '<a href="{}">{}</a> {}', ((ci.get_absolute_url(), ci.number, ci.name)
                                                                   for ci in window.cis.all()))

    render_cis.label = gettext_lazy("Configuration items")

    def render_services(self, window):
        return format_html_join(", ", '<a href="{}">{}</a>', ((s.get_absolute_url(), s.name)
                                                               for s in window.services.all()))

    render_services.label = gettext_lazy("Services")

    def extra_context(self, record, user) -> dict:
        state = services.window_state(record)
        return {"state": state, "can_cancel": state in ("now", "upcoming") and has_role(user, self.edit_role),
                "cancel_url": reverse("alerts:maintenance_cancel", args=[record.pk]),
                "suppressed_count": record.alerts.count(),
                "alerts_url": f"{reverse('alerts:alert_list')}?maintenance={record.pk}"}


WINDOW_LABELS = [("now", gettext_lazy("in progress")), ("upcoming", gettext_lazy("upcoming")),
                 ("past", gettext_lazy("past")), ("cancelled", gettext_lazy("cancelled"))]


class CancelMaintenanceView(RoleView):
    role = "responder"

    def post(self, request, pk):
        window = get_object_or_404(MaintenanceWindow, pk=pk)
        try:
            services.cancel_maintenance_window(window, actor=self.actor())
            messages.success(request, _("The maintenance window was cancelled."))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return redirect(window.get_absolute_url())


def alert_urls():
    return [
        path("", RecordListView.as_view(ui=AlertUI), name="alert_list"),
        path("<int:pk>/", AlertDetailView.as_view(), name="alert_detail"),
        path("groups/", AlertGroupListView.as_view(ui=AlertGroupUI), name="group_list"),
        path("groups/<int:pk>/", AlertGroupDetailView.as_view(), name="group_detail"),
        path("routes/<int:pk>/delete/", DeleteRouteView.as_view(), name="route_delete"),
        path("silences/<int:pk>/expire/", ExpireSilenceView.as_view(), name="silence_expire"),
        path("maintenance/<int:pk>/cancel/", CancelMaintenanceView.as_view(), name="maintenance_cancel"),
    ]

