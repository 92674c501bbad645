"""Post-incident reports (incident reviews): template sections, an editable timeline, action items.

The one write path of reports. Every change is written to the INCIDENT's change log (so the
incident's timeline shows the review as it is written) and announced as an `incident.*` event.
Overdue action items are found by a database timer per item, due the day after its due date."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, timers
from opsdesk.core.actors import Actor
from opsdesk.core.comments import comments_for
from opsdesk.core.workflow import TransitionNotAllowed

from .models import ActionItem, Incident, IncidentReport, IncidentSettings

ACTION_ITEM_DUE = "incidents.action_item_due"
# Bounds keep one report (and its PDF) a document, not a dump: a usual report renders in well under a second,
# the largest allowed one (every section full, every row used) in about 11 s and 76 pages.
MAX_SECTION_CHARS = 20_000
MAX_TIMELINE_ROWS = 300
MAX_TIMELINE_TEXT = 500
MAX_ACTION_ITEMS = 100
# Sections that must be filled before a report is final, unless the template says otherwise per section
# ({"key": ..., "required": false}).
DEFAULT_REQUIRED = ("summary", "root_cause")
OPEN_ITEM_STATES = ("open", "in_progress")
# Audit actions of the review itself: left out of the timeline the review starts from.
REPORT_ACTIONS = ("report_", "action_item_")


# --- the template ---------------------------------------------------------------------------------------

def _settings() -> IncidentSettings:
    from .services import incident_settings

    return incident_settings()


def template_sections(config: IncidentSettings | None = None) -> list[dict]:
    """The configured sections, each {"key", "title", "hint", "required"}."""
    config = config or _settings()
    sections = []
    for entry in config.report_sections or []:
        key = str(entry.get("key") or "").strip()
        if not key:
            continue
        sections.append({"key": key, "title": str(entry.get("title") or key.replace("_", " ").capitalize()),
                         "hint": str(entry.get("hint") or ""),
                         "required": bool(entry.get("required", key in DEFAULT_REQUIRED))})
    return sections


def report_sections(report: IncidentReport, config: IncidentSettings | None = None) -> list[dict]:
    """The template's sections with the report's text, then any text whose section left the template
    since (kept, so a template change never hides what was written)."""
    sections = [{**s, "text": str(report.sections.get(s["key"], "") or "")} for s in template_sections(config)]
    known = {s["key"] for s in sections}
    for key, text in (report.sections or {}).items():
        if key not in known and str(text or "").strip():
            sections.append({"key": key, "title": key.replace("_", " ").capitalize(), "hint": "",
                             "required": False, "text": str(text)})
    return sections


def is_required(incident: Incident, config: IncidentSettings | None = None) -> bool:
    config = config or _settings()
    return incident.priority in (config.report_required_priorities or []) or (
        incident.major_status == "major" and config.report_required_for_major)


def missing_for_close(incident) -> str:
    """Why the incident cannot close yet (its required report is missing or incomplete), or ""."""
    config = _settings()
    if not is_required(incident, config):
        return ""
    why = (_("it is a major incident") if incident.major_status == "major" and config.report_required_for_major
           else _("it is %(priority)s") % {"priority": incident.priority})
    report = IncidentReport.objects.filter(incident_id=incident.pk).only("status").first()
    if report is None:
        return _("%(inc)s needs an incident report before it can close (%(why)s): start the report, complete "
                 "it, then close the incident.") % {"inc": incident.number, "why": why}
    if report.status != "final":
        return _("The incident report of %(inc)s is still a draft: complete the report before closing the "
                 "incident (required because %(why)s).") % {"inc": incident.number, "why": why}
    return ""


# --- what the report starts from ------------------------------------------------------------------------

def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes = max(0, int(round(seconds / 60)))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(_("%(n)s d") % {"n": days})
    if hours:
        parts.append(_("%(n)s h") % {"n": hours})
    if minutes or not parts:
        parts.append(_("%(n)s min") % {"n": minutes})
    return " ".join(parts)


def format_time(value: datetime.datetime | None) -> str:
    if value is None:
        return ""
    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def incident_window(incident: Incident) -> tuple[datetime.datetime, datetime.datetime | None]:
    """From detection (or creation) to resolution (or closing, or cancellation); the end is None while open."""
    start = incident.detected_at or incident.created_at
    end = incident.resolved_at or incident.closed_at
    if end is None and incident.status == "cancelled":
        end = incident.updated_at
    return start, end


def sla_breaches(incident: Incident) -> list[str]:
    from opsdesk.sla import services as sla

    lines = []
    now = timezone.now()
    for timer in sla.timers_for([incident]).get(incident.pk, []):
        if timer.breached_at is None:
            continue
        label = sla.timer_state(timer, now).get("label") or timer.metric
        lines.append(_("%(metric)s breached at %(at)s") % {"metric": label, "at": format_time(timer.breached_at)})
    return lines


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def impact_prefill(incident: Incident) -> str:
    """The impact section as the report starts: a table of what the incident's data already says."""
    start, end = incident_window(incident)
    if end is not None:
        duration = _("%(d)s (%(start)s to %(end)s)") % {"d": format_duration((end - start).total_seconds()),
                                                        "start": format_time(start), "end": format_time(end)}
    else:
        duration = _("ongoing since %(start)s") % {"start": format_time(start)}
    service = incident.service
    service_text = (_("%(name)s (tier %(tier)s)") % {"name": service.name, "tier": service.tier}) if service else "—"
    cis = ", ".join(ci.name for ci in incident.cis.all()[:20]) or "—"
    breaches = "; ".join(sla_breaches(incident)) or _("none")
    rows = [(_("Duration"), duration), (_("Affected service"), service_text), (_("Affected CIs"), cis),
            (_("SLA breaches"), breaches), (_("Users affected"), _("(to be filled in)"))]
    lines = [f"| {_('Aspect')} | {_('Details')} |", "| --- | --- |"]
    lines += [f"| {_cell(label)} | {_cell(value)} |" for label, value in rows]
    return "\n".join(lines)


