"""Change management: change requests of three types (standard, normal, emergency), the catalog of
change templates with their implementation plans, the risk questionnaire, freeze windows, approval
policies and the approvals they ask for, delegations, CAB meetings, post-implementation reviews and the
incidents a change caused."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel, NumberedModel

from .workflows import CAB_MEETING_WORKFLOW, CHANGE_WORKFLOW, OUTCOMES

USER = settings.AUTH_USER_MODEL

CHANGE_TYPES = [("standard", _("Standard")), ("normal", _("Normal")), ("emergency", _("Emergency"))]
RISK_LEVELS = [("low", _("Low")), ("medium", _("Medium")), ("high", _("High")), ("very_high", _("Very high"))]
RISK_RANK = {"low": 0, "medium": 1, "high": 2, "very_high": 3}


class ChangeSettings(models.Model):
    """The one row of change settings (config-as-code section `change_settings`, or the settings page)."""

    # Score -> level: a score >= medium is medium, >= high is high, >= very_high is very high.
    risk_medium_from = models.PositiveIntegerField(default=25)
    risk_high_from = models.PositiveIntegerField(default=50)
    risk_very_high_from = models.PositiveIntegerField(default=75)
    # Lead time: a normal change planned to start sooner than this after submission adds risk.
    min_lead_hours = models.PositiveIntegerField(default=72)
    # History: the owner team's failure rate of changes in the same category over the last N months.
    history_months = models.PositiveIntegerField(default=6)
    # Approvals: hours to decide, and the reminder that many hours before the deadline.
    approval_deadline_hours = models.PositiveIntegerField(default=48)
    approval_reminder_hours = models.PositiveIntegerField(default=8)
    # A post-implementation review is required for these outcomes and risk levels (and always for emergencies).
    review_outcomes = models.JSONField(default=list)  # default: ["failed", "backed_out"]
    review_risk_levels = models.JSONField(default=list)  # default: ["high", "very_high"]
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = _("change settings")

    def __str__(self):
        return "change settings"


class ChangeCategory(BaseModel):
    slug = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("change category")
        verbose_name_plural = _("change categories")

    def __str__(self):
        return self.name


class ChangeTemplate(BaseModel):
    """A catalog entry: a standard (pre-approved) change, or the implementation plan template of a
    category for normal and emergency changes.

    `plan_steps` / `backout_steps`: [{"who": "DBA on duty", "action": "...", "minutes": 15,
    "verification": "..."}, ...] in order."""

    slug = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    change_type = models.CharField(_("change type"), max_length=10, choices=CHANGE_TYPES, default="normal")
    category = models.ForeignKey(ChangeCategory, verbose_name=_("category"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="templates")
    title = models.CharField(_("default title"), max_length=300, blank=True)
    plan_steps = models.JSONField(_("implementation steps"), default=list, blank=True)
    backout_steps = models.JSONField(_("backout steps"), default=list, blank=True)
    test_plan = models.TextField(_("test plan"), blank=True)
    communication_plan = models.TextField(_("communication plan"), blank=True)
    expected_minutes = models.PositiveIntegerField(_("expected duration (minutes)"), null=True, blank=True)
    # A standard change's risk is settled when the template is approved.
    risk_level = models.CharField(_("risk level"), max_length=10, choices=RISK_LEVELS, default="low")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("change template")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("changes:template_detail", args=[self.pk])


class ChangeRequest(NumberedModel):
    NUMBER_PREFIX = "CHG"
    TEAM_FIELD = "owner_team"

    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    reason = models.TextField(_("reason for the change"), blank=True)
    change_type = models.CharField(_("type"), max_length=10, choices=CHANGE_TYPES, default="normal", db_index=True)
    category = models.ForeignKey(ChangeCategory, verbose_name=_("category"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="changes")
    template = models.ForeignKey(ChangeTemplate, verbose_name=_("template"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="changes")
    requester = models.ForeignKey(USER, verbose_name=_("requester"), null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="requested_changes")
    owner_team = models.ForeignKey("accounts.Team", verbose_name=_("owner team"), on_delete=models.PROTECT,
                                   related_name="changes")
    implementer = models.ForeignKey(USER, verbose_name=_("implementer"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="implemented_changes")
    services = models.ManyToManyField("services.Service", verbose_name=_("affected services"), blank=True,
                                      related_name="changes")
    cis = models.ManyToManyField("cmdb.ConfigurationItem", verbose_name=_("affected CIs"), blank=True,
                                 related_name="changes")
    planned_start = models.DateTimeField(_("planned start"), null=True, blank=True)
    planned_end = models.DateTimeField(_("planned end"), null=True, blank=True)
    actual_start = models.DateTimeField(_("actual start"), null=True, blank=True)
    actual_end = models.DateTimeField(_("actual end"), null=True, blank=True)
    test_plan = models.TextField(_("test plan"), blank=True)
    communication_plan = models.TextField(_("communication plan"), blank=True)
    expected_outage = models.BooleanField(_("expected outage"), default=False)
    outage_minutes = models.PositiveIntegerField(_("expected outage (minutes)"), null=True, blank=True)
    incidents = models.ManyToManyField("incidents.Incident", verbose_name=_("linked incidents"), blank=True,
                                       related_name="changes")
    problems = models.ManyToManyField("problems.Problem", verbose_name=_("linked problems"), blank=True,
                                      related_name="changes")
    countermeasures = models.ManyToManyField("problems.Countermeasure", verbose_name=_("linked countermeasures"),
                                             blank=True, related_name="changes")
    tags = models.ManyToManyField("core.Tag", verbose_name=_("tags"), blank=True, related_name="+")
    status = models.CharField(_("status"), max_length=14, choices=CHANGE_WORKFLOW.choices,
                              default=CHANGE_WORKFLOW.initial, editable=False, db_index=True)
    status_reason = models.CharField(_("reason for the last status change"), max_length=500, blank=True)
    outcome = models.CharField(_("outcome"), max_length=24, choices=OUTCOMES, blank=True, db_index=True)
    outcome_notes = models.TextField(_("outcome notes"), blank=True)
    # Risk: computed by risk.assess() (questionnaire + factors), kept with its explanation.
    risk_answers = models.JSONField(_("risk questionnaire answers"), default=dict, blank=True)  # {question: answer}
    risk_score = models.PositiveIntegerField(_("risk score"), null=True, blank=True)
    risk_level = models.CharField(_("risk"), max_length=10, choices=RISK_LEVELS, blank=True, db_index=True)
    risk_factors = models.JSONField(default=list, blank=True)  # [{"key","label","points","explanation"}]
    risk_assessed_at = models.DateTimeField(null=True, blank=True)
    # Collisions found at submission and who acknowledged them: [{"kind","message","change"...}]
    collisions = models.JSONField(default=list, blank=True)
    collisions_acknowledged_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL,
                                                   related_name="+")
    collisions_acknowledged_at = models.DateTimeField(null=True, blank=True)
    approval_policy = models.ForeignKey("ApprovalPolicy", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="changes")
    approval_stage = models.PositiveSmallIntegerField(default=0)  # the stage being decided (order of the stage)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, db_index=True)
    review_required = models.BooleanField(_("review required"), default=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["planned_start", "planned_end"], name="changes_window"),
            models.Index(fields=["status", "planned_start"], name="changes_status_start"),
            models.Index(fields=["owner_team", "status"], name="changes_team_status"),
            models.Index(fields=["implementer", "planned_start"], name="changes_implementer_start"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(planned_end__isnull=True) | Q(planned_start__isnull=True)
                                   | Q(planned_end__gt=models.F("planned_start")), name="changes_window_ordered"),
        ]

    def get_absolute_url(self):
        return reverse("changes:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status not in ("closed",)


class PlanStep(models.Model):
    """One step of a change's implementation plan or backout plan, ticked during implementation."""

    KINDS = [("implementation", _("Implementation")), ("backout", _("Backout"))]

    change = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(_("plan"), max_length=16, choices=KINDS, default="implementation")
    order = models.PositiveIntegerField(default=1)
    who = models.CharField(_("who"), max_length=200, blank=True)
    action = models.TextField(_("what"))
    minutes = models.PositiveIntegerField(_("expected minutes"), null=True, blank=True)
    verification = models.TextField(_("verification"), blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        ordering = ["kind", "order", "id"]

    def __str__(self):
        return f"{self.order}. {self.action[:60]}"


class RiskQuestion(BaseModel):
    """One question of the risk questionnaire. `answers`: [{"key": "none", "label": "...", "weight": 0}, ...]."""

    slug = models.SlugField(_("key"), max_length=64, unique=True)
    text = models.CharField(_("question"), max_length=300)
    help_text = models.CharField(_("help"), max_length=500, blank=True)
    answers = models.JSONField(default=list)
    order = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self):
        return self.text


