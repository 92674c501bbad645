"""The incident pages: the queue (saved views, filters, SLA countdowns sorted by time to breach, bulk
assign, quick actions by htmx, news of new incidents) and the detail page (priority and SLA header,
actions as they are allowed, the affected services from the CMDB, similar incidents). Views are thin:
they parse, authorize and call incidents/services.py."""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, prefetch_related_objects
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.accounts.models import Membership
from opsdesk.core.markup import render_safe
from opsdesk.core.permissions import can
from opsdesk.core.views import Column, RecordUI, badge
from opsdesk.sla import services as sla

from . import report_views, rule_views, selectors, services
from .filters import IncidentFilterSet
from .forms import BulkAssignForm, IncidentForm, ResolveForm
from .models import Incident
from .workflows import INCIDENT_WORKFLOW, OPEN_STATES

PRIORITY_STYLES = {"P1": "danger", "P2": "warning", "P3": "primary", "P4": "secondary", "P5": "light"}
STATUS_STYLES = {"new": "info", "acknowledged": "primary", "in_progress": "primary", "on_hold": "warning",
                 "resolved": "success", "closed": "secondary", "cancelled": "secondary"}
SLA_CSS = {"green": "sla-green", "amber": "sla-amber", "red": "sla-red", "grey": "sla-grey"}
SHORT_METRICS = {"acknowledge": gettext_lazy("Ack"), "resolve": gettext_lazy("Resolve")}
BREACHING_MINUTES = 60
VIEW_COUNTS_SECONDS = 30
IMPACT_SHOWN = 10


# --- SLA countdowns -----------------------------------------------------------------------------------

