"""Payload parsers: each integration kind's body -> a list of normalised AlertEvent.

The ingest request parses and validates (a malformed body answers 400 and writes nothing), stores the
body with the normalised events (RawPayload.events, via `AlertEvent.to_json`) and answers; the worker's
processing reads them back with `AlertEvent.from_json` and never parses the body again.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import email.utils
import html
import json
import re
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from .fingerprint import fingerprint


@dataclass
class AlertEvent:
    fingerprint: str                 # Alertmanager's, the events API dedup key, or computed from the labels
    status: str                      # "firing" | "resolved"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    severity: str = ""               # "critical" | "error" | "warning" | "info" | ""
    source: str = ""
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None
    generator_url: str = ""
    group_key: str = ""              # Alertmanager groupKey; "" = let the integration's grouping decide
    action: str = ""                 # events API: "trigger" | "acknowledge" | "resolve"; "" otherwise

    def to_json(self) -> dict:
        # What dataclasses.asdict gives, built directly: asdict deep-copies every value, which the ingest
        # request pays per alert.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["labels"], data["annotations"] = dict(self.labels), dict(self.annotations)
        for name in ("starts_at", "ends_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> AlertEvent:
        data = dict(data)
        for name in ("starts_at", "ends_at"):
            data[name] = datetime.datetime.fromisoformat(data[name]) if data.get(name) else None
        return cls(**data)


_FIELD_NAMES = tuple(f.name for f in fields(AlertEvent))


# --- parsing --------------------------------------------------------------------------------------------

MAX_ALERTS = 1000
MAX_LABEL_NAME = 200
MAX_LABEL_VALUE = 2000
MAX_ANNOTATION_VALUE = 16000
MAX_SUMMARY = 500
MAX_EVENTS_SUMMARY = 1024
MAX_EMAIL_DESCRIPTION = 4000
STATUSES = ("firing", "resolved")
SEVERITY_NAMES = ("critical", "error", "warning", "info")
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
# Common spellings of severities in monitoring labels -> ours; anything else stays "" (routing decides).
SEVERITY_ALIASES = {
    "critical": "critical", "crit": "critical", "fatal": "critical", "emergency": "critical", "page": "critical",
    "disaster": "critical", "p1": "critical",
    "error": "error", "err": "error", "high": "error", "major": "error", "p2": "error",
    "warning": "warning", "warn": "warning", "medium": "warning", "minor": "warning", "average": "warning",
    "p3": "warning",
    "info": "info", "information": "info", "informational": "info", "low": "info", "notice": "info",
    "none": "info", "p4": "info", "p5": "info",
}
_GO_ZERO_TIME_YEAR = 1
_FRACTION = re.compile(r"(\.\d{6})\d+")


class PayloadError(ValueError):
    """A body the intake refuses: `message` for people, `fields` naming each wrong part by its path
    (`{"alerts[2].labels": "must be an object of strings"}`)."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, code: str = "invalid_payload"):
        super().__init__(message)
        self.message = str(message)
        self.fields = {key: str(value) for key, value in (fields or {}).items()}
        self.code = code


class _Errors:
    """Collects problems by path; `raise_if_any` raises one PayloadError naming them all (the first 50)."""

    def __init__(self):
        self.fields: dict[str, str] = {}

    def add(self, path: str, message) -> None:
        if len(self.fields) < 50:
            self.fields.setdefault(path, str(message))

    def raise_if_any(self, message=None) -> None:
        if self.fields:
            raise PayloadError(message or _("The payload is not valid: see the fields."), self.fields)


def _string(body: dict, name: str, path: str, errors: _Errors, *, required=False, max_length=2000) -> str:
    value = body.get(name)
    if value is None:
        if required:
            errors.add(path, _("is required"))
        return ""
    if not isinstance(value, str):
        errors.add(path, _("must be a string"))
        return ""
    if required and not value.strip():
        errors.add(path, _("must not be empty"))
    if len(value) > max_length:
        errors.add(path, _("must be at most %(n)s characters") % {"n": max_length})
        return value[:max_length]
    return value


