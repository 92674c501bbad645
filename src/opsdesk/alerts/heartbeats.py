"""Heartbeats: an integration may promise a sign of life every N minutes (a heartbeat request or any
accepted payload). When it misses one, one incident "Monitoring is down" opens and pages through the
escalation policy of the integration's service; the next heartbeat resolves it.

The ingest path must stay cheap at a thousand alerts a second, so an accepted payload marks activity at
most once per integration every 30 seconds (a cache slot), and only then updates the integration row;
an integration with an open heartbeat incident takes the full path at once.
"""

from __future__ import annotations

import datetime
import logging

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import Integration

log = logging.getLogger(__name__)
ACTOR = Actor.system("alerts.heartbeats")
ACTIVITY_SECONDS = 30
OPEN_INCIDENT_STATES = ("new", "acknowledged", "in_progress", "on_hold")


def _forget(integration: Integration) -> None:
    from .integrations import _forget as forget_keys

    forget_keys(integration.key_hash)


def note_activity(integration: Integration, at: datetime.datetime, *, alert: bool) -> None:
    """Mark an accepted payload (alert=True) or a heartbeat. Cheap: at most one row update per
    integration per 30 s, unless a heartbeat incident waits to be resolved."""
    if integration.heartbeat_incident_id is not None:
        record_heartbeat(integration, at, alert=alert)
        return
    if not cache.add(f"alerts:activity:{integration.pk}:{int(alert)}", 1, ACTIVITY_SECONDS):
        return
    fields: dict = {"last_heartbeat_at": at}
    if alert:
        fields["last_alert_at"] = at
    if integration.heartbeat_interval_minutes:
        fields["heartbeat_due_at"] = at + datetime.timedelta(minutes=integration.heartbeat_interval_minutes)
    # Never move the marks back (payloads of two requests commit in any order).
    Integration.objects.filter(Q(last_heartbeat_at__isnull=True) | Q(last_heartbeat_at__lt=at),
                               pk=integration.pk).update(**fields)


def record_heartbeat(integration: Integration, at: datetime.datetime | None = None, *, alert: bool = False) -> None:
    """A sign of life at `at`: moves the next due instant on and resolves the heartbeat incident."""
    from opsdesk.incidents.services import transition_incident

    at = at or timezone.now()
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        fields: dict = {}
        if locked.last_heartbeat_at is None or locked.last_heartbeat_at < at:
            fields["last_heartbeat_at"] = at
            if alert:
                fields["last_alert_at"] = at
            if locked.heartbeat_interval_minutes:
                fields["heartbeat_due_at"] = at + datetime.timedelta(minutes=locked.heartbeat_interval_minutes)
        incident = locked.heartbeat_incident
        if incident is not None:
            fields["heartbeat_incident"] = None
            if incident.status in OPEN_INCIDENT_STATES:
                try:
                    with transaction.atomic():
                        transition_incident(incident, "resolve", actor=ACTOR, data={
                            "resolution_code": "restarted",
                            "resolution_notes": _("The heartbeat of %(name)s came back at %(at)s.")
                            % {"name": locked.name, "at": date_format(at, "DATETIME_FORMAT")},
                        })
                except (TransitionNotAllowed, ValidationError) as exc:
                    # Resolved or cancelled by a person meanwhile: the heartbeat still counts.
                    log.info("heartbeat incident %s of %s left as it is: %s", incident.pk, locked, exc)
        if fields:
            Integration.objects.filter(pk=locked.pk).update(**fields)
        if incident is not None:
            _forget(locked)


def _priority(integration: Integration) -> str:
    priority = (integration.severity_map or {}).get("critical")
    return priority if priority in ("P1", "P2", "P3", "P4", "P5") else "P2"


def _open_incident(integration: Integration, now: datetime.datetime):
    from opsdesk.incidents.services import create_incident

    since = integration.last_heartbeat_at
    since_text = date_format(since, "DATETIME_FORMAT") if since else _("it was set up")
    title = _("Monitoring is down: %(name)s sent no heartbeat since %(since)s") % {
        "name": integration.name, "since": since_text}
    priority = _priority(integration)
    data = {
        "title": title[:200],
        "description": _("The integration %(name)s promised a heartbeat every %(n)s minutes; the last one came "
                         "%(since)s. Alerts from this source may be missing until it is back.")
        % {"name": integration.name, "n": integration.heartbeat_interval_minutes,
           "since": since_text if since else _("never")},
        "source": "alert", "impact": 2, "urgency": 1, "priority": priority,
        "priority_reason": _("Priority of a missing heartbeat, from the integration's severity mapping "
                             "(critical)."),
        "detected_at": now,
    }
    if integration.team_id:
        data["assignment_group"] = integration.team
    if integration.service_id:
        data["service"] = integration.service
    return create_incident(actor=ACTOR, data=data)


def _page(incident) -> None:
    """Page for the incident as for an alert's: the escalation policy of the incident's service (the
    integration's), when it has one. A failure to start it leaves the incident standing."""
    from opsdesk.oncall.escalation import start_for_incident

    try:
        with transaction.atomic():
            start_for_incident(incident, policy=None, actor=ACTOR)
    except OperationalError:
        raise
    except Exception:  # noqa: BLE001  (the incident is open and listed; paging can be started by hand)
        log.exception("heartbeat incident %s: the escalation did not start", incident.pk)


def check_heartbeats(now: datetime.datetime | None = None) -> int:
    """Open one incident per integration whose heartbeat is overdue (rows another worker holds are
    skipped). Returns how many incidents opened."""
    now = now or timezone.now()
    due = Q(enabled=True, heartbeat_interval_minutes__isnull=False, heartbeat_due_at__lte=now,
            heartbeat_incident__isnull=True)
    opened = 0
    for pk in list(Integration.objects.filter(due).values_list("pk", flat=True)[:500]):
        try:
            with transaction.atomic():
                integration = (Integration.objects.select_for_update(skip_locked=True, of=("self",))
                               .select_related("team", "service").filter(due, pk=pk).first())
                if integration is None:
                    continue
                incident = _open_incident(integration, now)
                Integration.objects.filter(pk=pk).update(heartbeat_incident=incident)
                _page(incident)
                _forget(integration)
                opened += 1
        except Exception:  # one broken integration must not stop the others; the next sweep tries again
            log.exception("could not open the heartbeat incident of integration %s", pk)
    return opened
