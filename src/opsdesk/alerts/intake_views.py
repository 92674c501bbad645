"""The ingest endpoints monitoring tools post to. The key in the URL is the credential (no session, no
CSRF); an integration may add an HMAC signature or a bearer token. The request validates, stores one
RawPayload and answers 202; the worker does the rest (routing, grouping, incidents, paging).

Kept fast on purpose (1,000 alerts/s): one cached key lookup, one insert, no other ORM work.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from opsdesk.core.api import error_body

from . import heartbeats, intake
from .integrations import HTTP_KINDS, accept_body, hash_secret, integration_for_key

log = logging.getLogger(__name__)
SIGNATURE_MAX_SKEW_SECONDS = 300


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    response = JsonResponse(error_body(code, str(message), fields), status=status)
    # Django would log "Bad Request: <path>" with the secret key in the path; log_refusal says it without.
    response._has_been_logged = True
    return response


def _redacted_path(request) -> str:
    """The path with the key cut to its first 8 characters (the prefix the integration page shows)."""
    parts = request.path.rstrip("/").split("/")
    return "/".join(parts[:-1] + [parts[-1][:8] + "…"]) + "/"


def _log_refusal(request, response) -> None:
    if response.status_code >= 400 and response.status_code != 500:
        log.info("alert intake refused %s %s: %s", request.method, _redacted_path(request), response.status_code)


def _guarded(view, request, **kwargs):
    """Run the view; an unexpected exception answers a generic 500 and is logged here with the key
    redacted. Left to Django, its "Internal Server Error: <path>" line would carry the whole key."""
    try:
        response = view(request, **kwargs)
    except Exception:  # noqa: BLE001  (logged with its traceback; the caller learns nothing of it)
        log.exception("alert intake failed on %s %s", request.method, _redacted_path(request))
        return _error(500, "server_error", _("Something went wrong on our side; it was logged. Send the payload "
                                             "again later."))
    _log_refusal(request, response)
    return response


def _not_found() -> JsonResponse:
    # One answer for an unknown key, a disabled integration and a kind that is not the key's: a caller
    # learns nothing about which keys exist.
    return _error(404, "not_found", _("No enabled integration has this key for this kind."))


def _lookup(request, key: str, kind: str | None):
    if request.method != "POST":
        return None, _error(405, "method_not_allowed", _("Use POST."))
    integration = integration_for_key(key)
    if integration is None or not integration.enabled or (kind is not None and integration.kind != kind):
        return None, _not_found()
    return integration, None


def _check_bearer(request, integration):
    if not integration.bearer_token_hash:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(hash_secret(token.strip()),
                                                             integration.bearer_token_hash):
        return _error(401, "not_authenticated", _("This integration needs Authorization: Bearer <token>."))
    return None


def _check_signature(request, integration, body: bytes):
    """X-Opsdesk-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)> with
    X-Opsdesk-Timestamp (Unix seconds) within 5 minutes of now, so a captured request cannot be replayed
    later."""
    if not integration.hmac_secret:
        return None
    timestamp = request.headers.get("X-Opsdesk-Timestamp", "").strip()
    signature = request.headers.get("X-Opsdesk-Signature", "").strip()
    fresh = (timestamp.isascii() and timestamp.isdigit()
             and abs(time.time() - int(timestamp)) <= SIGNATURE_MAX_SKEW_SECONDS)
    if not fresh:
        return _error(401, "not_authenticated",
                      _("X-Opsdesk-Timestamp must be the current Unix time in seconds (within 5 minutes)."))
    expected = hmac.new(integration.hmac_secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    if not hmac.compare_digest(signature.lower().encode(), ("sha256=" + expected.hexdigest()).encode()):
        return _error(401, "not_authenticated",
                      _("X-Opsdesk-Signature must be sha256=<hex HMAC-SHA256 of timestamp.body>."))
    return None


def _read_body(request):
    """The body, never reading more than the limit: a declared length over it is refused unread, and a
    body without a length is read up to one byte past the limit."""
    limit = settings.ALERTS_MAX_PAYLOAD_BYTES
    too_big = _error(413, "payload_too_large", _("The payload is larger than %(n)s bytes.") % {"n": limit})
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None, _error(400, "malformed_request", _("Content-Length is not a number."))
    if declared > limit:
        return None, too_big
    body = request.read(limit + 1)
    if len(body) > limit:
        return None, too_big
    return body, None


@csrf_exempt
def ingest(request, kind: str, key: str):
    return _guarded(_ingest, request, kind=kind, key=key)


def _admit(request, key: str, kind: str | None):
    """The checks both endpoints make, in order: the key (and kind), the bearer token, the size, the
    signature. Returns (integration, body, None) or (None, None, the refusal)."""
    integration, refused = _lookup(request, key, kind)
    if refused is None:
        refused = _check_bearer(request, integration)
    if refused is not None:
        return None, None, refused
    body, refused = _read_body(request)
    if refused is None:
        refused = _check_signature(request, integration, body)
    if refused is not None:
        return None, None, refused
    return integration, body, None


def _ingest(request, kind: str, key: str):
    if kind not in HTTP_KINDS:
        return _not_found()
    integration, body, refused = _admit(request, key, kind)
    if refused is not None:
        return refused
    try:
        payload = accept_body(integration, body, request.content_type or "")
    except intake.PayloadError as exc:
        return _error(400, exc.code, exc.message, exc.fields)
    answer = {"status": "accepted", "payload": payload.pk, "alerts": payload.event_count}
    if kind == "events" and payload.events:
        answer["dedup_key"] = payload.events[0]["fingerprint"]
    return JsonResponse(answer, status=202)


@csrf_exempt
def heartbeat(request, key: str):
    return _guarded(_heartbeat, request, key=key)


def _heartbeat(request, key: str):
    integration, _body, refused = _admit(request, key, None)
    if refused is not None:
        return refused
    heartbeats.note_activity(integration, timezone.now(), alert=False)
    return HttpResponse(status=204)
