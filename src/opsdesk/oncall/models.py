"""On-call: schedules (layers of rotations, restrictions, overrides, swaps), escalation policies and
their runs per incident, the pages sent, and each person's contact methods and notification rules."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel

USER = settings.AUTH_USER_MODEL
TURN_UNITS = [("hours", _("hours")), ("days", _("days")), ("weeks", _("weeks"))]
URGENCIES = [("high", _("High")), ("low", _("Low"))]


class Schedule(BaseModel):
    TEAM_FIELD = "team"  # the team's managers manage the schedule (core.permissions.record_team)

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("key"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="schedules")
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    ical_token = models.CharField(max_length=64, unique=True, editable=False)  # secret of the iCal feed URL

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("oncall:schedule_detail", args=[self.pk])


class Layer(models.Model):
    """A rotation of people: turns of `turn_count` x `turn_unit` handed off at the local time of
    `rotation_start` in the schedule's time zone, optionally restricted to daily or weekly time ranges.
    Later layers (higher `order`) lie on top of earlier ones."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveIntegerField(_("order"), default=1)
    users = models.JSONField(_("people in rotation order"), default=list)  # [user id, ...]; a user may repeat
    rotation_start = models.DateTimeField(_("rotation starts"))
    turn_unit = models.CharField(_("turn unit"), max_length=8, choices=TURN_UNITS, default="weeks")
    turn_count = models.PositiveIntegerField(_("turn length"), default=1)
    # {"kind": "daily", "ranges": [{"start": "09:00", "end": "17:00"}]} or
    # {"kind": "weekly", "ranges": [{"start_day": 0, "start": "09:00", "end_day": 4, "end": "17:00"}]}; {} = none
    restrictions = models.JSONField(_("restrictions"), default=dict, blank=True)
    starts_at = models.DateTimeField(_("active from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("active until"), null=True, blank=True)

    class Meta:
        ordering = ["schedule", "order", "id"]

    def __str__(self):
        return f"{self.schedule}: {self.name}"


class Override(BaseModel):
    """A person on call instead of whoever the layers give, on top of all layers."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(USER, verbose_name=_("on call"), on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    swap = models.ForeignKey("ShiftSwap", null=True, blank=True, on_delete=models.SET_NULL, related_name="overrides")

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["schedule", "ends_at", "starts_at"])]

    def __str__(self):
        return f"{self.user} {self.starts_at:%Y-%m-%d %H:%M} - {self.ends_at:%Y-%m-%d %H:%M}"


class ShiftSwap(BaseModel):
    """A responder asks someone to take (part of) their shift; accepted (or assigned by a manager), it
    becomes an override for the taker."""

    STATUSES = [("requested", _("requested")), ("accepted", _("accepted")), ("declined", _("declined")),
                ("cancelled", _("cancelled"))]

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="swaps")
    requester = models.ForeignKey(USER, verbose_name=_("requested by"), on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    proposed_to = models.ForeignKey(USER, verbose_name=_("asked"), null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="+")
    taken_by = models.ForeignKey(USER, verbose_name=_("taken by"), null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=STATUSES, default="requested", db_index=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]

    def __str__(self):
        return f"{self.schedule}: {self.requester} {self.starts_at:%Y-%m-%d %H:%M}"


class EscalationPolicy(BaseModel):
    """Ordered steps (notify people, a schedule's on-call, a team; wait), repeated `repeat_count` times
    after the first pass. Attached to alert routes and to services."""

    TEAM_FIELD = "team"  # the team's managers manage the policy (core.permissions.record_team)

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("key"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="escalation_policies")
    repeat_count = models.PositiveIntegerField(_("repeat the steps"), default=0)
    services = models.ManyToManyField("services.Service", verbose_name=_("services"), blank=True,
                                      related_name="escalation_policies")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("escalation policies")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("oncall:policy_detail", args=[self.pk])


class EscalationStep(models.Model):
    KINDS = [("notify_users", _("Notify people")), ("notify_schedule", _("Notify the on-call of a schedule")),
             ("notify_team", _("Notify a team")), ("wait", _("Wait"))]

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=16, choices=KINDS)
    users = models.ManyToManyField(USER, verbose_name=_("people"), blank=True, related_name="+")
    schedule = models.ForeignKey(Schedule, verbose_name=_("schedule"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="+")
    team_role = models.CharField(_("in the team"), max_length=10, blank=True,
                                 help_text=_("Empty: every member; 'manager': the team leads."))
    wait_minutes = models.PositiveIntegerField(_("wait (minutes)"), default=0)
    urgency = models.CharField(_("urgency"), max_length=4, choices=URGENCIES, default="high")

    class Meta:
        ordering = ["policy", "position"]
        constraints = [models.UniqueConstraint(fields=["policy", "position"], name="oncall_step_position")]

    def __str__(self):
        return f"{self.policy} #{self.position} {self.get_kind_display()}"


class EscalationRun(models.Model):
    """A policy running for one incident: the next step is due at `due_at`; the sweeper takes due runs
    with skip_locked, fires the step, and moves `position`/`cycle` on in the same transaction, so two
    workers never fire one step twice. Acknowledging the incident stops it."""

    STATUSES = [("active", _("active")), ("acknowledged", _("stopped: acknowledged")),
                ("resolved", _("stopped: resolved")), ("cancelled", _("cancelled")), ("exhausted", _("finished"))]

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="escalation_runs")
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=12, choices=STATUSES, default="active", db_index=True)
    position = models.PositiveIntegerField(default=0)   # index of the next step in policy order
    cycle = models.PositiveIntegerField(default=0)      # 0 = first pass, then repeats
    due_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["incident"], condition=Q(status="active"),
                                               name="oncall_one_active_run_per_incident")]
        indexes = [models.Index(fields=["due_at"], condition=Q(status="active"), name="oncall_run_due")]

    def __str__(self):
        return f"{self.policy} for {self.incident_id}"


class Page(models.Model):
    """One person paged by one step of a run: unique per (run, cycle, position, user), so a step fired
    twice (two workers, a retry) pages nobody twice."""

    run = models.ForeignKey(EscalationRun, on_delete=models.CASCADE, related_name="pages")
    cycle = models.PositiveIntegerField()
    position = models.PositiveIntegerField()
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="pages")
    reason = models.CharField(max_length=300, blank=True)  # "on call for Primary", "member of DBA"
    urgency = models.CharField(max_length=4, choices=URGENCIES, default="high")
    paged_at = models.DateTimeField()
    methods = models.JSONField(default=list)  # [{"method": "email", "target": "...", "delay_minutes": 0}, ...]
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-paged_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["run", "cycle", "position", "user"], name="oncall_page_once")]

    def __str__(self):
        return f"{self.user} paged {self.paged_at:%Y-%m-%d %H:%M}"


class ContactMethod(BaseModel):
    KINDS = [("email", _("Email")), ("chat", _("Chat (Apprise URL)")), ("sms", _("SMS gateway (Apprise URL)")),
             ("webhook", _("Webhook"))]

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="contact_methods")
    kind = models.CharField(_("kind"), max_length=8, choices=KINDS)
    label = models.CharField(_("label"), max_length=100, blank=True)
    target = models.CharField(_("address"), max_length=1000,
                              help_text=_("Email address, Apprise URL (mmost://, slack://, ...) or webhook URL"))
    enabled = models.BooleanField(_("enabled"), default=True)
    last_test_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "kind", "id"]

    def __str__(self):
        return self.label or f"{self.get_kind_display()}"


class NotificationRule(models.Model):
    """How a person wants to be paged: for an urgency, this contact method after this delay."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="notification_rules")
    urgency = models.CharField(_("urgency"), max_length=4, choices=URGENCIES, default="high")
    contact_method = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="rules")
    delay_minutes = models.PositiveIntegerField(_("after (minutes)"), default=0)

    class Meta:
        ordering = ["user", "urgency", "delay_minutes", "id"]

    def __str__(self):
        return f"{self.user} {self.urgency} +{self.delay_minutes}m {self.contact_method}"


class ActionToken(models.Model):
    """The one-time use of a signed acknowledge / resolve link: the link carries a nonce; using it
    inserts this row, so a second use finds it and is refused."""

    nonce = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField()
    action = models.CharField(max_length=16)
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")

    def __str__(self):
        return self.nonce


class CalendarFeed(models.Model):
    """The secret of a person's own iCal feed of their on-call shifts (`/oncall/my/ical/<token>.ics`):
    the token is the credential, so it is random, unique, and can be replaced."""

    user = models.OneToOneField(USER, on_delete=models.CASCADE, related_name="oncall_calendar_feed")
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"calendar feed of {self.user}"
