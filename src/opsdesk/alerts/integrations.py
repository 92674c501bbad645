"""The write path of integrations (where monitoring posts alerts) and of the payloads they post.

An integration's key is the credential in its URL: `secrets.token_urlsafe(24)`, shown once, stored as
its sha256 and an 8-character prefix a person recognises. The ingest view looks a key up through the
Django cache (30 s), so every write here that changes what a request would see drops that cache entry,
now and again after commit (a request between the two would otherwise cache the old row for 30 s).
"""

from __future__ import annotations

import datetime
import email.message
import email.utils
import hashlib
import json
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit
from opsdesk.core import events as outbox
from opsdesk.core.actors import Actor

from . import intake
from .models import INTEGRATION_KINDS, SEVERITIES, Integration, RawPayload

KINDS = [kind for kind, _label in INTEGRATION_KINDS]
HTTP_KINDS = ("alertmanager", "grafana", "events")
SEVERITY_NAMES = [name for name, _label in SEVERITIES]
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
CACHE_SECONDS = 30
# What `data` may set; the key, its hash and the bearer token hash have their own services.
EDITABLE = ["name", "kind", "description", "enabled", "hmac_secret", "grouping_template", "team", "service",
            "severity_map", "ci_labels", "auto_resolve", "reopen_window_minutes", "flapping_changes",
            "flapping_window_minutes", "payload_retention_days", "heartbeat_interval_minutes", "imap_host",
            "imap_port", "imap_ssl", "imap_username", "imap_password", "imap_folder"]
AUDITED = EDITABLE + ["key_prefix", "bearer_token_hash"]
SECRETS = ("hmac_secret", "imap_password", "bearer_token_hash")
MAILBOX_FIELDS = ("imap_host", "imap_username", "imap_folder")  # which mailbox's UIDs imap_last_uid counts
MASK = "********"
REPLACED = "******** (replaced)"


# --- keys and the lookup cache ---------------------------------------------------------------------------

def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(24)


def _cache_key(key_hash: str) -> str:
    return f"alerts:integration:{key_hash}"


def _forget(*key_hashes: str) -> None:
    """Drop cached lookups now and after commit."""
    keys = [_cache_key(h) for h in key_hashes if h]
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def integration_for_key(key: str) -> Integration | None:
    """The integration whose key this is (enabled or not), cached for 30 s by key hash."""
    if not key or len(key) > 200:
        return None
    key_hash = hash_secret(key)
    found = cache.get(_cache_key(key_hash))
    if found is None:
        found = Integration.objects.filter(key_hash=key_hash).first()
        if found is None:
            return None
        cache.set(_cache_key(key_hash), found, CACHE_SECONDS)
    return found


def mask(snapshot: dict) -> dict:
    """The change log keeps whether a secret is set, never its value."""
    return {name: (MASK if name in SECRETS and value else value) for name, value in snapshot.items()}


def ingest_url(integration: Integration, key: str, kind: str | None = None) -> str:
    """The URL to paste into the monitoring tool. `kind="heartbeat"` gives the heartbeat URL; an email
    integration has no ingest URL of its own, only the heartbeat one."""
    kind = kind or integration.kind
    if kind == "heartbeat" or kind not in HTTP_KINDS:
        path = reverse("alerts_heartbeat", kwargs={"key": key})
    else:
        path = reverse("alerts_ingest", kwargs={"kind": kind, "key": key})
    return settings.BASE_URL.rstrip("/") + path


# --- validation -----------------------------------------------------------------------------------------

def _validate(fields: dict, current: Integration | None) -> None:
    errors: dict[str, str] = {}
    unknown = sorted(set(fields) - set(EDITABLE))
    for name in unknown:
        errors[name] = _("Unknown field.")

    def value(name):
        return fields[name] if name in fields else getattr(current, name, None)

    kind = value("kind")
    if kind not in KINDS:
        errors["kind"] = _("Choose one of %(kinds)s.") % {"kinds": ", ".join(KINDS)}
    if "severity_map" in fields:
        severity_map = fields["severity_map"]
        if not isinstance(severity_map, dict):
            errors["severity_map"] = _('Give an object such as {"critical": "P1", "warning": "P3"}.')
        else:
            for severity, priority in severity_map.items():
                if severity not in SEVERITY_NAMES:
                    errors[f"severity_map.{severity}"] = _("Unknown severity; use %(s)s.") % {
                        "s": ", ".join(SEVERITY_NAMES)}
                elif priority not in PRIORITIES:
                    errors[f"severity_map.{severity}"] = _("Priority must be one of P1 to P5.")
    if "ci_labels" in fields:
        labels = fields["ci_labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) and 0 < len(x.strip()) <= 200
                                                   for x in labels):
            errors["ci_labels"] = _("Give a list of label names.")
    interval = value("heartbeat_interval_minutes")
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int) or interval < 1):
        errors["heartbeat_interval_minutes"] = _("Give a whole number of minutes, at least 1, or leave it empty.")
    for name in ("reopen_window_minutes", "flapping_changes", "flapping_window_minutes", "payload_retention_days",
                 "imap_port"):
        number = fields.get(name)
        if name in fields and number is not None and (isinstance(number, bool) or not isinstance(number, int)
                                                      or number < (0 if name == "reopen_window_minutes" else 1)):
            errors[name] = _("Give a positive whole number.")
    if "imap_port" in fields and isinstance(fields["imap_port"], int) and fields["imap_port"] > 65535:
        errors["imap_port"] = _("A port is at most 65535.")
    from .processing import STATE_CHANGES_KEPT  # an alert keeps this many state changes to count

    changes = fields.get("flapping_changes")
    if isinstance(changes, int) and not isinstance(changes, bool) and changes >= STATE_CHANGES_KEPT:
        errors["flapping_changes"] = _("At most %(n)s: an alert keeps its last %(kept)s state changes.") % {
            "n": STATE_CHANGES_KEPT - 1, "kept": STATE_CHANGES_KEPT}
    if fields.get("grouping_template"):
        from .matching import validate_template

        try:
            fields["grouping_template"] = validate_template(fields["grouping_template"])
        except ValidationError as exc:
            errors["grouping_template"] = " ".join(exc.messages)
    if kind == "email":
        for name in ("imap_host", "imap_username", "imap_password"):
            if not str(value(name) or "").strip():
                errors[name] = _("Required for an email integration.")
    if errors:
        raise ValidationError(errors)