class FreezeWindow(BaseModel):
    """A change freeze (blackout): no change should run on its services (all services when none is named)."""

    name = models.CharField(_("name"), max_length=200)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    services = models.ManyToManyField("services.Service", verbose_name=_("services"), blank=True, related_name="+")
    # Emergency changes may still run in a freeze; they get a warning all the same.
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["ends_at", "starts_at"], name="changes_freeze_window")]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="changes_freeze_ordered")]

    def __str__(self):
        return self.name


class ApprovalPolicy(BaseModel):
    """Which approvals a change needs, chosen by type and risk level (first match in `order`)."""

    slug = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    change_types = models.JSONField(default=list, blank=True)  # empty: every type
    risk_levels = models.JSONField(default=list, blank=True)  # empty: every level
    order = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name_plural = _("approval policies")

    def __str__(self):
        return self.name


class ApprovalStage(models.Model):
    """One stage of a policy, decided in order: approvers (a team's members with at least `min_role`;
    no team means the change's owner team) and a quorum."""

    QUORUMS = [("any", _("Any one")), ("all", _("All")), ("n_of_m", _("N of M"))]

    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.CASCADE, related_name="stages")
    order = models.PositiveSmallIntegerField(default=1)
    name = models.CharField(_("name"), max_length=100)  # "Team lead", "CAB", "ECAB"
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    min_role = models.CharField(max_length=16, default="manager")
    quorum = models.CharField(max_length=8, choices=QUORUMS, default="any")
    required = models.PositiveSmallIntegerField(default=1)  # N for n_of_m
    cab = models.BooleanField(_("decided in a CAB meeting"), default=False)

    class Meta:
        ordering = ["policy", "order"]
        constraints = [models.UniqueConstraint(fields=["policy", "order"], name="changes_stage_order_unique")]

    def __str__(self):
        return f"{self.policy.slug}:{self.order} {self.name}"


