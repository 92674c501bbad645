"""The one write path of the service catalog."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import records, versions
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import Service
from .workflows import SERVICE_WORKFLOW

AUDITED = ["name", "slug", "kind", "description", "owner_team", "tier", "criticality", "status",
           "support_hours", "support_time_zone", "depends_on", "runbook_url", "dashboard_url", "repository_url",
           "tags", "status_reason", "retired_at"]


def _check_dependencies(service: Service | None, depends_on) -> None:
    """Lock the services depended on, so none can be retired while the dependency is added."""
    ids = sorted({other.pk for other in depends_on or []})
    if service is not None and service.pk in ids:
        raise ValidationError({"depends_on": _("A service cannot depend on itself.")})
    for other in Service.objects.select_for_update().filter(pk__in=ids).order_by("pk"):
        if other.status == "retired":
            raise ValidationError({"depends_on": _("%(svc)s is retired; a service cannot depend on it.")
                                   % {"svc": other}})


def create_service(*, actor: Actor, data: dict) -> Service:
    with transaction.atomic():
        service = records.create_record(Service, actor=actor, fields=data, workflow=SERVICE_WORKFLOW, audited=AUDITED,
                                        check=lambda fields: _check_dependencies(None, fields.get("depends_on")))
        if data.get("depends_on"):  # an edge of the CMDB's impact graph (the status changes by transition)
            versions.bump(versions.IMPACT_GRAPH)
    return service


def _check_update(service: Service, fields: dict) -> None:
    """Runs with the service's row locked (see core.records.update_record)."""
    if service.status == "retired":
        raise TransitionNotAllowed(_("%(svc)s is retired and read-only; reinstate it to edit it.") % {"svc": service})
    if "depends_on" in fields:
        _check_dependencies(service, fields["depends_on"])


def update_service(service: Service, *, actor: Actor, data: dict) -> Service:
    with transaction.atomic():
        service = records.update_record(service, actor=actor, fields=data, audited=AUDITED, check=_check_update)
        if "depends_on" in data:  # an edge of the CMDB's impact graph (the status changes by transition)
            versions.bump(versions.IMPACT_GRAPH)
    return service


def _record_transition_fields(service: Service, transition, data: dict) -> None:
    reason = str(data.get("reason") or "")
    if len(reason) > 500:
        raise ValidationError({"reason": _("The reason is limited to 500 characters.")})
    service.status_reason = reason
    if transition.name == "retire":
        # A plain read: this service's row is locked, and anyone adding it as a dependency must lock it
        # first (_check_dependencies), so no new dependent can appear. Locking the dependents too would
        # take the locks in the opposite order to an edit of a dependent, and deadlock.
        active_dependents = list(service.dependents.exclude(status="retired").order_by("name"))
        if active_dependents:
            raise TransitionNotAllowed(
                _("Cannot retire %(svc)s: %(deps)s still depend on it.")
                % {"svc": service, "deps": ", ".join(str(s) for s in active_dependents)}
            )
        service.retired_at = timezone.now()
    else:
        service.retired_at = None


def transition_service(service: Service, name: str, *, actor: Actor, data: dict | None = None) -> Service:
    with transaction.atomic():
        service = records.transition_record(service, name, actor=actor, workflow=SERVICE_WORKFLOW, data=data,
                                            apply_fields=_record_transition_fields)
        versions.bump(versions.IMPACT_GRAPH)  # a retired service leaves the CMDB's impact graph
    return service


def activate_service(service: Service, *, actor: Actor) -> Service:
    return transition_service(service, "activate", actor=actor)


def retire_service(service: Service, *, actor: Actor, reason: str) -> Service:
    return transition_service(service, "retire", actor=actor, data={"reason": reason})