def _string_map(value, path: str, errors: _Errors, *, max_value=MAX_LABEL_VALUE, required=True,
                labels=True) -> dict[str, str]:
    """An object of strings (Alertmanager's labels and annotations): names 1..200 characters. In a label
    map (`labels=True`) a label whose value is "" is dropped, as Alertmanager drops it before anything
    else: `env=""` is the same alert as no `env` at all."""
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors.add(path, _("must be an object of strings"))
        return {}
    if labels:
        value = {name: item for name, item in value.items() if item != ""}
    for name, item in value.items():
        if not 0 < len(name) <= MAX_LABEL_NAME:
            errors.add(f"{path}.{name[:50]}", _("names must have 1 to %(n)s characters") % {"n": MAX_LABEL_NAME})
        elif len(item) > max_value:
            errors.add(f"{path}.{name}", _("must be at most %(n)s characters") % {"n": max_value})
    return dict(value)


def parse_time(value, path: str, errors: _Errors) -> datetime.datetime | None:
    """RFC 3339 (nanoseconds allowed, cut to microseconds); Go's zero time "0001-01-01T00:00:00Z" (what
    Alertmanager sends as endsAt of a firing alert) and "" are None; without an offset means UTC."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        errors.add(path, _("must be an RFC 3339 time string"))
        return None
    try:
        parsed = datetime.datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    except ValueError:
        errors.add(path, _("must be an RFC 3339 time such as 2024-05-01T12:00:00Z"))
        return None
    if parsed.year == _GO_ZERO_TIME_YEAR:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


def web_url(value: str) -> str:
    """`value` when it is an absolute http or https URL, else "": a link a monitoring tool sends is shown
    as a link, so `javascript:` and other schemes are never kept (the rest of the alert is)."""
    value = (value or "").strip()
    if not value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:  # an invalid IPv6 host such as http://[::1
        return ""
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


def normalise_severity(value: str) -> str:
    return SEVERITY_ALIASES.get((value or "").strip().lower(), "")


def _summary(labels: dict, annotations: dict, fallback: str = "") -> str:
    text = (annotations.get("summary") or annotations.get("title") or labels.get("alertname") or fallback
            or annotations.get("description", "").strip().split("\n", 1)[0])
    return text[:MAX_SUMMARY]


def _alerts_list(body: dict, errors: _Errors) -> list:
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        errors.add("alerts", _("is required and must be a list of alerts"))
        errors.raise_if_any()
    if not alerts:
        errors.add("alerts", _("must hold at least one alert"))
    if len(alerts) > MAX_ALERTS:
        errors.add("alerts", _("holds %(n)s alerts; at most %(max)s are accepted in one payload")
                   % {"n": len(alerts), "max": MAX_ALERTS})
    errors.raise_if_any()
    return alerts


def _webhook_alert(item, path: str, group_key: str, errors: _Errors, fallback_summary: str = "") -> AlertEvent | None:
    """One alert of an Alertmanager (or Grafana) webhook."""
    if not isinstance(item, dict):
        errors.add(path, _("must be an object"))
        return None
    status = item.get("status")
    if status not in STATUSES:
        errors.add(f"{path}.status", _('must be "firing" or "resolved"'))
    labels = _string_map(item.get("labels"), f"{path}.labels", errors)
    annotations = _string_map(item.get("annotations"), f"{path}.annotations", errors,
                              max_value=MAX_ANNOTATION_VALUE, required=False, labels=False)
    starts_at = parse_time(item.get("startsAt"), f"{path}.startsAt", errors)
    ends_at = parse_time(item.get("endsAt"), f"{path}.endsAt", errors)
    generator_url = web_url(_string(item, "generatorURL", f"{path}.generatorURL", errors, max_length=1000))
    given = _string(item, "fingerprint", f"{path}.fingerprint", errors, max_length=64).strip().lower()
    return AlertEvent(
        fingerprint=given or fingerprint(labels), status=status if status in STATUSES else "firing",
        labels=labels, annotations=annotations, summary=_summary(labels, annotations, fallback_summary),
        severity=normalise_severity(labels.get("severity", "")),
        source=(labels.get("instance") or labels.get("job") or labels.get("host") or "")[:200],
        starts_at=starts_at, ends_at=ends_at, generator_url=generator_url, group_key=group_key)


def _webhook_common(body, errors: _Errors) -> str:
    """The top level every Alertmanager-shaped webhook shares; returns the group key."""
    if not isinstance(body, dict):
        raise PayloadError(_("The payload must be a JSON object."), {"": _("must be an object")})
    group_key = _string(body, "groupKey", "groupKey", errors, max_length=10000)
    if body.get("status") is not None and body.get("status") not in STATUSES:
        errors.add("status", _('must be "firing" or "resolved"'))
    _string(body, "receiver", "receiver", errors, max_length=1000)
    _string(body, "externalURL", "externalURL", errors, max_length=2000)
    for name in ("groupLabels", "commonLabels"):
        _string_map(body.get(name), name, errors, required=False)
    _string_map(body.get("commonAnnotations"), "commonAnnotations", errors, max_value=MAX_ANNOTATION_VALUE,
                required=False, labels=False)
    return group_key


def parse_alertmanager(body: dict) -> list[AlertEvent]:
    """Alertmanager's webhook (payload version 4)."""
    errors = _Errors()
    group_key = _webhook_common(body, errors)
    version = body.get("version")
    if version is not None and version != "4":
        errors.add("version", _('must be "4" (Alertmanager webhook payload version 4)'))
    alerts = _alerts_list(body, errors)
    events = [_webhook_alert(item, f"alerts[{i}]", group_key, errors) for i, item in enumerate(alerts)]
    errors.raise_if_any()
    return events


