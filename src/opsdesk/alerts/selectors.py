"""Reads of the alerts app that are more than a queryset: which silence or maintenance window holds an
alert now, and the alerts of an incident."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Q

from .matching import matches, validate_matchers
from .models import Alert, MaintenanceWindow, Silence


def active_silences_q(at: datetime.datetime) -> Q:
    return Q(starts_at__lte=at, ends_at__gt=at) & (Q(expired_early_at__isnull=True) | Q(expired_early_at__gt=at))


def active_maintenance_q(at: datetime.datetime) -> Q:
    return Q(starts_at__lte=at, ends_at__gt=at) & (Q(cancelled_at__isnull=True) | Q(cancelled_at__gt=at))


def _silence_matchers(silence: Silence) -> list[dict] | None:
    try:
        return validate_matchers(silence.matchers)
    except Exception:  # noqa: BLE001  (a silence stored past validation silences nothing)
        return None


@dataclass
class SilenceSet:
    """The silences active at one instant, with their matchers checked once: processing reads them
    once per payload and matches every alert of it in memory."""

    silences: list[tuple[Silence, list[dict]]] = field(default_factory=list)

    @classmethod
    def at(cls, at: datetime.datetime) -> SilenceSet:
        found = []
        for silence in Silence.objects.filter(active_silences_q(at)).order_by("starts_at", "pk"):
            checked = _silence_matchers(silence)
            if checked:  # a silence without matchers would silence everything: refused by validation
                found.append((silence, checked))
        return cls(found)

    def match(self, labels: dict, integration) -> Silence | None:
        integration_id = getattr(integration, "pk", integration)
        for silence, checked in self.silences:
            if silence.integration_id is not None and silence.integration_id != integration_id:
                continue
            if matches(checked, labels):
                return silence
        return None


def active_silence_for(labels: dict, integration, at: datetime.datetime) -> Silence | None:
    """The first silence (earliest start) active at `at` whose matchers match `labels` and whose
    integration, if it names one, is `integration`."""
    return SilenceSet.at(at).match(labels, integration)


@dataclass
class MaintenanceSet:
    """The maintenance windows active at one instant with the CIs and services they cover."""

    windows: list[tuple[MaintenanceWindow, set[int], set[int]]] = field(default_factory=list)

    @classmethod
    def at(cls, at: datetime.datetime) -> MaintenanceSet:
        windows = list(MaintenanceWindow.objects.filter(active_maintenance_q(at)).order_by("starts_at", "pk"))
        if not windows:
            return cls([])
        ids = [window.pk for window in windows]
        cis: dict[int, set[int]] = {pk: set() for pk in ids}
        services: dict[int, set[int]] = {pk: set() for pk in ids}
        ci_through = MaintenanceWindow.cis.through
        service_through = MaintenanceWindow.services.through
        for window_id, ci_id in ci_through.objects.filter(maintenancewindow_id__in=ids).values_list(
                "maintenancewindow_id", "configurationitem_id"):
            cis[window_id].add(ci_id)
        for window_id, service_id in service_through.objects.filter(maintenancewindow_id__in=ids).values_list(
                "maintenancewindow_id", "service_id"):
            services[window_id].add(service_id)
        return cls([(window, cis[window.pk], services[window.pk]) for window in windows])

    def match(self, ci_ids, service_ids) -> MaintenanceWindow | None:
        ci_ids = {pk for pk in ci_ids if pk is not None}
        service_ids = {pk for pk in service_ids if pk is not None}
        for window, cis, services in self.windows:
            if cis & ci_ids or services & service_ids:
                return window
        return None


def maintenance_for(ci_ids, service_ids, at: datetime.datetime) -> MaintenanceWindow | None:
    """The first maintenance window (earliest start) active at `at` covering one of the CIs or services."""
    ci_ids = [pk for pk in ci_ids or [] if pk is not None]
    service_ids = [pk for pk in service_ids or [] if pk is not None]
    if not ci_ids and not service_ids:
        return None
    return MaintenanceWindow.objects.filter(active_maintenance_q(at)).filter(
        Q(cis__in=ci_ids) | Q(services__in=service_ids)).distinct().order_by("starts_at", "pk").first()


def alerts_of_incident(incident):
    """The alerts whose group belongs to `incident`, newest first, with what a list shows."""
    return (Alert.objects.filter(group__incident=incident)
            .select_related("integration", "ci", "group", "silence", "maintenance")
            .order_by("-last_seen_at", "-id"))
