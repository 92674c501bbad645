"""Major incidents: a person proposes any open incident as major, a manager promotes or rejects it. A
major incident has roles (commander, communications lead, scribe), a communication log whose
stakeholder updates are due on a cadence (a reminder pages the communications lead and the commander
when one is due, and again every cadence until one is posted), and linked child incidents.

Callers check the role (propose: responder; promote, reject, roles: manager on the incident); these
functions check the state. Every change is a change-log row on the incident and an event.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, timers
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import CommunicationUpdate, Incident

UPDATE_DUE = "incidents.major_update_due"
REMINDER_ACTOR = Actor.system("major-incident-reminder")
ROLE_FIELDS = ("commander", "communications_lead", "scribe")
MAX_UPDATE_CHARS = 20000
# Internal notes go in the log but do not count as the stakeholder update that is due.
CADENCE_AUDIENCES = ("stakeholders", "public")


def _require_open(incident: Incident) -> None:
    if not incident.is_open:
        raise TransitionNotAllowed(_("%(inc)s is %(state)s; only open incidents can change their major status.")
                                   % {"inc": incident, "state": incident.get_status_display().lower()})


def _reason(reason) -> str:
    reason = str(reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason.")})
    if len(reason) > 500:
        raise ValidationError({"reason": _("The reason is limited to 500 characters.")})
    return reason


def _change(incident: Incident, *, actor: Actor, action: str, check, fields, extra: dict | None = None) -> Incident:
    """Lock the incident, `check(locked)`, set `fields(locked)`, and log the difference as `action`."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    check(incident)
    before = audit.snapshot(incident)
    values = fields(incident)
    for name, value in values.items():
        setattr(incident, name, value)
    incident.updated_by = actor.user
    incident.save(update_fields=[*values, "updated_by", "updated_at"])
    changes = audit.diff(before, audit.snapshot(incident))
    for key, value in (extra or {}).items():
        changes[key] = [None, value]
    audit.record(incident, actor=actor, action=action, changes=changes)
    return incident


def cadence_of(incident: Incident) -> int:
    from .services import incident_settings

    return incident.update_cadence_minutes or incident_settings().major_update_minutes


def _arm_reminder(incident: Incident, due_at: datetime.datetime | None) -> None:
    timers.cancel(UPDATE_DUE, incident)
    if due_at is not None and incident.is_open and incident.major_status == "major":
        timers.schedule(UPDATE_DUE, due_at, incident)


def _check_people(roles: dict) -> None:
    for name, user in roles.items():
        if user is not None and not user.is_active:
            raise ValidationError({name: _("%(user)s is not an active user.") % {"user": user}})


# --- proposing, promoting, rejecting ------------------------------------------------------------------------

def propose_major(incident: Incident, *, actor: Actor, reason: str) -> Incident:
    reason = _reason(reason)

    def check(locked):
        _require_open(locked)
        if locked.major_status in ("proposed", "major"):
            raise TransitionNotAllowed(_("%(inc)s is already %(state)s.")
                                       % {"inc": locked, "state": locked.get_major_status_display().lower()})

    with transaction.atomic():
        incident = _change(incident, actor=actor, action="propose_major", check=check,
                           fields=lambda locked: {"major_status": "proposed", "major_reason": reason})
        events.emit("incident.major_proposed", incident, actor=actor, payload={"reason": reason,
                                                                              "priority": incident.priority})
    return incident


def promote_major(incident: Incident, *, actor: Actor, commander=None, communications_lead=None, scribe=None,
                  update_cadence_minutes: int | None = None, reason: str = "") -> Incident:
    """Make the incident major (proposed or not). The first stakeholder update is due one cadence
    from now (the incident's, else the settings' `major_update_minutes`)."""
    roles = {"commander": commander, "communications_lead": communications_lead, "scribe": scribe}
    _check_people(roles)
    if update_cadence_minutes is not None and not 1 <= int(update_cadence_minutes) <= 24 * 60:
        raise ValidationError({"update_cadence_minutes": _("Give the update cadence in minutes (1 to 1440).")})

    def check(locked):
        _require_open(locked)
        if locked.major_status == "major":
            raise TransitionNotAllowed(_("%(inc)s is already a major incident.") % {"inc": locked})

    def fields(locked):
        values = {name: user for name, user in roles.items() if user is not None}
        if update_cadence_minutes is not None:
            values["update_cadence_minutes"] = int(update_cadence_minutes)
        minutes = int(update_cadence_minutes or locked.update_cadence_minutes or cadence_of(locked))
        values.update(major_status="major", next_update_due_at=timezone.now() + datetime.timedelta(minutes=minutes))
        if str(reason or "").strip():
            values["major_reason"] = _reason(reason)
        elif not locked.major_reason:
            values["major_reason"] = _("Promoted by %(actor)s.") % {"actor": actor.label}
        return values

    with transaction.atomic():
        incident = _change(incident, actor=actor, action="promote_major", check=check, fields=fields)
        _arm_reminder(incident, incident.next_update_due_at)
        people = [user for user in (incident.commander, incident.communications_lead, incident.scribe) if user]
        events.emit("incident.major_promoted", incident, actor=actor, recipients=people, payload={
            "reason": incident.major_reason, "priority": incident.priority,
            **{name: str(getattr(incident, name) or "") for name in ROLE_FIELDS}})
    return incident


