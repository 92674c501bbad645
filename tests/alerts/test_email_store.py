"""Storing one polled message: the UID moves in the same transaction, so a message is stored once even
when two polls (or a poll after a crash) meet it again."""

from opsdesk.alerts.email_intake import _store_message
from opsdesk.alerts.models import RawPayload
from tests.alerts.factories import make_integration

MESSAGE = (b"Subject: [FIRING] Disk full on db-1\r\nFrom: mon@example.com\r\nMessage-ID: <m1@mon>\r\n\r\n"
           b"/var is 97% full\r\n")
REPLY = (b"Subject: Re: [FIRING] Disk full on db-1\r\nFrom: ops@example.com\r\nMessage-ID: <m2@mon>\r\n"
         b"References: <m1@mon>\r\n\r\nRESOLVED\r\n")


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
