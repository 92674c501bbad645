from django import template
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from opsdesk.core import weekly_hours

register = template.Library()

ACTION_ICONS = {"create": "plus-circle", "update": "pencil", "attach": "paperclip", "delete": "trash",
                "membership": "people"}


def _short(value) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, dict):
        if value and set(value) <= set(weekly_hours.DAYS):
            return weekly_hours.format_hours(value)
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    text = str(value)
    return text if len(text) <= 160 else text[:157] + "…"


def _readable(field, value):
    """A change-log value as the record's pages show it: the label of a choice, Yes/No, a local time."""
    if field is None or value in (None, "", []):
        return value
    if getattr(field, "choices", None) and not isinstance(value, list):
        return dict(field.flatchoices).get(value, value)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if field.get_internal_type() == "DateTimeField" and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None:
            return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(moment) else value
    return value


@register.filter
def changes_table(changes, record=None):
    """The before/after table of a change-log row. With the record (`changes|changes_table:record`),
    fields read as its pages name them (labels, choice labels, local times), and a creation's "no" and
    zero values, which say nothing, are left out."""
    if not changes:
        return ""
    items = []
    for name, pair in changes.items():
        before, after = (pair[0], pair[1]) if isinstance(pair, list) and len(pair) == 2 else ("", pair)
        label = name.replace("_", " ")
        if record is not None:
            try:
                field = record._meta.get_field(name)
            except FieldDoesNotExist:
                field = None
            if before is None and after in (False, 0):
                continue
            if field is not None:
                label = capfirst(str(getattr(field, "verbose_name", label)))
                before, after = _readable(field, before), _readable(field, after)
        items.append((label, _short(before), _short(after)))
    if not items:
        return ""
    rows = format_html_join(
        "", '<tr><th scope="row" class="fw-normal text-body-secondary">{}</th><td class="text-decoration-line-through '
            'text-body-secondary">{}</td><td>{}</td></tr>', items)
    return format_html('<table class="table table-sm small mb-0 changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
                       '</tr></thead><tbody>{}</tbody></table>', _("Field"), _("Before"), _("After"), rows)


@register.filter
def action_label(action) -> str:
    """"sla_breached" -> "sla breached": a change-log action as a reader says it (the label a module
    registered with `audit.register_action_labels`, when there is one)."""
    from opsdesk.core.audit import ACTION_LABELS

    label = ACTION_LABELS.get(str(action))
    return str(label) if label else str(action).replace("_", " ")


@register.filter
def action_icon(action):
    return ACTION_ICONS.get(action, "arrow-right-circle")



@register.filter
def filesize(n):
    n = int(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def field_label(name: str) -> str:
    """"approved_by" -> "Approved by": the label of a field a transition asks for."""
    return str(name).replace("_", " ").capitalize()
