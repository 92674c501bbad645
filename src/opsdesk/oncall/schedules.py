"""The one write path of on-call schedules: schedules, their layers, overrides, shift swaps and the
calendar-feed secrets, each write with its change-log row and event in one transaction.

Who may do what is decided here, because the rules depend on the record and the moment, not only on
a role: a team's managers (or global managers) edit its schedule; anyone may put themself on call with
an override; only the person on call may offer their shift; only the person asked (or, when nobody was
asked, anyone but the requester) may take it. A system actor (config apply, demo data) may do all."""

from __future__ import annotations

import datetime
import secrets
import zoneinfo

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from opsdesk.accounts.models import Membership
from opsdesk.core import audit, events, records
from opsdesk.core.actors import Actor
from opsdesk.core.permissions import RANK, best_role, can
from opsdesk.core.workflow import TransitionNotAllowed

from . import rotation, selectors
from .models import CalendarFeed, Layer, Override, Schedule, ShiftSwap

SCHEDULE_FIELDS = ["name", "slug", "description", "team", "time_zone"]
LAYER_FIELDS = ["name", "order", "users", "rotation_start", "turn_unit", "turn_count", "restrictions", "starts_at",
                "ends_at"]
OVERRIDE_FIELDS = ["user", "starts_at", "ends_at", "reason"]
TURN_UNITS = ("hours", "days", "weeks")
MAX_TURN_COUNT = 1000
MAX_RANGES = 28


def new_token() -> str:
    return secrets.token_urlsafe(32)


# --- who may ----------------------------------------------------------------------------------------------

def may_manage(actor: Actor, schedule: Schedule | None, team=None) -> bool:
    """Managers of the schedule's team, or managers and admins globally; system jobs always."""
    if actor.kind == "system":
        return True
    team_id = getattr(team, "pk", team) if team is not None else getattr(schedule, "team_id", None)
    return can(actor.user, "manager", None) or (team_id is not None and can(actor.user, "manager", _Team(team_id)))


class _Team:
    TEAM_FIELD = "team"

    def __init__(self, team_id):
        self.team_id = team_id


def _require_manager(actor: Actor, schedule: Schedule | None, team=None) -> None:
    if not may_manage(actor, schedule, team):
        raise PermissionDenied(_("Only managers of the schedule's team may change it."))


def _require_responder(actor: Actor) -> None:
    """Responders and above, globally or in some team."""
    if actor.kind == "system":
        return
    role = best_role(actor.user)
    if role is None or RANK[role] < RANK["responder"]:
        raise PermissionDenied(_("Responders and above may do this."))


# --- schedules --------------------------------------------------------------------------------------------

def check_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(str(name or ""))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"time_zone": _("%(tz)s is not a known time zone (e.g. Europe/Berlin, UTC).")
                               % {"tz": name or "''"}})
    return str(name)


def _schedule_fields(data: dict, schedule: Schedule | None = None) -> dict:
    fields = {k: data[k] for k in SCHEDULE_FIELDS if k in data}
    if schedule is None:
        fields.setdefault("time_zone", "UTC")
        if not fields.get("slug") and fields.get("name"):
            fields["slug"] = slugify(fields["name"])[:100]
    if "time_zone" in fields:
        fields["time_zone"] = check_time_zone(fields["time_zone"])
    return fields


def create_schedule(*, actor: Actor, data: dict) -> Schedule:
    fields = _schedule_fields(data)
    _require_manager(actor, None, fields.get("team"))
    fields["ical_token"] = new_token()
    return records.create_record(Schedule, actor=actor, fields=fields, audited=SCHEDULE_FIELDS)


def update_schedule(schedule: Schedule, *, actor: Actor, data: dict) -> Schedule:
    fields = _schedule_fields(data, schedule)
    _require_manager(actor, schedule)
    if "team" in fields:
        _require_manager(actor, None, fields["team"])
    return records.update_record(schedule, actor=actor, fields=fields, audited=SCHEDULE_FIELDS)


