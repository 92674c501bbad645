"""The lifecycle of a configuration item, declared as data (CONVENTIONS §2)."""

from django.utils.translation import gettext_lazy as _

from opsdesk.core.workflow import Transition, Workflow

CI_WORKFLOW = Workflow(
    states={
        "planned": _("Planned"),
        "ordered": _("Ordered"),
        "in_stock": _("In stock"),
        "in_production": _("In production"),
        "maintenance": _("Maintenance"),
        "retired": _("Retired"),
        "disposed": _("Disposed"),
    },
    initial="planned",
    transitions=[
        Transition("order", _("Order"), ("planned",), "ordered", permission="manager", style="outline-primary"),
        Transition("receive", _("Receive into stock"), ("ordered",), "in_stock", permission="manager",
                   style="outline-primary"),
        # Virtual machines, containers and software go live straight from planned.
        Transition("deploy", _("Put into production"), ("planned", "ordered", "in_stock"), "in_production",
                   permission="manager", style="success"),
        Transition("start_maintenance", _("Start maintenance"), ("in_production",), "maintenance",
                   permission="responder", requires=("reason",), style="outline-warning"),
        Transition("end_maintenance", _("End maintenance"), ("maintenance",), "in_production",
                   permission="responder", style="success"),
        Transition("retire", _("Retire"), ("planned", "ordered", "in_stock", "in_production", "maintenance"),
                   "retired", permission="manager", requires=("reason",), style="outline-danger",
                   confirm=_("A retired CI leaves the impact analysis; it can be reinstated or disposed of.")),
        Transition("reinstate", _("Reinstate"), ("retired",), "in_stock", permission="manager",
                   requires=("reason",), style="outline-secondary"),
        Transition("dispose", _("Dispose"), ("retired",), "disposed", permission="manager",
                   requires=("disposal_method", "disposal_reference", "approved_by"), style="danger",
                   confirm=_("A disposed CI is read-only for good; its history is kept.")),
    ],
)

# States in which a CI takes part in service: it can fail and its failure impacts others.
OPERATIONAL_STATES = ("in_production", "maintenance")