def _actor_name(label: str) -> str:
    if label.startswith("system:"):
        return _("Opsdesk (%(job)s)") % {"job": label.removeprefix("system:")}
    return label


def _pair(changes: dict, name: str):
    value = changes.get(name)
    return value if isinstance(value, list) and len(value) == 2 else None


def _display(choices, value) -> str:
    return str(dict(choices).get(value, value or ""))


def _describe_update(changes: dict, actor: str) -> str:
    parts = []
    priority = _pair(changes, "priority")
    if priority:
        reason = _pair(changes, "priority_reason")
        text = _("Priority %(old)s -> %(new)s") % {"old": priority[0] or "—", "new": priority[1]}
        if reason and reason[1]:
            text += f" ({reason[1]})"
        else:
            levels = [_("%(name)s %(old)s -> %(new)s") % {"name": str(Incident._meta.get_field(name).verbose_name),
                                                           "old": pair[0], "new": pair[1]}
                      for name in ("impact", "urgency") if (pair := _pair(changes, name))]
            if levels:
                text += f" ({', '.join(levels)})"
        parts.append(text)
    team = _pair(changes, "assignment_group")
    if team and team[1]:
        parts.append(_("Assigned to team %(team)s") % {"team": team[1]})
    assignee = _pair(changes, "assignee")
    if assignee and assignee[1]:
        parts.append(_("Assigned to %(user)s") % {"user": assignee[1]})
    major = _pair(changes, "major_status")
    if major:
        parts.append(_("Major incident: %(state)s") % {"state": _display(Incident.MAJOR_STATES, major[1]) or _("No")})
    handled = {"priority", "priority_reason", "priority_overridden", "assignment_group", "assignee",
               "reassignment_count", "major_status", "proposed_impact"}
    if priority:
        handled |= {"impact", "urgency"}
    others = [name for name in changes if name not in handled]
    if others:
        labels = []
        for name in others:
            try:
                labels.append(str(Incident._meta.get_field(name).verbose_name))
            except Exception:  # noqa: BLE001  (a key that is no model field)
                labels.append(name.replace("_", " "))
        parts.append(_("Edited %(fields)s") % {"fields": ", ".join(labels)})
    if not parts:
        return ""
    return _("%(what)s, by %(actor)s") % {"what": "; ".join(parts), "actor": actor}