def delete_schedule(schedule: Schedule, *, actor: Actor) -> None:
    """Delete a schedule that no escalation step names (the change log keeps its last values)."""
    from .models import EscalationStep

    _require_manager(actor, schedule)
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        used = list(EscalationStep.objects.filter(schedule=schedule).select_related("policy")[:5])
        if used:
            raise ValidationError({"schedule": _("Escalation policies page this schedule's on-call: %(names)s. "
                                                 "Remove it from their steps first.")
                                   % {"names": ", ".join(sorted({str(s.policy) for s in used}))}})
        before = audit.snapshot(schedule, SCHEDULE_FIELDS)
        before["layers"] = [layer.name for layer in schedule.layers.all()]
        audit.record(schedule, actor=actor, action="delete", changes=audit.diff(before, {}))
        events.emit("schedule.deleted", None, actor=actor, payload={"schedule": schedule.slug,
                                                                   "name": schedule.name})
        schedule.delete()


def rotate_ical_token(schedule: Schedule, *, actor: Actor) -> Schedule:
    """A new secret for the schedule's iCal feed; the old URL stops working."""
    _require_manager(actor, schedule)
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        schedule.ical_token = new_token()
        schedule.updated_by = actor.user
        schedule.save(update_fields=["ical_token", "updated_by", "updated_at"])
        audit.record(schedule, actor=actor, action="rotate_ical_token", changes={"ical_token": ["***", "***"]})
    return schedule


# --- layers -----------------------------------------------------------------------------------------------

def _aware(value, name: str) -> datetime.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        parsed = parse_datetime(value)
        if parsed is None:
            raise ValidationError({name: _("Give a date and time (ISO 8601).")})
        value = parsed
    if not isinstance(value, datetime.datetime):
        raise ValidationError({name: _("Give a date and time (ISO 8601).")})
    if timezone.is_naive(value):
        raise ValidationError({name: _("Give the time with its UTC offset.")})
    return value


def check_users(values, name: str = "users") -> list[int]:
    """User ids (from users, ids or usernames) of active people, in the given order; repeats allowed."""
    if not isinstance(values, list | tuple) or not values:
        raise ValidationError({name: _("Name at least one person.")})
    ids, usernames = [], []
    for value in values:
        if hasattr(value, "pk"):
            ids.append(value.pk)
        elif isinstance(value, int) and not isinstance(value, bool):
            ids.append(value)
        elif isinstance(value, str) and value.isdigit():
            ids.append(int(value))
        elif isinstance(value, str) and value.strip():
            usernames.append(value.strip())
        else:
            raise ValidationError({name: _("%(v)r is not a person.") % {"v": value}})
    model = get_user_model()
    found = {u.pk: u for u in model.objects.filter(pk__in=ids)} if ids else {}
    by_name = {u.username: u for u in model.objects.filter(username__in=usernames)} if usernames else {}
    out = []
    for value in values:
        if isinstance(value, str) and not value.isdigit():
            user = by_name.get(value.strip())
            label = value
        else:
            pk = getattr(value, "pk", None) or int(value)
            user, label = found.get(pk), pk
        if user is None:
            raise ValidationError({name: _("No person %(v)s.") % {"v": label}})
        if not user.is_active:
            raise ValidationError({name: _("%(u)s is deactivated and cannot be on call.") % {"u": user.username}})
        out.append(user.pk)
    return out


