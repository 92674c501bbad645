"""Sending one delivery: email (SMTP), signed webhook, or an Apprise URL (Slack, Teams, Mattermost,
Telegram, SMS gateways ...).

A delivery is claimed with a lease (next_attempt_at moved forward in one UPDATE), sent outside any
transaction, then marked sent. A worker killed mid-send leaves the lease to expire and the sweeper
sends again with the same idempotency key (X-Opsdesk-Delivery), which receivers use to drop repeats.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import re
import time

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .events import event_url
from .models import Delivery

log = logging.getLogger(__name__)
LEASE_SECONDS = 120


class DeliveryError(Exception):
    pass


def event_body(delivery: Delivery) -> dict:
    event = delivery.event
    return {
        "id": str(delivery.idempotency_key),
        "event": event.event_type,
        "event_id": event.pk,
        "occurred_at": event.created_at.isoformat(),
        "actor": event.actor_label,
        "object": {
            "type": f"{event.content_type.app_label}.{event.content_type.model}" if event.content_type_id else None,
            "id": event.object_id,
            "repr": event.object_repr,
            "url": (settings.BASE_URL.rstrip("/") + event_url(event)) if event_url(event) else None,
        },
        "payload": event.payload,
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# Texts of event types that speak for themselves (a page): `func(delivery) -> (subject, text)`, rendered
# at send time, so a delayed delivery carries what is true when it goes out.
RENDERERS: dict = {}


def register_renderer(event_type: str, func) -> None:
    RENDERERS[event_type] = func


def send_webhook(delivery: Delivery) -> None:
    channel = delivery.channel
    payload = event_body(delivery)
    if delivery.event.event_type in RENDERERS:
        payload["subject"], payload["text"] = _text(delivery)
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Opsdesk-Webhook/1",
        "X-Opsdesk-Event": delivery.event.event_type,
        "X-Opsdesk-Delivery": str(delivery.idempotency_key),
        "X-Opsdesk-Timestamp": timestamp,
    }
    if channel is not None and channel.secret:
        headers["X-Opsdesk-Signature"] = sign(channel.secret, timestamp, body)
    target = delivery.address if delivery.address_kind else channel.target
    response = requests.post(target, data=body, headers=headers, timeout=settings.OUTBOUND_TIMEOUT_SECONDS,
                             allow_redirects=False)
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"webhook answered HTTP {response.status_code}")


def _text(delivery: Delivery) -> tuple[str, str]:
    renderer = RENDERERS.get(delivery.event.event_type)
    if renderer is not None:
        return renderer(delivery)
    body = event_body(delivery)
    subject = f"[Opsdesk] {body['event']}: {body['object']['repr']}".strip()
    lines = [_("Event: %(v)s") % {"v": body["event"]}, _("Record: %(v)s") % {"v": body["object"]["repr"]},
             _("By: %(v)s") % {"v": body["actor"]}, _("At: %(v)s") % {"v": body["occurred_at"]}]
    if body["object"]["url"]:
        lines.append(_("Open: %(v)s") % {"v": body["object"]["url"]})
    if body["payload"]:
        lines.append("")
        lines.extend(f"{k}: {v}" for k, v in body["payload"].items())
    return subject[:250], "\n".join(lines)


def send_email(delivery: Delivery) -> None:
    if delivery.address_kind:
        recipients = [delivery.address]
    elif delivery.channel_id:
        recipients = [a.strip() for a in delivery.channel.target.split(",") if a.strip()]
    else:
        recipients = [delivery.user.email]
    subject, text = _text(delivery)
    message = EmailMessage(subject, text, settings.DEFAULT_FROM_EMAIL, recipients,
                           headers={"X-Opsdesk-Delivery": str(delivery.idempotency_key)})
    message.send(fail_silently=False)


def send_apprise(delivery: Delivery) -> None:
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(delivery.address if delivery.address_kind else delivery.channel.target):
        raise DeliveryError("the Apprise URL is not valid")
    subject, text = _text(delivery)
    if not notifier.notify(title=subject, body=text):
        raise DeliveryError("Apprise could not deliver the notification")


SENDERS = {"webhook": send_webhook, "email": send_email, "apprise": send_apprise}


def claim(delivery_id: int) -> bool:
    """Take a lease on a pending delivery; False when another worker holds it or it is done."""
    now = timezone.now()
    return bool(
        Delivery.objects.filter(pk=delivery_id, status="pending")
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=now + datetime.timedelta(seconds=LEASE_SECONDS), attempts=F("attempts") + 1)
    )


_URL = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s'\"<>)]+", re.IGNORECASE)


def redact(text: str, target: str = "") -> str:
    """Error texts quote the URL they failed on, whole or only its path and query; URLs carry
    credentials (webhook keys, chat tokens), so neither may reach the database or the logs."""
    from urllib.parse import urlsplit

    if target:
        parts = urlsplit(target)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        for piece in sorted({target, tail, parts.query, parts.netloc.rpartition("@")[0]} - {"", "/"},
                            key=len, reverse=True):
            text = text.replace(piece, "…")
    return _URL.sub(r"\1…", text)


def deliver(delivery_id: int) -> str:
    if not claim(delivery_id):
        return "skipped"
    delivery = Delivery.objects.select_related("event__content_type", "channel", "user").get(pk=delivery_id)
    kind = delivery.address_kind or (delivery.channel.kind if delivery.channel_id else "email")
    target = delivery.address if delivery.address_kind else (delivery.channel.target if delivery.channel_id else "")
    try:
        SENDERS[kind](delivery)
    except Exception as raw:  # noqa: BLE001  (any failure of a channel is recorded and retried)
        exc = redact(f"{type(raw).__name__}: {raw}", target)
        backoff = settings.OUTBOX_RETRY_BACKOFF_SECONDS
        if delivery.attempts > len(backoff):
            Delivery.objects.filter(pk=delivery_id).update(status="dead", last_error=exc[:2000])
            log.error("delivery %s gave up after %s attempts: %s", delivery_id, delivery.attempts, exc)
            return "dead"
        delay = backoff[delivery.attempts - 1]
        Delivery.objects.filter(pk=delivery_id).update(
            next_attempt_at=timezone.now() + datetime.timedelta(seconds=delay), last_error=exc[:2000]
        )
        log.warning("delivery %s failed (attempt %s), retrying in %ss: %s", delivery_id, delivery.attempts, delay,
                    exc)
        return "retry"
    Delivery.objects.filter(pk=delivery_id).update(status="sent", delivered_at=timezone.now(), last_error="")
    return "sent"
