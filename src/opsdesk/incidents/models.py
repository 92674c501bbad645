"""Incidents: classification, impact x urgency priority, the response flow, assignment and escalation
rules, major incidents with their roles and communication log, and post-incident reports."""

import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel, NumberedModel

from .workflows import INCIDENT_WORKFLOW

USER = settings.AUTH_USER_MODEL
# The queue's sort key (`Incident.sla_rank_at`) beyond the due dates: an open incident without a running
# clock ranks after every due date, and a resolved, closed or cancelled one after that. So "open, by
# time to breach" is one range of one index: sla_rank_at < CLOSED_RANK, in index order.
OPEN_WITHOUT_CLOCK_RANK = datetime.datetime(9000, 1, 1, tzinfo=datetime.UTC)
CLOSED_RANK = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC)
PRIORITIES = [("P1", _("P1 Critical")), ("P2", _("P2 High")), ("P3", _("P3 Moderate")), ("P4", _("P4 Low")),
              ("P5", _("P5 Planning"))]


class Category(BaseModel):
    """The incident taxonomy: top-level categories and their subcategories (one level deep)."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("key"), max_length=100, unique=True,
                            help_text=_("Stable identifier used by the API and configuration files."))
    parent = models.ForeignKey("self", verbose_name=_("parent category"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="children")
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveIntegerField(_("order"), default=100)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = _("categories")
        unique_together = [("parent", "name")]

    def __str__(self):
        return f"{self.parent.name} / {self.name}" if self.parent_id else self.name

    def get_absolute_url(self):
        return reverse("incidents:category_detail", args=[self.pk])


class IncidentSettings(models.Model):
    """The one row of incident settings: impact and urgency levels, the priority matrix and the
    clocks of the flow. Changed through config-as-code or the settings page (see services)."""

    impact_levels = models.JSONField(default=list)   # [{"value": 1, "label": "Extensive / widespread"}, ...]
    urgency_levels = models.JSONField(default=list)  # [{"value": 1, "label": "Critical"}, ...]
    matrix = models.JSONField(default=dict)          # {"1": {"1": "P1", "2": "P2", "3": "P3"}, ...} impact -> urgency
    auto_close_days = models.PositiveIntegerField(default=7)
    reopen_window_days = models.PositiveIntegerField(default=7)
    major_update_minutes = models.PositiveIntegerField(default=30)
    report_required_priorities = models.JSONField(default=list)  # ["P1", "P2"]
    report_required_for_major = models.BooleanField(default=True)
    report_sections = models.JSONField(default=list)  # [{"key": "summary", "title": "Summary", "hint": "..."}]
    propose_impact_from_cmdb = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = _("incident settings")

    def __str__(self):
        return "incident settings"


class Incident(NumberedModel):
    NUMBER_PREFIX = "INC"
    TEAM_FIELD = "assignment_group"
    SLA_DUE_FIELD = "sla_due_at"
    SLA_RANK_FIELD = "sla_rank_at"

    SOURCES = [("manual", _("Manual")), ("email", _("Email")), ("alert", _("Alert")), ("api", _("API"))]
    HOLD_REASONS = [("awaiting_customer", _("Awaiting customer")), ("awaiting_vendor", _("Awaiting vendor")),
                    ("awaiting_change", _("Awaiting change")), ("awaiting_problem", _("Awaiting problem"))]
    RESOLUTION_CODES = [("fixed", _("Fixed")), ("workaround", _("Workaround applied")),
                        ("restarted", _("Restarted / self-healed")), ("config_change", _("Configuration changed")),
                        ("rolled_back", _("Change rolled back")), ("vendor_fix", _("Fixed by vendor")),
                        ("no_fault_found", _("No fault found")), ("duplicate", _("Duplicate")),
                        ("user_error", _("User error")), ("other", _("Other"))]
    MAJOR_STATES = [("", _("No")), ("proposed", _("Proposed")), ("major", _("Major incident")),
                    ("rejected", _("Rejected"))]

    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(Category, verbose_name=_("category"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="incidents")
    subcategory = models.ForeignKey(Category, verbose_name=_("subcategory"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="sub_incidents")
    service = models.ForeignKey("services.Service", verbose_name=_("affected service"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="incidents")
    cis = models.ManyToManyField("cmdb.ConfigurationItem", verbose_name=_("affected CIs"), blank=True,
                                 related_name="incidents")
    impact = models.PositiveSmallIntegerField(_("impact"), default=3, validators=[MinValueValidator(1),
                                                                                 MaxValueValidator(9)])
    urgency = models.PositiveSmallIntegerField(_("urgency"), default=3, validators=[MinValueValidator(1),
                                                                                   MaxValueValidator(9)])
    priority = models.CharField(_("priority"), max_length=2, choices=PRIORITIES, default="P4", db_index=True)
    priority_overridden = models.BooleanField(_("priority set by hand"), default=False)
    priority_reason = models.CharField(_("reason for the priority"), max_length=500, blank=True)
    proposed_impact = models.PositiveSmallIntegerField(_("impact proposed by the CMDB"), null=True, blank=True)
    proposed_impact_reason = models.CharField(max_length=500, blank=True)
    source = models.CharField(_("source"), max_length=8, choices=SOURCES, default="manual")
    reporter = models.ForeignKey(USER, verbose_name=_("reporter"), null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="reported_incidents")
    reporter_contact = models.CharField(_("reporter contact"), max_length=200, blank=True)
    assignment_group = models.ForeignKey("accounts.Team", verbose_name=_("assignment group"), null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="incidents")
    assignee = models.ForeignKey(USER, verbose_name=_("assignee"), null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="assigned_incidents")
    reassignment_count = models.PositiveIntegerField(_("reassignments"), default=0)
    symptoms = models.TextField(_("symptoms"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=INCIDENT_WORKFLOW.choices,
                              default=INCIDENT_WORKFLOW.initial, editable=False, db_index=True)
    hold_reason = models.CharField(_("on hold because"), max_length=20, choices=HOLD_REASONS, blank=True)
    resolution_code = models.CharField(_("resolution code"), max_length=20, choices=RESOLUTION_CODES, blank=True)
    resolution_notes = models.TextField(_("resolution notes"), blank=True)
    status_reason = models.CharField(_("reason for the last status change"), max_length=500, blank=True)
    detected_at = models.DateTimeField(_("detected"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    reopen_count = models.PositiveIntegerField(_("reopened"), default=0)
    related = models.ManyToManyField("self", verbose_name=_("related incidents"), blank=True, symmetrical=True)
    # Major incidents
    major_status = models.CharField(_("major incident"), max_length=10, choices=MAJOR_STATES, blank=True,
                                    default="", db_index=True)
    major_reason = models.CharField(_("why major"), max_length=500, blank=True)
    commander = models.ForeignKey(USER, verbose_name=_("incident commander"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    communications_lead = models.ForeignKey(USER, verbose_name=_("communications lead"), null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")
    scribe = models.ForeignKey(USER, verbose_name=_("scribe"), null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    parent = models.ForeignKey("self", verbose_name=_("major incident"), null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="children")
    update_cadence_minutes = models.PositiveIntegerField(_("stakeholder update every (minutes)"), null=True,
                                                         blank=True)
    next_update_due_at = models.DateTimeField(_("next stakeholder update due"), null=True, blank=True)
    # The earliest due date of the record's running SLA timers (kept by the SLA engine): the queue sorts by it.
    sla_due_at = models.DateTimeField(_("SLA due"), null=True, blank=True)
    # The same, never NULL (see OPEN_WITHOUT_CLOCK_RANK and CLOSED_RANK): the queue's "open, by time to
    # breach" on one index range on every database. Kept by the SLA engine with sla_due_at (`sla_rank`).
    sla_rank_at = models.DateTimeField(default=OPEN_WITHOUT_CLOCK_RANK, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "sla_due_at"]),
            models.Index(fields=["sla_rank_at", "-id"], name="incident_breach_order_idx"),
            models.Index(fields=["assignment_group", "sla_rank_at"], name="incident_team_breach_idx"),
            models.Index(fields=["assignment_group", "priority", "sla_rank_at"], name="incident_team_prio_breach_idx"),
            models.Index(fields=["assignee", "sla_rank_at"], name="incident_assignee_breach_idx"),
            models.Index(fields=["updated_at"], name="incident_updated_idx"),
            models.Index(fields=["assignment_group", "status"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["status", "priority"]),
            models.Index(fields=["created_at", "acknowledged_at"], name="incident_mtta_idx"),
        ]

    def get_absolute_url(self):
        return reverse("incidents:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "acknowledged", "in_progress", "on_hold")

    def sla_rank(self, due):
        """The sort key the SLA engine stores with the earliest due date `due` (see CLOSED_RANK)."""
        if not self.is_open:
            return CLOSED_RANK
        return due or OPEN_WITHOUT_CLOCK_RANK


class CommunicationUpdate(models.Model):
    """An entry of a major incident's communication log: a stakeholder update or an internal note."""

    AUDIENCES = [("stakeholders", _("Stakeholders")), ("internal", _("Internal")), ("public", _("Public"))]

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    audience = models.CharField(_("audience"), max_length=16, choices=AUDIENCES, default="stakeholders")
    body = models.TextField(_("update"))
    author = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.incident.number} update {self.created_at:%Y-%m-%d %H:%M}"


