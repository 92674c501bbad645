"""CAB meetings: the agenda generated from the changes awaiting the CAB, a decision per change (an approval
or rejection is the member's OWN approval, recorded through approvals.decide), and the minutes in Markdown.

Contract:
- create_meeting(*, actor, data) -> CABMeeting
- update_meeting(meeting, *, actor, data) -> CABMeeting
- transition_meeting(meeting, name, *, actor, data=None) -> CABMeeting     ("hold", "cancel")
- generate_agenda(meeting, *, actor) -> list[CABAgendaItem]
- record_decision(item, *, actor, decision, notes="") -> CABAgendaItem
- generate_minutes(meeting) -> str (Markdown); save_minutes(meeting, *, actor, text) -> CABMeeting
"""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit, records
from opsdesk.core.actors import Actor
from opsdesk.core.permissions import has_role
from opsdesk.core.workflow import TransitionNotAllowed

from . import approvals
from .models import RISK_LEVELS, ApprovalStage, CABAgendaItem, CABMeeting, ChangeRequest
from .workflows import CAB_MEETING_WORKFLOW

HIGH_RISK = ("high", "very_high")
ITEM_DECISIONS = ("approved", "rejected", "deferred")
EDITABLE = ("title", "starts_at", "ends_at", "location", "board", "emergency", "attendees")
MAX_MINUTES = 100000

audit.register_action_labels({
    "agenda": gettext_lazy("Agenda generated"),
    "cab_decision": gettext_lazy("CAB decision"),
    "minutes": gettext_lazy("Minutes saved"),
})


DATE_FORMAT = "%Y-%m-%d %H:%M"  # the project's date format ("Y-m-d H:i" in the templates)


def _when(value, tz=None) -> str:
    return timezone.localtime(value, tz).strftime(DATE_FORMAT) if value else ""


def _parse(value):
    """A window bound kept in a summary (ISO text) as an aware datetime, or None."""
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, datetime.UTC)


def risk_text(summary: dict) -> str:
    """"Very high, 111 points" (the level's label and the score), "not assessed" without a level."""
    level = dict(RISK_LEVELS).get(summary.get("risk_level") or "")
    score = summary.get("risk_score")
    if level is None:
        return _("not assessed") if score is None else _("%(n)s points") % {"n": score}
    if score is None:
        return str(level)
    return _("%(level)s, %(n)s points") % {"level": level, "n": score}


def factor_lines(summary: dict, change: ChangeRequest | None = None) -> list[str]:
    """Each risk factor with its points ("CMDB impact (+30)"). Older summaries kept the labels only: their
    points are then read from the change's factors of the same label, when it still has them."""
    factors = summary.get("factors")
    if factors is None:
        points = {str(f.get("label")): f.get("points") for f in (change.risk_factors if change else None) or []
                  if isinstance(f, dict)}
        factors = [{"label": str(label), "points": points.get(str(label))} for label in summary.get("risk_factors")
                   or []]
    return [f"{f.get('label', '')} (+{f.get('points', 0)})" if f.get("points") is not None else str(f.get("label"))
            for f in factors if isinstance(f, dict)]


def describe(summary: dict, change: ChangeRequest | None = None) -> dict:
    """What a page shows of an item's summary: the risk label, the factors with their points, the window
    as datetimes (the template renders them in the viewer's time zone)."""
    summary = summary or {}
    return {"risk": risk_text(summary), "factors": factor_lines(summary, change),
            "start": _parse(summary.get("planned_start")), "end": _parse(summary.get("planned_end"))}


def window_text(summary: dict, tz=None) -> str:
    """The planned window in the project's date format in `tz` (UTC by default), the zone said once."""
    tz = tz or datetime.UTC
    start, end = _parse(summary.get("planned_start")), _parse(summary.get("planned_end"))
    if start is None:
        return ""
    zone = timezone.localtime(start, tz).tzname() or str(tz)
    until = f" – {_when(end, tz)}" if end else ""
    return f"{_when(start, tz)}{until} {zone}"


# --- meetings ----------------------------------------------------------------------------------------------