def reject_major(incident: Incident, *, actor: Actor, reason: str) -> Incident:
    reason = _reason(reason)

    def check(locked):
        _require_open(locked)
        if locked.major_status != "proposed":
            raise TransitionNotAllowed(_("%(inc)s is not proposed as a major incident.") % {"inc": locked})

    with transaction.atomic():
        incident = _change(incident, actor=actor, action="reject_major", check=check,
                           fields=lambda locked: {"major_status": "rejected"}, extra={"reason": reason})
        events.emit("incident.major_rejected", incident, actor=actor, payload={"reason": reason})
    return incident


def set_roles(incident: Incident, *, actor: Actor, **roles) -> Incident:
    """Change the commander, communications lead, scribe (a user, or None to clear) and/or the update
    cadence of a major incident. Only the names given change."""
    unknown = set(roles) - {*ROLE_FIELDS, "update_cadence_minutes"}
    if unknown:
        raise ValidationError({name: _("Not a role of a major incident.") for name in sorted(unknown)})
    people = {name: user for name, user in roles.items() if name in ROLE_FIELDS}
    _check_people(people)
    cadence = roles.get("update_cadence_minutes")
    if cadence is not None and not 1 <= int(cadence) <= 24 * 60:
        raise ValidationError({"update_cadence_minutes": _("Give the update cadence in minutes (1 to 1440).")})

    def check(locked):
        if locked.major_status != "major":
            raise TransitionNotAllowed(_("%(inc)s is not a major incident.") % {"inc": locked})
        if locked.status in ("closed", "cancelled"):
            raise TransitionNotAllowed(_("%(inc)s is read-only.") % {"inc": locked})

    def fields(locked):
        values = dict(people)
        if "update_cadence_minutes" in roles:
            values["update_cadence_minutes"] = int(cadence) if cadence is not None else None
            last = locked.updates.filter(audience__in=CADENCE_AUDIENCES).values_list("created_at", flat=True).first()
            start = last or timezone.now()
            from .services import incident_settings

            minutes = int(cadence) if cadence is not None else incident_settings().major_update_minutes
            values["next_update_due_at"] = start + datetime.timedelta(minutes=minutes)
        return values

    with transaction.atomic():
        incident = _change(incident, actor=actor, action="major_roles", check=check, fields=fields)
        if "update_cadence_minutes" in roles:
            _arm_reminder(incident, incident.next_update_due_at)
        newly = [getattr(incident, name) for name in people if getattr(incident, name) is not None]
        if newly:
            events.emit("incident.major_roles", incident, actor=actor, recipients=newly,
                        payload={name: str(getattr(incident, name) or "") for name in ROLE_FIELDS})
    return incident


# --- the communication log ----------------------------------------------------------------------------------

def post_update(incident: Incident, *, actor: Actor, body: str, audience: str = "stakeholders") -> CommunicationUpdate:
    body = str(body or "").strip()
    if not body:
        raise ValidationError({"body": _("Write the update.")})
    if len(body) > MAX_UPDATE_CHARS:
        raise ValidationError({"body": _("An update is limited to %(n)s characters.") % {"n": MAX_UPDATE_CHARS}})
    if audience not in dict(CommunicationUpdate.AUDIENCES):
        raise ValidationError({"audience": _("Choose one of: %(a)s.")
                               % {"a": ", ".join(dict(CommunicationUpdate.AUDIENCES))}})
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if locked.major_status != "major":
            raise TransitionNotAllowed(_("%(inc)s is not a major incident.") % {"inc": locked})
        if locked.status in ("closed", "cancelled"):
            raise TransitionNotAllowed(_("%(inc)s is read-only.") % {"inc": locked})
        update = CommunicationUpdate.objects.create(incident=locked, audience=audience, body=body, author=actor.user,
                                                    author_label=actor.label[:200])
        changes = {"update": [None, body[:300]], "audience": [None, audience]}
        if audience in CADENCE_AUDIENCES and locked.is_open:
            before = locked.next_update_due_at
            locked.next_update_due_at = update.created_at + datetime.timedelta(minutes=cadence_of(locked))
            locked.save(update_fields=["next_update_due_at"])
            _arm_reminder(locked, locked.next_update_due_at)
            changes["next_update_due_at"] = [audit.to_json_value(before), locked.next_update_due_at.isoformat()]
        audit.record(locked, actor=actor, action="post_update", changes=changes)
        events.emit("incident.update_posted", locked, actor=actor,
                    payload={"update": update.pk, "audience": audience, "body": body[:2000]})
    return update