class Approval(models.Model):
    """One approver's decision at one stage of a change. The rows of a stage are made when the stage
    opens (one per eligible approver); each is decided only by that person or their delegate."""

    STATES = [("pending", _("Pending")), ("approved", _("Approved")), ("rejected", _("Rejected")),
              ("not_needed", _("Not needed"))]

    change = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="approvals")
    stage_order = models.PositiveSmallIntegerField()
    stage_name = models.CharField(max_length=100)
    approver = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="change_approvals")
    status = models.CharField(max_length=12, choices=STATES, default="pending", db_index=True)
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reminded_at = models.DateTimeField(null=True, blank=True)  # the reminder before the deadline was sent
    overdue_notified_at = models.DateTimeField(null=True, blank=True)  # the owner team was told it is overdue
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["stage_order", "id"]
        constraints = [models.UniqueConstraint(fields=["change", "stage_order", "approver"],
                                               name="changes_one_approval_per_approver")]
        indexes = [models.Index(fields=["approver", "status"], name="changes_approval_inbox")]

    def __str__(self):
        return f"{self.change.number} {self.stage_name} {self.approver}"


class ApprovalDelegation(BaseModel):
    """While `user` is away, `delegate` may decide `user`'s pending approvals (recorded as delegated)."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="approval_delegations")
    delegate = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="approval_delegations_received")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="changes_delegation_ordered"),
                       models.CheckConstraint(condition=~Q(user=models.F("delegate")),
                                              name="changes_delegation_not_self")]


class CABMeeting(NumberedModel):
    NUMBER_PREFIX = "CAB"

    title = models.CharField(_("title"), max_length=200)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    location = models.CharField(_("location or link"), max_length=300, blank=True)
    board = models.ForeignKey("accounts.Team", verbose_name=_("board"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="cab_meetings")
    emergency = models.BooleanField(_("emergency CAB"), default=False)
    attendees = models.ManyToManyField(USER, blank=True, related_name="cab_meetings")
    status = models.CharField(_("status"), max_length=10, choices=CAB_MEETING_WORKFLOW.choices,
                              default=CAB_MEETING_WORKFLOW.initial, editable=False, db_index=True)
    status_reason = models.CharField(max_length=500, blank=True)
    minutes = models.TextField(_("minutes"), blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("CAB meeting")

    def get_absolute_url(self):
        return reverse("changes:cab_detail", args=[self.pk])


class CABAgendaItem(models.Model):
    DECISIONS = [("", _("Not decided")), ("approved", _("Approved")), ("rejected", _("Rejected")),
                 ("deferred", _("Deferred"))]

    meeting = models.ForeignKey(CABMeeting, on_delete=models.CASCADE, related_name="items")
    change = models.ForeignKey(ChangeRequest, on_delete=models.PROTECT, related_name="cab_items")
    order = models.PositiveIntegerField(default=1)
    # What the agenda showed when generated: risk, collisions and plan summary (kept for the minutes).
    summary = models.JSONField(default=dict, blank=True)
    decision = models.CharField(max_length=10, choices=DECISIONS, blank=True)
    notes = models.TextField(blank=True)
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["meeting", "change"], name="changes_cab_item_unique")]


class PostImplementationReview(BaseModel):
    OBJECTIVES = [("met", _("Met")), ("partly", _("Partly met")), ("not_met", _("Not met"))]

    change = models.OneToOneField(ChangeRequest, on_delete=models.CASCADE, related_name="review")
    objectives = models.CharField(_("objectives"), max_length=8, choices=OBJECTIVES)
    summary = models.TextField(_("what happened"))
    lessons = models.TextField(_("lessons learned"), blank=True)
    follow_ups = models.TextField(_("follow-up actions"), blank=True)
    reviewer = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Review of {self.change.number}"


class CausedIncident(models.Model):
    """An incident marked as caused by a change (for the review, the success rate and DORA's time to restore)."""

    change = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="caused")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="caused_by_changes")
    note = models.CharField(max_length=500, blank=True)
    marked_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-marked_at"]
        constraints = [models.UniqueConstraint(fields=["change", "incident"], name="changes_caused_unique")]
