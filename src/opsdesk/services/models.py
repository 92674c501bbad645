"""The service catalog: business and technical services, their owners, tiers, support hours,
dependencies and links. The exemplar module every other module follows file for file."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core import weekly_hours
from opsdesk.core.models import NumberedModel

from .workflows import SERVICE_WORKFLOW


class ServiceQuerySet(models.QuerySet):
    def with_ranks(self):
        """`criticality_rank`: 0 critical … 3 low, so sorting follows severity, not the alphabet."""
        order = [value for value, _label in Service.CRITICALITIES]
        return self.annotate(criticality_rank=models.Case(
            *(models.When(criticality=value, then=models.Value(rank)) for rank, value in enumerate(order)),
            default=models.Value(len(order)), output_field=models.IntegerField()))


class Service(NumberedModel):
    NUMBER_PREFIX = "SVC"
    TEAM_FIELD = "owner_team"

    KINDS = [("business", _("Business service")), ("technical", _("Technical service"))]
    TIERS = [(1, _("Tier 1 (mission critical)")), (2, _("Tier 2 (business critical)")),
             (3, _("Tier 3 (business operational)")), (4, _("Tier 4 (administrative)"))]
    CRITICALITIES = [("critical", _("Critical")), ("high", _("High")), ("medium", _("Medium")), ("low", _("Low"))]

    name = models.CharField(_("name"), max_length=150, unique=True)
    slug = models.SlugField(_("key"), max_length=150, unique=True,
                            help_text=_("Stable identifier used by the API and configuration files."))
    kind = models.CharField(_("kind"), max_length=16, choices=KINDS, default="technical")
    description = models.TextField(_("description"), blank=True)
    owner_team = models.ForeignKey("accounts.Team", verbose_name=_("owner team"), on_delete=models.PROTECT,
                                   related_name="services")
    tier = models.PositiveSmallIntegerField(_("tier"), choices=TIERS, default=3,
                                            validators=[MinValueValidator(1), MaxValueValidator(4)])
    criticality = models.CharField(_("criticality"), max_length=16, choices=CRITICALITIES, default="medium")
    status = models.CharField(_("status"), max_length=16, choices=SERVICE_WORKFLOW.choices,
                              default=SERVICE_WORKFLOW.initial, editable=False, db_index=True)
    support_hours = models.JSONField(_("support hours"), default=dict, blank=True)
    support_time_zone = models.CharField(_("support time zone"), max_length=64, default="UTC",
                                         validators=[weekly_hours.validate_time_zone])
    depends_on = models.ManyToManyField("self", verbose_name=_("depends on"), symmetrical=False, blank=True,
                                        related_name="dependents")
    runbook_url = models.URLField(_("runbook"), blank=True)
    dashboard_url = models.URLField(_("dashboard"), blank=True)
    repository_url = models.URLField(_("repository"), blank=True)
    tags = models.ManyToManyField("core.Tag", verbose_name=_("tags"), blank=True, related_name="+")
    status_reason = models.CharField(_("reason for the last status change"), max_length=500, blank=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["tier", "status"])]

    def get_absolute_url(self):
        return reverse("services:detail", args=[self.pk])

    @property
    def support_hours_text(self) -> str:
        return weekly_hours.format_hours(self.support_hours)

    def clean(self):
        try:
            weekly_hours.validate(self.support_hours or {})
        except ValidationError as exc:
            raise ValidationError({"support_hours": exc.messages})