@timers.handler(UPDATE_DUE)
def remind_update_due(timer) -> None:
    """A stakeholder update is due: page the communications lead and the commander, and remind again
    one cadence later until an update is posted. Stops once the incident is resolved or closed."""
    incident = Incident.objects.select_related("commander", "communications_lead").filter(pk=timer.object_id).first()
    if incident is None or not incident.is_open or incident.major_status != "major":
        return
    now = timezone.now()
    if incident.next_update_due_at is not None and incident.next_update_due_at > now:
        return  # an update was posted since; its own reminder is armed
    people = [user for user in (incident.communications_lead, incident.commander) if user is not None]
    events.emit("incident.update_due", incident, actor=REMINDER_ACTOR, recipients=people, payload={
        "due_at": audit.to_json_value(incident.next_update_due_at), "cadence_minutes": cadence_of(incident)})
    timers.schedule(UPDATE_DUE, now + datetime.timedelta(minutes=cadence_of(incident)), incident)


def on_closed(incident: Incident, *, actor: Actor) -> None:
    """Resolved or cancelled: no more update reminders."""
    timers.cancel(UPDATE_DUE, incident)


def on_reopened(incident: Incident, *, actor: Actor) -> None:
    """A reopened major incident owes its stakeholders an update one cadence from now."""
    if incident.major_status == "major":
        due = timezone.now() + datetime.timedelta(minutes=cadence_of(incident))
        Incident.objects.filter(pk=incident.pk).update(next_update_due_at=due)
        incident.next_update_due_at = due
        _arm_reminder(incident, due)


# --- child incidents ----------------------------------------------------------------------------------------

def link_child(major: Incident, child: Incident, *, actor: Actor) -> Incident:
    """Make `child` a child of the major incident (moving it from another major incident if it had one)."""
    with transaction.atomic():
        first, second = sorted([major.pk, child.pk])
        locked = {i.pk: i for i in Incident.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")}
        major, child = locked.get(major.pk, major), locked.get(child.pk, child)
        if major.pk == child.pk:
            raise ValidationError({"child": _("An incident cannot be its own child.")})
        if major.major_status != "major":
            raise TransitionNotAllowed(_("%(inc)s is not a major incident.") % {"inc": major})
        if major.status in ("closed", "cancelled"):
            raise TransitionNotAllowed(_("%(inc)s is read-only.") % {"inc": major})
        if child.major_status == "major":
            raise ValidationError({"child": _("%(inc)s is itself a major incident.") % {"inc": child}})
        ancestor, seen = major, set()
        while ancestor.parent_id is not None and ancestor.pk not in seen:
            seen.add(ancestor.pk)
            if ancestor.parent_id == child.pk:
                raise ValidationError({"child": _("%(c)s is above %(m)s already.") % {"c": child, "m": major}})
            ancestor = Incident.objects.only("pk", "parent_id").get(pk=ancestor.parent_id)
        if child.parent_id == major.pk:
            return child
        previous = child.parent
        child = _change(child, actor=actor, action="link_major", check=lambda locked: None,
                        fields=lambda locked: {"parent": major})
        audit.record(major, actor=actor, action="link_child", changes={"child": [None, child.number]})
        if previous is not None:
            audit.record(previous, actor=actor, action="unlink_child", changes={"child": [child.number, None]})
    return child


def unlink_child(child: Incident, *, actor: Actor) -> Incident:
    with transaction.atomic():
        child = Incident.objects.select_for_update().get(pk=child.pk)
        if child.parent_id is None:
            raise ValidationError({"child": _("%(inc)s is not linked to a major incident.") % {"inc": child}})
        parent = child.parent
        child = _change(child, actor=actor, action="unlink_major", check=lambda locked: None,
                        fields=lambda locked: {"parent": None})
        audit.record(parent, actor=actor, action="unlink_child", changes={"child": [child.number, None]})
    return child
