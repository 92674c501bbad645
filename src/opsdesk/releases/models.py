"""Release management: environments in order, releases with their services and changes, deployments
recorded per environment (by people or by CI/CD), the version each environment runs, rollbacks and the
post-release watch."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel, NumberedModel

from .workflows import RELEASE_WORKFLOW

USER = settings.AUTH_USER_MODEL


class ReleaseSettings(models.Model):
    """The one row of release settings (config-as-code section `release_settings`)."""

    # Post-release watch: hours after a production deployment compared with the same hours before it.
    watch_hours = models.PositiveIntegerField(default=24)
    # A rise: at least `rise_min_count` incidents (or alerts) after, and at least `rise_factor` times the count before.
    rise_factor = models.FloatField(default=1.5)
    rise_min_count = models.PositiveIntegerField(default=3)
    # Create the production change from the release when none is linked (standard template when set).
    auto_create_change = models.BooleanField(default=True)
    change_template = models.CharField(max_length=64, blank=True)  # a ChangeTemplate slug
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = _("release settings")

    def __str__(self):
        return "release settings"


class Environment(BaseModel):
    """A deployment stage. Releases promote through active environments in `order`."""

    slug = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("order"), default=100)
    is_production = models.BooleanField(_("production"), default=False)
    # Deploying here needs an approved change (always true for production).
    requires_change = models.BooleanField(_("requires an approved change"), default=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self):
        return self.name


class Release(NumberedModel):
    NUMBER_PREFIX = "REL"
    TEAM_FIELD = "owner_team"

    title = models.CharField(_("title"), max_length=300)
    version = models.CharField(_("version"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    notes = models.TextField(_("release notes (Markdown)"), blank=True)
    owner_team = models.ForeignKey("accounts.Team", verbose_name=_("owner team"), on_delete=models.PROTECT,
                                   related_name="releases")
    manager = models.ForeignKey(USER, verbose_name=_("release manager"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="managed_releases")
    services = models.ManyToManyField("services.Service", verbose_name=_("services"), blank=True,
                                      related_name="releases")
    cis = models.ManyToManyField("cmdb.ConfigurationItem", verbose_name=_("application CIs"), blank=True,
                                 related_name="releases")
    changes = models.ManyToManyField("changes.ChangeRequest", verbose_name=_("changes"), blank=True,
                                     related_name="releases")
    # Work items outside Opsdesk (issue keys, merge requests): [{"key": "OPS-12", "title": "...", "url": "..."}]
    work_items = models.JSONField(_("work items"), default=list, blank=True)
    # Planned date per environment: {"test": "2026-12-01", "production": "2026-12-08"}
    planned_dates = models.JSONField(_("planned dates"), default=dict, blank=True)
    # Rollback procedure: [{"who", "action", "minutes", "verification"}] as a backout plan.
    rollback_steps = models.JSONField(_("rollback procedure"), default=list, blank=True)
    production_change = models.ForeignKey("changes.ChangeRequest", verbose_name=_("production change"), null=True,
                                          blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("status"), max_length=12, choices=RELEASE_WORKFLOW.choices,
                              default=RELEASE_WORKFLOW.initial, editable=False, db_index=True)
    status_reason = models.CharField(_("reason for the last status change"), max_length=500, blank=True)
    deployed_at = models.DateTimeField(_("deployed to production"), null=True, blank=True, db_index=True)
    # Post-release watch: until when, and the last evaluation.
    watch_until = models.DateTimeField(null=True, blank=True, db_index=True)
    WATCH_STATES = [("", _("Not watched")), ("watching", _("Watching")), ("quiet", _("No rise")),
                    ("rise", _("Rise flagged"))]
    watch_status = models.CharField(_("post-release watch"), max_length=10, choices=WATCH_STATES, blank=True)
    watch_result = models.JSONField(default=dict, blank=True)  # {"incidents": {"before", "after"}, "alerts": {...}}
    watch_flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "deployed_at"], name="releases_status_deployed")]

    def get_absolute_url(self):
        return reverse("releases:detail", args=[self.pk])


class Deployment(BaseModel):
    """One deployment of a release (or a rollback) to one environment, by a person or by CI/CD."""

    RESULTS = [("in_progress", _("In progress")), ("succeeded", _("Succeeded")), ("failed", _("Failed"))]

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="deployments")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deployments")
    version = models.CharField(_("version"), max_length=100)
    previous_version = models.CharField(_("previous version"), max_length=100, blank=True)
    result = models.CharField(_("result"), max_length=12, choices=RESULTS, default="succeeded", db_index=True)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    deployed_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200, blank=True)  # "alice", "ci-token (token ab12…)"
    pipeline_url = models.URLField(_("pipeline run"), max_length=500, blank=True)
    external_id = models.CharField(_("pipeline run id"), max_length=200, blank=True)
    change = models.ForeignKey("changes.ChangeRequest", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="deployments")
    is_rollback = models.BooleanField(default=False)
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="rollbacks")
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["environment", "started_at"], name="releases_deploy_env_time")]
        constraints = [models.UniqueConstraint(fields=["release", "environment", "external_id"],
                                               condition=~Q(external_id=""), name="releases_deploy_idempotent")]

    def __str__(self):
        return f"{self.release.number} {self.version} -> {self.environment}"


class DeployedVersion(models.Model):
    """What one environment runs now for one service or application CI (one row each, replaced on deploy)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="versions")
    service = models.ForeignKey("services.Service", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    version = models.CharField(max_length=100)
    release = models.ForeignKey(Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deployment = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deployed_at = models.DateTimeField()

    class Meta:
        ordering = ["environment", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(service__isnull=False) | Q(ci__isnull=False),
                                   name="releases_version_has_target"),
            models.UniqueConstraint(fields=["environment", "service"], condition=Q(ci__isnull=True),
                                    name="releases_version_one_per_service"),
            models.UniqueConstraint(fields=["environment", "ci"], condition=Q(ci__isnull=False),
                                    name="releases_version_one_per_ci"),
        ]
