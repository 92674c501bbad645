"""The release flow, declared as data (CONVENTIONS §2)."""

from django.utils.translation import gettext_lazy as _

from opsdesk.core.workflow import Transition, Workflow

RELEASE_OPEN_STATES = ("planned", "building", "in_test", "approved", "deployed")

RELEASE_WORKFLOW = Workflow(
    states={"planned": _("Planned"), "building": _("Building"), "in_test": _("In test"),
            "approved": _("Approved for production"), "deployed": _("Deployed"), "closed": _("Closed"),
            "rolled_back": _("Rolled back"), "cancelled": _("Cancelled")},
    initial="planned",
    transitions=[
        Transition("start_build", _("Start build"), ("planned",), "building", permission="responder", style="primary"),
        Transition("start_test", _("Start testing"), ("planned", "building"), "in_test", permission="responder",
                   style="primary"),
        # The service also checks the production gate's conditions short of the deployment itself.
        Transition("approve_for_production", _("Approve for production"), ("in_test",), "approved",
                   permission="manager", style="success"),
        # Taken by the deployment service when a production deployment succeeds.
        Transition("mark_deployed", _("Deployed"), ("in_test", "approved"), "deployed", permission="admin",
                   style="success", internal=True),
        Transition("close", _("Close"), ("deployed",), "closed", permission="responder", style="outline-success"),
        # Taken by the rollback service (rollback of a production deployment).
        Transition("mark_rolled_back", _("Rolled back"), ("in_test", "approved", "deployed"), "rolled_back",
                   permission="admin", style="danger", internal=True),
        Transition("replan", _("Plan again"), ("rolled_back",), "planned", permission="responder",
                   requires=("reason",), style="outline-secondary"),
        Transition("cancel", _("Cancel"), ("planned", "building", "in_test", "approved"), "cancelled",
                   permission="responder", requires=("reason",), style="outline-danger"),
    ],
)
