"""The configuration management database: CI classes with typed attributes, configuration items and
their lifecycle, typed relationships (with the direction in which a failure spreads), discovery
imports and configuration audits.

Sections: classes and attributes · configuration items · relationships · imports · audits.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel, NumberedModel

from .workflows import CI_WORKFLOW

USER = settings.AUTH_USER_MODEL

# --- classes and attributes --------------------------------------------------------------------------


class CIClass(BaseModel):
    """A kind of configuration item (server, database, certificate ...) and the attributes it carries."""

    slug = models.SlugField(_("key"), max_length=64, unique=True,
                            help_text=_("Stable identifier used by the API, imports and configuration files."))
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    icon = models.CharField(_("icon"), max_length=40, default="box",
                            help_text=_("A Bootstrap Icons name, shown on lists and the service map."))
    is_asset = models.BooleanField(_("physical or licensed asset"), default=False,
                                   help_text=_("Shows the purchase, warranty and disposal fields."))
    expiry_reminder_days = models.JSONField(
        _("expiry reminders (days before)"), default=list, blank=True,
        help_text=_("Days before warranty end or licence/certificate expiry at which a reminder goes out, "
                    "e.g. [60, 14]."))
    builtin = models.BooleanField(_("shipped with Opsdesk"), default=False, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("CI class")
        verbose_name_plural = _("CI classes")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("cmdb:class_detail", args=[self.pk])

    def clean(self):
        days = self.expiry_reminder_days or []
        if not isinstance(days, list) or not all(isinstance(d, int) and 0 <= d <= 3650 for d in days):
            raise ValidationError({"expiry_reminder_days": _("A list of whole numbers of days from 0 to 3650.")})


class AttributeDefinition(BaseModel):
    """A typed attribute of a class, or of every class when `ci_class` is empty (a custom attribute)."""

    TYPES = [
        ("string", _("Text")),
        ("integer", _("Whole number")),
        ("decimal", _("Decimal number")),
        ("date", _("Date")),
        ("boolean", _("Yes/no")),
        ("choice", _("Choice")),
        ("reference", _("Reference to a CI")),
        ("ip", _("IP address")),
    ]

    ci_class = models.ForeignKey(CIClass, verbose_name=_("class"), null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="attribute_definitions",
                                 help_text=_("Empty: a custom attribute every class has."))
    key = models.SlugField(_("key"), max_length=64, help_text=_("Letters, digits and underscores."))
    label = models.CharField(_("label"), max_length=100)
    type = models.CharField(_("type"), max_length=16, choices=TYPES, default="string")
    required = models.BooleanField(_("required"), default=False)
    choices = models.JSONField(_("choices"), default=list, blank=True, help_text=_("For the choice type."))
    reference_class = models.ForeignKey(CIClass, verbose_name=_("referenced class"), null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+",
                                        help_text=_("For the reference type: the class the CI must have "
                                                    "(empty: any class)."))
    help_text = models.CharField(_("help text"), max_length=300, blank=True)
    tracked = models.BooleanField(
        _("tracked"), default=False,
        help_text=_("A change to it on a production CI without a change request is reported by the audit."))
    order = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        ordering = ["order", "key"]
        verbose_name = _("attribute")
        verbose_name_plural = _("attributes")
        constraints = [
            models.UniqueConstraint(fields=["ci_class", "key"], name="cmdb_attribute_unique_per_class"),
            models.UniqueConstraint(fields=["key"], condition=Q(ci_class__isnull=True),
                                    name="cmdb_custom_attribute_unique"),
        ]

    def __str__(self):
        scope = self.ci_class.slug if self.ci_class_id else "*"
        return f"{scope}.{self.key}"

    def clean(self):
        if self.type == "choice" and (not isinstance(self.choices, list) or not self.choices
                                      or not all(isinstance(c, str) and c for c in self.choices)):
            raise ValidationError({"choices": _("A choice attribute needs a list of choices (text).")})
        if self.type != "choice" and self.choices:
            raise ValidationError({"choices": _("Only choice attributes have choices.")})
        if self.type != "reference" and self.reference_class_id:
            raise ValidationError({"reference_class": _("Only reference attributes name a class.")})


# --- configuration items -----------------------------------------------------------------------------


class ConfigurationItem(NumberedModel):
    NUMBER_PREFIX = "CI"
    TEAM_FIELD = "owner_team"

    ENVIRONMENTS = [("dev", _("Development")), ("test", _("Test")), ("staging", _("Staging")),
                    ("production", _("Production"))]
    REDUNDANCY_MODES = [("count", _("at least N members up")), ("percent", _("at least N% of members up"))]
    DISPOSAL_METHODS = [("recycled", _("Recycled")), ("resold", _("Resold")), ("destroyed", _("Destroyed")),
                        ("returned", _("Returned to vendor or lessor")), ("donated", _("Donated")),
                        ("deleted", _("Deleted (virtual or software)"))]

    name = models.CharField(_("name"), max_length=200, db_index=True)
    ci_class = models.ForeignKey(CIClass, verbose_name=_("class"), on_delete=models.PROTECT, related_name="cis")
    status = models.CharField(_("status"), max_length=16, choices=CI_WORKFLOW.choices, default=CI_WORKFLOW.initial,
                              editable=False, db_index=True)
    environment = models.CharField(_("environment"), max_length=16, choices=ENVIRONMENTS, default="production",
                                   db_index=True)
    owner_team = models.ForeignKey("accounts.Team", verbose_name=_("owner team"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="cis")
    services = models.ManyToManyField("services.Service", verbose_name=_("supports services"), blank=True,
                                      related_name="cis")
    location = models.CharField(_("location"), max_length=200, blank=True, db_index=True)
    ip_addresses = models.JSONField(_("IP addresses"), default=list, blank=True)
    hostnames = models.JSONField(_("host names"), default=list, blank=True)
    # " 10.0.0.1 web01.example.net " — lower-case, space-delimited, for lookups by address or host name on
    # every database (JSON containment is not available on SQLite). Kept in step by clean().
    identifiers = models.TextField(editable=False, blank=True, default="")
    description = models.TextField(_("description"), blank=True)
    tags = models.ManyToManyField("core.Tag", verbose_name=_("tags"), blank=True, related_name="+")
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)

    # Asset fields
    serial_number = models.CharField(_("serial number"), max_length=100, blank=True, db_index=True)
    asset_tag = models.CharField(_("asset tag"), max_length=100, blank=True, db_index=True)
    vendor = models.CharField(_("vendor"), max_length=100, blank=True)
    model_name = models.CharField(_("model"), max_length=100, blank=True)
    purchase_date = models.DateField(_("purchase date"), null=True, blank=True)
    purchase_cost = models.DecimalField(_("purchase cost"), max_digits=14, decimal_places=2, null=True, blank=True,
                                        validators=[MinValueValidator(0)])
    warranty_end = models.DateField(_("warranty end"), null=True, blank=True, db_index=True)
    expires_on = models.DateField(_("licence or certificate expiry"), null=True, blank=True, db_index=True)

    # Redundancy (iTop): this CI stays up while at least N (or N%) of the members whose failure would
    # impact it are up. Empty: any impacted member impacts it.
    redundancy_min = models.PositiveIntegerField(_("redundancy: members needed"), null=True, blank=True)
    redundancy_mode = models.CharField(_("redundancy counted as"), max_length=8, choices=REDUNDANCY_MODES,
                                       default="count")

    # Discovery
    discovery_source = models.CharField(_("discovered by"), max_length=64, blank=True, db_index=True)
    last_seen_at = models.DateTimeField(_("last seen by discovery"), null=True, blank=True, db_index=True)
    discovered = models.JSONField(_("as discovered"), default=dict, blank=True, editable=False,
                                  help_text=_("The values discovery last reported, for drift audits."))
    missing_from_discovery = models.BooleanField(_("missing from the last discovery"), default=False)

    # Lifecycle bookkeeping
    status_reason = models.CharField(_("reason for the last status change"), max_length=500, blank=True)
    disposed_on = models.DateField(_("disposed on"), null=True, blank=True)
    disposal_method = models.CharField(_("disposal method"), max_length=16, choices=DISPOSAL_METHODS, blank=True)
    disposal_reference = models.CharField(_("disposal certificate or reference"), max_length=200, blank=True)
    disposal_approved_by = models.ForeignKey(USER, verbose_name=_("disposal approved by"), null=True, blank=True,
                                             on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["name"]
        verbose_name = _("configuration item")
        verbose_name_plural = _("configuration items")
        indexes = [
            models.Index(fields=["ci_class", "status"]),
            models.Index(fields=["ci_class", "environment", "status"]),  # the list's usual filter (benchmarks)
            models.Index(fields=["environment", "status"]),
            models.Index(fields=["owner_team", "status"]),
            models.Index(fields=["updated_at"]),  # ordering=-updated_at ("recently changed")
            models.Index(Lower("name"), name="cmdb_ci_name_lower"),  # imports match names case-blind
        ]

    def get_absolute_url(self):
        return reverse("cmdb:detail", args=[self.pk])

    def clean(self):
        errors = {}
        for field, validate in (("ip_addresses", _validate_ip), ("hostnames", _validate_hostname)):
            values = getattr(self, field)
            if not isinstance(values, list):
                errors[field] = [_("A list.")]
                continue
            for value in values:
                try:
                    validate(value)
                except ValidationError as exc:
                    errors.setdefault(field, []).extend(exc.messages)
        if self.redundancy_min is not None and self.redundancy_mode == "percent" and self.redundancy_min > 100:
            errors["redundancy_min"] = [_("A percentage is at most 100.")]
        if errors:
            raise ValidationError(errors)
        self.ip_addresses = [str(v).strip() for v in self.ip_addresses]
        self.hostnames = [str(v).strip().lower().rstrip(".") for v in self.hostnames]
        self.identifiers = identifiers_text(self.ip_addresses, self.hostnames)


def identifiers_text(ip_addresses, hostnames) -> str:
    values = [*(str(v).lower() for v in ip_addresses), *(str(v).lower() for v in hostnames)]
    return f" {' '.join(values)} " if values else ""


def _validate_ip(value):
    from django.core.validators import validate_ipv46_address

    if not isinstance(value, str):
        raise ValidationError(_("%(value)s is not an IP address.") % {"value": value})
    validate_ipv46_address(value.strip())


def _validate_hostname(value):
    import re

    if not isinstance(value, str) or not re.fullmatch(r"(?=.{1,253}\.?$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})"
                                                      r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?", value.strip()):
        raise ValidationError(_("%(value)s is not a host name.") % {"value": value})


# --- relationships -----------------------------------------------------------------------------------


class RelationshipType(BaseModel):
    """A kind of link from a source CI to a target (a CI or a service), and which way a failure spreads.

    `impact` says whose failure impacts whom: for "app runs on host", the host's (the target's) failure
    impacts the app (the source): `target_to_source`. For "node member of cluster" the node's (the
    source's) failure impacts the cluster: `source_to_target`.
    """

    IMPACTS = [
        ("target_to_source", _("the target's failure impacts the source")),
        ("source_to_target", _("the source's failure impacts the target")),
        ("both", _("a failure of either impacts the other")),
        ("none", _("no impact")),
    ]

    slug = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True, help_text=_('Read from the source: "runs on".'))
    reverse_name = models.CharField(_("reverse name"), max_length=100, help_text=_('Read from the target: '
                                                                                   '"runs".'))
    impact = models.CharField(_("impact direction"), max_length=20, choices=IMPACTS, default="target_to_source")
    description = models.TextField(_("description"), blank=True)
    builtin = models.BooleanField(_("shipped with Opsdesk"), default=False, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("relationship type")
        verbose_name_plural = _("relationship types")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("cmdb:reltype_detail", args=[self.pk])


class Relationship(BaseModel):
    """A typed, directed link from a CI to another CI or to a service.

    Removing a relationship ends it (`ended_at`) rather than deleting it, so the "as of" view can show
    the relationships of a past date; only current ones (`ended_at` empty) take part in impact analysis.
    """

    source = models.ForeignKey(ConfigurationItem, verbose_name=_("source"), on_delete=models.PROTECT,
                               related_name="outgoing")
    type = models.ForeignKey(RelationshipType, verbose_name=_("type"), on_delete=models.PROTECT,
                             related_name="relationships")
    target = models.ForeignKey(ConfigurationItem, verbose_name=_("target CI"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="incoming")
    target_service = models.ForeignKey("services.Service", verbose_name=_("target service"), null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="ci_relationships")
    note = models.CharField(_("note"), max_length=300, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]
        verbose_name = _("relationship")
        verbose_name_plural = _("relationships")
        constraints = [
            models.CheckConstraint(
                condition=(Q(target__isnull=False, target_service__isnull=True)
                           | Q(target__isnull=True, target_service__isnull=False)),
                name="cmdb_relationship_one_target"),
            models.UniqueConstraint(fields=["source", "type", "target"], condition=Q(ended_at__isnull=True),
                                    name="cmdb_relationship_unique_current_ci"),
            models.UniqueConstraint(fields=["source", "type", "target_service"], condition=Q(ended_at__isnull=True),
                                    name="cmdb_relationship_unique_current_service"),
        ]
        indexes = [
            models.Index(fields=["source", "type"], condition=Q(ended_at__isnull=True), name="cmdb_rel_current_src"),
            models.Index(fields=["target", "type"], condition=Q(ended_at__isnull=True), name="cmdb_rel_current_tgt"),
        ]

    def __str__(self):
        target = self.target if self.target_id else self.target_service
        return f"{self.source} {self.type} {target}"

    @property
    def target_object(self):
        return self.target if self.target_id else self.target_service


# --- imports (discovery) -----------------------------------------------------------------------------


class ImportRun(NumberedModel):
    """One import of a file (CSV, XLSX, nmap XML, Ansible facts) or of pushed rows, with its
    reconciliation policy and its report."""

    NUMBER_PREFIX = "IMP"

    KINDS = [("csv", _("CSV")), ("xlsx", _("Excel (XLSX)")), ("nmap", _("nmap XML")),
             ("ansible", _("Ansible facts (JSON)")), ("rows", _("Rows pushed through the API"))]
    STATUSES = [("queued", _("Queued")), ("running", _("Running")), ("done", _("Done")), ("failed", _("Failed"))]
    ON_NONE = [("create", _("create a CI")), ("skip", _("skip (report as unregistered)")), ("error", _("error"))]
    ON_ONE = [("update", _("update it")), ("skip", _("leave it"))]
    ON_MANY = [("error", _("error")), ("skip", _("skip"))]
    UNSEEN = [("ignore", _("ignore")), ("mark", _("mark as missing")), ("retire", _("retire"))]

    name = models.CharField(_("name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=8, choices=KINDS)
    source = models.CharField(_("discovery source"), max_length=64, default="import",
                              help_text=_("Names where the data came from; CIs not seen are looked for among the "
                                          "CIs of this source."))
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    file_path = models.CharField(max_length=500, blank=True, editable=False)
    file_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    default_class = models.ForeignKey(CIClass, verbose_name=_("class for new CIs"), null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="+")
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True,
                               help_text=_('{"column in the file": "CI field or attr.<key>"}'))
    match_keys = models.JSONField(_("match keys"), default=list, blank=True,
                                  help_text=_('CI fields that identify a row\'s CI, e.g. ["serial_number"].'))
    on_no_match = models.CharField(_("no match"), max_length=8, choices=ON_NONE, default="create")
    on_one_match = models.CharField(_("one match"), max_length=8, choices=ON_ONE, default="update")
    on_many_matches = models.CharField(_("several matches"), max_length=8, choices=ON_MANY, default="error")
    on_unseen = models.CharField(_("CIs not seen"), max_length=8, choices=UNSEEN, default="ignore")
    dry_run = models.BooleanField(_("dry run"), default=True)
    status = models.CharField(_("status"), max_length=8, choices=STATUSES, default="queued", db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    unseen_count = models.PositiveIntegerField(_("not seen"), default=0)
    report = models.JSONField(_("report"), default=list, blank=True, editable=False,
                              help_text=_("One line per row: row, action, CI, message, changes."))
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self):
        return f"{self.number} {self.name or self.file_name or self.get_kind_display()}".strip()

    def get_absolute_url(self):
        return reverse("cmdb:import_detail", args=[self.pk])


class DiscoveredHost(BaseModel):
    """A host discovery saw that matches no CI (imports with "no match: skip"): the audit's
    "discovered but not registered" rule lists these until a CI claims them."""

    source = models.CharField(_("discovery source"), max_length=64)
    key = models.CharField(_("identifier"), max_length=255, help_text=_("The host name or address seen."))
    data = models.JSONField(_("as discovered"), default=dict, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"), db_index=True)
    import_run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["source", "key"], name="cmdb_discovered_host_unique")]

    def __str__(self):
        return f"{self.key} ({self.source})"


# --- configuration audits ----------------------------------------------------------------------------


class AuditRule(BaseModel):
    """A named check over CIs that should find nothing.

    `kind` filter: `scope` selects the CIs the rule applies to and `conditions` the ones that break it
    (both lists of {"field", "op", "value"}). drift: CIs whose recorded values differ from what discovery
    last saw. unregistered: hosts discovery saw that no CI claims. unauthorised: changes to tracked
    attributes of production CIs with no change request.
    """

    KINDS = [("filter", _("Filter")), ("drift", _("Drift from discovery")),
             ("unregistered", _("Discovered but not registered")),
             ("unauthorised", _("Unauthorised change"))]
    SEVERITIES = [("low", _("Low")), ("medium", _("Medium")), ("high", _("High"))]

    slug = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=KINDS, default="filter")
    scope = models.JSONField(_("applies to"), default=list, blank=True)
    conditions = models.JSONField(_("breaks the rule when"), default=list, blank=True)
    severity = models.CharField(_("severity"), max_length=8, choices=SEVERITIES, default="medium")
    enabled = models.BooleanField(_("enabled"), default=True)
    builtin = models.BooleanField(_("shipped with Opsdesk"), default=False, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("audit rule")
        verbose_name_plural = _("audit rules")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("cmdb:rule_detail", args=[self.pk])


class AuditRun(NumberedModel):
    NUMBER_PREFIX = "AUD"
    TRIGGERS = [("schedule", _("Scheduled")), ("manual", _("On demand"))]
    STATUSES = [("running", _("Running")), ("done", _("Done")), ("failed", _("Failed"))]

    trigger = models.CharField(_("trigger"), max_length=8, choices=TRIGGERS, default="manual")
    status = models.CharField(_("status"), max_length=8, choices=STATUSES, default="running")
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    checked = models.PositiveIntegerField(_("checked"), default=0)
    findings_count = models.PositiveIntegerField(_("findings"), default=0)
    excepted_count = models.PositiveIntegerField(_("excepted"), default=0)
    compliance = models.DecimalField(_("compliance %"), max_digits=5, decimal_places=2, null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("audit run")
        verbose_name_plural = _("audit runs")

    def get_absolute_url(self):
        return reverse("cmdb:audit_detail", args=[self.pk])


class AuditResult(models.Model):
    """Compliance of one rule for one class in one run: excepted findings leave the figure."""

    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="results")
    rule = models.ForeignKey(AuditRule, on_delete=models.CASCADE, related_name="results")
    ci_class = models.ForeignKey(CIClass, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    checked = models.PositiveIntegerField(default=0)
    failing = models.PositiveIntegerField(default=0)
    excepted = models.PositiveIntegerField(default=0)
    compliance = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["rule__name", "ci_class__name"]


class AuditFinding(models.Model):
    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="findings")
    rule = models.ForeignKey(AuditRule, on_delete=models.CASCADE, related_name="findings")
    ci = models.ForeignKey(ConfigurationItem, null=True, blank=True, on_delete=models.CASCADE,
                           related_name="audit_findings")
    key = models.CharField(_("subject"), max_length=255, blank=True,
                           help_text=_("For findings without a CI: the host seen, the change-log row ..."))
    message = models.CharField(_("finding"), max_length=1000)
    details = models.JSONField(default=dict, blank=True)
    excepted = models.BooleanField(_("accepted as an exception"), default=False)

    class Meta:
        ordering = ["rule__name", "id"]
        indexes = [models.Index(fields=["run", "rule"])]


class AuditException(BaseModel):
    """A finding accepted for a while: until `expires_at` it does not count against compliance."""

    rule = models.ForeignKey(AuditRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="exceptions")
    ci = models.ForeignKey(ConfigurationItem, verbose_name=_("CI"), null=True, blank=True, on_delete=models.CASCADE,
                           related_name="audit_exceptions")
    key = models.CharField(_("subject"), max_length=255, blank=True)
    reason = models.TextField(_("reason"))
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("audit exception")
        verbose_name_plural = _("audit exceptions")

    def __str__(self):
        return f"{self.rule}: {self.ci or self.key}"


class UnauthorisedChange(models.Model):
    """A change to tracked attributes of a production CI that no change request covers.

    Recorded by `cmdb.services.update_ci` through the `change_authorisers` hook; the change module
    registers an authoriser that looks for an implementing change request on the CI."""

    ci = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="unauthorised_changes")
    audit_entry = models.ForeignKey("core.AuditEntry", on_delete=models.PROTECT, related_name="+")
    fields = models.JSONField(default=list)
    detected_at = models.DateTimeField(db_index=True)
    actor_label = models.CharField(max_length=200)

    class Meta:
        ordering = ["-detected_at"]