def duration_text(seconds: float, *, business: bool = False) -> str:
    """"3d 4h", "2h 14m", "35m", "<1m": what fits a queue cell (incidents.js writes the same). Business
    time is counted in working hours, never in days: 40 business hours are "40h", not "1d 16h"."""
    minutes = int(abs(seconds) // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if business:
        days, hours = 0, minutes // 60
    if days:
        return _("%(d)sd %(h)sh") % {"d": days, "h": hours}
    if hours:
        return _("%(h)sh %(m)sm") % {"h": hours, "m": mins}
    if mins:
        return _("%(m)sm") % {"m": mins}
    return _("<1m")


def countdown(timer, now) -> dict | None:
    """A timer as the pages show it: text, colour, and for a running clock its due instant, from which
    incidents.js keeps the text current between page loads. None for a cancelled clock."""
    state = sla.timer_state(timer, now)
    if state["state"] == "cancelled":
        return None
    colour = state["colour"]
    due = state["due_at"]
    if state["state"] == "running" and due is not None:
        if due > now and not state["breached"]:
            text = _("%(t)s left") % {"t": duration_text((due - now).total_seconds())}
        else:
            since = state.get("breached_at") or due
            text = _("breached %(t)s ago") % {"t": duration_text((now - since).total_seconds())}
            colour = "red"
    elif state["state"] == "paused":
        business = state["business_time"]
        left = duration_text(max(0, state["remaining_seconds"]), business=business)
        text = _("paused, breached") if state["breached"] else \
            (_("paused, %(t)s of working time left") if business else _("paused, %(t)s left")) % {"t": left}
    else:  # stopped
        text = _("missed") if state["breached"] else _("met")
        colour = "grey"
    # Under the bar: when it is due, or what it took (business time when the clock counts only that).
    if state["state"] == "running" and due is not None:
        detail = _("due %(at)s · %(p)s%% used") % {"at": timezone.localtime(due).strftime("%a %d %b %H:%M"),
                                                  "p": int(state["percent"])}
    else:
        business = state["business_time"]
        detail = (_("%(took)s of %(goal)s working time") if business else _("%(took)s of %(goal)s")) % {
            "took": duration_text(state["elapsed_seconds"], business=business),
            "goal": duration_text(state["goal_seconds"], business=business)}
    return {**state, "text": text, "detail": detail, "css": SLA_CSS.get(colour, "sla-grey"), "colour": colour,
            "short": SHORT_METRICS.get(state["metric"], state["label"]),
            "running": state["state"] == "running" and due is not None,
            "percent_shown": max(0, min(100, state["percent"]))}


def countdowns(timers, now) -> list[dict]:
    return [shown for shown in (countdown(t, now) for t in timers) if shown is not None]


# --- the queue ------------------------------------------------------------------------------------------

class QueueQuerySet(QuerySet):
    """Sorting by `sla_due_at` (time to breach) sorts by `sla_rank_at`, its never-NULL twin: incidents
    without a running clock come last, and one index serves the order on every database."""

    def order_by(self, *fields):
        return super().order_by(*(name.replace("sla_due_at", "sla_rank_at") if isinstance(name, str) else name
                                   for name in fields))


def saved_views() -> list[tuple[str, str, dict]]:
    """The tabs above the queue: (key, label, query)."""
    return [
        ("mine", _("My incidents"), {"assignee": "me", "open": "true"}),
        ("team", _("My team's"), {"assignment_group": "mine", "open": "true"}),
        ("unassigned", _("Unassigned"), {"unassigned": "true", "open": "true"}),
        ("breaching", _("Breaching soon"), {"breaching_within": str(BREACHING_MINUTES), "open": "true"}),
        ("major", _("Major"), {"major": "true", "open": "true"}),
        ("open", _("All open"), {"open": "true"}),
        ("all", _("All"), {}),
    ]


def _filter_params(params) -> dict:
    return {k: sorted(v) for k, v in params.lists() if k not in {"page", "sort", "per_page", "since"} and any(v)}


def views_context(request, *, counts: bool) -> dict:
    """The saved views with the current one marked; with `counts`, how many open incidents each holds
    (one query of conditional counts)."""
    current = _filter_params(request.GET)
    found = {}
    if counts:
        user = request.user
        # One pass over the open incidents per user and half-minute at most: every open queue page asks.
        key = f"incidents:view-counts:{user.pk}"
        found = cache.get(key)
        if found is None:
            now = timezone.now()
            teams = Membership.objects.filter(user=user).values("team_id")
            found = Incident.objects.filter(status__in=OPEN_STATES).aggregate(
                mine=Count("id", filter=Q(assignee=user)), team=Count("id", filter=Q(assignment_group__in=teams)),
                unassigned=Count("id", filter=Q(assignee__isnull=True)),
                breaching=Count("id", filter=Q(sla_due_at__lte=now + datetime.timedelta(minutes=BREACHING_MINUTES))),
                major=Count("id", filter=Q(major_status="major")), open=Count("id"))
            cache.set(key, found, VIEW_COUNTS_SECONDS)
    views = []
    for key, label, query in saved_views():
        views.append({"key": key, "label": label, "url": f"?{urlencode(query)}" if query else "?",
                      "active": current == {k: [v] for k, v in query.items()}, "count": found.get(key)})
    # `counted`: the tabs carry counts, so they refresh once a minute instead of loading them again at once.
    return {"saved_views": views, "views_query": request.GET.urlencode(), "counted": counts}


def my_teams(user) -> set[int]:
    return set(Membership.objects.filter(user=user).values_list("team_id", flat=True))


def row_actions(user, incident, teams: set[int]) -> dict:
    """Which quick actions the row offers this user; "take" only where the user may be the assignee
    (a member of the incident's team, or any responder when it has no team yet)."""
    if not incident.is_open:
        return {}
    responder = can(user, "responder", incident)
    return {"acknowledge": responder and incident.status == "new",
            "take": responder and incident.assignee_id != user.pk
            and (incident.assignment_group_id is None or incident.assignment_group_id in teams),
            "resolve": responder}


class IncidentUI(RecordUI):
    model = Incident
    namespace = "incidents"
    filterset_class = IncidentFilterSet
    form_class = IncidentForm
    workflow = INCIDENT_WORKFLOW
    search_fields = ("title",)
    select_related = ("service", "assignment_group", "assignee", "category", "subcategory")
    default_sort = "sla_due_at"
    read_only_states = services.READ_ONLY_STATES
    create_role = "responder"
    edit_role = "responder"
    comment_role = "responder"
    list_template = "incidents/list.html"
    table_template = "incidents/_table.html"
    detail_template = "incidents/detail.html"
    bulk_form_class = BulkAssignForm
    bulk_update_service = staticmethod(services.bulk_assign)
    create_service = staticmethod(services.create_incident)
    update_service = staticmethod(services.update_incident)
    transition_service = staticmethod(services.transition_incident)
    panel_filters = ("open", "status", "priority", "category", "assignment_group", "assignee", "unassigned", "major",
                     "breaching_within", "breached", "service", "ci", "source")
    columns = [
        Column("number", gettext_lazy("Number"), sort="id", link=True),
        Column("priority", gettext_lazy("Priority"), sort="priority"),
        Column("title", gettext_lazy("Title")),
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("sla", gettext_lazy("SLA"), sort="sla_due_at"),
        Column("service", gettext_lazy("Service"), sort="service__name"),
        Column("assignment_group", gettext_lazy("Group"), sort="assignment_group__name"),
        Column("assignee", gettext_lazy("Assignee"), sort="assignee__username"),
        Column("updated_at", gettext_lazy("Updated"), sort="updated_at"),
    ]
    detail_fields = ["category", "service", "cis", "impact", "urgency", "priority", "source", "reporter",
                     "description", "symptoms", "hold_reason", "resolution_code", "resolution_notes",
                     "status_reason", "detected_at", "acknowledged_at", "resolved_at", "closed_at",
                     "reassignment_count", "reopen_count", "related", "parent"]
    OPTIONAL_ROWS = {"symptoms", "hold_reason", "resolution_code", "resolution_notes", "status_reason",
                     "acknowledged_at", "resolved_at", "closed_at", "reassignment_count", "reopen_count", "related",
                     "parent"}

    def __init__(self):
        self._timers: dict[int, list] = {}
        self._now = timezone.now()
        self.user = None

    @classmethod
    def queryset(cls):
        return QueueQuerySet(model=Incident).select_related(*cls.select_related)

    extra_tabs = [("major", gettext_lazy("Major incident")), ("report", gettext_lazy("Incident report"))]

    # --- the list ---
    def list_context(self, request, page) -> dict:
        records = list(page.object_list)  # evaluated once here; the rows reuse the result
        self.load_timers(records)
        self.user = request.user
        teams = my_teams(request.user)
        actions = {r.pk: row_actions(request.user, r, teams) for r in records}
        context = {"row_actions": actions, "rendered_at": self._now.isoformat(),
                   "any_actions": any(any(a.values()) for a in actions.values())}
        if not (request.htmx and request.htmx.target == "record-table"):
            context.update(views_context(request, counts=False))
        return context

    def load_timers(self, records) -> None:
        self._now = timezone.now()
        self._timers.update(sla.timers_for(records))

    def timers(self, incident) -> list:
        if incident.pk not in self._timers:
            self.load_timers([incident])
        return self._timers[incident.pk]

    # --- cells ---
    def render_priority(self, incident):
        return priority_badge(incident)

    def text_priority(self, incident):
        return incident.priority

    def render_title(self, incident):
        major = format_html(' <span class="badge text-bg-danger">{}</span>', _("Major")) \
            if incident.major_status == "major" else ""
        sub = format_html('<div class="small text-body-secondary text-truncate">{}</div>', category_text(incident)) \
            if incident.category_id else ""
        return format_html('<a class="fw-semibold incident-title" href="{}">{}</a>{}{}',
                           incident.get_absolute_url(), incident.title, major, sub)

    def text_title(self, incident):
        return incident.title

    def render_status(self, incident):
        shown = badge(incident.get_status_display(), STATUS_STYLES.get(incident.status, "secondary"))
        if incident.status == "on_hold" and incident.hold_reason:
            shown = format_html('{}<div class="small text-body-secondary">{}</div>', shown,
                                incident.get_hold_reason_display().lower())
        return shown

    def text_status(self, incident):
        return incident.status

    def render_sla(self, incident):
        shown = countdowns(self.timers(incident), self._now)
        if not shown:
            return format_html('<span class="text-body-tertiary">{}</span>', "—")
        return format_html_join("", '<div class="sla-line"><span class="sla-metric">{}</span> {}</div>',
                                ((c["short"], countdown_html(c)) for c in shown))

    def text_sla(self, incident):
        return incident.sla_due_at.isoformat() if incident.sla_due_at else ""

    def render_service(self, incident):
        return incident.service.name if incident.service_id else ""

    def render_assignment_group(self, incident):
        return incident.assignment_group.name if incident.assignment_group_id else ""

    def render_assignee(self, incident):
        if incident.assignee_id is None:
            return format_html('<span class="text-body-tertiary">{}</span>', _("Unassigned"))
        if self.user is not None and incident.assignee_id == self.user.pk:
            return format_html('<span class="fw-semibold">{}</span>', _("me"))
        return incident.assignee.display_name

    def text_assignee(self, incident):
        return incident.assignee.username if incident.assignee_id else ""

    def render_updated_at(self, incident):
        return format_html('<time datetime="{}" title="{}">{}</time>', incident.updated_at.isoformat(),
                           timezone.localtime(incident.updated_at).strftime("%Y-%m-%d %H:%M"),
                           ago_text(incident.updated_at, self._now))

    def text_updated_at(self, incident):
        return incident.updated_at.isoformat()

    # --- the detail page ---
    def detail_rows(self, record):
        prefetch_related_objects([record], "cis", "related")  # shared with the header and the side panels
        rows = []
        for name, (label, value) in zip(self.detail_fields, super().detail_rows(record), strict=True):
            if name in self.OPTIONAL_ROWS and value in ("—", "", None, 0, _("No")):
                continue
            if isinstance(value, datetime.datetime):
                value = format_html('<time datetime="{}">{}</time>', value.isoformat(),
                                    timezone.localtime(value).strftime("%Y-%m-%d %H:%M"))
            rows.append((label, value))
        return rows

    def render_category(self, incident):
        return category_text(incident)

    render_category.label = gettext_lazy("Category")

    def render_cis(self, incident):
        return format_html_join(", ", '<a href="{}">{}</a> <span class="text-body-secondary">{}</span>',
                                ((ci.get_absolute_url(), ci.number, ci.name) for ci in incident.cis.all()))

    render_cis.label = gettext_lazy("Affected CIs")

    def render_impact(self, incident):
        return level_label(services.incident_settings().impact_levels, incident.impact)

    render_impact.label = gettext_lazy("Impact")

    def render_urgency(self, incident):
        return level_label(services.incident_settings().urgency_levels, incident.urgency)

    render_urgency.label = gettext_lazy("Urgency")

    def render_description(self, incident):
        return render_safe(incident.description)

    render_description.label = gettext_lazy("Description")

    def render_symptoms(self, incident):
        return render_safe(incident.symptoms) if incident.symptoms else ""

    render_symptoms.label = gettext_lazy("Symptoms")

    def render_resolution_notes(self, incident):
        return render_safe(incident.resolution_notes) if incident.resolution_notes else ""

    render_resolution_notes.label = gettext_lazy("Resolution notes")

    def render_reporter(self, incident):
        name = incident.reporter.display_name if incident.reporter_id else ""
        if incident.reporter_contact:
            return format_html('{} <span class="text-body-secondary">{}</span>', name, incident.reporter_contact)
        return name

    render_reporter.label = gettext_lazy("Reporter")

    def render_related(self, incident):
        return format_html_join(", ", '<a href="{}">{}</a>', ((i.get_absolute_url(), i.number)
                                                              for i in incident.related.all()))

    render_related.label = gettext_lazy("Related incidents")

    def render_parent(self, incident):
        if incident.parent_id is None:
            return ""
        return format_html('<a href="{}">{}</a>', incident.parent.get_absolute_url(), incident.parent)

    render_parent.label = gettext_lazy("Part of major incident")

    def extra_context(self, record, user) -> dict:
        now = timezone.now()
        self._now = now
        config = services.incident_settings()
        prefetch_related_objects([record], "cis")
        cis = list(record.cis.all())
        editable = can(user, self.edit_role, record) and record.status not in self.read_only_states
        proposed = None
        if record.proposed_impact and record.proposed_impact < record.impact and record.is_open:
            proposed = {"value": record.proposed_impact, "label": level_label(config.impact_levels,
                                                                              record.proposed_impact),
                        "reason": record.proposed_impact_reason,
                        "priority": services.priority_for(record.proposed_impact, record.urgency, config)}
        return {
            "sla": countdowns(self.timers(record), now),
            "priority_badge": priority_badge(record),
            "status_style": STATUS_STYLES.get(record.status, "secondary"),
            "impact": affected_services(cis),
            "affected_cis": cis,
            "proposed_impact": proposed,
            "can_apply_impact": editable,
            "similar": selectors.similar_incidents(record),
            "actions": row_actions(user, record, my_teams(user)),
            "hold_reasons": Incident.HOLD_REASONS,
            "resolve_form": ResolveForm(auto_id="resolve-%s"),
            "impact_label": level_label(config.impact_levels, record.impact),
            "urgency_label": level_label(config.urgency_levels, record.urgency),
        }

    def tab_context(self, key, record, request) -> dict:
        if key == "major":
            return rule_views.major_tab_context(record, request)
        if key == "report":
            return report_views.tab_context(record, request)
        return {}


def category_text(incident) -> str:
    """"Hardware / Server" from the two loaded categories (not through the subcategory's parent)."""
    names = [c.name for c in (incident.category, incident.subcategory) if c is not None]
    return " / ".join(names)


def priority_badge(incident):
    style = PRIORITY_STYLES.get(incident.priority, "secondary")
    if incident.priority_overridden:
        title = _("Set by hand: %(reason)s") % {"reason": incident.priority_reason}
        return format_html('<span class="badge priority-badge text-bg-{}" title="{}" data-bs-toggle="tooltip">'
                           '{} <i class="bi bi-hand-index-thumb" aria-label="{}"></i></span>',
                           style, title, incident.priority, title)
    return format_html('<span class="badge priority-badge text-bg-{}" title="{}">{}</span>', style,
                       incident.get_priority_display(), incident.priority)


def countdown_html(c: dict):
    due = c["due_at"].isoformat() if c["running"] else ""
    return format_html('<span class="sla-countdown {}" data-sla-due="{}" data-sla-breached="{}" title="{}">{}</span>',
                       c["css"], due, "1" if c["breached"] else "", c["label"], c["text"])


def ago_text(moment, now) -> str:
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return _("just now")
    return _("%(t)s ago") % {"t": duration_text(seconds)}


def level_label(levels: list[dict], value) -> str:
    for level in levels:
        if int(level["value"]) == value:
            return f"{value} – {_(level['label'])}"
    return str(value)


def affected_services(cis) -> dict:
    """What the affected CIs' failure reaches (downstream, with redundancy): the services, most critical
    first, at most IMPACT_SHOWN with their tiers; the CIs link to their service maps."""
    if not cis:
        return {"services": [], "more": 0, "cis": []}
    from opsdesk.cmdb import impact

    result = impact.analyse([ci.pk for ci in cis], direction="downstream", limit=IMPACT_SHOWN)
    found = [node for node in result.impacted_services_by_criticality() if node.get("name")]
    total = len(result.impacted_service_ids)
    return {"services": found[:IMPACT_SHOWN], "more": max(0, total - IMPACT_SHOWN),
            "impacted_cis": len(result.impacted_ci_ids),
            "cis": [{"ci": ci, "map_url": reverse("cmdb:ci_map", args=[ci.pk])} for ci in cis]}