def check_restrictions(value) -> dict:
    """{} or {"kind": "daily", "ranges": [{"start": "HH:MM", "end": "HH:MM"}, ...]} or
    {"kind": "weekly", "ranges": [{"start_day": 0-6, "start": "HH:MM", "end_day": 0-6, "end": "HH:MM"}]}."""
    if value in (None, "", {}):
        return {}
    if not isinstance(value, dict) or value.get("kind") not in ("daily", "weekly"):
        raise ValidationError({"restrictions": _('Give {"kind": "daily" or "weekly", "ranges": [...]}.')})
    if set(value) - {"kind", "ranges"}:
        raise ValidationError({"restrictions": _("Unknown keys: %(k)s.") % {"k": ", ".join(sorted(set(value) - {
            "kind", "ranges"}))}})
    ranges = value.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        raise ValidationError({"restrictions": _("Give at least one time range.")})
    if len(ranges) > MAX_RANGES:
        raise ValidationError({"restrictions": _("At most %(n)s ranges.") % {"n": MAX_RANGES}})
    keys = {"start", "end"} if value["kind"] == "daily" else {"start_day", "start", "end_day", "end"}
    clean = []
    for index, rng in enumerate(ranges, start=1):
        if not isinstance(rng, dict) or set(rng) != keys:
            raise ValidationError({"restrictions": _("Range %(i)s needs exactly the keys %(k)s.")
                                   % {"i": index, "k": ", ".join(sorted(keys))}})
        for key in ("start", "end"):
            try:
                rotation.parse_time(rng[key])
            except (ValueError, TypeError):
                raise ValidationError({"restrictions": _("Range %(i)s: %(v)r is not a time HH:MM (00:00-23:59).")
                                       % {"i": index, "v": rng[key]}})
        item = {"start": rng["start"], "end": rng["end"]}
        if value["kind"] == "weekly":
            for key in ("start_day", "end_day"):
                day = rng[key]
                if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6:
                    raise ValidationError({"restrictions": _("Range %(i)s: %(k)s is a weekday 0 (Monday) to 6 "
                                                             "(Sunday).") % {"i": index, "k": key}})
            item = {"start_day": rng["start_day"], "start": rng["start"], "end_day": rng["end_day"], "end": rng["end"]}
        clean.append(item)
    return {"kind": value["kind"], "ranges": clean}


def _layer_fields(data: dict, layer: Layer | None = None) -> dict:
    fields = {k: data[k] for k in LAYER_FIELDS if k in data}
    errors: dict = {}
    if layer is None:
        for name in ("name", "users", "rotation_start"):
            if fields.get(name) in (None, "", []):
                errors[name] = _("This field is required.")
    if "name" in fields and not str(fields["name"] or "").strip():
        errors["name"] = _("This field is required.")
    for check in (
        lambda: fields.update(users=check_users(fields["users"])) if "users" in fields else None,
        lambda: fields.update(restrictions=check_restrictions(fields["restrictions"]))
        if "restrictions" in fields else None,
        *[(lambda n=n: fields.update({n: _aware(fields[n], n)}) if n in fields else None)
          for n in ("rotation_start", "starts_at", "ends_at")],
    ):
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "turn_unit" in fields and fields["turn_unit"] not in TURN_UNITS:
        errors["turn_unit"] = _("Choose hours, days or weeks.")
    if "turn_count" in fields:
        count = fields["turn_count"]
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_TURN_COUNT:
            errors["turn_count"] = _("A turn lasts 1 to %(n)s units.") % {"n": MAX_TURN_COUNT}
    if "order" in fields and (not isinstance(fields["order"], int) or fields["order"] < 0):
        errors["order"] = _("Give a whole number, 0 or more.")
    starts = fields.get("starts_at", layer.starts_at if layer else None) if "starts_at" not in errors else None
    ends = fields.get("ends_at", layer.ends_at if layer else None) if "ends_at" not in errors else None
    if starts and ends and ends <= starts:
        errors["ends_at"] = _("The layer must end after it starts.")
    if errors:
        raise ValidationError(errors)
    return fields


def _layer_snapshot(layer: Layer) -> dict:
    return audit.snapshot(layer, LAYER_FIELDS)


def add_layer(schedule: Schedule, *, actor: Actor, data: dict) -> Layer:
    _require_manager(actor, schedule)
    fields = _layer_fields(data)
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        if "order" not in fields:
            fields["order"] = max([layer.order for layer in schedule.layers.all()] or [0]) + 1
        layer = Layer(schedule=schedule, **fields)
        layer.full_clean()
        layer.save()
        audit.record(schedule, actor=actor, action="add_layer",
                     changes={f"layer {layer.name}": [None, _layer_snapshot(layer)]})
        events.emit("schedule.layer_added", schedule, actor=actor, payload={"layer": layer.name})
    return layer


def update_layer(layer: Layer, *, actor: Actor, data: dict) -> Layer:
    _require_manager(actor, layer.schedule)
    fields = _layer_fields(data, layer)
    with transaction.atomic():
        Schedule.objects.select_for_update().get(pk=layer.schedule_id)
        layer = Layer.objects.get(pk=layer.pk)
        before = _layer_snapshot(layer)
        for name, value in fields.items():
            setattr(layer, name, value)
        layer.full_clean()
        layer.save()
        changes = audit.diff(before, _layer_snapshot(layer))
        if changes:
            audit.record(layer.schedule, actor=actor, action="update_layer",
                         changes={f"layer {layer.name} {k}": v for k, v in changes.items()})
            events.emit("schedule.layer_updated", layer.schedule, actor=actor,
                        payload={"layer": layer.name, "changed": sorted(changes)})
    return layer