def _json_annotation(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def parse_grafana(body: dict) -> list[AlertEvent]:
    """Grafana alerting's webhook: Alertmanager's shape plus title, state, message, orgId and per alert
    values / valueString / silenceURL / dashboardURL / panelURL (kept as annotations)."""
    errors = _Errors()
    group_key = _webhook_common(body, errors)
    title = _string(body, "title", "title", errors, max_length=2000)
    _string(body, "state", "state", errors, max_length=100)
    _string(body, "message", "message", errors, max_length=MAX_ANNOTATION_VALUE)
    org_id = body.get("orgId")
    if org_id is not None and (isinstance(org_id, bool) or not isinstance(org_id, int)):
        errors.add("orgId", _("must be a number"))
    alerts = _alerts_list(body, errors)
    events = []
    for i, item in enumerate(alerts):
        event = _webhook_alert(item, f"alerts[{i}]", group_key, errors, fallback_summary=title)
        if event is None:
            continue
        values = item.get("values")
        if values is not None:
            if not isinstance(values, dict) or not all(v is None or (isinstance(v, int | float)
                                                                    and not isinstance(v, bool))
                                                       for v in values.values()):
                errors.add(f"alerts[{i}].values", _("must be an object of numbers"))
            else:
                event.annotations["values"] = _json_annotation(values)
        for name, key in (("valueString", "value_string"), ("silenceURL", "silence_url"),
                          ("dashboardURL", "dashboard_url"), ("panelURL", "panel_url")):
            text = _string(item, name, f"alerts[{i}].{name}", errors, max_length=MAX_LABEL_VALUE)
            if name.endswith("URL"):
                text = web_url(text)
            if text:
                event.annotations[key] = text
        if org_id is not None:
            event.annotations.setdefault("grafana_org_id", str(org_id))
        events.append(event)
    errors.raise_if_any()
    return events


def parse_events(body: dict) -> list[AlertEvent]:
    """One event in the style of PagerDuty Events v2. The integration key is in the URL, so a
    `routing_key` in the body is accepted and ignored."""
    errors = _Errors()
    if not isinstance(body, dict):
        raise PayloadError(_("The payload must be a JSON object."), {"": _("must be an object")})
    _string(body, "routing_key", "routing_key", errors, max_length=200)
    action = body.get("event_action")
    if action is None or action == "":
        errors.add("event_action", _("is required: trigger, acknowledge or resolve"))
    elif action not in EVENT_ACTIONS:
        errors.add("event_action", _("must be trigger, acknowledge or resolve, not %(v)s") % {"v": str(action)[:50]})
    dedup_key = _string(body, "dedup_key", "dedup_key", errors, max_length=255).strip()
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.add("dedup_key", _("is required to %(action)s an alert") % {"action": action})
    payload = body.get("payload")
    trigger = action == "trigger"
    if payload is None and not trigger:
        payload = {}
    if not isinstance(payload, dict):
        errors.add("payload", _("is required and must be an object") if trigger else _("must be an object"))
        errors.raise_if_any()
    summary = _string(payload, "summary", "payload.summary", errors, required=trigger, max_length=MAX_EVENTS_SUMMARY)
    severity = payload.get("severity")
    if (trigger or severity is not None) and severity not in SEVERITY_NAMES:
        errors.add("payload.severity", _("is required: critical, error, warning or info") if severity is None
                   else _("must be critical, error, warning or info, not %(v)s") % {"v": str(severity)[:50]})
    source = _string(payload, "source", "payload.source", errors, required=trigger, max_length=255)
    timestamp = parse_time(payload.get("timestamp"), "payload.timestamp", errors)
    labels: dict[str, str] = {}
    for name in ("component", "group", "class"):
        value = _string(payload, name, f"payload.{name}", errors, max_length=MAX_LABEL_VALUE)
        if value:
            labels[name] = value
    annotations: dict[str, str] = {}
    details = payload.get("custom_details")
    if isinstance(details, dict):
        for name, value in details.items():
            if not 0 < len(name) <= MAX_LABEL_NAME:
                errors.add(f"payload.custom_details.{name[:50]}", _("names must have 1 to %(n)s characters")
                           % {"n": MAX_LABEL_NAME})
            else:
                annotations[name] = _json_annotation(value)[:MAX_ANNOTATION_VALUE]
    elif details is not None:
        annotations["custom_details"] = _json_annotation(details)[:MAX_ANNOTATION_VALUE]
    for name, required_key in (("links", "href"), ("images", "src")):
        items = body.get(name)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(x, dict) and isinstance(x.get(required_key), str)
                                                  for x in items):
            errors.add(name, _('must be a list of objects with "%(key)s"') % {"key": required_key})
        else:
            # A link or image with another scheme than http(s) (javascript:, data:) is left out.
            items = [x for x in items if web_url(x[required_key])]
            if items:
                annotations[name] = _json_annotation(items)[:MAX_ANNOTATION_VALUE]
    for name in ("client", "client_url"):
        value = _string(body, name, name, errors, max_length=MAX_LABEL_VALUE)
        if name == "client_url":
            value = web_url(value)
        if value:
            annotations[name] = value
    errors.raise_if_any()
    if source:
        labels["source"] = source
    if severity in SEVERITY_NAMES:
        labels["severity"] = severity
    if not dedup_key:
        dedup_key = fingerprint({"source": source, "summary": summary,
                                 **{k: v for k, v in labels.items() if k in ("component", "group", "class")}})
    if summary:
        annotations.setdefault("summary", summary)
    return [AlertEvent(
        fingerprint=dedup_key, status="resolved" if action == "resolve" else "firing", labels=labels,
        annotations=annotations, summary=summary[:MAX_SUMMARY], severity=severity or "", source=source[:200],
        starts_at=timestamp if trigger else None, ends_at=timestamp if action == "resolve" else None,
        action=action)]


