"""Email intake: an IMAP mailbox polled for alert mails, one RawPayload per message.

Each message is stored in its own transaction together with the move of `imap_last_uid`, under a lock
of the integration row: a crash between two messages re-reads nothing already stored and loses
nothing, and two workers polling one mailbox at once store each message once. The mailbox is opened
read-only and messages are fetched with BODY.PEEK, so the mailbox stays as it was.

UIDs only mean something together with the folder's UIDVALIDITY: when a folder is deleted and created
again (or restored, or its index rebuilt) the server gives it a new UIDVALIDITY and numbers its messages
from 1 again. The poll keeps the value it last saw (`imap_uidvalidity`); when the folder's differs, the
UIDs read so far are void and reading starts at UID 1 again.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl

from django.conf import settings
from django.db import transaction

from . import intake
from .integrations import store_payload
from .models import Integration, RawPayload

log = logging.getLogger(__name__)
SOCKET_TIMEOUT_SECONDS = 30
MAX_MESSAGES_PER_POLL = 500
_UID = re.compile(rb"UID (\d+)")


class MailboxError(RuntimeError):
    """The mailbox could not be read (login, folder, protocol); nothing was stored for the failing step."""


def _connect(integration: Integration) -> imaplib.IMAP4:
    port = integration.imap_port or (993 if integration.imap_ssl else 143)
    if integration.imap_ssl:
        # imaplib's default context does not verify the server's certificate; this one does.
        return imaplib.IMAP4_SSL(integration.imap_host, port, ssl_context=ssl.create_default_context(),
                                 timeout=SOCKET_TIMEOUT_SECONDS)
    return imaplib.IMAP4(integration.imap_host, port, timeout=SOCKET_TIMEOUT_SECONDS)


def _check(result, what: str):
    status, data = result
    if status != "OK":
        detail = b" ".join(x for x in data if isinstance(x, bytes)).decode("utf-8", errors="replace")
        raise MailboxError(f"IMAP {what} failed: {detail}"[:500])
    return data


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _thread_fingerprint(integration_id: int, event: intake.AlertEvent) -> str:
    """A reply carries its thread root's Message-ID; when the root was seen, the reply takes the root's
    fingerprint (the root was keyed by its subject), so the thread stays one alert."""
    root = event.labels.get("thread")
    if not root:
        return event.fingerprint
    found = (RawPayload.objects.filter(integration_id=integration_id, events__0__labels__message_id=root)
             .order_by("received_at").values_list("events", flat=True).first())
    if found:
        return found[0].get("fingerprint") or event.fingerprint
    return event.fingerprint


def uid_start(stored_validity: int, last_uid: int, mailbox_validity: int | None) -> tuple[int, int]:
    """The decision at each poll: (the last UID already read, the UIDVALIDITY to keep) from what is stored
    and what the server says now. The same value: go on after `last_uid`. Another value: the folder's
    UIDs were renumbered, start again from 0. Nothing stored yet (0: a new integration, or one older
    than this check): keep `last_uid` and remember the value. The server saying nothing: go on."""
    if mailbox_validity is None or mailbox_validity == stored_validity:
        return last_uid, stored_validity
    if stored_validity == 0:
        return last_uid, mailbox_validity
    return 0, mailbox_validity


def _mailbox_validity(client) -> int | None:
    """The UIDVALIDITY the server sent with SELECT's answer."""
    _name, data = client.response("UIDVALIDITY")
    value = (data or [None])[-1]
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def _apply_validity(integration: Integration, mailbox_validity: int | None) -> None:
    """Store the mailbox's UIDVALIDITY (and start again from UID 0 when it changed), under the row lock."""
    last_uid, validity = uid_start(integration.imap_uidvalidity, integration.imap_last_uid, mailbox_validity)
    if (last_uid, validity) == (integration.imap_last_uid, integration.imap_uidvalidity):
        return
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        last_uid, validity = uid_start(locked.imap_uidvalidity, locked.imap_last_uid, mailbox_validity)
        if validity != locked.imap_uidvalidity and locked.imap_uidvalidity:
            log.warning("mailbox of %s: UIDVALIDITY changed from %s to %s; reading it again from UID 1",
                        locked, locked.imap_uidvalidity, validity)
        Integration.objects.filter(pk=locked.pk).update(imap_last_uid=last_uid, imap_uidvalidity=validity)
    integration.imap_last_uid, integration.imap_uidvalidity = last_uid, validity


def _store_message(integration: Integration, uid: int, raw: bytes, uidvalidity: int | None = None) -> bool:
    """Store one message and move the UID on, in one transaction; False when already stored or refused
    (or when `uidvalidity` is given and no longer the stored one: another poll saw the folder renumbered)."""
    limit = settings.ALERTS_MAX_PAYLOAD_BYTES
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        if locked.imap_last_uid >= uid:
            return False  # another poll stored it
        if uidvalidity is not None and locked.imap_uidvalidity != uidvalidity:
            return False
        Integration.objects.filter(pk=locked.pk).update(imap_last_uid=uid)
        try:
            events = intake.parse_email(raw)
        except intake.PayloadError as exc:
            log.warning("mailbox of %s: message UID %s skipped: %s %s", integration, uid, exc.message, exc.fields)
            return False
        for event in events:
            event.fingerprint = _thread_fingerprint(locked.pk, event)
        text = raw[:limit].decode("utf-8", errors="replace")
        store_payload(locked, body=text, events=events, content_type="message/rfc822")
    return True


def poll_mailbox(integration: Integration) -> int:
    """Fetch the messages with a UID above `imap_last_uid`, store each; returns how many were stored."""
    try:
        client = _connect(integration)
    except OSError as exc:
        raise MailboxError(f"cannot connect to {integration.imap_host}: {exc}") from exc
    stored = 0
    try:
        _check(client.login(integration.imap_username, integration.imap_password), "LOGIN")
        _check(client.select(_quote(integration.imap_folder or "INBOX"), readonly=True), "SELECT")
        validity = _mailbox_validity(client)
        _apply_validity(integration, validity)
        start = integration.imap_last_uid + 1
        found = _check(client.uid("SEARCH", None, f"UID {start}:*"), "SEARCH")
        # "N:*" also matches the highest UID when it is below N, hence the filter.
        uids = sorted(int(x) for x in (found[0] or b"").split() if int(x) >= start)[:MAX_MESSAGES_PER_POLL]
        for uid in uids:
            data = _check(client.uid("FETCH", str(uid), "(UID BODY.PEEK[])"), "FETCH")
            raw = next((item[1] for item in data if isinstance(item, tuple) and _UID.search(item[0])), None)
            if raw is None:
                continue  # expunged meanwhile
            if _store_message(integration, uid, raw, uidvalidity=validity):
                stored += 1
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailboxError(f"mailbox {integration.imap_username}@{integration.imap_host}: {exc}"[:500]) from exc
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return stored
