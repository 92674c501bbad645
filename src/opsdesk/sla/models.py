"""The SLA engine: business calendars, SLA policies with targets per metric, and the timers that run
against them on any record type (incidents first; changes, problems, requests and vulnerabilities
later). A timer keeps the business time elapsed so far, so a pause, a new priority or a new policy
never loses it."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core import weekly_hours
from opsdesk.core.models import BaseModel


def default_warn_percentages() -> list[int]:
    return [50, 75]


class BusinessCalendar(BaseModel):
    """Weekly working hours in a time zone, public holidays of a country (and region) from the
    `holidays` package, custom holidays and exceptions (extra working days)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("key"), max_length=100, unique=True,
                            help_text=_("Stable identifier used by the API and configuration files."))
    description = models.TextField(_("description"), blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC",
                                 validators=[weekly_hours.validate_time_zone])
    hours = models.JSONField(_("working hours"), default=dict, blank=True,
                             help_text=_('{"mon": [["09:00", "17:00"]], ...}; written like “mon-fri 09:00-17:00”'))
    holiday_country = models.CharField(_("public holidays of"), max_length=8, blank=True,
                                       help_text=_("ISO country code, e.g. DE, US, JP; empty for none"))
    holiday_subdivision = models.CharField(_("region"), max_length=16, blank=True,
                                           help_text=_("State or region code, e.g. BY for Bavaria"))
    # [{"date": "2026-12-24", "name": "Christmas Eve"}, ...]
    custom_holidays = models.JSONField(_("custom holidays"), default=list, blank=True)
    # [{"date": "2026-12-19", "hours": [["09:00", "13:00"]], "name": "Year-end release"}, ...]
    extra_days = models.JSONField(_("extra working days"), default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("sla:calendar_detail", args=[self.pk])

    @property
    def hours_text(self) -> str:
        return weekly_hours.format_hours(self.hours)


class SLAPolicy(BaseModel):
    """Targets for one kind of record, chosen by conditions on the record (first match by `order`)."""

    RECORD_TYPES = [("incident", _("Incident"))]

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("key"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    record_type = models.CharField(_("record type"), max_length=32, default="incident", db_index=True)
    order = models.PositiveIntegerField(_("order"), default=100, help_text=_("Lower is checked first."))
    active = models.BooleanField(_("active"), default=True)
    # {"priority": ["P1", "P2"], "service_tier": [1], "category": ["network"], "ci_class": ["server"]};
    # every key given must match, an empty mapping matches every record.
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    calendar = models.ForeignKey(BusinessCalendar, verbose_name=_("business calendar"), on_delete=models.PROTECT,
                                 related_name="policies")
    pause_states = models.JSONField(_("paused in states"), default=list, blank=True)
    # An empty list means no warnings, only the breach; a new policy warns at 50 % and 75 %.
    warn_percentages = models.JSONField(_("warn at (%)"), default=default_warn_percentages, blank=True)

    class Meta:
        ordering = ["record_type", "order", "name"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("sla:policy_detail", args=[self.pk])


class SLATarget(models.Model):
    METRICS = [("acknowledge", _("Time to acknowledge")), ("resolve", _("Time to resolve"))]

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    metric = models.CharField(_("metric"), max_length=32)
    goal_minutes = models.PositiveIntegerField(_("goal (minutes)"), validators=[MinValueValidator(1),
                                                                               MaxValueValidator(525600)])
    business_time = models.BooleanField(_("business time"), default=True,
                                        help_text=_("Count only the calendar's working hours; otherwise every minute."))

    class Meta:
        ordering = ["policy", "metric"]
        unique_together = [("policy", "metric")]
        verbose_name = _("SLA target")
        verbose_name_plural = _("SLA targets")

    def __str__(self):
        return f"{self.policy}: {self.metric} {self.goal_minutes} min"


class SLATimer(models.Model):
    """One metric's clock on one record.

    While running, `elapsed_seconds` holds the time counted before `resumed_at`, and `due_at` is the
    instant the goal is used up; paused, the elapsed time is all in `elapsed_seconds` and there is no
    due date. `next_check_at` is the next warning or breach instant, swept with skip_locked."""

    STATES = [("running", _("running")), ("paused", _("paused")), ("stopped", _("stopped")),
              ("cancelled", _("cancelled"))]

    # No index of its own: the (content_type, object_id) index serves it, and SQLite's planner took the
    # single-column one for a page's timers (every timer of the type, then filtered: 37 ms at 200k timers).
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+", db_index=False)
    object_id = models.BigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    metric = models.CharField(_("metric"), max_length=32)
    policy = models.ForeignKey(SLAPolicy, on_delete=models.PROTECT, related_name="timers")
    calendar = models.ForeignKey(BusinessCalendar, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    goal_seconds = models.PositiveIntegerField()
    business_time = models.BooleanField(default=True)
    state = models.CharField(max_length=10, choices=STATES, default="running")
    started_at = models.DateTimeField()
    resumed_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    elapsed_seconds = models.FloatField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    thresholds = models.JSONField(default=list)  # percentages to announce, 100 (breach) included
    thresholds_done = models.JSONField(default=list)
    next_check_at = models.DateTimeField(null=True, blank=True)
    pause_count = models.PositiveIntegerField(default=0)
    recalculated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        unique_together = [("content_type", "object_id", "metric")]
        verbose_name = _("SLA timer")
        verbose_name_plural = _("SLA timers")
        indexes = [models.Index(fields=["state", "next_check_at"]),
                   models.Index(fields=["breached_at"]),
                   models.Index(fields=["content_type", "object_id"])]

    def __str__(self):
        return f"{self.metric} {self.state}"
