"""The flows of problems, known errors and countermeasures, declared as data (CONVENTIONS §2)."""

from django.utils.translation import gettext_lazy as _

from opsdesk.core.workflow import Transition, Workflow

PROBLEM_OPEN_STATES = ("new", "assessed", "rca", "fix_in_progress")

PROBLEM_WORKFLOW = Workflow(
    states={"new": _("New"), "assessed": _("Assessed"), "rca": _("Root cause analysis"),
            "fix_in_progress": _("Fix in progress"), "resolved": _("Resolved"), "closed": _("Closed"),
            "cancelled": _("Cancelled")},
    initial="new",
    transitions=[
        Transition("assess", _("Assess"), ("new",), "assessed", permission="responder", style="primary"),
        Transition("start_rca", _("Start root cause analysis"), ("new", "assessed"), "rca", permission="responder",
                   style="primary"),
        Transition("start_fix", _("Start the fix"), ("rca",), "fix_in_progress", permission="responder",
                   style="primary"),
        # The service also refuses to resolve without a root cause and a fix description on the problem
        # (given here or written before): see services.transition_problem.
        Transition("resolve", _("Resolve"), ("rca", "fix_in_progress"), "resolved", permission="responder",
                   style="success"),
        Transition("close", _("Close"), ("resolved",), "closed", permission="responder", style="outline-success"),
        Transition("reopen", _("Reopen"), ("resolved",), "fix_in_progress", permission="responder",
                   requires=("reason",), style="outline-secondary"),
        Transition("cancel", _("Cancel"), PROBLEM_OPEN_STATES, "cancelled", permission="responder",
                   requires=("reason",), style="outline-danger",
                   confirm=_("A cancelled problem stays in the list, read-only, with its history.")),
    ],
)

KNOWN_ERROR_WORKFLOW = Workflow(
    states={"active": _("Active"), "fixed": _("Fixed"), "retired": _("Retired")},
    initial="active",
    transitions=[
        Transition("mark_fixed", _("Mark fixed"), ("active",), "fixed", permission="responder", style="success"),
        Transition("retire", _("Retire"), ("active", "fixed"), "retired", permission="responder",
                   requires=("reason",), style="outline-danger"),
        Transition("reactivate", _("Reactivate"), ("fixed", "retired"), "active", permission="responder",
                   requires=("reason",), style="outline-secondary"),
    ],
)

COUNTERMEASURE_WORKFLOW = Workflow(
    states={"planned": _("Planned"), "in_progress": _("In progress"), "done": _("Done"),
            "cancelled": _("Cancelled")},
    initial="planned",
    transitions=[
        Transition("start", _("Start"), ("planned",), "in_progress", permission="responder", style="primary"),
        Transition("complete", _("Mark done"), ("planned", "in_progress"), "done", permission="responder",
                   style="success"),
        Transition("cancel", _("Cancel"), ("planned", "in_progress"), "cancelled", permission="responder",
                   requires=("reason",), style="outline-danger"),
        Transition("reopen", _("Reopen"), ("done", "cancelled"), "in_progress", permission="responder",
                   requires=("reason",), style="outline-secondary"),
    ],
)