def _heartbeat_due(integration: Integration, now: datetime.datetime) -> datetime.datetime | None:
    """When an interval is set or changed, the first heartbeat is due one interval from now."""
    if not integration.heartbeat_interval_minutes:
        return None
    return now + datetime.timedelta(minutes=integration.heartbeat_interval_minutes)


# --- services -------------------------------------------------------------------------------------------

def create_integration(*, actor: Actor, data: dict) -> tuple[Integration, str]:
    """A new integration and its key (shown once: only its hash is kept)."""
    data = dict(data)
    _validate(data, None)
    key = new_key()
    with transaction.atomic():
        integration = Integration(**data)
        if integration.kind == "email" and integration.imap_port is None:
            integration.imap_port = 993 if integration.imap_ssl else 143
        integration.key_hash = hash_secret(key)
        integration.key_prefix = key[:8]
        integration.created_by = integration.updated_by = actor.user
        integration.heartbeat_due_at = _heartbeat_due(integration, timezone.now())
        integration.full_clean()
        integration.save()
        initial = {k: v for k, v in mask(audit.snapshot(integration, AUDITED)).items() if v not in (None, "", [], {})}
        audit.record(integration, actor=actor, action="create", changes=audit.diff({}, initial))
        outbox.emit("integration.created", integration, actor=actor)
    return integration, key


def _save_change(integration: Integration, *, actor: Actor, action: str, apply) -> Integration:
    """Lock, apply, validate, save, log (masked) and drop the cached lookups."""
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        before = audit.snapshot(locked, AUDITED)
        old_hash = locked.key_hash
        apply(locked)
        locked.updated_by = actor.user
        locked.full_clean()
        locked.save()
        after = audit.snapshot(locked, AUDITED)
        changes = audit.diff(mask(before), mask(after))
        for name in SECRETS:  # one secret replaced by another: logged as replaced, never shown
            if before.get(name) and after.get(name) and before[name] != after[name]:
                changes[name] = [MASK, REPLACED]
        if changes:
            audit.record(locked, actor=actor, action=action, changes=changes)
            outbox.emit("integration.updated", locked, actor=actor, payload={"changed": sorted(changes)})
        _forget(old_hash, locked.key_hash)
    return locked


def update_integration(integration: Integration, *, actor: Actor, data: dict) -> Integration:
    data = dict(data)

    def apply(locked: Integration) -> None:
        _validate(data, locked)
        interval_before = locked.heartbeat_interval_minutes
        mailbox_before = [getattr(locked, name) for name in MAILBOX_FIELDS]
        for name, value in data.items():
            setattr(locked, name, value)
        if [getattr(locked, name) for name in MAILBOX_FIELDS] != mailbox_before:
            # Another mailbox or folder: the UIDs read so far belong to the old one.
            locked.imap_last_uid, locked.imap_uidvalidity = 0, 0
        if locked.kind == "email" and locked.imap_port is None:
            locked.imap_port = 993 if locked.imap_ssl else 143
        if locked.heartbeat_interval_minutes != interval_before or not locked.heartbeat_interval_minutes:
            locked.heartbeat_due_at = _heartbeat_due(locked, timezone.now())

    return _save_change(integration, actor=actor, action="update", apply=apply)


def rotate_key(integration: Integration, *, actor: Actor) -> str:
    """A new key; the old one stops working at once."""
    key = new_key()

    def apply(locked: Integration) -> None:
        locked.key_hash = hash_secret(key)
        locked.key_prefix = key[:8]

    _save_change(integration, actor=actor, action="rotate_key", apply=apply)
    return key


