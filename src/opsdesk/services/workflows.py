from django.utils.translation import gettext_lazy as _

from opsdesk.core.workflow import Transition, Workflow

SERVICE_WORKFLOW = Workflow(
    states={"planned": _("Planned"), "active": _("Active"), "retired": _("Retired")},
    initial="planned",
    transitions=[
        Transition("activate", _("Activate"), ("planned",), "active", permission="manager", style="success"),
        Transition("retire", _("Retire"), ("planned", "active"), "retired", permission="manager",
                   requires=("reason",), style="outline-danger",
                   confirm=_("Retired services stay in the catalog, read-only, with their history.")),
        Transition("reinstate", _("Reinstate"), ("retired",), "active", permission="admin",
                   requires=("reason",), style="outline-secondary"),
    ],
)
