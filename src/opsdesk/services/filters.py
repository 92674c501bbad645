import django_filters
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Team
from opsdesk.core.models import Tag

from .models import Service
from .workflows import SERVICE_WORKFLOW


class ServiceFilterSet(django_filters.FilterSet):
    """One filter set for the UI list and the API query string."""

    status = django_filters.MultipleChoiceFilter(choices=SERVICE_WORKFLOW.choices, label=_("Status"))
    tier = django_filters.MultipleChoiceFilter(choices=Service.TIERS, label=_("Tier"))
    criticality = django_filters.MultipleChoiceFilter(choices=Service.CRITICALITIES, label=_("Criticality"))
    kind = django_filters.ChoiceFilter(choices=Service.KINDS, label=_("Kind"))
    owner_team = django_filters.ModelMultipleChoiceFilter(field_name="owner_team__slug", to_field_name="slug",
                                                          queryset=Team.objects.all(),
                                                          label=_("Owner team"))
    tag = django_filters.ModelMultipleChoiceFilter(field_name="tags__name", to_field_name="name",
                                                   queryset=Tag.objects.all(), label=_("Tag"))

    class Meta:
        model = Service
        fields = ["status", "tier", "criticality", "kind", "owner_team", "tag"]