def _describe(entry) -> str:
    """One readable line for a change-log row of the incident, or "" to leave it out."""
    action = entry.action
    changes = entry.changes or {}
    actor = _actor_name(entry.actor_label)
    if action.startswith(REPORT_ACTIONS) or action in ("comment", "auto_close_skipped"):
        return ""
    if action == "create":
        priority = _pair(changes, "priority")
        return _("Opened by %(actor)s as %(priority)s") % {"actor": actor,
                                                           "priority": priority[1] if priority else "—"}
    if action == "update":
        return _describe_update(changes, actor)
    reason = (_pair(changes, "status_reason") or [None, ""])[1] or ""
    simple = {
        "acknowledge": _("Acknowledged by %(actor)s"),
        "start": _("Work started by %(actor)s"),
        "resume": _("Work resumed by %(actor)s"),
        "close": _("Closed by %(actor)s"),
    }
    if action in simple:
        return simple[action] % {"actor": actor}
    if action == "hold":
        hold = _pair(changes, "hold_reason")
        return _("Put on hold by %(actor)s: %(reason)s") % {
            "actor": actor, "reason": _display(Incident.HOLD_REASONS, hold[1]) if hold else reason}
    if action == "resolve":
        code = _pair(changes, "resolution_code")
        notes = (_pair(changes, "resolution_notes") or [None, ""])[1] or ""
        text = _("Resolved by %(actor)s (%(code)s)") % {
            "actor": actor, "code": _display(Incident.RESOLUTION_CODES, code[1]) if code else "—"}
        return f"{text}: {notes}" if notes else text
    if action in ("reopen", "cancel"):
        text = (_("Reopened by %(actor)s") if action == "reopen" else _("Cancelled by %(actor)s")) % {"actor": actor}
        return f"{text}: {reason}" if reason else text
    if action.startswith("escalat"):
        rule = (_pair(changes, "escalation") or [None, ""])[1]
        text = _("Escalated by rule %(rule)s") % {"rule": rule} if rule else _("Escalated")
        team = _pair(changes, "team")
        if team and team[1]:
            text += "; " + _("team %(old)s -> %(new)s") % {"old": team[0] or "—", "new": team[1]}
        notified = (_pair(changes, "notified") or [None, ""])[1]
        if notified:
            text += "; " + _("notified %(people)s") % {"people": notified}
        return text
    major_reason = (_pair(changes, "major_reason") or _pair(changes, "reason") or [None, ""])[1] or ""
    major = {
        "propose_major": _("Proposed as a major incident by %(actor)s"),
        "promote_major": _("Declared a major incident by %(actor)s"),
        "reject_major": _("Major incident proposal rejected by %(actor)s"),
    }
    if action in major:
        text = major[action] % {"actor": actor}
        return f"{text}: {major_reason}" if major_reason and action != "promote_major" else text
    if action == "major_roles":
        roles = [f"{Incident._meta.get_field(name).verbose_name} {pair[1]}"
                 for name in ("commander", "communications_lead", "scribe")
                 if (pair := _pair(changes, name)) and pair[1]]
        return _("Major incident roles set by %(actor)s: %(roles)s") % {"actor": actor, "roles": ", ".join(roles)} \
            if roles else ""
    if action == "post_update":
        body = " ".join(str((_pair(changes, "update") or [None, ""])[1] or "").split())
        return _("Stakeholder update by %(actor)s: %(body)s") % {"actor": actor, "body": body}
    if action in ("link_child", "unlink_child"):
        child = _pair(changes, "child") or [None, None]
        return (_("Child incident %(child)s linked") % {"child": child[1]} if action == "link_child"
                else _("Child incident %(child)s unlinked") % {"child": child[0]})
    if action == "link_major":
        parent = _pair(changes, "parent")
        return _("Linked to major incident %(parent)s") % {"parent": parent[1]} if parent and parent[1] else ""
    if action.startswith("sla_"):
        return ""  # the clocks' starts and recalculations; breaches come from the timers themselves
    if action == "attach":
        name = (_pair(changes, "attachment") or [None, ""])[1]
        return _("File %(name)s attached by %(actor)s") % {"name": name, "actor": actor}
    return _("%(action)s by %(actor)s") % {"action": action.replace("_", " ").capitalize(), "actor": actor}