def _clean(data: dict) -> dict:
    unknown = [name for name in data if name not in EDITABLE]
    if unknown:
        raise ValidationError({name: _("This field cannot be set here.") for name in unknown})
    data = dict(data)
    if "title" in data:
        data["title"] = str(data["title"] or "").strip()
    if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
        raise ValidationError({"ends_at": _("The end must come after the start.")})
    return data


def create_meeting(*, actor: Actor, data: dict) -> CABMeeting:
    data = _clean(data)
    data.setdefault("location", "")
    return records.create_record(CABMeeting, actor=actor, fields=data, workflow=CAB_MEETING_WORKFLOW)


def update_meeting(meeting: CABMeeting, *, actor: Actor, data: dict) -> CABMeeting:
    data = _clean(data)

    def check(locked, fields):
        if locked.status == "cancelled":
            raise TransitionNotAllowed(_("%(m)s is cancelled and read-only.") % {"m": locked.number})

    return records.update_record(meeting, actor=actor, fields=data, check=check)


def transition_meeting(meeting: CABMeeting, name: str, *, actor: Actor, data: dict | None = None) -> CABMeeting:
    def apply_fields(record, transition, values):
        record.status_reason = str(values.get("reason") or "")[:500]
        if transition.name == "hold" and record.ends_at is None:
            record.ends_at = max(timezone.now(), record.starts_at + datetime.timedelta(minutes=1))

    return records.transition_record(meeting, name, actor=actor, workflow=CAB_MEETING_WORKFLOW, data=data or {},
                                     apply_fields=apply_fields)


# --- the agenda ---------------------------------------------------------------------------------------------

def awaiting_cab(meeting: CABMeeting | None = None):
    """Changes in approval whose current stage is a CAB stage, or whose risk is high or very high.
    An emergency meeting (ECAB) takes the emergency changes only."""
    cab_stage = ApprovalStage.objects.filter(policy_id=OuterRef("approval_policy_id"), order=OuterRef("approval_stage"),
                                             cab=True)
    rows = ChangeRequest.objects.filter(status="approval").filter(Q(Exists(cab_stage)) | Q(risk_level__in=HIGH_RISK))
    if meeting is not None and meeting.emergency:
        rows = rows.filter(change_type="emergency")
    return rows


def summarize(change: ChangeRequest) -> dict:
    """What the agenda shows of a change (kept on the item for the minutes)."""
    collisions = change.collisions or []
    return {
        "number": change.number, "title": change.title, "change_type": change.change_type,
        "risk_level": change.risk_level or "", "risk_score": change.risk_score,
        "risk_factors": [str(f.get("label") or f.get("key") or "") for f in change.risk_factors or []
                         if isinstance(f, dict)],
        "factors": [{"label": str(f.get("label") or f.get("key") or ""), "points": f.get("points")}
                    for f in change.risk_factors or [] if isinstance(f, dict)],
        "collision_count": len(collisions),
        "collisions": [str(c.get("message") or "") for c in collisions if isinstance(c, dict)],
        "plan_steps": getattr(change, "plan_step_count", 0), "backout_steps": getattr(change, "backout_step_count", 0),
        "planned_start": change.planned_start.isoformat() if change.planned_start else None,
        "planned_end": change.planned_end.isoformat() if change.planned_end else None,
        "services": sorted(service.name for service in change.services.all()),
        "stage": change.approval_stage,
    }


