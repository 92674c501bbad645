"""Storing one polled message: the UID moves in the same transaction, so a message is stored once even
when two polls (or a poll after a crash) meet it again."""

import pytest

from opsdesk.alerts.email_intake import _apply_validity, _store_message, uid_start
from opsdesk.alerts.integrations import update_integration
from opsdesk.alerts.models import Integration, RawPayload
from opsdesk.core.actors import Actor
from tests.alerts.factories import make_integration

MESSAGE = (b"Subject: [FIRING] Disk full on db-1\r\nFrom: mon@example.com\r\nMessage-ID: <m1@mon>\r\n\r\n"
           b"/var is 97% full\r\n")
REPLY = (b"Subject: Re: [FIRING] Disk full on db-1\r\nFrom: ops@example.com\r\nMessage-ID: <m2@mon>\r\n"
         b"References: <m1@mon>\r\n\r\nCleaned up /var/log.\r\nStatus: resolved\r\n")


def test_each_uid_is_stored_once_and_never_behind(db):
    integration, _key = make_integration("email")
    assert _store_message(integration, 5, MESSAGE) is True
    assert _store_message(integration, 5, MESSAGE) is False  # a second poll meeting UID 5
    assert _store_message(integration, 4, MESSAGE) is False  # below the last UID: already read
    integration.refresh_from_db()
    assert integration.imap_last_uid == 5 and RawPayload.objects.count() == 1


def test_a_reply_takes_the_fingerprint_of_the_stored_thread_root(db):
    integration, _key = make_integration("email")
    _store_message(integration, 1, MESSAGE)
    _store_message(integration, 2, REPLY)
    root, reply = (p.events[0] for p in RawPayload.objects.order_by("id"))
    assert reply["fingerprint"] == root["fingerprint"]
    assert reply["status"] == "resolved"


def test_a_message_that_is_no_alert_moves_the_uid_and_stores_nothing(db):
    integration, _key = make_integration("email")
    assert _store_message(integration, 3, b"From: a@b\r\n\r\n") is False
    integration.refresh_from_db()
    assert integration.imap_last_uid == 3 and not RawPayload.objects.exists()


@pytest.mark.parametrize(("stored", "last_uid", "mailbox", "expected"), [
    (1700000000, 42, 1700000000, (42, 1700000000)),   # the same folder: go on after UID 42
    (1700000000, 42, 1700000555, (0, 1700000555)),    # deleted and created again: read it from UID 1
    (1700000555, 42, 1700000000, (0, 1700000000)),    # restored from a backup: also another value
    (0, 42, 1700000000, (42, 1700000000)),            # not known yet (older integration): keep the mark
    (0, 0, 1700000000, (0, 1700000000)),              # a new integration
    (1700000000, 42, None, (42, 1700000000)),         # the server said nothing: go on
])
def test_uid_start_decides_where_reading_goes_on(stored, last_uid, mailbox, expected):
    assert uid_start(stored, last_uid, mailbox) == expected


def test_a_changed_uidvalidity_reads_the_folder_again_from_uid_1(db):
    integration, _key = make_integration("email")
    _apply_validity(integration, 1700000000)
    assert _store_message(integration, 7, MESSAGE, uidvalidity=1700000000) is True
    integration.refresh_from_db()
    assert (integration.imap_last_uid, integration.imap_uidvalidity) == (7, 1700000000)

    # The folder was deleted and created again: its first message has UID 1 again.
    _apply_validity(integration, 1700000999)
    assert (integration.imap_last_uid, integration.imap_uidvalidity) == (0, 1700000999)
    integration.refresh_from_db()
    assert (integration.imap_last_uid, integration.imap_uidvalidity) == (0, 1700000999)
    assert _store_message(integration, 1, REPLY, uidvalidity=1700000999) is True
    # A poll still reading with the old value stores nothing more.
    assert _store_message(integration, 8, MESSAGE, uidvalidity=1700000000) is False
    integration.refresh_from_db()
    assert integration.imap_last_uid == 1 and RawPayload.objects.count() == 2


def test_pointing_the_integration_at_another_folder_forgets_the_uids(db):
    integration, _key = make_integration("email")
    Integration.objects.filter(pk=integration.pk).update(imap_last_uid=500, imap_uidvalidity=1700000000)
    integration.refresh_from_db()
    integration = update_integration(integration, actor=Actor.system("test"), data={"description": "EU mailbox"})
    assert (integration.imap_last_uid, integration.imap_uidvalidity) == (500, 1700000000)
    integration = update_integration(integration, actor=Actor.system("test"), data={"imap_folder": "Alerts"})
    integration.refresh_from_db()
    assert (integration.imap_last_uid, integration.imap_uidvalidity) == (0, 0)