def remove_layer(layer: Layer, *, actor: Actor) -> None:
    _require_manager(actor, layer.schedule)
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=layer.schedule_id)
        layer = Layer.objects.get(pk=layer.pk)
        audit.record(schedule, actor=actor, action="remove_layer",
                     changes={f"layer {layer.name}": [_layer_snapshot(layer), None]})
        events.emit("schedule.layer_removed", schedule, actor=actor, payload={"layer": layer.name})
        layer.delete()


# --- overrides --------------------------------------------------------------------------------------------

def _period(data: dict, start_name: str = "starts_at", end_name: str = "ends_at"):
    errors = {}
    values = {}
    for name in (start_name, end_name):
        try:
            values[name] = _aware(data.get(name), name)
            if values[name] is None:
                errors[name] = _("This field is required.")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not errors and values[end_name] <= values[start_name]:
        errors[end_name] = _("The end must be after the start.")
    if errors:
        raise ValidationError(errors)
    return values[start_name], values[end_name]


def add_override(schedule: Schedule, *, actor: Actor, data: dict, swap: ShiftSwap | None = None) -> Override:
    """Put `data["user"]` on call from starts_at to ends_at on top of every layer. Managers of the
    schedule's team may override for anyone; a responder for themself only."""
    starts_at, ends_at = _period(data)
    user = data.get("user")
    if user is None:
        raise ValidationError({"user": _("This field is required.")})
    user_id = check_users([user], "user")[0]
    if swap is None and not may_manage(actor, schedule):
        if actor.user_id != user_id:
            raise PermissionDenied(_("Only managers of the schedule's team may put someone else on call."))
        _require_responder(actor)
        if schedule.team_id is not None and not Membership.objects.filter(team_id=schedule.team_id,
                                                                          user_id=user_id).exists():
            raise PermissionDenied(_("Only members of %(team)s put themselves on call in its schedule.")
                                   % {"team": schedule.team.name})
    with transaction.atomic():
        override = Override(schedule=schedule, user_id=user_id, starts_at=starts_at, ends_at=ends_at,
                            reason=str(data.get("reason") or "")[:300], swap=swap, created_by=actor.user,
                            updated_by=actor.user)
        override.full_clean()
        override.save()
        audit.record(override, actor=actor, action="create",
                     changes=audit.diff({}, {k: v for k, v in audit.snapshot(override, OVERRIDE_FIELDS + ["schedule"])
                                            .items() if v not in (None, "")}))
        events.emit("schedule.override_added", schedule, actor=actor,
                    payload={"user": override.user.username, "starts_at": starts_at.isoformat(),
                             "ends_at": ends_at.isoformat()},
                    recipients=[user_id] if user_id != actor.user_id else None)  # told unless they did it
    return override


def remove_override(override: Override, *, actor: Actor) -> None:
    """Managers of the team, or the person the override puts on call."""
    if not may_manage(actor, override.schedule) and actor.user_id != override.user_id:
        raise PermissionDenied(_("Only managers of the schedule's team or the person on call may remove it."))
    with transaction.atomic():
        override = Override.objects.select_for_update().select_related("schedule", "user").get(pk=override.pk)
        audit.record(override, actor=actor, action="delete",
                     changes=audit.diff(audit.snapshot(override, OVERRIDE_FIELDS + ["schedule"]), {}))
        events.emit("schedule.override_removed", override.schedule, actor=actor,
                    payload={"user": override.user.username, "starts_at": override.starts_at.isoformat(),
                             "ends_at": override.ends_at.isoformat()})
        override.delete()


# --- shift swaps ------------------------------------------------------------------------------------------

def _covers(schedule: Schedule, user, starts_at, ends_at) -> bool:
    """Is `user` on call in `schedule` for the whole of [starts_at, ends_at)?"""
    found = selectors.shifts(schedule, starts_at, ends_at)
    covered = starts_at
    for shift in found:
        if shift.start > covered or all(u.pk != user.pk for u in shift.users):
            return False
        covered = shift.end
    return covered >= ends_at