def generate_agenda(meeting: CABMeeting, *, actor: Actor) -> list[CABAgendaItem]:
    """Add every change awaiting the CAB, ordered by planned start, with its summary. Decided items stay as
    they are; undecided ones are refreshed, or dropped when their change no longer awaits the CAB."""
    with transaction.atomic():
        meeting = CABMeeting.objects.select_for_update().get(pk=meeting.pk)
        if meeting.status != "planned":
            raise TransitionNotAllowed(_("%(m)s is %(state)s: its agenda can no longer change.")
                                       % {"m": meeting.number, "state": meeting.get_status_display().lower()})
        changes = list(awaiting_cab(meeting).annotate(
            plan_step_count=Count("steps", filter=Q(steps__kind="implementation"), distinct=True),
            backout_step_count=Count("steps", filter=Q(steps__kind="backout"), distinct=True),
        ).prefetch_related("services"))
        wanted = {change.pk: change for change in changes}
        existing = {item.change_id: item for item in meeting.items.all()}
        dropped = [item.pk for cid, item in existing.items() if not item.decision and cid not in wanted]
        CABAgendaItem.objects.filter(pk__in=dropped).delete()
        added, refreshed = [], []
        for change in changes:
            item = existing.get(change.pk)
            if item is None:
                added.append(CABAgendaItem(meeting=meeting, change=change, summary=summarize(change)))
            elif not item.decision:
                item.summary = summarize(change)
                refreshed.append(item)
        CABAgendaItem.objects.bulk_create(added)
        CABAgendaItem.objects.bulk_update(refreshed, ["summary"])
        items = list(meeting.items.select_related("change"))
        far = timezone.now() + datetime.timedelta(days=365 * 100)
        items.sort(key=lambda i: (i.change.planned_start or far, i.change_id))
        for order, item in enumerate(items, start=1):
            item.order = order
        CABAgendaItem.objects.bulk_update(items, ["order"])
        audit.record(meeting, actor=actor, action="agenda",
                     changes={"agenda": [None, [i.change.number for i in items]],
                              **({"added": [None, [i.change.number for i in added]]} if added else {}),
                              **({"dropped": [None, len(dropped)]} if dropped else {})})
    return items


# --- decisions --------------------------------------------------------------------------------------------

def record_decision(item: CABAgendaItem, *, actor: Actor, decision: str, notes: str = "") -> CABAgendaItem:
    """Approved / rejected: the acting member's own approval of the change's current stage (approvals.decide,
    403 when they are not an approver there); the item shows the CAB's decision once the stage is settled,
    every member's vote stays in its notes. Deferred: the note only (the change stays in approval)."""
    notes = (notes or "").strip()
    if decision not in ITEM_DECISIONS:
        raise ValidationError({"decision": _("Choose approved, rejected or deferred.")})
    if decision in ("rejected", "deferred") and not notes:
        raise ValidationError({"notes": _("Say why.")})
    user = actor.user
    if user is None:
        raise PermissionDenied(_("A CAB decision is made by a person."))
    with transaction.atomic():
        item = CABAgendaItem.objects.select_for_update().select_related("meeting", "change").get(pk=item.pk)
        meeting = item.meeting
        if meeting.status == "cancelled":
            raise TransitionNotAllowed(_("%(m)s was cancelled.") % {"m": meeting.number})
        if item.decision in ("approved", "rejected"):
            raise TransitionNotAllowed(_("The CAB already decided %(c)s (%(d)s).")
                                       % {"c": item.change.number, "d": item.get_decision_display().lower()})
        now = timezone.now()
        line = ""
        if decision == "deferred":
            if not (has_role(user, "manager") or meeting.attendees.filter(pk=user.pk).exists()):
                raise PermissionDenied(_("Only the meeting's attendees and managers may defer a change."))
            item.decision = "deferred"
            line = _("Deferred by %(who)s: %(notes)s") % {"who": user.username, "notes": notes}
        else:
            approval = approvals.decide_for_change(item.change, actor=actor, decision=decision, comment=notes)
            change = ChangeRequest.objects.get(pk=item.change_id)
            signature = approvals.decided_label(approval)
            line = (_("Approved by %(who)s") if decision == "approved" else _("Rejected by %(who)s")) % {
                "who": signature} + (f": {notes}" if notes else "")
            if decision == "rejected" or change.status != "approval" or change.approval_stage != approval.stage_order:
                item.decision = decision  # the stage is settled: the CAB's decision
            else:
                item.decision = ""  # still waiting for the quorum
        item.notes = "\n".join(filter(None, [item.notes, f"- {line}"]))
        item.decided_by, item.decided_at = user, now
        item.save(update_fields=["decision", "notes", "decided_by", "decided_at"])
        audit.record(meeting, actor=actor, action="cab_decision",
                     changes={"change": [None, item.change.number], "decision": [None, decision], "note": [None, line]})
    return item