def timeline_prefill(incident: Incident) -> list[dict]:
    """The incident's change log and comments as timeline rows, oldest first, one readable line each."""
    rows = []
    for entry in audit.history_for(incident).order_by("timestamp", "id")[:MAX_TIMELINE_ROWS * 2]:
        text = _describe(entry)
        if text:
            rows.append({"at": entry.timestamp, "text": text})
    for comment in comments_for(incident).order_by("created_at", "id")[:MAX_TIMELINE_ROWS]:
        body = " ".join(comment.body.split())
        rows.append({"at": comment.created_at,
                     "text": _("Comment by %(actor)s: %(body)s") % {"actor": _actor_name(comment.actor_label),
                                                                     "body": body}})
    from opsdesk.sla import services as sla

    for timer in sla.timers_for([incident]).get(incident.pk, []):
        if timer.breached_at is not None:
            label = sla.timer_state(timer, timezone.now()).get("label") or timer.metric
            rows.append({"at": timer.breached_at, "text": _("SLA breached: %(metric)s") % {"metric": label}})
    rows.sort(key=lambda row: row["at"])
    return [{"at": row["at"].isoformat(), "text": _clip(row["text"], MAX_TIMELINE_TEXT)}
            for row in rows[:MAX_TIMELINE_ROWS]]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- the report -----------------------------------------------------------------------------------------

def _lock_report(report: IncidentReport) -> IncidentReport:
    return IncidentReport.objects.select_for_update(of=("self",)).select_related("incident").get(pk=report.pk)


