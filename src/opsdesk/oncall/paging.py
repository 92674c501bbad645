"""Paging a person: a Page goes out through their notification rules for its urgency (each rule's
contact method after its delay; no rules: an email to their address at once), as deliveries of the
foundation's outbox. A delayed delivery waits with `next_attempt_at` in the future (the outbox sweeper
sends it when due) and is cancelled when the run stops, so an acknowledged incident pages nobody later.

Also the write path of contact methods and notification rules, and the test notification.
"""

from __future__ import annotations

import datetime

import apprise
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events
from opsdesk.core.actors import Actor
from opsdesk.core.channels import target_fingerprint
from opsdesk.core.models import Delivery
from opsdesk.core.permissions import RANK, best_role

from .models import URGENCIES, ContactMethod, NotificationRule, Page

PAGE_EVENT = "oncall.page"
TEST_EVENT = "oncall.contact_test"
# Contact method kind -> how the outbox sends it.
ADDRESS_KINDS = {"email": "email", "chat": "apprise", "sms": "apprise", "webhook": "webhook"}


# --- sending pages ------------------------------------------------------------------------------------------

def plan(user, urgency: str) -> list[tuple[ContactMethod | None, str, str, int]]:
    """How `user` is paged at `urgency`: (contact method or None, kind, address, delay minutes), in
    order of delay. No enabled rule: their email address at once (nothing when they have none)."""
    rules = (NotificationRule.objects.filter(user=user, urgency=urgency, contact_method__enabled=True)
             .select_related("contact_method").order_by("delay_minutes", "id"))
    planned = [(r.contact_method, r.contact_method.kind, r.contact_method.target, r.delay_minutes) for r in rules]
    if not planned and user.email:
        planned = [(None, "email", user.email, 0)]
    return planned


def send_page(page: Page, *, incident, actor: Actor) -> list[dict]:
    """Create the deliveries of a new page (inside the transaction that created it) and record on the
    page how it goes out. Returns `page.methods`."""
    planned = plan(page.user, page.urgency)
    methods = []
    if planned:
        event = events.emit(PAGE_EVENT, incident, actor=actor, payload={
            "page": page.pk, "user": page.user_id, "urgency": page.urgency, "reason": page.reason})
        for index, (method, kind, address, delay) in enumerate(planned):
            due = page.paged_at + datetime.timedelta(minutes=delay) if delay else None
            delivery = Delivery.objects.create(
                event=event, destination=f"page:{page.pk}:{index}", user=page.user,
                address_kind=ADDRESS_KINDS[kind], address=address, next_attempt_at=due)
            methods.append({"method": kind, "target": _shown(method, kind, address), "delay_minutes": delay,
                            "delivery": delivery.pk})
    page.methods = methods
    page.save(update_fields=["methods"])
    return methods


def _shown(method, kind: str, address: str) -> str:
    """What pages and the timeline show of an address: chat and webhook URLs carry credentials."""
    if method is not None and method.label:
        return method.label
    return target_fingerprint(address) if kind != "email" else address


def methods_text(page: Page) -> str:
    if not page.methods:
        return _("no contact method, no email address")
    parts = []
    for m in page.methods:
        kind = str(dict(ContactMethod.KINDS).get(m.get("method"), m.get("method")))
        parts.append(kind if not m.get("delay_minutes") else
                     _("%(kind)s after %(n)s min") % {"kind": kind, "n": m["delay_minutes"]})
    return ", ".join(parts)


def cancel_pending(run) -> int:
    """Cancel the deliveries of a run's pages that have not gone out (delayed rules, retries)."""
    ids = [m["delivery"] for methods in run.pages.values_list("methods", flat=True) for m in methods or []
           if m.get("delivery")]
    if not ids:
        return 0
    return Delivery.objects.filter(pk__in=ids, status="pending").update(status="cancelled")


