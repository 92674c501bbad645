import django_filters
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Team
from opsdesk.core.models import Tag

from .models import Service
from .workflows import SERVICE_WORKFLOW


class ServiceFilterSet(django_filters.FilterSet):
    """One filter set for the UI list and the API query string."""

    # distinct=False: these are columns of the service itself; DISTINCT would only slow the COUNT.
    status = django_filters.MultipleChoiceFilter(choices=SERVICE_WORKFLOW.choices, label=_("Status"), distinct=False)
    tier = django_filters.MultipleChoiceFilter(choices=Service.TIERS, label=_("Tier"), distinct=False)
    criticality = django_filters.MultipleChoiceFilter(choices=Service.CRITICALITIES, label=_("Criticality"),
                                                      distinct=False)
    kind = django_filters.ChoiceFilter(choices=Service.KINDS, label=_("Kind"))
    owner_team = django_filters.ModelMultipleChoiceFilter(field_name="owner_team__slug", to_field_name="slug",
                                                          queryset=Team.objects.all(), distinct=False,
                                                          label=_("Owner team"))
    tag = django_filters.ModelMultipleChoiceFilter(field_name="tags__name", to_field_name="name",
                                                   queryset=Tag.objects.all(), label=_("Tag"))

    class Meta:
        model = Service
        fields = ["status", "tier", "criticality", "kind", "owner_team", "tag"]
