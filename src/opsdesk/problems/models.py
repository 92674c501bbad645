"""Problem management: problems and their root-cause analyses, problem candidates proposed by trend
detection, the known error database, countermeasures, and the recurrence check that verifies a fix."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel, NumberedModel
from opsdesk.incidents.models import PRIORITIES

from .workflows import COUNTERMEASURE_WORKFLOW, KNOWN_ERROR_WORKFLOW, PROBLEM_WORKFLOW

USER = settings.AUTH_USER_MODEL


class ProblemSettings(models.Model):
    """The one row of problem settings: trend thresholds, RCA categories and the recurrence watch.
    Changed through config-as-code (section `problem_settings`) or the settings page."""

    # Trend detection: N incidents on the same CI / service / category within M days.
    trend_ci_count = models.PositiveIntegerField(default=5)
    trend_ci_days = models.PositiveIntegerField(default=7)
    trend_service_count = models.PositiveIntegerField(default=10)
    trend_service_days = models.PositiveIntegerField(default=7)
    trend_category_count = models.PositiveIntegerField(default=15)
    trend_category_days = models.PositiveIntegerField(default=7)
    # Clusters of similar incident text: at least N incidents within M days whose titles are this similar.
    trend_text_count = models.PositiveIntegerField(default=4)
    trend_text_days = models.PositiveIntegerField(default=14)
    trend_text_similarity = models.FloatField(default=0.6)  # 0..1, Jaccard over title word shingles
    # A dismissed candidate is not proposed again for the same key for this many days.
    dismiss_days = models.PositiveIntegerField(default=30)
    # Fishbone categories: [{"key": "people", "label": "People"}, ...]
    rca_categories = models.JSONField(default=list)
    # Recurrence check after resolution.
    watch_days = models.PositiveIntegerField(default=30)
    # Verdict: "effective" when recurrences during the watch are 0; "partially effective" when the rate
    # (incidents per day) fell by at least this share; otherwise "not effective".
    partial_reduction = models.FloatField(default=0.5)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = _("problem settings")

    def __str__(self):
        return "problem settings"


class Problem(NumberedModel):
    NUMBER_PREFIX = "PRB"
    TEAM_FIELD = "owner_team"

    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    service = models.ForeignKey("services.Service", verbose_name=_("service"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="problems")
    cis = models.ManyToManyField("cmdb.ConfigurationItem", verbose_name=_("CIs"), blank=True, related_name="problems")
    category = models.ForeignKey("incidents.Category", verbose_name=_("category"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="problems")
    impact = models.PositiveSmallIntegerField(_("impact"), default=3)
    urgency = models.PositiveSmallIntegerField(_("urgency"), default=3)
    priority = models.CharField(_("priority"), max_length=2, choices=PRIORITIES, default="P4", db_index=True)
    owner_team = models.ForeignKey("accounts.Team", verbose_name=_("owner team"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="problems")
    owner = models.ForeignKey(USER, verbose_name=_("owner"), null=True, blank=True, on_delete=models.PROTECT,
                              related_name="owned_problems")
    incidents = models.ManyToManyField("incidents.Incident", verbose_name=_("linked incidents"), blank=True,
                                       related_name="problems")
    # Change requests are a later module; until it links them itself, their numbers (CHG-12).
    change_numbers = models.JSONField(_("linked changes"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=PROBLEM_WORKFLOW.choices,
                              default=PROBLEM_WORKFLOW.initial, editable=False, db_index=True)
    status_reason = models.CharField(_("reason for the last status change"), max_length=500, blank=True)
    # Root cause and fix: both are required to resolve.
    root_cause = models.TextField(_("root cause"), blank=True)
    contributing_factors = models.JSONField(_("contributing factors"), default=list, blank=True)  # ["..."]
    workaround = models.TextField(_("workaround"), blank=True)
    workaround_published_at = models.DateTimeField(_("workaround published"), null=True, blank=True)
    fix_description = models.TextField(_("fix"), blank=True)
    fix_published_at = models.DateTimeField(_("fix published"), null=True, blank=True)
    impact_summary = models.TextField(_("business impact"), blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # The candidate it came from (trend detection), if any.
    source = models.CharField(_("source"), max_length=12, default="manual",
                              choices=[("manual", _("Manual")), ("incident", _("From incidents")),
                                       ("trend", _("Trend detection"))])

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "priority"]), models.Index(fields=["owner_team", "status"])]

    def get_absolute_url(self):
        return reverse("problems:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "assessed", "rca", "fix_in_progress")


class RootCauseAnalysis(BaseModel):
    """One structured analysis on a problem; a problem may hold several (a 5 Whys and a fishbone).

    `data` by method:
    - five_whys: {"problem": "...", "whys": [{"question": "Why ...?", "answer": "..."}, ...],
                  "root_cause": "..."}
    - fishbone: {"effect": "...", "causes": [{"category": "<rca category key>", "text": "...",
                  "sub": ["...", ...]}, ...]}
    - timeline: {"events": [{"at": "2026-11-20T10:04:00Z", "text": "...", "kind": "detect|action|..."}]}
    """

    METHODS = [("five_whys", _("5 Whys")), ("fishbone", _("Fishbone (Ishikawa)")), ("timeline", _("Timeline"))]

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="analyses")
    method = models.CharField(_("method"), max_length=12, choices=METHODS)
    title = models.CharField(_("title"), max_length=200, blank=True)
    data = models.JSONField(default=dict)
    order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("root-cause analysis")
        verbose_name_plural = _("root-cause analyses")

    def __str__(self):
        return f"{self.problem.number} {self.get_method_display()}"


class ProblemCandidate(models.Model):
    """A recurring pattern found by trend detection: N incidents on one CI, service or category, or a
    cluster of similar incident text. Accepting it creates the problem; dismissing it silences the
    same key for `ProblemSettings.dismiss_days`."""

    KINDS = [("ci", _("Same CI")), ("service", _("Same service")), ("category", _("Same category")),
             ("text", _("Similar text"))]
    STATES = [("open", _("Open")), ("accepted", _("Accepted")), ("dismissed", _("Dismissed"))]

    kind = models.CharField(_("kind"), max_length=10, choices=KINDS)
    # What the incidents share: "ci:<id>", "service:<id>", "category:<id>", "text:<sorted key words>".
    key = models.CharField(max_length=300)
    title = models.CharField(_("title"), max_length=300)
    reason = models.CharField(_("why"), max_length=500)
    incidents = models.ManyToManyField("incidents.Incident", related_name="problem_candidates")
    incident_count = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="+")
    service = models.ForeignKey("services.Service", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    category = models.ForeignKey("incidents.Category", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=STATES, default="open", db_index=True)
    problem = models.ForeignKey(Problem, null=True, blank=True, on_delete=models.SET_NULL, related_name="candidates")
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    dismiss_reason = models.CharField(max_length=500, blank=True)
    detected_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-incident_count", "-id"]
        constraints = [models.UniqueConstraint(fields=["key"], condition=models.Q(status="open"),
                                               name="problem_candidate_one_open_per_key")]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("problems:candidate_detail", args=[self.pk])


class KnownError(NumberedModel):
    NUMBER_PREFIX = "KE"

    title = models.CharField(_("title"), max_length=300)
    symptom = models.TextField(_("symptom"))
    root_cause = models.TextField(_("root cause"), blank=True)
    workaround = models.TextField(_("workaround"), blank=True)
    permanent_solution = models.TextField(_("permanent solution"), blank=True)
    error_pattern = models.CharField(_("error code or log pattern"), max_length=500, blank=True,
                                     help_text=_("A code (ORA-00600) or a regular expression matched against "
                                                 "incident titles, descriptions and symptoms."))
    cis = models.ManyToManyField("cmdb.ConfigurationItem", verbose_name=_("affected CIs"), blank=True,
                                 related_name="known_errors")
    ci_classes = models.ManyToManyField("cmdb.CIClass", verbose_name=_("affected CI classes"), blank=True,
                                        related_name="known_errors")
    services = models.ManyToManyField("services.Service", verbose_name=_("affected services"), blank=True,
                                      related_name="known_errors")
    software_versions = models.CharField(_("affected software versions"), max_length=300, blank=True)
    problem = models.ForeignKey(Problem, verbose_name=_("problem"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="known_errors")
    status = models.CharField(_("status"), max_length=8, choices=KNOWN_ERROR_WORKFLOW.choices,
                              default=KNOWN_ERROR_WORKFLOW.initial, editable=False, db_index=True)
    status_reason = models.CharField(_("reason for the last status change"), max_length=500, blank=True)
    times_applied = models.PositiveIntegerField(_("workaround applied"), default=0)
    last_applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def get_absolute_url(self):
        return reverse("problems:knownerror_detail", args=[self.pk])


class WorkaroundApplication(models.Model):
    """A known error's workaround applied to an incident: recorded on the incident (comment and change
    log) and counted on the known error. Once per (known error, incident)."""

    known_error = models.ForeignKey(KnownError, on_delete=models.CASCADE, related_name="applications")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="workarounds_applied")
    applied_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200)
    applied_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-applied_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["known_error", "incident"], name="workaround_once_per_incident")]

    def __str__(self):
        return f"{self.known_error.number} on {self.incident.number}"


class Countermeasure(BaseModel):
    TEAM_FIELD = "problem__owner_team"
    KINDS = [("workaround", _("Workaround")), ("permanent_fix", _("Permanent fix")), ("monitoring", _("Monitoring")),
             ("process", _("Process")), ("training", _("Training"))]

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="countermeasures")
    title = models.CharField(_("action"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("type"), max_length=14, choices=KINDS)
    owner = models.ForeignKey(USER, verbose_name=_("owner"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="countermeasures")
    due_date = models.DateField(_("due"), null=True, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=12, choices=COUNTERMEASURE_WORKFLOW.choices,
                              default=COUNTERMEASURE_WORKFLOW.initial, editable=False, db_index=True)
    status_reason = models.CharField(max_length=500, blank=True)
    # The change request that implements it (CHG-12); the change module fills it in.
    change_number = models.CharField(_("change request"), max_length=32, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("problems:detail", args=[self.problem_id]) + "?tab=countermeasures"


class RecurrenceCheck(models.Model):
    """The watch that follows a problem's resolution: for `watch_days` Opsdesk counts new incidents that
    match the problem (its CIs, its known errors' patterns, similar text). At `ends_at` it records the
    evaluation; a recurrence during the watch is recorded at once, notifies the owner, and makes the
    verdict "not effective" (reopening an evaluated check)."""

    STATES = [("watching", _("Watching")), ("evaluated", _("Evaluated")), ("cancelled", _("Cancelled"))]
    VERDICTS = [("", _("Not yet")), ("effective", _("Effective")), ("partially_effective", _("Partially effective")),
                ("not_effective", _("Not effective"))]

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="recurrence_checks")
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField(db_index=True)  # the timer: swept by tasks.evaluate_due_checks
    status = models.CharField(max_length=10, choices=STATES, default="watching", db_index=True)
    recurrences = models.ManyToManyField("incidents.Incident", related_name="recurrence_of", blank=True)
    # The evaluation: before = the same length of time before the problem's first linked incident ...
    # resolution; figures are stored so the record stays as it was judged.
    count_before = models.PositiveIntegerField(null=True, blank=True)
    count_after = models.PositiveIntegerField(null=True, blank=True)
    mtbi_before_hours = models.FloatField(null=True, blank=True)  # mean time between incidents
    mtbi_after_hours = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=20, choices=VERDICTS, blank=True, default="")
    explanation = models.TextField(blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    owner_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["problem"], condition=models.Q(status="watching"),
                                               name="recurrence_one_watch_per_problem")]

    def __str__(self):
        return f"{self.problem.number} recurrence check from {self.started_at:%Y-%m-%d}"