# --- email ----------------------------------------------------------------------------------------------

_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|sv|tr)\s*(?:\[\d+\])?\s*:|\[[^\]]*\])\s*", re.IGNORECASE)
# A state word in capitals at either end ("Disk full RESOLVED", "FIRING: Disk full"), or one in any case
# before a colon at the start ("Resolved: Disk full", Zabbix' style), is not part of the thread.
_STATES = "RESOLVED|FIRING|PROBLEM|RECOVERY|RECOVERED"
_STATE_WORD = re.compile(rf"^(?:{_STATES})\b[\s:-]*|^(?i:{_STATES})\s*:\s*|[\s:-]*\b(?:{_STATES})$")
# What resolves: a subject marker ("[RESOLVED] ...", Alertmanager's; "RESOLVED: ..." or "Resolved: ..." at
# the start, after Re:/Fwd: and [tags]) or a body line "status: resolved". A capitalised RESOLVED elsewhere
# ("is NOT RESOLVED yet") is prose.
_RESOLVED_TAG = re.compile(r"\[\s*RESOLVED\s*(?::\s*\d+\s*)?\]", re.IGNORECASE)
_RESOLVED_PREFIX = re.compile(r"^resolved\s*:", re.IGNORECASE)
_STATUS_RESOLVED_LINE = re.compile(r"^[ \t>*]*status[ \t]*:[ \t]*resolved[ \t.]*$", re.IGNORECASE | re.MULTILINE)
_BLOCK_END = re.compile(r"<(?:br|/p|/div|/tr|/li|/h[1-6])\b[^>]*>", re.IGNORECASE)
_SEVERITY_LINE = re.compile(r"^\s*severity\s*:\s*(\w+)", re.IGNORECASE | re.MULTILINE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_TAGS = re.compile(r"<[^>]+>")


def thread_subject(subject: str) -> str:
    """The subject without Re:/Fwd:, [tags] and state words in capitals at either end ("Re: [FIRING:1] Disk
    full" and "Disk full RESOLVED" -> "Disk full")."""
    previous = None
    subject = " ".join((subject or "").split())
    while previous != subject:
        previous = subject
        subject = _STATE_WORD.sub("", _SUBJECT_PREFIX.sub("", subject)).strip()
    return subject


def is_resolved(subject: str, body: str) -> bool:
    """A mail resolves its alert by a subject marker or a line "status: resolved" in its body."""
    if _RESOLVED_TAG.search(subject or ""):
        return True
    previous, rest = None, " ".join((subject or "").split())
    while previous != rest:  # Re:, Fwd: and [tags] before the marker
        previous, rest = rest, _SUBJECT_PREFIX.sub("", rest)
    return bool(_RESOLVED_PREFIX.match(rest) or _STATUS_RESOLVED_LINE.search(body or ""))


def _first_id(value) -> str:
    found = _MESSAGE_ID.findall(str(value or ""))
    return found[0] if found else ""


def _text_body(message) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, UnicodeError, KeyError):
        text = (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
    if not isinstance(text, str):
        text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else ""
    if part.get_content_subtype() == "html":
        text = html.unescape(_TAGS.sub(" ", _BLOCK_END.sub("\n", text)))
    return text.strip()


def parse_email(message: bytes) -> list[AlertEvent]:
    """One alert per mail thread. The fingerprint comes from the thread root's Message-ID (the first entry
    of References, else In-Reply-To); a message starting a thread is keyed by its subject without Re:,
    Fwd: and [tags], so a later "[RESOLVED] Disk full" without references finds "[FIRING] Disk full".
    (The mailbox poll maps a reply onto its root's alert when it has seen the root.) A subject marker
    ("[RESOLVED]", "RESOLVED:" or "Resolved:" at the start) or a body line "status: resolved" resolves;
    else it fires."""
    if not isinstance(message, bytes | bytearray) or not message.strip():
        raise PayloadError(_("The message is empty."), {"message": _("is empty")})
    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
    try:
        subject = " ".join(str(parsed.get("Subject", "") or "").split())
        message_id = _first_id(parsed.get("Message-ID"))
        root = _first_id(parsed.get("References")) or _first_id(parsed.get("In-Reply-To"))
        sender = email.utils.parseaddr(str(parsed.get("From", "") or ""))[1]
        date = parsed.get("Date")
    except (ValueError, TypeError, IndexError) as exc:  # a header the policy cannot read
        raise PayloadError(_("The message headers cannot be read."), {"headers": str(exc)[:200]}) from exc
    body = _text_body(parsed)
    key_subject = thread_subject(subject)
    if not subject and not body:
        raise PayloadError(_("The message has neither a subject nor a text body."),
                           {"subject": _("is empty"), "body": _("is empty")})
    if root:
        key = fingerprint({"thread": root})
    elif key_subject:
        key = fingerprint({"subject": key_subject})
    elif message_id:
        key = fingerprint({"thread": message_id})
    else:
        raise PayloadError(_("The message has no subject and no Message-ID to thread it by."),
                           {"subject": _("is empty"), "message_id": _("is missing")})
    resolved = is_resolved(subject, body)
    severity_match = _SEVERITY_LINE.search(body)
    started = None
    if date is not None:
        try:
            started = email.utils.parsedate_to_datetime(str(date))
            started = started.replace(tzinfo=datetime.UTC) if started.tzinfo is None else started.astimezone(
                datetime.UTC)
        except (TypeError, ValueError):
            started = None
    labels = {"alertname": (key_subject or subject or message_id)[:MAX_LABEL_VALUE]}
    for name, value in (("from", sender), ("message_id", message_id), ("thread", root)):
        if value:
            labels[name] = value[:MAX_LABEL_VALUE]
    annotations = {"description": body[:MAX_EMAIL_DESCRIPTION]} if body else {}
    if subject:
        annotations["subject"] = subject[:MAX_LABEL_VALUE]
    return [AlertEvent(
        fingerprint=key, status="resolved" if resolved else "firing", labels=labels, annotations=annotations,
        summary=(subject or body.split("\n", 1)[0])[:MAX_SUMMARY],
        severity=normalise_severity(severity_match.group(1)) if severity_match else "", source=sender[:200],
        starts_at=None if resolved else started, ends_at=started if resolved else None)]


# --- request bodies -------------------------------------------------------------------------------------

JSON_PARSERS = {"alertmanager": parse_alertmanager, "grafana": parse_grafana, "events": parse_events}


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_body(kind: str, body: bytes) -> list[AlertEvent]:
    """A request body of an integration kind -> its events; PayloadError (code "invalid_json" when the
    body is not JSON) names what is wrong."""
    if kind == "email":
        return parse_email(body)
    if kind not in JSON_PARSERS:
        raise PayloadError(_("Unknown integration kind %(kind)s.") % {"kind": kind}, {"kind": _("unknown")})
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise PayloadError(_("The body is not UTF-8 text."), {"body": str(exc)[:200]}, code="invalid_json") from exc
    except ValueError as exc:
        raise PayloadError(_("The body is not valid JSON: %(error)s") % {"error": str(exc)[:200]},
                           {"body": _("not JSON")}, code="invalid_json") from exc
    except RecursionError as exc:  # "[" x 50,000 fits the size limit but not Python's stack
        raise _too_deep() from exc
    if not isinstance(data, dict):
        raise PayloadError(_("The payload must be a JSON object."), {"body": _("must be an object")})
    try:
        return JSON_PARSERS[kind](data)
    except RecursionError as exc:  # a value nested just below the parser's limit, written out again
        raise _too_deep() from exc


def _too_deep() -> PayloadError:
    return PayloadError(_("The body is not valid JSON: it is nested too deeply."),
                        {"body": _("nested too deeply")}, code="invalid_json")