# --- minutes ------------------------------------------------------------------------------------------------

def generate_minutes(meeting: CABMeeting, tz=None) -> str:
    """The minutes in Markdown: meeting, attendees, and each change with its summary, decision and notes.
    Times are in `tz` (UTC by default), with the zone said, since the text travels (minutes.md, print)."""
    tz = tz or datetime.UTC
    zone = timezone.localtime(meeting.starts_at, tz).tzname() or str(tz)
    lines = [f"# {meeting.number}: {meeting.title}", ""]
    until = f" – {_when(meeting.ends_at, tz)}" if meeting.ends_at else ""
    lines.append(f"- {_('When')}: {_when(meeting.starts_at, tz)}{until} {zone}")
    if meeting.location:
        lines.append(f"- {_('Where')}: {meeting.location}")
    lines.append(f"- {_('Status')}: {meeting.get_status_display()}")
    attendees = [u.get_full_name() or u.username for u in meeting.attendees.order_by("username")]
    lines.append(f"- {_('Attendees')}: {', '.join(attendees) if attendees else _('none recorded')}")
    lines += ["", f"## {_('Changes')}", ""]
    items = list(meeting.items.select_related("change", "decided_by").order_by("order", "id"))
    if not items:
        lines.append(_("No change was on the agenda."))
    for item in items:
        s = item.summary or {}
        lines.append(f"### {item.order}. {item.change.number} {item.change.title}")
        lines.append("")
        lines.append(f"- {_('Risk')}: {risk_text(s)}")
        if factor_lines(s, item.change):
            lines.append(f"- {_('Risk factors')}: {'; '.join(factor_lines(s, item.change))}")
        lines.append(f"- {_('Collisions')}: {s.get('collision_count', 0)}")
        for message in s.get("collisions") or []:
            lines.append(f"  - {message}")
        plan = _("%(n)s implementation steps, %(b)s backout steps") % {"n": s.get("plan_steps", 0),
                                                                        "b": s.get("backout_steps", 0)}
        lines.append(f"- {_('Plan')}: {plan}")
        if window_text(s, tz):
            lines.append(f"- {_('Planned window')}: {window_text(s, tz)}")
        if s.get("services"):
            lines.append(f"- {_('Services')}: {', '.join(s['services'])}")
        decision = item.get_decision_display() if item.decision else _("Not decided")
        lines.append(f"- **{_('Decision')}: {decision}**")
        if item.notes:
            lines += ["", item.notes]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def may_edit_minutes(user, meeting: CABMeeting) -> bool:
    """A manager, or an attendee of the meeting."""
    if user is None or not user.is_authenticated:
        return False
    return has_role(user, "manager") or meeting.attendees.filter(pk=user.pk).exists()


def save_minutes(meeting: CABMeeting, *, actor: Actor, text: str) -> CABMeeting:
    """Save the minutes; the change log keeps the text before and after, so no version is lost."""
    text = text or ""
    if len(text) > MAX_MINUTES:
        raise ValidationError({"minutes": _("The minutes are limited to %(n)s characters.") % {"n": MAX_MINUTES}})
    with transaction.atomic():
        meeting = CABMeeting.objects.select_for_update().get(pk=meeting.pk)
        if actor.kind != "system" and not may_edit_minutes(actor.user, meeting):
            raise PermissionDenied(_("Only a manager or an attendee of %(m)s may edit its minutes.")
                                   % {"m": meeting.number})
        if meeting.status == "cancelled":
            raise TransitionNotAllowed(_("%(m)s is cancelled and read-only.") % {"m": meeting.number})
        before = meeting.minutes
        meeting.minutes = text
        meeting.updated_by = actor.user
        meeting.save(update_fields=["minutes", "updated_by", "updated_at"])
        if before != text:
            audit.record(meeting, actor=actor, action="minutes", changes={"minutes": [before, text]})
    return meeting