def start_report(incident: Incident, *, actor: Actor) -> IncidentReport:
    """Create the incident's report from the template, impact and timeline pre-filled. A report that
    exists already is returned as it is (two people pressing Start get the same report)."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        existing = IncidentReport.objects.filter(incident=incident).first()
        if existing is not None:
            return existing
        if incident.status == "cancelled":
            raise TransitionNotAllowed(_("%(inc)s was cancelled; a cancelled incident has no report.")
                                       % {"inc": incident.number})
        sections = {s["key"]: "" for s in template_sections()}
        if "impact" in sections:
            sections["impact"] = impact_prefill(incident)
        report = IncidentReport.objects.create(incident=incident, sections=sections,
                                               timeline=timeline_prefill(incident),
                                               created_by=actor.user, updated_by=actor.user)
        audit.record(incident, actor=actor, action="report_started",
                     changes={"report": [None, _("draft")], "timeline rows": [None, len(report.timeline)]})
        events.emit("incident.report_started", incident, actor=actor)
    return report


def _clean_sections(sections, allowed: set[str]) -> dict[str, str]:
    if not isinstance(sections, dict):
        raise ValidationError({"sections": _("Sections are an object of section key to Markdown text.")})
    unknown = sorted(str(k) for k in sections if k not in allowed)
    if unknown:
        raise ValidationError({"sections": _("Unknown sections: %(unknown)s. The report template has: "
                                             "%(known)s.") % {"unknown": ", ".join(unknown),
                                                              "known": ", ".join(sorted(allowed))}})
    cleaned, errors = {}, {}
    for key, text in sections.items():
        if text is None:
            text = ""
        if not isinstance(text, str):
            errors[key] = _("Markdown text is expected.")
        elif len(text) > MAX_SECTION_CHARS:
            errors[key] = _("A section is limited to %(n)s characters.") % {"n": MAX_SECTION_CHARS}
        else:
            cleaned[key] = text.replace("\r\n", "\n").strip()
    if errors:
        raise ValidationError(errors)
    return cleaned


def parse_moment(value) -> datetime.datetime | None:
    """A timeline time: an aware datetime, or text in ISO form; without a zone, the site's time zone."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = parse_datetime(value.strip().replace(" ", "T", 1))
        except ValueError:
            moment = None
        if moment is None:
            return None
    else:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def _clean_timeline(timeline) -> list[dict]:
    if not isinstance(timeline, list):
        raise ValidationError({"timeline": _("The timeline is a list of rows {\"at\": time, \"text\": text}.")})
    if len(timeline) > MAX_TIMELINE_ROWS:
        raise ValidationError({"timeline": _("The timeline is limited to %(n)s rows.") % {"n": MAX_TIMELINE_ROWS}})
    rows, problems = [], []
    for index, row in enumerate(timeline, start=1):
        row = row if isinstance(row, dict) else {}
        moment = parse_moment(row.get("at"))
        text = str(row.get("text") or "").strip()
        if moment is None:
            problems.append(_("row %(n)s has no valid time") % {"n": index})
        elif not text:
            problems.append(_("row %(n)s has no text") % {"n": index})
        elif len(text) > MAX_TIMELINE_TEXT:
            problems.append(_("row %(n)s is longer than %(max)s characters") % {"n": index, "max": MAX_TIMELINE_TEXT})
        else:
            rows.append({"at": moment.astimezone(datetime.UTC).isoformat(), "text": " ".join(text.split())})
    if problems:
        raise ValidationError({"timeline": _("Timeline: %(problems)s.") % {"problems": "; ".join(problems)}})
    rows.sort(key=lambda r: r["at"])
    return rows


def _check_draft(report: IncidentReport) -> None:
    if report.status == "final":
        raise TransitionNotAllowed(_("The incident report of %(inc)s is final; put it back to draft to change it.")
                                   % {"inc": report.incident.number})


def update_report(report: IncidentReport, *, actor: Actor, sections: dict | None = None,
                  timeline: list | None = None) -> IncidentReport:
    """Change some sections (the others stay) and/or replace the timeline. Only a draft changes."""
    allowed = {s["key"] for s in template_sections()}
    cleaned_sections = _clean_sections(sections, allowed) if sections is not None else None
    cleaned_timeline = _clean_timeline(timeline) if timeline is not None else None
    with transaction.atomic():
        report = _lock_report(report)
        _check_draft(report)
        changes = {}
        if cleaned_sections:
            merged = dict(report.sections)
            for key, text in cleaned_sections.items():
                if merged.get(key, "") != text:
                    changes[key] = [merged.get(key, ""), text]
                    merged[key] = text
            report.sections = merged
        if cleaned_timeline is not None and cleaned_timeline != report.timeline:
            changes["timeline"] = [report.timeline, cleaned_timeline]
            report.timeline = cleaned_timeline
        if not changes:
            return report
        report.updated_by = actor.user
        report.save(update_fields=["sections", "timeline", "updated_by", "updated_at"])
        audit.record(report.incident, actor=actor, action="report_updated", changes=changes)
        events.emit("incident.report_updated", report.incident, actor=actor, payload={"changed": sorted(changes)})
    return report


def missing_sections(report: IncidentReport) -> list[dict]:
    return [s for s in report_sections(report) if s["required"] and not s["text"].strip()]


