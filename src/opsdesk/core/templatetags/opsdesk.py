from django import template
from django.utils.html import format_html, format_html_join
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


@register.filter
def changes_table(changes):
    if not changes:
        return ""
    rows = format_html_join(
        "", '<tr><th scope="row" class="fw-normal text-body-secondary">{}</th><td class="text-decoration-line-through '
            'text-body-secondary">{}</td><td>{}</td></tr>',
        ((name.replace("_", " "), _short(pair[0] if isinstance(pair, list) else ""),
          _short(pair[1] if isinstance(pair, list) else pair)) for name, pair in changes.items()),
    )
    return format_html('<table class="table table-sm small mb-0 changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
                       '</tr></thead><tbody>{}</tbody></table>', _("Field"), _("Before"), _("After"), rows)


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
