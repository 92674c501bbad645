"""Signed one-time acknowledge / resolve links carried by pages, usable without a login.

The link holds a token signed with the secret key and a salt: incident id, action, user id and a random
nonce, with its signing time (expires after MAX_AGE_SECONDS). GET only shows a confirmation page (mail
scanners fetch links); POST takes the transition as that user and inserts ActionToken(nonce) in the same
transaction, so a second use finds the nonce and is refused, and a failed transition uses nothing up.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core.actors import Actor
from opsdesk.core.permissions import can

from .models import ActionToken

SALT = "opsdesk.oncall.page-link"
MAX_AGE_SECONDS = 24 * 3600
ACTIONS = ("acknowledge", "resolve")


class LinkError(Exception):
    """A link that cannot be used: `status` is the HTTP status its page answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def make_token(incident, user, action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(action)
    return signing.dumps({"i": incident.pk, "a": action, "u": user.pk, "n": secrets.token_urlsafe(18)},
                         salt=SALT, compress=True)


def link_url(incident, user, action: str) -> str:
    return settings.BASE_URL.rstrip("/") + reverse("oncall:page_link", args=[make_token(incident, user, action)])


def read(token: str) -> dict:
    """The link's content with its incident and user, or LinkError (tampered 400, expired or used 410)."""
    from opsdesk.incidents.models import Incident

    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise LinkError(_("This link has expired. Open the incident in Opsdesk instead."), 410) from None
    except signing.BadSignature:
        raise LinkError(_("This link is not valid (it was changed or cut short)."), 400) from None
    if not isinstance(data, dict) or data.get("a") not in ACTIONS or not data.get("n"):
        raise LinkError(_("This link is not valid (it was changed or cut short)."), 400)
    incident = Incident.objects.select_related("service").filter(pk=data.get("i")).first()
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    if incident is None or user is None:
        raise LinkError(_("The incident or the person of this link no longer exists."), 410)
    if ActionToken.objects.filter(nonce=data["n"]).exists():
        raise LinkError(_("This link has already been used."), 410)
    return {"action": data["a"], "nonce": data["n"], "incident": incident, "user": user}


def use(token: str):
    """Take the link's transition as its user, once. Returns the incident as it is now."""
    from opsdesk.incidents import services as incident_services
    from opsdesk.incidents.workflows import INCIDENT_WORKFLOW

    link = read(token)
    incident, user, action = link["incident"], link["user"], link["action"]
    transition = INCIDENT_WORKFLOW.get(action)
    if not can(user, transition.permission, incident):
        raise LinkError(_("%(user)s may not %(action)s incidents.") % {"user": user.username, "action": action}, 403)
    if incident.status not in transition.sources:
        raise LinkError(_("%(inc)s is already %(state)s; nothing was changed.")
                        % {"inc": incident.number, "state": incident.get_status_display().lower()}, 409)
    data = {"resolution_code": "fixed", "resolution_notes": _("Resolved from a page link")} if action == "resolve" \
        else {}
    with transaction.atomic():
        try:
            with transaction.atomic():
                ActionToken.objects.create(nonce=link["nonce"], used_at=timezone.now(), action=action,
                                           incident=incident, user=user)
        except IntegrityError:
            raise LinkError(_("This link has already been used."), 410) from None
        return incident_services.transition_incident(incident, action, actor=Actor.for_user(user), data=data)