def complete_report(report: IncidentReport, *, actor: Actor) -> IncidentReport:
    """Make the report final; the required sections (summary and root cause by default) must be filled."""
    with transaction.atomic():
        report = _lock_report(report)
        _check_draft(report)
        missing = missing_sections(report)
        if missing:
            titles = ", ".join(s["title"] for s in missing)
            errors = {s["key"]: _("%(title)s must be filled in to complete the report.") % {"title": s["title"]}
                      for s in missing}
            errors["non_field_errors"] = _("Fill in these sections before completing the report: %(titles)s.") \
                % {"titles": titles}
            raise ValidationError(errors)
        report.status = "final"
        report.completed_at = timezone.now()
        report.updated_by = actor.user
        report.save(update_fields=["status", "completed_at", "updated_by", "updated_at"])
        audit.record(report.incident, actor=actor, action="report_completed", changes={"report": ["draft", "final"]})
        events.emit("incident.report_completed", report.incident, actor=actor)
    return report


def reopen_report(report: IncidentReport, *, actor: Actor) -> IncidentReport:
    """Put a final report back to draft for a correction; the change log keeps both versions."""
    with transaction.atomic():
        report = _lock_report(report)
        if report.status != "final":
            raise TransitionNotAllowed(_("The incident report of %(inc)s is already a draft.")
                                       % {"inc": report.incident.number})
        report.status = "draft"
        report.completed_at = None
        report.updated_by = actor.user
        report.save(update_fields=["status", "completed_at", "updated_by", "updated_at"])
        audit.record(report.incident, actor=actor, action="report_reopened", changes={"report": ["final", "draft"]})
        events.emit("incident.report_reopened", report.incident, actor=actor)
    return report


# --- action items ---------------------------------------------------------------------------------------

ITEM_FIELDS = ("title", "owner", "due_date", "status")


def _clean_item(data: dict, item: ActionItem | None) -> dict:
    fields, errors = {}, {}
    unknown = sorted(set(data) - set(ITEM_FIELDS))
    if unknown:
        errors["non_field_errors"] = _("Unknown fields: %(f)s.") % {"f": ", ".join(unknown)}
    if "title" in data or item is None:
        title = " ".join(str(data.get("title") or "").split())
        if not title:
            errors["title"] = _("Say what is to be done.")
        elif len(title) > 300:
            errors["title"] = _("An action is limited to 300 characters.")
        fields["title"] = title
    if "owner" in data:
        owner = data["owner"]
        if owner is not None and not (isinstance(owner, get_user_model()) and owner.is_active):
            errors["owner"] = _("The owner must be an active user.")
        fields["owner"] = owner
    if "due_date" in data:
        due = data["due_date"]
        if isinstance(due, str):
            due = parse_date(due) if due.strip() else None
            if due is None and str(data["due_date"]).strip():
                errors["due_date"] = _("A date as YYYY-MM-DD.")
        elif due is not None and (not isinstance(due, datetime.date) or isinstance(due, datetime.datetime)):
            errors["due_date"] = _("A date as YYYY-MM-DD.")
        fields["due_date"] = due
    if "status" in data:
        if data["status"] not in dict(ActionItem.STATES):
            errors["status"] = _("Choose one of: %(s)s.") % {"s": ", ".join(dict(ActionItem.STATES))}
        fields["status"] = data["status"]
    if errors:
        raise ValidationError(errors)
    return fields


def overdue_from(due_date: datetime.date) -> datetime.datetime:
    """An item is overdue from the start of the day after its due date, in the site's time zone."""
    next_day = datetime.datetime.combine(due_date + datetime.timedelta(days=1), datetime.time.min)
    return timezone.make_aware(next_day, timezone.get_current_timezone())


def _schedule_due(item: ActionItem) -> None:
    timers.cancel(ACTION_ITEM_DUE, item)
    if item.due_date is not None and item.status in OPEN_ITEM_STATES and item.overdue_notified_at is None:
        timers.schedule(ACTION_ITEM_DUE, overdue_from(item.due_date), item)


