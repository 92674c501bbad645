"""The flows of change requests and CAB meetings, declared as data (CONVENTIONS §2).

One workflow serves the three change types; the services decide which transitions a type may take
(`services.TYPE_TRANSITIONS`): a standard change goes Submitted -> Scheduled, an emergency change skips
assessment and goes to the emergency approvers (ECAB).
"""

from django.utils.translation import gettext_lazy as _

from opsdesk.core.workflow import Transition, Workflow

CHANGE_OPEN_STATES = ("draft", "submitted", "assessment", "approval", "scheduled", "implementing", "review")
# States in which a change holds its planned window on the calendar and in collision checks.
CHANGE_PLANNED_STATES = ("submitted", "assessment", "approval", "scheduled", "implementing", "review")

OUTCOMES = [("successful", _("Successful")), ("successful_with_issues", _("Successful with issues")),
            ("failed", _("Failed")), ("backed_out", _("Backed out")), ("cancelled", _("Cancelled"))]

CHANGE_WORKFLOW = Workflow(
    states={"draft": _("Draft"), "submitted": _("Submitted"), "assessment": _("Assessment"),
            "approval": _("Approval"), "scheduled": _("Scheduled"), "implementing": _("Implementing"),
            "review": _("Review"), "closed": _("Closed"), "rejected": _("Rejected")},
    initial="draft",
    transitions=[
        # Submitting runs the risk assessment and the collision check; warnings must be acknowledged.
        Transition("submit", _("Submit"), ("draft",), "submitted", permission="responder", style="primary"),
        # Normal changes: the change manager assesses, then asks for approval.
        Transition("start_assessment", _("Start assessment"), ("submitted",), "assessment", permission="responder",
                   style="primary"),
        Transition("request_approval", _("Request approval"), ("assessment",), "approval", permission="responder",
                   style="primary"),
        # Emergency changes go straight to the ECAB.
        Transition("request_emergency_approval", _("Send to ECAB"), ("submitted",), "approval",
                   permission="responder", style="danger"),
        # Standard (pre-approved) changes are scheduled straight away.
        Transition("schedule_standard", _("Schedule (pre-approved)"), ("submitted",), "scheduled",
                   permission="responder", style="success"),
        # Taken only by the approvals engine: when the last stage reaches its quorum, or on a rejection.
        Transition("grant_approval", _("Approved"), ("approval",), "scheduled", permission="admin",
                   style="success", internal=True),
        Transition("refuse_approval", _("Rejected"), ("approval",), "rejected", permission="admin",
                   requires=("reason",), style="outline-danger", internal=True),
        Transition("revise", _("Revise"), ("rejected", "submitted", "assessment"), "draft", permission="responder",
                   requires=("reason",), style="outline-secondary"),
        Transition("start_implementation", _("Start implementation"), ("scheduled",), "implementing",
                   permission="responder", style="primary"),
        # Finishing records the outcome (successful, with issues, failed, backed out).
        Transition("complete", _("Finish implementation"), ("implementing",), "review", permission="responder",
                   requires=("outcome",), style="success"),
        Transition("close", _("Close"), ("review",), "closed", permission="responder", style="outline-success"),
        Transition("cancel", _("Cancel"), ("draft", "submitted", "assessment", "approval", "scheduled", "rejected"),
                   "closed", permission="responder", requires=("reason",), style="outline-danger",
                   confirm=_("A cancelled change is closed with the outcome “cancelled” and stays in the list.")),
    ],
)

CAB_MEETING_WORKFLOW = Workflow(
    states={"planned": _("Planned"), "held": _("Held"), "cancelled": _("Cancelled")},
    initial="planned",
    transitions=[
        Transition("hold", _("Mark held"), ("planned",), "held", permission="responder", style="success"),
        Transition("cancel", _("Cancel"), ("planned",), "cancelled", permission="responder", requires=("reason",),
                   style="outline-danger"),
    ],
)
