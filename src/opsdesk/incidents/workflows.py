"""The response flow of an incident, declared as data (CONVENTIONS §2)."""

from django.utils.translation import gettext_lazy as _

from opsdesk.core.workflow import Transition, Workflow

OPEN_STATES = ("new", "acknowledged", "in_progress", "on_hold")

INCIDENT_WORKFLOW = Workflow(
    states={"new": _("New"), "acknowledged": _("Acknowledged"), "in_progress": _("In progress"),
            "on_hold": _("On hold"), "resolved": _("Resolved"), "closed": _("Closed"), "cancelled": _("Cancelled")},
    initial="new",
    transitions=[
        Transition("acknowledge", _("Acknowledge"), ("new",), "acknowledged", permission="responder",
                   style="primary"),
        Transition("start", _("Start work"), ("new", "acknowledged"), "in_progress", permission="responder",
                   style="primary"),
        Transition("hold", _("Put on hold"), ("acknowledged", "in_progress"), "on_hold", permission="responder",
                   requires=("hold_reason",), style="outline-warning"),
        Transition("resume", _("Resume"), ("on_hold",), "in_progress", permission="responder", style="primary"),
        Transition("resolve", _("Resolve"), ("new", "acknowledged", "in_progress", "on_hold"), "resolved",
                   permission="responder", requires=("resolution_code", "resolution_notes"), style="success"),
        Transition("close", _("Close"), ("resolved",), "closed", permission="responder", style="outline-success"),
        Transition("reopen", _("Reopen"), ("resolved",), "in_progress", permission="responder",
                   requires=("reason",), style="outline-secondary"),
        Transition("cancel", _("Cancel"), OPEN_STATES, "cancelled", permission="responder",
                   requires=("reason",), style="outline-danger",
                   confirm=_("A cancelled incident stays in the list, read-only, with its history.")),
    ],
)
