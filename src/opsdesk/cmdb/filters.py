"""One filter set for the CI list page and the API (`?status=in_production&class=server&attr.os=debian`).

Class attributes are filtered as `attr.<key>` with an optional lookup suffix: `attr.memory_gb__gte=16`,
`attr.os__icontains=debian`, `attr.owner_email__isnull=true`. The value is converted with the
attribute's type, so `attr.cpu_count=4` finds the number 4, not the text "4"."""

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.accounts.models import Team
from opsdesk.core.models import Tag
from opsdesk.services.models import Service

from .attributes import convert
from .models import AttributeDefinition, CIClass, ConfigurationItem, Relationship, RelationshipType
from .workflows import CI_WORKFLOW

ATTRIBUTE_LOOKUPS = {"exact", "ne", "lt", "lte", "gt", "gte", "icontains", "isnull", "in"}
MAX_ATTRIBUTE_FILTERS = 10


class CIFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CI_WORKFLOW.choices, label=gettext_lazy("Status"),
                                                 distinct=False)
    ci_class = django_filters.ModelMultipleChoiceFilter(field_name="ci_class__slug", to_field_name="slug",
                                                        queryset=CIClass.objects.all(), distinct=False,
                                                        label=gettext_lazy("Class"))
    environment = django_filters.MultipleChoiceFilter(choices=ConfigurationItem.ENVIRONMENTS, distinct=False,
                                                      label=gettext_lazy("Environment"))
    owner_team = django_filters.ModelMultipleChoiceFilter(field_name="owner_team__slug", to_field_name="slug",
                                                          queryset=Team.objects.all(), distinct=False,
                                                          label=gettext_lazy("Owner team"))
    no_owner = django_filters.BooleanFilter(field_name="owner_team", lookup_expr="isnull",
                                            label=gettext_lazy("Without an owner team"))
    service = django_filters.ModelMultipleChoiceFilter(field_name="services__slug", to_field_name="slug",
                                                       queryset=Service.objects.all(), label=gettext_lazy("Service"))
    tag = django_filters.ModelMultipleChoiceFilter(field_name="tags__name", to_field_name="name",
                                                   queryset=Tag.objects.all(), label=gettext_lazy("Tag"))
    name = django_filters.CharFilter(lookup_expr="icontains", label=gettext_lazy("Name contains"))
    location = django_filters.CharFilter(lookup_expr="icontains", label=gettext_lazy("Location contains"))
    ip = django_filters.CharFilter(method="filter_identifier", label=gettext_lazy("IP address"))
    hostname = django_filters.CharFilter(method="filter_identifier", label=gettext_lazy("Host name"))
    serial_number = django_filters.CharFilter(label=gettext_lazy("Serial number"))
    asset_tag = django_filters.CharFilter(label=gettext_lazy("Asset tag"))
    vendor = django_filters.CharFilter(lookup_expr="iexact", label=gettext_lazy("Vendor"))
    model_name = django_filters.CharFilter(lookup_expr="iexact", label=gettext_lazy("Model"))
    warranty_end_before = django_filters.DateFilter(field_name="warranty_end", lookup_expr="lt",
                                                    label=gettext_lazy("Warranty ends before"))
    warranty_end_after = django_filters.DateFilter(field_name="warranty_end", lookup_expr="gte",
                                                   label=gettext_lazy("Warranty ends on or after"))
    expires_before = django_filters.DateFilter(field_name="expires_on", lookup_expr="lt",
                                               label=gettext_lazy("Expires before"))
    expires_after = django_filters.DateFilter(field_name="expires_on", lookup_expr="gte",
                                              label=gettext_lazy("Expires on or after"))
    purchased_before = django_filters.DateFilter(field_name="purchase_date", lookup_expr="lt")
    purchased_after = django_filters.DateFilter(field_name="purchase_date", lookup_expr="gte")
    discovery_source = django_filters.CharFilter(label=gettext_lazy("Discovered by"))
    seen_before = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="lt",
                                                   label=gettext_lazy("Last seen before"))
    missing_from_discovery = django_filters.BooleanFilter(label=gettext_lazy("Missing from the last discovery"))
    has_redundancy = django_filters.BooleanFilter(field_name="redundancy_min", lookup_expr="isnull", exclude=True,
                                                  label=gettext_lazy("Declares redundancy"))
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = ConfigurationItem
        fields = ["status", "ci_class", "environment", "owner_team", "no_owner", "service", "tag", "name", "location",
                  "ip", "hostname", "serial_number", "asset_tag", "vendor", "model_name", "discovery_source",
                  "missing_from_discovery"]

    def filter_identifier(self, queryset, name, value):
        return queryset.filter(identifiers__contains=f" {value.strip().lower()} ")

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        conditions = attribute_conditions(self.data)
        return queryset.filter(conditions) if conditions else queryset