def _item_snapshot(item: ActionItem) -> dict:
    return {"title": item.title, "owner": str(item.owner) if item.owner_id else None,
            "due_date": item.due_date.isoformat() if item.due_date else None, "status": item.status}


def add_action_item(report: IncidentReport, *, actor: Actor, data: dict) -> ActionItem:
    """Action items can be added to a final report too: follow-up work is often found later."""
    fields = _clean_item(dict(data), None)
    with transaction.atomic():
        report = _lock_report(report)
        if report.action_items.count() >= MAX_ACTION_ITEMS:
            raise ValidationError({"non_field_errors": _("A report is limited to %(n)s action items.")
                                   % {"n": MAX_ACTION_ITEMS}})
        item = ActionItem.objects.create(report=report, created_by=actor.user, updated_by=actor.user, **fields)
        _schedule_due(item)
        audit.record(report.incident, actor=actor, action="action_item_added",
                     changes={f"action item {item.pk}": [None, _item_snapshot(item)]})
        events.emit("incident.action_item_added", report.incident, actor=actor,
                    payload={"action_item": item.pk, "title": item.title},
                    recipients=[item.owner] if item.owner_id and item.owner_id != actor.user_id else None)
    return item


def update_action_item(item: ActionItem, *, actor: Actor, data: dict) -> ActionItem:
    fields = _clean_item(dict(data), item)
    with transaction.atomic():
        item = (ActionItem.objects.select_for_update(of=("self",)).select_related("report__incident", "owner")
                .get(pk=item.pk))
        before = _item_snapshot(item)
        old_owner, old_due = item.owner_id, item.due_date
        for name, value in fields.items():
            setattr(item, name, value)
        after = _item_snapshot(item)
        if before == after:
            return item
        if item.due_date != old_due:
            item.overdue_notified_at = None  # a new deadline is announced again when it passes
        item.updated_by = actor.user
        item.save()
        _schedule_due(item)
        incident = item.report.incident
        audit.record(incident, actor=actor, action="action_item_updated",
                     changes={f"action item {item.pk} {name}": [before[name], after[name]]
                              for name in ITEM_FIELDS if before[name] != after[name]})
        new_owner = item.owner if item.owner_id and item.owner_id != old_owner and item.owner_id != actor.user_id \
            else None
        events.emit("incident.action_item_updated", incident, actor=actor,
                    payload={"action_item": item.pk, "title": item.title,
                             "changed": sorted(n for n in ITEM_FIELDS if before[n] != after[n])},
                    recipients=[new_owner] if new_owner else None)
    return item


def is_overdue(item: ActionItem, today: datetime.date | None = None) -> bool:
    today = today or timezone.localdate()
    return item.status in OPEN_ITEM_STATES and item.due_date is not None and item.due_date < today


@timers.handler(ACTION_ITEM_DUE)
def notify_overdue(timer) -> None:
    """Tell the owner once that the item is overdue; a done, cancelled or re-dated item is left alone."""
    item = (ActionItem.objects.select_for_update(of=("self",)).select_related("report__incident", "owner")
            .filter(pk=timer.object_id).first())
    if item is None or item.overdue_notified_at is not None or not is_overdue(item):
        return
    item.overdue_notified_at = timezone.now()
    item.save(update_fields=["overdue_notified_at"])
    incident = item.report.incident
    actor = Actor.system("action-items")
    audit.record(incident, actor=actor, action="action_item_overdue",
                 changes={f"action item {item.pk}": [None, _("%(title)s was due on %(due)s")
                                                     % {"title": item.title, "due": item.due_date.isoformat()}]})
    events.emit("incident.action_item_overdue", incident, actor=actor,
                payload={"action_item": item.pk, "title": item.title, "due_date": item.due_date.isoformat(),
                         "owner": item.owner.username if item.owner_id else None},
                recipients=[item.owner] if item.owner_id else None)
