"""Filter sets shared by the alerts pages and the API query string (`?status=firing&label=team=db`).

Every alert filter is a condition on the alert row, a to-one join or a JSON key of its labels, never a
to-many join: the list of 100,000 active alerts needs no DISTINCT and its COUNT stays one index scan.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.db.models.fields.json import HasKey, KeyTransform
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opsdesk.incidents.filters import _keys

from .models import INTEGRATION_KINDS, SEVERITIES, Alert, AlertGroup, Integration, MaintenanceWindow, Route, Silence

BOOLEAN_CHOICES = [("true", _("Yes")), ("false", _("No"))]
SUPPRESSION_CHOICES = [("none", _("Not suppressed")), ("silence", _("Silenced")),
                       ("maintenance", _("In maintenance")), ("any", _("Suppressed (either)"))]


def parse_label(value: str) -> tuple[str, str | None]:
    """"team=db" -> ("team", "db"); "team" -> ("team", None): the label is present (not empty)."""
    text = str(value or "").strip()
    key, sep, wanted = text.partition("=")
    key = key.strip()
    if not key or len(key) > 200:
        raise ValidationError(_("Write a label filter as name=value, e.g. team=db."))
    return key, (wanted.strip() if sep else None)


def label_condition(queryset, value: str):
    key, wanted = parse_label(value)
    if "__" in key:  # Django would read a__b as a path into the JSON
        raise ValidationError(_("A label name cannot contain “__” here."))
    # An explicit KeyTransform: the key goes into a quoted JSON path (never SQL), and a label named like a
    # lookup ("in", "contains") stays a key. The value is compared as a JSON string on every database.
    queryset = queryset.alias(_label_value=KeyTransform(key, "labels"))
    if wanted is None:
        return queryset.filter(HasKey(F("labels"), key)).exclude(_label_value="")
    return queryset.filter(_label_value=wanted)


class AlertFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Alert.STATUSES, label=_("Status"), distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=SEVERITIES, label=_("Severity"), distinct=False)
    integration = django_filters.ModelMultipleChoiceFilter(queryset=Integration.objects.only("id", "name"),
                                                           label=_("Integration"), distinct=False)
    suppressed = django_filters.ChoiceFilter(choices=SUPPRESSION_CHOICES, method="filter_suppressed",
                                             label=_("Suppression"), empty_label=_("Any"))
    flapping = django_filters.BooleanFilter(label=_("Flapping"))
    label = django_filters.CharFilter(method="filter_label", label=_("Label (name=value)"))
    group = django_filters.NumberFilter(field_name="group_id", label=_("Alert group (id)"))
    incident = django_filters.CharFilter(method="filter_incident", label=_("Incident (number)"))
    ci = django_filters.CharFilter(method="filter_ci", label=_("CI (number)"))
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    silence = django_filters.NumberFilter(field_name="silence_id", label=_("Silence (id)"))
    maintenance = django_filters.NumberFilter(field_name="maintenance_id", label=_("Maintenance window (id)"))
    fingerprint = django_filters.CharFilter(label=_("Fingerprint"))
    seen_after = django_filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte",
                                                  label=_("Last seen on or after"))

    class Meta:
        model = Alert
        fields = ["status", "severity", "integration", "suppressed", "flapping", "label", "group", "incident", "ci",
                  "service", "silence", "maintenance", "fingerprint", "seen_after"]

    def filter_suppressed(self, queryset, name, value):
        if value == "none":
            return queryset.filter(suppressed="")
        if value == "any":
            return queryset.exclude(suppressed="")
        return queryset.filter(suppressed=value)

    def filter_label(self, queryset, name, value):
        return label_condition(queryset, value)  # a malformed filter: ValidationError, shown / answered 400

    def filter_incident(self, queryset, name, value):
        keys = [k.upper() for k in _keys(value)]
        return queryset.filter(group__incident__number__in=keys)

    def filter_service(self, queryset, name, value):
        """Alerts of groups routed to the service or whose incident is on it."""
        keys = _keys(value)
        return queryset.filter(Q(group__route__service__slug__in=keys) | Q(group__incident__service__slug__in=keys))

    def filter_ci(self, queryset, name, value):
        ids = [int(k) for k in _keys(value) if k.isdigit()]
        numbers = [k.upper() for k in _keys(value) if not k.isdigit()]
        return queryset.filter(Q(ci_id__in=ids) | Q(ci__number__in=numbers))


class AlertGroupFilterSet(django_filters.FilterSet):
    open = django_filters.BooleanFilter(field_name="is_open", label=_("Open"))
    status = django_filters.MultipleChoiceFilter(choices=AlertGroup._meta.get_field("status").choices,
                                                 label=_("Status"), distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=SEVERITIES, label=_("Severity"), distinct=False)
    integration = django_filters.ModelMultipleChoiceFilter(queryset=Integration.objects.only("id", "name"),
                                                           label=_("Integration"), distinct=False)
    suppressed = django_filters.ChoiceFilter(choices=SUPPRESSION_CHOICES, method="filter_suppressed",
                                             label=_("Suppression"), empty_label=_("Any"))
    incident = django_filters.CharFilter(method="filter_incident", label=_("Incident (number)"))

    class Meta:
        model = AlertGroup
        fields = ["open", "status", "severity", "integration", "suppressed", "incident"]

    filter_suppressed = AlertFilterSet.filter_suppressed

    def filter_incident(self, queryset, name, value):
        return queryset.filter(incident__number__in=[k.upper() for k in _keys(value)])


class IntegrationFilterSet(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=INTEGRATION_KINDS, label=_("Kind"), distinct=False)
    enabled = django_filters.BooleanFilter(label=_("Enabled"))

    class Meta:
        model = Integration
        fields = ["kind", "enabled"]


class RouteFilterSet(django_filters.FilterSet):
    enabled = django_filters.BooleanFilter(label=_("Enabled"))
    integration = django_filters.ModelChoiceFilter(queryset=Integration.objects.only("id", "name"),
                                                   label=_("Integration"))

    class Meta:
        model = Route
        fields = ["enabled", "integration"]


SILENCE_STATES = [("active", _("Active")), ("pending", _("Pending (starts later)")), ("expired", _("Expired"))]
WINDOW_STATES = [("now", _("Now")), ("upcoming", _("Upcoming")), ("past", _("Past")), ("cancelled", _("Cancelled"))]


def silence_state_condition(state: str, now) -> Q:
    ended = Q(expired_early_at__isnull=False) | Q(ends_at__lte=now)
    if state == "expired":
        return ended
    if state == "pending":
        return ~ended & Q(starts_at__gt=now)
    return ~ended & Q(starts_at__lte=now)


def window_state_condition(state: str, now) -> Q:
    if state == "cancelled":
        return Q(cancelled_at__isnull=False)
    live = Q(cancelled_at__isnull=True)
    if state == "upcoming":
        return live & Q(starts_at__gt=now)
    if state == "now":
        return live & Q(starts_at__lte=now, ends_at__gt=now)
    return live & Q(ends_at__lte=now)


def _in_states(queryset, states, condition_for):
    """Rows in any of the ticked states (active / pending / expired, now / upcoming / past ...), each
    state a condition on the times at this instant."""
    if not states:
        return queryset
    now = timezone.now()
    condition = Q(pk__in=[])
    for state in states:
        condition |= condition_for(state, now)
    return queryset.filter(condition)


class SilenceFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=SILENCE_STATES, method="filter_state", label=_("State"))
    integration = django_filters.ModelChoiceFilter(queryset=Integration.objects.only("id", "name"),
                                                   label=_("Integration"))

    class Meta:
        model = Silence
        fields = ["state", "integration"]

    def filter_state(self, queryset, name, value):
        return _in_states(queryset, value, silence_state_condition)


class MaintenanceWindowFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=WINDOW_STATES, method="filter_state", label=_("State"))
    service = django_filters.CharFilter(method="filter_service", label=_("Service key"))
    ci = django_filters.CharFilter(method="filter_ci", label=_("CI (number)"))

    class Meta:
        model = MaintenanceWindow
        fields = ["state", "service", "ci"]

    def filter_state(self, queryset, name, value):
        return _in_states(queryset, value, window_state_condition)

    def filter_service(self, queryset, name, value):
        links = MaintenanceWindow.services.through.objects.filter(service__slug__in=_keys(value))
        return queryset.filter(pk__in=links.values("maintenancewindow_id"))

    def filter_ci(self, queryset, name, value):
        keys = _keys(value)
        links = MaintenanceWindow.cis.through.objects.filter(
            Q(configurationitem__number__in=[k.upper() for k in keys])
            | Q(configurationitem_id__in=[int(k) for k in keys if k.isdigit()]))
        return queryset.filter(pk__in=links.values("maintenancewindow_id"))