def attribute_conditions(params) -> Q | None:
    """`attr.<key>[__lookup]=value` parameters as one Q; ValidationError names a bad parameter."""
    wanted = [(name, params.getlist(name) if hasattr(params, "getlist") else [params[name]])
              for name in params if name.startswith("attr.")]
    if not wanted:
        return None
    if len(wanted) > MAX_ATTRIBUTE_FILTERS:
        raise ValidationError({"attr": _("At most %(n)s attribute filters.") % {"n": MAX_ATTRIBUTE_FILTERS}})
    keys = {name[5:].split("__")[0] for name, _values in wanted}
    definitions = {}
    for definition in AttributeDefinition.objects.filter(key__in=keys).order_by("ci_class_id"):
        definitions.setdefault(definition.key, definition)
    condition = Q()
    for name, values in wanted:
        key, _sep, lookup = name[5:].partition("__")
        lookup = lookup or "exact"
        definition = definitions.get(key)
        if definition is None:
            raise ValidationError({name: _("No class has an attribute “%(key)s”.") % {"key": key}})
        if lookup not in ATTRIBUTE_LOOKUPS:
            raise ValidationError({name: _("Unknown comparison “%(op)s”; use one of %(ops)s.")
                                   % {"op": lookup, "ops": ", ".join(sorted(ATTRIBUTE_LOOKUPS))}})
        for raw in values:
            field = f"attributes__{key}"
            try:
                if lookup == "isnull":
                    condition &= Q(**{f"{field}__isnull": str(raw).lower() in {"1", "true", "yes"}})
                elif lookup == "icontains":
                    condition &= Q(**{f"{field}__icontains": str(raw)})
                elif lookup == "in":
                    condition &= Q(**{f"{field}__in": [convert(definition, v) for v in str(raw).split(",")]})
                elif lookup == "ne":
                    condition &= ~Q(**{field: convert(definition, raw)})
                else:
                    condition &= Q(**{f"{field}__{lookup}" if lookup != "exact" else field: convert(definition, raw)})
            except ValidationError as exc:
                raise ValidationError({name: exc.messages}) from None
    return condition


class RelationshipFilterSet(django_filters.FilterSet):
    ci = django_filters.NumberFilter(method="filter_ci", label=gettext_lazy("CI (either end)"))
    source = django_filters.NumberFilter(field_name="source_id")
    target = django_filters.NumberFilter(field_name="target_id")
    target_service = django_filters.CharFilter(field_name="target_service__slug")
    type = django_filters.ModelMultipleChoiceFilter(field_name="type__slug", to_field_name="slug",
                                                    queryset=RelationshipType.objects.all())
    current = django_filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull",
                                           label=gettext_lazy("Current (not ended)"))

    class Meta:
        model = Relationship
        fields = ["ci", "source", "target", "target_service", "type", "current"]

    def filter_ci(self, queryset, name, value):
        return queryset.filter(Q(source_id=value) | Q(target_id=value))


class CIClassFilterSet(django_filters.FilterSet):
    is_asset = django_filters.BooleanFilter()
    builtin = django_filters.BooleanFilter()

    class Meta:
        model = CIClass
        fields = ["is_asset", "builtin"]


class RelationshipTypeFilterSet(django_filters.FilterSet):
    impact = django_filters.MultipleChoiceFilter(choices=RelationshipType.IMPACTS)

    class Meta:
        model = RelationshipType
        fields = ["impact"]


class AttributeFilterSet(django_filters.FilterSet):
    ci_class = django_filters.CharFilter(field_name="ci_class__slug", label=gettext_lazy("Class"))
    custom = django_filters.BooleanFilter(field_name="ci_class", lookup_expr="isnull")
    type = django_filters.MultipleChoiceFilter(choices=AttributeDefinition.TYPES)

    class Meta:
        model = AttributeDefinition
        fields = ["ci_class", "custom", "type", "tracked"]

