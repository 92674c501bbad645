"""The life of a knowledge article, declared as data (CONVENTIONS §2)."""

from django.utils.translation import gettext_lazy as _

from opsdesk.core.workflow import Transition, Workflow

ARTICLE_WORKFLOW = Workflow(
    states={"draft": _("Draft"), "in_review": _("In review"), "published": _("Published"),
            "retired": _("Retired")},
    initial="draft",
    transitions=[
        # Submitting needs at least one reviewer (checked by the service); a reviewer's approval
        # publishes (services.review_article), a rejection sends it back to draft.
        Transition("submit", _("Submit for review"), ("draft",), "in_review", permission="responder",
                   style="primary"),
        Transition("withdraw", _("Back to draft"), ("in_review",), "draft", permission="responder",
                   style="outline-secondary"),
        Transition("publish", _("Publish"), ("draft", "in_review"), "published", permission="manager",
                   style="success",
                   confirm=_("Publishing without a review: managers only. The change log records it.")),
        Transition("revise", _("Revise"), ("published",), "draft", permission="responder",
                   style="outline-secondary"),
        Transition("retire", _("Retire"), ("draft", "in_review", "published"), "retired", permission="responder",
                   requires=("reason",), style="outline-danger"),
        Transition("restore", _("Restore as draft"), ("retired",), "draft", permission="responder",
                   style="outline-secondary"),
    ],
)
