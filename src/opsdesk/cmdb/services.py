"""The one write path of the CMDB: classes, attributes, relationship types, configuration items,
their lifecycle and their relationships (CONVENTIONS §1). Imports and audits write through here too."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, records, timers, versions
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry
from opsdesk.core.permissions import has_role
from opsdesk.core.workflow import TransitionNotAllowed

from .attributes import clean_attributes, definitions_for
from .models import AttributeDefinition, CIClass, ConfigurationItem, Relationship, RelationshipType, UnauthorisedChange
from .workflows import CI_WORKFLOW

CI_AUDITED = ["name", "ci_class", "status", "environment", "owner_team", "services", "location", "ip_addresses",
              "hostnames", "description", "tags", "attributes", "serial_number", "asset_tag", "vendor", "model_name",
              "purchase_date", "purchase_cost", "warranty_end", "expires_on", "redundancy_min", "redundancy_mode",
              "discovery_source", "missing_from_discovery", "status_reason", "disposed_on", "disposal_method",
              "disposal_reference", "disposal_approved_by"]
# Fields whose change on a production CI needs a change request (besides attributes marked tracked).
TRACKED_FIELDS = ["ci_class", "environment", "ip_addresses", "hostnames", "services", "redundancy_min"]
CLASS_AUDITED = ["slug", "name", "description", "icon", "is_asset", "expiry_reminder_days"]
ATTRIBUTE_AUDITED = ["ci_class", "key", "label", "type", "required", "choices", "reference_class", "help_text",
                     "tracked", "order"]
RELTYPE_AUDITED = ["slug", "name", "reverse_name", "impact", "description"]
# What the impact graph holds of a CI besides its relationships and status (see impact_graph.py).
GRAPH_FIELDS = {"services", "redundancy_min", "redundancy_mode"}
GRAPH_RELTYPE_FIELDS = {"impact", "name", "reverse_name"}
EXPIRY_TIMER = "cmdb.expiry_reminder"
EXPIRY_FIELDS = ("warranty_end", "expires_on")

# Hook for the change module: `authoriser(ci, fields, when) -> bool` says whether a change request covers
# a change of `fields` on `ci` at `when`. With none registered, only an explicit `change_reference` does.
change_authorisers: list[Callable[[ConfigurationItem, list[str], datetime.datetime], bool]] = []


# --- classes, attributes, relationship types ---------------------------------------------------------

def create_class(*, actor: Actor, data: dict) -> CIClass:
    """`data["attributes"]` (optional): attribute definitions created with the class, all or none."""
    data = dict(data)
    attributes = data.pop("attributes", None) or []
    with transaction.atomic():
        ci_class = records.create_record(CIClass, actor=actor, fields=data, audited=CLASS_AUDITED)
        _put_attributes(ci_class, attributes, actor=actor)
    return ci_class


def update_class(ci_class: CIClass, *, actor: Actor, data: dict) -> CIClass:
    """`data["attributes"]`: definitions to add or change, matched by key; none are removed."""
    data = dict(data)
    attributes = data.pop("attributes", None)
    with transaction.atomic():
        ci_class = records.update_record(ci_class, actor=actor, fields=data, audited=CLASS_AUDITED)
        if attributes:
            _put_attributes(ci_class, attributes, actor=actor)
    return ci_class


def _put_attributes(ci_class: CIClass, attributes: list[dict], *, actor: Actor) -> None:
    existing = {d.key: d for d in ci_class.attribute_definitions.all()}
    for index, item in enumerate(attributes):
        item = {k: v for k, v in dict(item).items() if k != "ci_class"}
        try:
            if item.get("key") in existing:
                update_attribute(existing[item["key"]], actor=actor, data=item)
            else:
                create_attribute(actor=actor, data={**item, "ci_class": ci_class})
        except ValidationError as exc:
            raise ValidationError({f"attributes.{item.get('key') or index}.{field}": messages
                                   for field, messages in exc.message_dict.items()}) from None
    if hasattr(ci_class, "_opsdesk_definitions"):
        del ci_class._opsdesk_definitions


def create_attribute(*, actor: Actor, data: dict) -> AttributeDefinition:
    return records.create_record(AttributeDefinition, actor=actor, fields=data, audited=ATTRIBUTE_AUDITED,
                                 check=_check_attribute_key)


def _check_attribute_key(fields: dict) -> None:
    key = fields.get("key", "")
    if key and not key.replace("_", "").isalnum():
        raise ValidationError({"key": _("Letters, digits and underscores only.")})
    ci_class = fields.get("ci_class")
    clash = AttributeDefinition.objects.filter(key=key)
    clash = clash.filter(ci_class__isnull=True) if ci_class is not None else clash
    if ci_class is None and clash.exists():
        raise ValidationError({"key": _("A class already has an attribute “%(key)s”.") % {"key": key}})
    if ci_class is not None and clash.exists():
        raise ValidationError({"key": _("“%(key)s” is already a custom attribute of every class.") % {"key": key}})


def update_attribute(definition: AttributeDefinition, *, actor: Actor, data: dict) -> AttributeDefinition:
    def check(locked, fields):
        for name in ("key", "ci_class", "type"):
            if name in fields and fields[name] != getattr(locked, name):
                raise ValidationError({name: _("The %(name)s of an attribute cannot change; add a new attribute "
                                               "instead.") % {"name": name}})

    return records.update_record(definition, actor=actor, fields=data, audited=ATTRIBUTE_AUDITED, check=check)


def create_relationship_type(*, actor: Actor, data: dict) -> RelationshipType:
    with transaction.atomic():
        reltype = records.create_record(RelationshipType, actor=actor, fields=data, audited=RELTYPE_AUDITED)
        versions.bump(versions.IMPACT_GRAPH)
    return reltype


def update_relationship_type(reltype: RelationshipType, *, actor: Actor, data: dict) -> RelationshipType:
    with transaction.atomic():
        reltype = records.update_record(reltype, actor=actor, fields=data, audited=RELTYPE_AUDITED)
        if GRAPH_RELTYPE_FIELDS & data.keys():  # the direction and the names of the impact edges
            versions.bump(versions.IMPACT_GRAPH)
    return reltype


# --- configuration items -----------------------------------------------------------------------------

def _refuse_disposed(ci: ConfigurationItem) -> None:
    if ci.status == "disposed":
        raise TransitionNotAllowed(_("%(ci)s is disposed and read-only.") % {"ci": ci})


def _clean_ci_fields(fields: dict, ci: ConfigurationItem | None) -> None:
    """Validate the attributes against the (new) class; for an update, given attributes are merged
    into the current ones and a null value removes one."""
    ci_class = fields.get("ci_class") or (ci.ci_class if ci is not None else None)
    if ci is None or "attributes" in fields or "ci_class" in fields:
        given = fields.get("attributes") or {}
        if not isinstance(given, dict):
            raise ValidationError({"attributes": _("An object of attribute values.")})
        merged = {**(ci.attributes if ci is not None else {}), **given}
        merged = {k: v for k, v in merged.items() if v is not None}
        fields["attributes"] = clean_attributes(ci_class, merged)


def create_ci(*, actor: Actor, data: dict) -> ConfigurationItem:
    data = dict(data)
    data.pop("change_reference", None)
    with transaction.atomic():
        ci = records.create_record(ConfigurationItem, actor=actor, fields=data, workflow=CI_WORKFLOW,
                                   audited=CI_AUDITED, check=lambda fields: _clean_ci_fields(fields, None))
        _schedule_expiry_reminders(ci)
        if data.get("services") or data.get("redundancy_min") is not None:
            versions.bump(versions.IMPACT_GRAPH)
    return ci


def update_ci(ci: ConfigurationItem, *, actor: Actor, data: dict) -> ConfigurationItem:
    """`data` may carry `change_reference` (the change request that covers this change)."""
    data = dict(data)
    change_reference = str(data.pop("change_reference", "") or "").strip()
    with transaction.atomic():
        state = {}

        def check(locked, fields):
            _refuse_disposed(locked)
            _clean_ci_fields(fields, locked)
            state["before"] = audit.snapshot(locked, CI_AUDITED)
            state["status"] = locked.status

        ci = records.update_record(ci, actor=actor, fields=data, audited=CI_AUDITED, check=check)
        after = audit.snapshot(ci, CI_AUDITED)
        changed = [k for k in CI_AUDITED if state["before"].get(k) != after.get(k)]
        if not changed:
            return ci
        if {"warranty_end", "expires_on", "ci_class"} & set(changed):
            _schedule_expiry_reminders(ci)
        _detect_unauthorised(ci, state["before"], after, changed, state["status"], change_reference, actor)
        if GRAPH_FIELDS & set(changed):
            versions.bump(versions.IMPACT_GRAPH)
    return ci


def tracked_changes(ci: ConfigurationItem, before: dict, after: dict, changed: list[str]) -> list[str]:
    fields = [f for f in changed if f in TRACKED_FIELDS]
    if "attributes" in changed:
        tracked = {k for k, d in definitions_for(ci.ci_class).items() if d.tracked}
        old, new = before.get("attributes") or {}, after.get("attributes") or {}
        fields += [f"attributes.{k}" for k in sorted(tracked) if old.get(k) != new.get(k)]
    return fields


def _detect_unauthorised(ci, before, after, changed, status_before, change_reference, actor) -> None:
    if status_before != "in_production" or ci.environment != "production" and before.get("environment") != \
            "production":
        return
    fields = tracked_changes(ci, before, after, changed)
    if not fields or change_reference:
        return
    now = timezone.now()
    if any(authorise(ci, fields, now) for authorise in change_authorisers):
        return
    entry = audit.history_for(ci).order_by("-id").first()
    UnauthorisedChange.objects.create(ci=ci, audit_entry=entry, fields=fields, detected_at=now,
                                      actor_label=actor.label[:200])
    events.emit("configurationitem.unauthorised_change", ci, actor=actor, payload={"fields": fields})


def bulk_update_cis(cis, *, actor: Actor, data: dict) -> int:
    """Apply the same edit to several CIs in one transaction: all or none. `add_tags` adds tags to
    each CI's own."""
    with transaction.atomic():
        # Lock every selected CI first, in id order, before any of them takes the shared locks (change-log
        # head, graph stamp): a concurrent single edit then waits for the whole bulk edit instead of
        # holding one of its CIs while waiting for a lock the bulk edit holds (a deadlock on PostgreSQL).
        ids = sorted(ci.pk for ci in cis)
        locked = list(ConfigurationItem.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        count = 0
        for ci in locked:
            fields = dict(data)
            add_tags = fields.pop("add_tags", None)
            if add_tags:
                fields["tags"] = sorted({*(t.name for t in ci.tags.all()), *add_tags})
            update_ci(ci, actor=actor, data=fields)
            count += 1
    return count


def _record_transition_fields(ci: ConfigurationItem, transition, data: dict) -> None:
    reason = str(data.get("reason") or "")
    if len(reason) > 500:
        raise ValidationError({"reason": _("The reason is limited to 500 characters.")})
    ci.status_reason = reason
    if transition.name == "dispose":
        methods = dict(ConfigurationItem.DISPOSAL_METHODS)
        method = str(data.get("disposal_method") or "")
        if method not in methods:
            raise ValidationError({"disposal_method": _("One of: %(m)s.") % {"m": ", ".join(methods)}})
        approver = get_user_model().objects.filter(username=str(data.get("approved_by") or ""),
                                                   is_active=True).first()
        if approver is None:
            raise ValidationError({"approved_by": _("No active user with that user name.")})
        if not has_role(approver, "manager", ci.owner_team_id):
            raise ValidationError({"approved_by": _("%(user)s is not a manager for this CI and cannot approve its "
                                                    "disposal.") % {"user": approver.username}})
        disposed_on = data.get("disposed_on") or timezone.localdate()
        if isinstance(disposed_on, str):
            try:
                disposed_on = datetime.date.fromisoformat(disposed_on)
            except ValueError:
                raise ValidationError({"disposed_on": _("A date (YYYY-MM-DD).")}) from None
        ci.disposal_method = method
        ci.disposal_reference = str(data.get("disposal_reference"))[:200]
        ci.disposal_approved_by = approver
        ci.disposed_on = disposed_on
        ci.status_reason = reason or _("Disposed (%(method)s)") % {"method": methods[method]}


def transition_ci(ci: ConfigurationItem, name: str, *, actor: Actor, data: dict | None = None) -> ConfigurationItem:
    with transaction.atomic():
        ci = records.transition_record(ci, name, actor=actor, workflow=CI_WORKFLOW, data=data,
                                       apply_fields=_record_transition_fields)
        if ci.status in ("retired", "disposed"):
            timers.cancel(EXPIRY_TIMER, ci)
        elif name == "reinstate":
            _schedule_expiry_reminders(ci)
        versions.bump(versions.IMPACT_GRAPH)  # every status may change whether the CI is a node
    return ci


def deploy_ci(ci: ConfigurationItem, *, actor: Actor) -> ConfigurationItem:
    return transition_ci(ci, "deploy", actor=actor)


def retire_ci(ci: ConfigurationItem, *, actor: Actor, reason: str) -> ConfigurationItem:
    return transition_ci(ci, "retire", actor=actor, data={"reason": reason})


# --- expiry reminders --------------------------------------------------------------------------------

def _schedule_expiry_reminders(ci: ConfigurationItem) -> None:
    """One timer per (date field, days before) in the future; reminders already past collapse into one
    that goes out now, so a certificate entered 5 days before it expires still gets a reminder."""
    timers.cancel(EXPIRY_TIMER, ci)
    if ci.status in ("retired", "disposed"):
        return
    days_before = sorted(set(ci.ci_class.expiry_reminder_days or []), reverse=True)
    today = timezone.localdate()
    for field in EXPIRY_FIELDS:
        expiry = getattr(ci, field)
        if expiry is None or expiry < today:
            continue
        overdue = []
        for days in days_before:
            due = expiry - datetime.timedelta(days=days)
            if due > today:
                due_at = datetime.datetime.combine(due, datetime.time(9), tzinfo=datetime.UTC)
                timers.schedule(EXPIRY_TIMER, due_at, obj=ci, payload={"field": field, "date": expiry.isoformat(),
                                                                       "days": days})
            else:
                overdue.append(days)
        if overdue:
            timers.schedule(EXPIRY_TIMER, timezone.now(), obj=ci,
                            payload={"field": field, "date": expiry.isoformat(), "days": min(overdue)})


@timers.handler(EXPIRY_TIMER)
def send_expiry_reminder(timer) -> None:
    ci = ConfigurationItem.objects.filter(pk=timer.object_id).select_related("ci_class").first()
    if ci is None or ci.status in ("retired", "disposed"):
        return
    field, date = timer.payload.get("field"), timer.payload.get("date")
    if field not in EXPIRY_FIELDS or getattr(ci, field) is None or getattr(ci, field).isoformat() != date:
        return  # the date changed since the timer was set; the new date has its own timers
    days_left = (datetime.date.fromisoformat(date) - timezone.localdate()).days
    label = _("warranty") if field == "warranty_end" else _("licence or certificate")
    events.emit("configurationitem.expiring", ci, actor=Actor.system("cmdb-expiry"),
                payload={"field": field, "what": label, "date": date, "days_left": days_left,
                         "summary": _("The %(what)s of %(ci)s ends on %(date)s (in %(days)s days).")
                         % {"what": label, "ci": ci, "date": date, "days": days_left}})


# --- relationships -----------------------------------------------------------------------------------

def relate(source: ConfigurationItem, reltype: RelationshipType, *, actor: Actor, target: ConfigurationItem = None,
           target_service=None, note: str = "") -> Relationship:
    if (target is None) == (target_service is None):
        raise ValidationError({"target": _("Give either a target CI or a target service.")})
    with transaction.atomic():
        ids = sorted({source.pk, *( [target.pk] if target is not None else [])})
        locked = {ci.pk: ci for ci in ConfigurationItem.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        source = locked[source.pk]
        _refuse_disposed(source)
        if target is not None:
            target = locked[target.pk]
            _refuse_disposed(target)
            if target.pk == source.pk:
                raise ValidationError({"target": _("A CI cannot be related to itself.")})
        elif target_service.status == "retired":
            raise ValidationError({"target_service": _("%(svc)s is retired.") % {"svc": target_service}})
        current = Relationship.objects.filter(source=source, type=reltype, ended_at__isnull=True)
        current = current.filter(target=target) if target is not None else current.filter(
            target_service=target_service)
        if current.exists():
            raise ValidationError({"target": _("%(src)s already %(type)s %(tgt)s.")
                                   % {"src": source, "type": reltype, "tgt": target or target_service}})
        relationship = Relationship(source=source, type=reltype, target=target, target_service=target_service,
                                    note=note, created_by=actor.user, updated_by=actor.user)
        relationship.full_clean()
        relationship.save()
        text = f"{reltype.name} {target or target_service}"
        audit.record(source, actor=actor, action="relate", changes={"relationship": [None, text]})
        if target is not None:
            audit.record(target, actor=actor, action="relate",
                         changes={"relationship": [None, f"{source} {reltype.name} {target}"]})
        events.emit("relationship.created", source, actor=actor,
                    payload={"relationship": relationship.pk, "type": reltype.slug,
                             "target": str(target or target_service)})
        versions.bump(versions.IMPACT_GRAPH)
    return relationship


def unrelate(relationship: Relationship, *, actor: Actor) -> Relationship:
    """End a relationship; it stays in the database for the "as of" view."""
    with transaction.atomic():
        relationship = Relationship.objects.select_for_update(of=("self",)).select_related(
            "source", "target", "target_service", "type").get(pk=relationship.pk)
        if relationship.ended_at is not None:
            raise TransitionNotAllowed(_("This relationship has already ended."))
        _refuse_disposed(relationship.source)
        relationship.ended_at = timezone.now()
        relationship.ended_by = actor.user
        relationship.updated_by = actor.user
        relationship.save(update_fields=["ended_at", "ended_by", "updated_by", "updated_at"])
        text = f"{relationship.type.name} {relationship.target_object}"
        audit.record(relationship.source, actor=actor, action="unrelate", changes={"relationship": [text, None]})
        if relationship.target_id:
            audit.record(relationship.target, actor=actor, action="unrelate",
                         changes={"relationship": [f"{relationship.source} {text}", None]})
        events.emit("relationship.ended", relationship.source, actor=actor,
                    payload={"relationship": relationship.pk, "type": relationship.type.slug})
        versions.bump(versions.IMPACT_GRAPH)
    return relationship


def latest_entry(ci: ConfigurationItem) -> AuditEntry | None:
    return audit.history_for(ci).order_by("-id").first()