def request_swap(schedule: Schedule, *, actor: Actor, starts_at, ends_at, proposed_to=None,
                 note: str = "") -> ShiftSwap:
    """Ask someone (or anyone, when `proposed_to` is None) to take the asker's own shift over the period."""
    starts_at, ends_at = _period({"starts_at": starts_at, "ends_at": ends_at})
    if actor.user is None:
        raise PermissionDenied(_("A person asks for a swap, not a system job."))
    _require_responder(actor)
    if ends_at <= timezone.now():
        raise ValidationError({"ends_at": _("That shift is over.")})
    if proposed_to is not None:
        proposed_id = check_users([proposed_to], "proposed_to")[0]
        if proposed_id == actor.user_id:
            raise ValidationError({"proposed_to": _("Ask someone else than yourself.")})
        proposed_to = get_user_model().objects.get(pk=proposed_id)
    if not _covers(schedule, actor.user, starts_at, ends_at):
        raise ValidationError({"starts_at": _("You are not on call in %(s)s for the whole of this period.")
                               % {"s": schedule.name}})
    with transaction.atomic():
        swap = ShiftSwap(schedule=schedule, requester=actor.user, starts_at=starts_at, ends_at=ends_at,
                         proposed_to=proposed_to, note=str(note or "")[:300], created_by=actor.user,
                         updated_by=actor.user)
        swap.full_clean()
        swap.save()
        audit.record(swap, actor=actor, action="request", changes=audit.diff({}, _swap_snapshot(swap)))
        events.emit("shiftswap.requested", swap, actor=actor, payload=_swap_payload(swap),
                    recipients=[proposed_to] if proposed_to is not None else None)
    return swap


def _swap_snapshot(swap: ShiftSwap) -> dict:
    return {k: v for k, v in audit.snapshot(swap, ["schedule", "requester", "starts_at", "ends_at", "proposed_to",
                                                   "taken_by", "status", "note"]).items() if v not in (None, "")}


def _swap_payload(swap: ShiftSwap) -> dict:
    return {"schedule": swap.schedule.slug, "requester": swap.requester.username,
            "starts_at": swap.starts_at.isoformat(), "ends_at": swap.ends_at.isoformat(),
            "proposed_to": swap.proposed_to.username if swap.proposed_to_id else None,
            "taken_by": swap.taken_by.username if swap.taken_by_id else None}


def _locked_open_swap(swap: ShiftSwap) -> ShiftSwap:
    swap = ShiftSwap.objects.select_for_update().get(pk=swap.pk)
    if swap.status != "requested":  # answered already: a conflict with the current state (409), not bad input
        raise TransitionNotAllowed(_("This swap is already %(s)s.") % {"s": swap.get_status_display()})
    return swap


def _finish(swap: ShiftSwap, status: str, actor: Actor, taker=None) -> ShiftSwap:
    before = _swap_snapshot(swap)
    swap.status = status
    if taker is not None:
        swap.taken_by = taker
    swap.updated_by = actor.user
    swap.save(update_fields=["status", "taken_by", "updated_by", "updated_at"])
    audit.record(swap, actor=actor, action=status, changes=audit.diff(before, _swap_snapshot(swap)))
    return swap


def _hand_over(swap: ShiftSwap, taker, actor: Actor) -> None:
    if taker.pk == swap.requester_id:
        raise ValidationError({"user": _("The requester cannot take their own shift.")})
    if not taker.is_active:
        raise ValidationError({"user": _("%(u)s is deactivated and cannot be on call.") % {"u": taker.username}})
    if swap.ends_at <= timezone.now():
        raise ValidationError({"ends_at": _("That shift is over.")})
    add_override(swap.schedule, actor=actor, swap=swap,
                 data={"user": taker, "starts_at": swap.starts_at,
                       "ends_at": swap.ends_at,
                       "reason": _("Swap with %(u)s") % {"u": swap.requester.username}})


def _belongs_to(schedule: Schedule, user_id: int) -> bool:
    """A member of the schedule's team (any schedule without a team is everyone's), or in one of its rotations."""
    if schedule.team_id is None or Membership.objects.filter(team_id=schedule.team_id, user_id=user_id).exists():
        return True
    return any(user_id in (layer.users or []) for layer in schedule.layers.all())