def set_bearer_token(integration: Integration, *, actor: Actor, token: str) -> Integration:
    """Require `Authorization: Bearer <token>` on ingest; an empty token removes the requirement."""
    token = (token or "").strip()
    if token and len(token) < 16:
        raise ValidationError({"token": _("Use at least 16 characters.")})

    def apply(locked: Integration) -> None:
        locked.bearer_token_hash = hash_secret(token) if token else ""

    return _save_change(integration, actor=actor, action="set_bearer_token", apply=apply)


# --- storing payloads -----------------------------------------------------------------------------------

def store_payload(integration: Integration, *, body: str, events: list[intake.AlertEvent], content_type: str = "",
                  received_at: datetime.datetime | None = None) -> RawPayload:
    """The one insert of an accepted payload (its events already normalised), the integration's activity
    mark, and after commit the worker is asked to process it. Runs in the caller's transaction when
    there is one (the mailbox poll moves its UID in the same one)."""
    from . import heartbeats

    received_at = received_at or timezone.now()
    with transaction.atomic():
        payload = RawPayload.objects.create(
            integration_id=integration.pk, received_at=received_at, content_type=content_type[:100], body=body,
            size=len(body.encode()), events=[event.to_json() for event in events], event_count=len(events))
        heartbeats.note_activity(integration, received_at, alert=True)
        payload_id = payload.pk
        transaction.on_commit(lambda: outbox.enqueue("opsdesk.alerts.tasks.process_payload", payload_id))
    return payload


def accept_body(integration: Integration, body: bytes, content_type: str = "") -> RawPayload:
    """Parse a request body of the integration's kind and store it: what the ingest view does after its
    checks. Raises intake.PayloadError (nothing stored) when the body is malformed."""
    events = intake.parse_body(integration.kind, body)
    text = body.decode("utf-8", errors="replace")
    return store_payload(integration, body=text, events=events, content_type=content_type)


def _test_body(integration: Integration, now: datetime.datetime) -> tuple[bytes, str]:
    """A realistic payload of the integration's kind, labelled opsdesk_test="true"."""
    started = now.isoformat().replace("+00:00", "Z")
    labels = {"alertname": "OpsdeskTestAlert", "severity": "warning", "instance": "opsdesk-test:9100",
              "job": "opsdesk-test", "opsdesk_test": "true"}
    annotations = {"summary": _("Test alert sent from Opsdesk"),
                   "description": _("Sent with the “send test alert” button of %(name)s.") % {"name": integration}}
    if integration.kind in ("alertmanager", "grafana"):
        group_key = '{}:{alertname="OpsdeskTestAlert"}'
        body: dict = {
            "version": "4" if integration.kind == "alertmanager" else "1", "groupKey": group_key,
            "truncatedAlerts": 0, "status": "firing", "receiver": "opsdesk",
            "groupLabels": {"alertname": "OpsdeskTestAlert"}, "commonLabels": labels,
            "commonAnnotations": annotations, "externalURL": settings.BASE_URL,
            "alerts": [{"status": "firing", "labels": labels, "annotations": annotations, "startsAt": started,
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": settings.BASE_URL,
                        "fingerprint": ""}],
        }
        if integration.kind == "grafana":
            body.update({"orgId": 1, "state": "alerting", "title": "[FIRING:1] OpsdeskTestAlert",
                         "message": annotations["summary"]})
            body["alerts"][0].update({"values": {"A": 1}, "valueString": "[ var='A' value=1 ]",
                                      "silenceURL": "", "dashboardURL": "", "panelURL": ""})
        return json.dumps(body).encode(), "application/json"
    if integration.kind == "events":
        body = {"event_action": "trigger", "dedup_key": "opsdesk-test",
                "payload": {"summary": annotations["summary"], "severity": "warning", "source": "opsdesk-test",
                            "timestamp": started, "component": "opsdesk", "group": "test", "class": "test",
                            "custom_details": {"opsdesk_test": "true"}}}
        return json.dumps(body).encode(), "application/json"
    message = email.message.EmailMessage()
    message["Subject"] = str(annotations["summary"])
    message["From"] = settings.DEFAULT_FROM_EMAIL
    message["To"] = integration.imap_username or settings.DEFAULT_FROM_EMAIL
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = f"<opsdesk-test-{uuid.uuid4().hex}@opsdesk>"
    message["X-Opsdesk-Test"] = "true"
    message.set_content(str(annotations["description"]))
    return message.as_bytes(), "message/rfc822"


def send_test_alert(integration: Integration, *, actor: Actor) -> RawPayload:
    """Store a test payload through the same path as a request and have it processed."""
    body, content_type = _test_body(integration, timezone.now())
    with transaction.atomic():
        if integration.kind == "email":
            events = intake.parse_body("email", body)
            for event in events:
                event.labels["opsdesk_test"] = "true"
            payload = store_payload(integration, body=body.decode("utf-8", errors="replace"), events=events,
                                    content_type=content_type)
        else:
            payload = accept_body(integration, body, content_type)
        audit.record(integration, actor=actor, action="send_test_alert", changes={"payload": [None, payload.pk]})
    return payload