def render_page(delivery: Delivery) -> tuple[str, str]:
    """The text of a page, rendered when it is sent: what the incident is, its priority and service,
    and the person's signed acknowledge and resolve links (fresh, so a delayed page's links live their
    full time)."""
    from . import links

    page = (Page.objects.select_related("run__incident__service", "run__policy", "user")
            .filter(pk=(delivery.event.payload or {}).get("page")).first())
    if page is None:
        return _("[Opsdesk] Page"), _("You were paged by Opsdesk; the page no longer exists.")
    incident = page.run.incident
    service = incident.service.name if incident.service_id else _("none")
    subject = _("[Opsdesk] %(number)s %(priority)s: %(title)s") % {
        "number": incident.number, "priority": incident.priority, "title": incident.title}
    base = settings.BASE_URL.rstrip("/")
    lines = [
        _("You are paged for %(number)s: %(title)s") % {"number": incident.number, "title": incident.title},
        _("Priority: %(p)s") % {"p": incident.get_priority_display()},
        _("Service: %(s)s") % {"s": service},
        _("Why you: %(r)s (escalation policy %(policy)s)") % {"r": page.reason, "policy": page.run.policy.name},
        _("Open: %(url)s") % {"url": base + incident.get_absolute_url()},
        "",
        _("Acknowledge: %(url)s") % {"url": links.link_url(incident, page.user, "acknowledge")},
        _("Resolve: %(url)s") % {"url": links.link_url(incident, page.user, "resolve")},
        _("Each link works once and expires in %(h)s hours.") % {"h": links.MAX_AGE_SECONDS // 3600},
    ]
    return subject[:250], "\n".join(lines)


def render_test(delivery: Delivery) -> tuple[str, str]:
    method = ContactMethod.objects.filter(pk=(delivery.event.payload or {}).get("contact_method")).first()
    label = str(method) if method is not None else _("a contact method")
    return (_("[Opsdesk] Test notification"),
            _("This is a test of your contact method “%(m)s”. When you read this, Opsdesk can page you "
              "through it.") % {"m": label})


# --- test notification --------------------------------------------------------------------------------------

def send_test_notification(contact_method: ContactMethod, *, actor: Actor) -> Delivery:
    """Send a test message through the contact method now (through the outbox, like a page)."""
    with transaction.atomic():
        method = ContactMethod.objects.select_for_update().get(pk=contact_method.pk)
        now = timezone.now()
        event = events.emit(TEST_EVENT, method, actor=actor, payload={"contact_method": method.pk})
        delivery = Delivery.objects.create(event=event, destination=f"contact:{method.pk}", user=method.user,
                                           address_kind=ADDRESS_KINDS[method.kind], address=method.target)
        method.last_test_at = now
        method.save(update_fields=["last_test_at"])
        audit.record(method, actor=actor, action="test", changes={"test notification": [None, str(method)]})
    return delivery


# --- contact methods and rules: the write path --------------------------------------------------------------

CONTACT_FIELDS = ("kind", "label", "target", "enabled")


def validate_target(kind: str, target: str) -> None:
    target = (target or "").strip()
    if kind not in ADDRESS_KINDS:
        raise ValidationError({"kind": _("Choose one of: %(k)s.") % {"k": ", ".join(ADDRESS_KINDS)}})
    if not target:
        raise ValidationError({"target": _("Give the address.")})
    if kind == "email":
        try:
            validate_email(target)
        except ValidationError:
            raise ValidationError({"target": _("“%(a)s” is not an email address.") % {"a": target}}) from None
    elif kind == "webhook":
        try:
            URLValidator(schemes=["http", "https"])(target)
        except ValidationError:
            raise ValidationError({"target": _("A webhook needs an http or https URL.")}) from None
    elif not apprise.Apprise().add(target):
        raise ValidationError({"target": _("Apprise does not understand this URL (see the Apprise documentation "
                                           "for chat services and SMS gateways).")})


def kind_allowed(user, kind: str) -> bool:
    """Viewers add and change email addresses only: a chat, SMS or webhook URL makes the server call
    an address of their choosing (the test button), so those need responder or above (anywhere)."""
    if kind == "email":
        return True
    role = best_role(user)
    return role is not None and RANK[role] >= RANK["responder"]


def shown_target(target: str) -> str:
    """A contact method's address as others than its owner see it: email addresses in full, URLs (which
    carry tokens and passwords) as scheme and fingerprint."""
    return target_fingerprint(target)


def _masked(snapshot: dict) -> dict:
    if snapshot.get("target") and "://" in str(snapshot["target"]):
        snapshot["target"] = target_fingerprint(snapshot["target"])
    return snapshot


def create_contact_method(*, user, actor: Actor, data: dict) -> ContactMethod:
    data = {k: v for k, v in data.items() if k in CONTACT_FIELDS}
    validate_target(data.get("kind", ""), data.get("target", ""))
    with transaction.atomic():
        method = ContactMethod(user=user, created_by=actor.user, updated_by=actor.user, **data)
        method.target = method.target.strip()
        method.full_clean()
        method.save()
        audit.record(method, actor=actor, action="create",
                     changes=audit.diff({}, _masked(audit.snapshot(method, ["user", *CONTACT_FIELDS]))))
    return method


def update_contact_method(method: ContactMethod, *, actor: Actor, data: dict) -> ContactMethod:
    data = {k: v for k, v in data.items() if k in CONTACT_FIELDS}
    validate_target(data.get("kind", method.kind), data.get("target", method.target))
    with transaction.atomic():
        method = ContactMethod.objects.select_for_update().get(pk=method.pk)
        before = _masked(audit.snapshot(method, list(CONTACT_FIELDS)))
        for name, value in data.items():
            setattr(method, name, value.strip() if name == "target" else value)
        method.updated_by = actor.user
        method.full_clean()
        method.save()
        changes = audit.diff(before, _masked(audit.snapshot(method, list(CONTACT_FIELDS))))
        if changes:
            audit.record(method, actor=actor, action="update", changes=changes)
    return method


def delete_contact_method(method: ContactMethod, *, actor: Actor) -> None:
    """Its rules go with it; pages already sent keep what they recorded."""
    with transaction.atomic():
        audit.record(method, actor=actor, action="delete",
                     changes=audit.diff(_masked(audit.snapshot(method, ["user", *CONTACT_FIELDS])), {}))
        method.delete()


def validate_rule(user, data: dict) -> dict:
    errors = {}
    method = data.get("contact_method")
    if method is None:
        errors["contact_method"] = _("Choose one of the person's contact methods.")
    elif method.user_id != user.pk:
        errors["contact_method"] = _("This contact method belongs to someone else.")
    if data.get("urgency") not in dict(URGENCIES):
        errors["urgency"] = _("Choose one of: %(u)s.") % {"u": ", ".join(dict(URGENCIES))}
    delay = data.get("delay_minutes", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 1440:
        errors["delay_minutes"] = _("Give whole minutes from 0 to 1440.")
    if errors:
        raise ValidationError(errors)
    return data


def _rule_snapshot(rule: NotificationRule) -> dict:
    return {"urgency": rule.urgency, "contact method": str(rule.contact_method), "after (minutes)": rule.delay_minutes}


def create_rule(*, user, actor: Actor, data: dict) -> NotificationRule:
    data = validate_rule(user, {"urgency": "high", "delay_minutes": 0, **data})
    with transaction.atomic():
        rule = NotificationRule.objects.create(user=user, urgency=data["urgency"],
                                               contact_method=data["contact_method"],
                                               delay_minutes=data["delay_minutes"])
        audit.record(user, actor=actor, action="notification_rule_added",
                     changes=audit.diff({}, _rule_snapshot(rule)))
    return rule


def update_rule(rule: NotificationRule, *, actor: Actor, data: dict) -> NotificationRule:
    merged = {"urgency": rule.urgency, "contact_method": rule.contact_method, "delay_minutes": rule.delay_minutes,
              **data}
    data = validate_rule(rule.user, merged)
    with transaction.atomic():
        rule = (NotificationRule.objects.select_for_update(of=("self",)).select_related("contact_method", "user")
                .get(pk=rule.pk))
        before = _rule_snapshot(rule)
        rule.urgency, rule.contact_method, rule.delay_minutes = (data["urgency"], data["contact_method"],
                                                                 data["delay_minutes"])
        rule.save()
        changes = audit.diff(before, _rule_snapshot(rule))
        if changes:
            audit.record(rule.user, actor=actor, action="notification_rule_changed", changes=changes)
    return rule


def delete_rule(rule: NotificationRule, *, actor: Actor) -> None:
    with transaction.atomic():
        audit.record(rule.user, actor=actor, action="notification_rule_removed",
                     changes=audit.diff(_rule_snapshot(rule), {}))
        rule.delete()
