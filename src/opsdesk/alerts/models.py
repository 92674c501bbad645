"""Alert intake: integrations (where monitoring posts), the payloads they posted, the alerts and their
groups (one group = one incident), routes, silences and maintenance windows.

Alerts carry no human number: they are machine events arriving at a thousand a second, and a number
sequence would serialise every ingest on one row (docs/decisions/0007). Their groups point at the
incident, which has one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel

USER = settings.AUTH_USER_MODEL

INTEGRATION_KINDS = [
    ("alertmanager", _("Prometheus Alertmanager")),
    ("grafana", _("Grafana alerting")),
    ("events", _("Events API (PagerDuty Events v2 style)")),
    ("email", _("Email (IMAP mailbox)")),
]
SEVERITIES = [("critical", _("Critical")), ("error", _("Error")), ("warning", _("Warning")), ("info", _("Info"))]


class Integration(BaseModel):
    """A source of alerts with its own secret key in the URL (`/api/v1/integrations/<kind>/<key>/`).

    The key is stored hashed (sha256) and shown once; `key_prefix` lets a person recognise it. An
    optional HMAC secret (the signature of the body) or bearer token adds a second check.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=INTEGRATION_KINDS)
    description = models.TextField(_("description"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(_("key starts with"), max_length=12, editable=False)
    hmac_secret = models.CharField(_("HMAC secret"), max_length=200, blank=True,
                                   help_text=_("When set, requests must carry X-Opsdesk-Signature: "
                                               "sha256=<hex HMAC of timestamp.body>."))
    bearer_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Grouping, routing defaults and resolution
    grouping_template = models.CharField(
        _("grouping key"), max_length=500, blank=True,
        help_text=_("A template over labels such as {{ alertname }}/{{ cluster }}; empty: Alertmanager's "
                    "groupKey (other kinds: the dedup key / fingerprint)."))
    team = models.ForeignKey("accounts.Team", verbose_name=_("default team"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    service = models.ForeignKey("services.Service", verbose_name=_("default service"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    severity_map = models.JSONField(_("priority per severity"), default=dict, blank=True,
                                    help_text=_('e.g. {"critical": "P1", "warning": "P3"}'))
    ci_labels = models.JSONField(_("CI labels"), default=list, blank=True,
                                 help_text=_("Labels naming the affected CI, tried in order "
                                             "(matched by name, host name or IP address)."))
    auto_resolve = models.BooleanField(_("resolve the incident when every alert is resolved"), default=True)
    reopen_window_minutes = models.PositiveIntegerField(_("re-firing reopens within (minutes)"), default=60)
    flapping_changes = models.PositiveIntegerField(_("flapping after state changes"), default=5)
    flapping_window_minutes = models.PositiveIntegerField(_("flapping window (minutes)"), default=30)
    payload_retention_days = models.PositiveIntegerField(_("keep raw payloads (days)"), default=30)
    # Heartbeats
    heartbeat_interval_minutes = models.PositiveIntegerField(_("expect a heartbeat every (minutes)"), null=True,
                                                             blank=True)
    last_heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    heartbeat_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    heartbeat_incident = models.ForeignKey("incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="+")
    # Email intake (kind "email")
    imap_host = models.CharField(_("IMAP host"), max_length=200, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), null=True, blank=True)
    imap_ssl = models.BooleanField(_("IMAP over TLS"), default=True)
    imap_username = models.CharField(_("IMAP user"), max_length=200, blank=True)
    imap_password = models.CharField(_("IMAP password"), max_length=200, blank=True)
    imap_folder = models.CharField(_("IMAP folder"), max_length=200, blank=True, default="INBOX")
    imap_last_uid = models.PositiveBigIntegerField(default=0, editable=False)
    imap_uidvalidity = models.PositiveBigIntegerField(default=0, editable=False)  # UIDs restart when it changes
    last_alert_at = models.DateTimeField(_("last alert"), null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("alerts:integration_detail", args=[self.pk])


class RawPayload(models.Model):
    """A request body as received, kept for `payload_retention_days` and shown on its alerts.

    The ingest request validates the body, stores this row with the normalised events and answers;
    the worker processes it (`processed_at` set in the same transaction as its alerts), and the
    sweeper takes any row a lost broker message left unprocessed, so nothing is lost or done twice.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="payloads")
    received_at = models.DateTimeField(db_index=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField()
    size = models.PositiveIntegerField()
    events = models.JSONField(default=list)  # the normalised events (see alerts.intake.AlertEvent)
    event_count = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["received_at"], condition=Q(processed_at__isnull=True),
                                name="alerts_payload_pending")]

    def __str__(self):
        return f"{self.integration} {self.received_at:%Y-%m-%d %H:%M:%S}"


class Route(BaseModel):
    """An ordered routing rule; the first that matches an alert picks service, team, escalation policy
    and priority. A route without conditions matches everything (the default route goes last)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("order"), default=100)
    enabled = models.BooleanField(_("enabled"), default=True)
    integration = models.ForeignKey(Integration, verbose_name=_("only from integration"), null=True, blank=True,
                                    on_delete=models.CASCADE, related_name="routes")
    matchers = models.JSONField(_("label matchers"), default=list, blank=True,
                                help_text=_('[{"label": "team", "op": "=", "value": "db"}]; op is =, !=, =~ or !~'))
    severities = models.JSONField(_("severities"), default=list, blank=True)
    source_pattern = models.CharField(_("source matches (regular expression)"), max_length=200, blank=True)
    service = models.ForeignKey("services.Service", verbose_name=_("service"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    escalation_policy = models.ForeignKey("oncall.EscalationPolicy", verbose_name=_("escalation policy"), null=True,
                                          blank=True, on_delete=models.SET_NULL, related_name="routes")
    priority = models.CharField(_("priority"), max_length=2, blank=True,
                                help_text=_("Empty: from the integration's severity mapping."))

    class Meta:
        ordering = ["order", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("alerts:route_detail", args=[self.pk])


class Silence(BaseModel):
    """Alerts matching every matcher between start and end are recorded but open no incident and page
    no one. Future-dated silences are allowed; an expired one is kept for the record."""

    matchers = models.JSONField(_("label matchers"), default=list)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    comment = models.TextField(_("comment"))
    integration = models.ForeignKey(Integration, verbose_name=_("only from integration"), null=True, blank=True,
                                    on_delete=models.CASCADE, related_name="silences")
    expired_early_at = models.DateTimeField(_("ended by hand"), null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["ends_at", "starts_at"])]

    def __str__(self):
        return f"#{self.pk} {self.comment[:60]}"

    def get_absolute_url(self):
        return reverse("alerts:silence_detail", args=[self.pk])


class MaintenanceWindow(BaseModel):
    """Planned maintenance of services and CIs: their alerts are recorded but open no incident."""

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    services = models.ManyToManyField("services.Service", verbose_name=_("services"), blank=True, related_name="+")
    cis = models.ManyToManyField("cmdb.ConfigurationItem", verbose_name=_("configuration items"), blank=True,
                                 related_name="+")
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["ends_at", "starts_at"])]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("alerts:maintenance_detail", args=[self.pk])


class AlertGroup(models.Model):
    """The alerts of one grouping key while they are open: one group, one incident. At most one open
    group per (integration, key); a group whose alerts all resolved closes, and a re-firing within the
    integration's reopen window opens it again with its incident."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="groups")
    key_hash = models.CharField(max_length=64)  # sha256 of group_key (keys can be long)
    group_key = models.TextField()
    is_open = models.BooleanField(default=True)
    status = models.CharField(max_length=10, default="firing",
                              choices=[("firing", _("firing")), ("resolved", _("resolved"))])
    title = models.CharField(max_length=300, blank=True)
    severity = models.CharField(max_length=10, choices=SEVERITIES, blank=True)
    route = models.ForeignKey(Route, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="alert_groups")
    suppressed = models.CharField(max_length=12, blank=True,
                                  choices=[("", _("no")), ("silence", _("silenced")),
                                           ("maintenance", _("in maintenance"))])
    alert_count = models.PositiveIntegerField(default=0)
    firing_count = models.PositiveIntegerField(default=0)
    first_alert_at = models.DateTimeField()
    last_alert_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # When the group's incident was last paged (the receipt time of the payload that paged): a re-firing
    # within the integration's flapping window of it reopens the incident without paging again.
    paged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_alert_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["integration", "key_hash"], condition=Q(is_open=True),
                                               name="alerts_one_open_group_per_key")]
        indexes = [models.Index(fields=["integration", "key_hash", "resolved_at"])]

    def __str__(self):
        return self.title or self.group_key[:80]


class Alert(models.Model):
    """One alert series of an integration, identified by its fingerprint: repeats count, state changes
    are recorded (for flapping), and it belongs to its current group."""

    STATUSES = [("firing", _("firing")), ("resolved", _("resolved"))]

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(_("fingerprint"), max_length=255)  # an events-API dedup key may be 255 long
    group = models.ForeignKey(AlertGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    status = models.CharField(_("status"), max_length=10, choices=STATUSES, default="firing", db_index=True)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    severity = models.CharField(_("severity"), max_length=10, choices=SEVERITIES, blank=True)
    source = models.CharField(_("source"), max_length=200, blank=True)
    labels = models.JSONField(_("labels"), default=dict)
    annotations = models.JSONField(_("annotations"), default=dict)
    generator_url = models.URLField(_("generator URL"), max_length=1000, blank=True)
    starts_at = models.DateTimeField(_("started"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ended"), null=True, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"), db_index=True)
    repeat_count = models.PositiveIntegerField(_("repeats"), default=0)
    state_changes = models.JSONField(default=list)  # recent change instants (ISO), for flapping
    flapping = models.BooleanField(_("flapping"), default=False)
    suppressed = models.CharField(_("suppressed"), max_length=12, blank=True)  # "", "silence", "maintenance"
    silence = models.ForeignKey(Silence, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    maintenance = models.ForeignKey(MaintenanceWindow, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="alerts")
    ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="alerts")
    last_payload = models.ForeignKey(RawPayload, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The receipt time of the newest payload applied to the alert: an older payload processed later (a
    # retried or backlogged one) changes no state; it counts as a repeat at most.
    last_received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["integration", "fingerprint"],
                                               name="alerts_one_alert_per_fingerprint")]
        indexes = [models.Index(fields=["group", "status"])]

    def __str__(self):
        return self.summary or self.labels.get("alertname", "") or self.fingerprint

    def get_absolute_url(self):
        return reverse("alerts:alert_detail", args=[self.pk])

    @property
    def link_url(self) -> str:
        """The generator URL when it is a web address; anything else (a javascript: URL stored before
        intake refused them) is not offered as a link."""
        url = self.generator_url or ""
        return url if url.lower().startswith(("http://", "https://")) else ""