def accept_swap(swap: ShiftSwap, *, actor: Actor) -> ShiftSwap:
    """The person asked takes the shift (or, when nobody was asked, any responder but the requester): an
    override puts them on call for the period."""
    if actor.user is None:
        raise PermissionDenied(_("A person takes a shift, not a system job."))
    with transaction.atomic():
        swap = _locked_open_swap(swap)
        if swap.proposed_to_id is not None and swap.proposed_to_id != actor.user_id:
            raise PermissionDenied(_("This swap was offered to %(u)s.") % {"u": swap.proposed_to.username})
        if actor.user_id == swap.requester_id:
            raise PermissionDenied(_("You cannot take your own shift; cancel the request instead."))
        _require_responder(actor)
        if swap.proposed_to_id is None and not _belongs_to(swap.schedule, actor.user_id):
            # An open offer is for the schedule's people: taking it puts the taker on call, which an outsider
            # could not do by an override of their own either.
            raise PermissionDenied(_("Only people of %(s)s (its team or its rotations) may take this shift.")
                                   % {"s": swap.schedule.name})
        _hand_over(swap, actor.user, actor)
        swap = _finish(swap, "accepted", actor, taker=actor.user)
        events.emit("shiftswap.accepted", swap, actor=actor, payload=_swap_payload(swap), recipients=[swap.requester])
    return swap


def decline_swap(swap: ShiftSwap, *, actor: Actor) -> ShiftSwap:
    """The person asked says no. An open offer (nobody asked) is not declined: it stays for others."""
    with transaction.atomic():
        swap = _locked_open_swap(swap)
        if swap.proposed_to_id is None:
            raise ValidationError({"proposed_to": _("This swap is offered to anyone; leave it for someone else.")})
        if swap.proposed_to_id != actor.user_id and not may_manage(actor, swap.schedule):
            raise PermissionDenied(_("Only %(u)s may decline this swap.") % {"u": swap.proposed_to.username})
        swap = _finish(swap, "declined", actor)
        events.emit("shiftswap.declined", swap, actor=actor, payload=_swap_payload(swap), recipients=[swap.requester])
    return swap


def cancel_swap(swap: ShiftSwap, *, actor: Actor) -> ShiftSwap:
    with transaction.atomic():
        swap = _locked_open_swap(swap)
        if swap.requester_id != actor.user_id and not may_manage(actor, swap.schedule):
            raise PermissionDenied(_("Only the person who asked may cancel this swap."))
        swap = _finish(swap, "cancelled", actor)
        events.emit("shiftswap.cancelled", swap, actor=actor, payload=_swap_payload(swap),
                    recipients=[swap.proposed_to] if swap.proposed_to_id else None)
    return swap


def assign_swap(swap: ShiftSwap, *, actor: Actor, user) -> ShiftSwap:
    """A manager of the schedule's team gives the shift to `user`."""
    _require_manager(actor, swap.schedule)
    with transaction.atomic():
        swap = _locked_open_swap(swap)
        taker = get_user_model().objects.get(pk=check_users([user], "user")[0])
        _hand_over(swap, taker, actor)
        swap = _finish(swap, "accepted", actor, taker=taker)
        events.emit("shiftswap.accepted", swap, actor=actor, payload={**_swap_payload(swap), "assigned": True},
                    recipients=[swap.requester, taker])
    return swap


# --- calendar feeds ---------------------------------------------------------------------------------------

def calendar_feed(user, *, actor: Actor, rotate: bool = False) -> CalendarFeed:
    """The person's own iCal feed secret (made on first use; `rotate` replaces it)."""
    if actor.kind != "system" and actor.user_id != user.pk:
        raise PermissionDenied(_("A calendar feed is its owner's."))
    with transaction.atomic():
        feed = CalendarFeed.objects.select_for_update().filter(user=user).first()
        if feed is None:
            feed = CalendarFeed.objects.create(user=user, token=new_token())
            audit.record(feed, actor=actor, action="create", changes={"token": [None, "***"]})
        elif rotate:
            feed.token = new_token()
            feed.save(update_fields=["token"])
            audit.record(feed, actor=actor, action="rotate", changes={"token": ["***", "***"]})
    return feed