class AssignmentRule(BaseModel):
    """First match wins (by `order`): conditions on category, service, CI class and priority pick a team;
    within the team, round-robin or least-loaded picks an assignee when configured."""

    METHODS = [("team", _("Team only")), ("round_robin", _("Round-robin")), ("least_loaded", _("Least loaded"))]

    name = models.CharField(_("name"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("order"), default=100)
    active = models.BooleanField(_("active"), default=True)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), on_delete=models.PROTECT, related_name="+")
    method = models.CharField(_("assignee by"), max_length=16, choices=METHODS, default="team")
    last_assignee = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["order", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("incidents:assignmentrule_detail", args=[self.pk])


class EscalationRule(BaseModel):
    TRIGGERS = [("no_ack", _("Not acknowledged within N minutes")), ("sla_percent", _("SLA percentage reached")),
                ("priority", _("Priority raised to"))]
    KINDS = [("functional", _("Functional: reassign to the next support tier")),
             ("hierarchical", _("Hierarchical: notify up the line"))]
    NOTIFY = [("lead", _("Team lead")), ("managers", _("Team managers")), ("assignee", _("Assignee"))]

    name = models.CharField(_("name"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("order"), default=100)
    active = models.BooleanField(_("active"), default=True)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)  # priority / category / service
    trigger = models.CharField(_("trigger"), max_length=16, choices=TRIGGERS)
    minutes = models.PositiveIntegerField(_("minutes"), null=True, blank=True)
    metric = models.CharField(_("SLA metric"), max_length=32, blank=True)
    percent = models.PositiveSmallIntegerField(_("SLA %"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=KINDS)
    target_team = models.ForeignKey("accounts.Team", verbose_name=_("escalate to team"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    notify = models.JSONField(_("notify"), default=list, blank=True)  # ["lead", "managers"]

    class Meta:
        ordering = ["order", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("incidents:escalationrule_detail", args=[self.pk])


class Escalation(models.Model):
    """An escalation that fired. Unique per (incident, rule): a rule escalates an incident once."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="escalations")
    rule = models.ForeignKey(EscalationRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rule_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16)
    fired_at = models.DateTimeField()
    from_team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    notified = models.JSONField(default=list)  # usernames paged
    actor_label = models.CharField(max_length=200)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["incident", "rule"], name="escalation_once_per_rule")]

    def __str__(self):
        return f"{self.incident.number} escalated by {self.rule_name}"


class IncidentReport(BaseModel):
    """The post-incident review: sections of a configurable template, an editable timeline and action items."""

    STATES = [("draft", _("Draft")), ("final", _("Final"))]

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="report")
    status = models.CharField(_("status"), max_length=8, choices=STATES, default="draft")
    sections = models.JSONField(default=dict, blank=True)  # {key: markdown}
    timeline = models.JSONField(default=list, blank=True)  # [{"at": iso, "text": "..."}]
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.incident.number} incident report"

    def get_absolute_url(self):
        return reverse("incidents:report", args=[self.incident_id])


class ActionItem(BaseModel):
    STATES = [("open", _("Open")), ("in_progress", _("In progress")), ("done", _("Done")),
              ("cancelled", _("Cancelled"))]

    report = models.ForeignKey(IncidentReport, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(_("action"), max_length=300)
    owner = models.ForeignKey(USER, verbose_name=_("owner"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    due_date = models.DateField(_("due"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=STATES, default="open", db_index=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]

    def __str__(self):
        return self.title
