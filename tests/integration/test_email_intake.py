"""Email intake against a real IMAP server: Debian's dovecot-imapd run as a throwaway server on loopback
(RECIPES.md). Messages are APPENDed over IMAP, then the mailbox is polled as the beat task does."""

from __future__ import annotations

import imaplib
import os
import shutil
import subprocess
import tempfile
import time
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from django.utils import timezone

from opsdesk.alerts import processing
from opsdesk.alerts.email_intake import poll_mailbox
from opsdesk.alerts.integrations import update_integration
from opsdesk.alerts.models import Alert, RawPayload
from opsdesk.alerts.tasks import poll_mailboxes
from opsdesk.core.actors import Actor
from tests.alerts.factories import make_integration
from tests.integration.peers import free_port, wait_for

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
NOBODY_UID, NOBODY_GID = 65534, 65534


class Dovecot:
    """A Dovecot IMAP server with one user ops/secret and its Maildir in a temp folder."""

    def __init__(self, root):
        self.root = root
        self.port = free_port()
        self.user, self.password = "ops", "secret"

    def start(self) -> Dovecot:
        home = self.root / "home"
        for folder in ("run", "state", "home"):
            (self.root / folder).mkdir()
        os.chown(home, NOBODY_UID, NOBODY_GID)
        (self.root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}:{NOBODY_UID}:{NOBODY_GID}::{home}\n")
        self.config = self.root / "dovecot.conf"
        self.config.write_text(f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = {self.root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {self.root}/passwd
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        subprocess.run([DOVECOT, "-c", str(self.config)], check=True, timeout=30)
        wait_for(self._answers, "dovecot to accept IMAP logins", timeout=20, diagnostics=self._log)
        return self

    def _answers(self) -> bool:
        try:
            client = imaplib.IMAP4("127.0.0.1", self.port, timeout=2)
        except OSError:
            return False
        client.login(self.user, self.password)
        client.logout()
        return True

    def _log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text()[-3000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 15)
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)

    def append(self, message: EmailMessage, folder: str = "INBOX") -> None:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            client.login(self.user, self.password)
            status, detail = client.append(folder, None, None, message.as_bytes())
            assert status == "OK", detail
        finally:
            client.logout()

    def command(self, name: str, *args):
        """One IMAP command (CREATE, DELETE, STATUS...) as the mailbox's user; its answer's data."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            client.login(self.user, self.password)
            status, data = getattr(client, name)(*args)
            assert status == "OK", data
            return data
        finally:
            client.logout()


@pytest.fixture(scope="module")
def dovecot():
    if not os.path.exists(DOVECOT):
        pytest.skip("Debian's dovecot-imapd is not installed (apt-get install dovecot-imapd)")
    # Not under pytest's tmp_path: its 0700 parent keeps dovecot's unprivileged processes out.
    root = Path(tempfile.mkdtemp(prefix="opsdesk-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot, db):
    """An email integration on an emptied INBOX."""
    client = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10)
    client.login(dovecot.user, dovecot.password)
    client.select("INBOX")
    client.store("1:*", "+FLAGS", "\\Deleted") if client.search(None, "ALL")[1][0] else None
    client.expunge()
    client.logout()
    integration, _key = make_integration("email", imap_host="127.0.0.1", imap_port=dovecot.port, imap_ssl=False,
                                         imap_username=dovecot.user, imap_password=dovecot.password)
    # UIDs keep growing across tests in one mailbox: start after the ones already used.
    client = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10)
    client.login(dovecot.user, dovecot.password)
    status, data = client.status("INBOX", "(UIDNEXT)")
    client.logout()
    uid_next = int(data[0].split(b"UIDNEXT ")[1].rstrip(b")"))
    type(integration).objects.filter(pk=integration.pk).update(imap_last_uid=uid_next - 1)
    integration.refresh_from_db()
    return integration


def mail(subject, body, message_id, references=None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Nagios <nagios@mon.example.com>"
    message["To"] = "alerts@example.com"
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id
    if references:
        message["References"] = references
        message["In-Reply-To"] = references.split()[-1]
    message.set_content(body)
    return message


def test_thread_becomes_one_alert_and_polling_again_adds_nothing(dovecot, mailbox):
    dovecot.append(mail("[PROBLEM] Disk full on db-1", "Disk /var is 97% full.\nseverity: critical", "<a1@mon>"))
    dovecot.append(mail("Re: [PROBLEM] Disk full on db-1", "Cleaned up /var/log.\nstatus: resolved", "<a2@mon>",
                        references="<a1@mon>"))
    dovecot.append(mail("[PROBLEM] CPU high on web-2", "load 42", "<b1@mon>"))

    assert poll_mailbox(mailbox) == 3
    payloads = list(RawPayload.objects.filter(integration=mailbox).order_by("id"))
    assert [p.content_type for p in payloads] == ["message/rfc822"] * 3
    first, reply, other = (p.events[0] for p in payloads)
    assert reply["fingerprint"] == first["fingerprint"] != other["fingerprint"]
    assert (first["status"], reply["status"], other["status"]) == ("firing", "resolved", "firing")
    assert first["severity"] == "critical" and "Subject: [PROBLEM] Disk full" in payloads[0].body
    mailbox.refresh_from_db()
    last_uid = mailbox.imap_last_uid
    assert last_uid > 0

    for payload in payloads:
        processing.process_payload(payload.pk)
    alerts = {a.fingerprint: a for a in Alert.objects.filter(integration=mailbox)}
    assert len(alerts) == 2  # the reply updated the first alert
    assert alerts[first["fingerprint"]].status == "resolved"
    assert alerts[other["fingerprint"]].status == "firing"

    assert poll_mailbox(mailbox) == 0  # nothing is read twice
    mailbox.refresh_from_db()
    assert mailbox.imap_last_uid == last_uid and RawPayload.objects.count() == 3

    dovecot.append(mail("[PROBLEM] CPU high on web-2", "load 50", "<b2@mon>"))
    assert poll_mailboxes() == 1  # the beat task polls every enabled email integration
    assert RawPayload.objects.count() == 4
    assert RawPayload.objects.order_by("-id").first().events[0]["fingerprint"] == other["fingerprint"]


def test_a_message_that_cannot_be_an_alert_is_passed_over(dovecot, mailbox):
    empty = EmailMessage()
    empty["From"] = "nobody@example.com"
    dovecot.append(empty)
    dovecot.append(mail("[PROBLEM] Queue stuck", "jobs wait", "<c1@mon>"))
    assert poll_mailbox(mailbox) == 1
    mailbox.refresh_from_db()
    assert RawPayload.objects.count() == 1
    assert poll_mailbox(mailbox) == 0


def test_wrong_password_stores_nothing(dovecot, mailbox, caplog):
    """One login only: dovecot slows down repeated failed logins from one address."""
    dovecot.append(mail("[PROBLEM] Disk full", "x", "<d1@mon>"))
    uid_before = mailbox.imap_last_uid
    update_integration(mailbox, actor=Actor.system("test"), data={"imap_password": "wrong"})
    assert poll_mailboxes() == 0  # the task logs the MailboxError and goes on with the next mailbox
    assert "LOGIN failed" in caplog.text or "AUTHENTICATIONFAILED" in caplog.text
    assert not RawPayload.objects.exists()
    mailbox.refresh_from_db()
    assert mailbox.imap_last_uid == uid_before  # the message waits for the next poll


def test_a_folder_deleted_and_created_again_is_read_again_from_uid_1(dovecot, db):
    """The new folder numbers its messages from 1 again under a new UIDVALIDITY: the poll notices and
    reads it from the start instead of waiting for UIDs above the old folder's last one."""
    dovecot.command("create", "Alerts")
    integration, _key = make_integration("email", imap_host="127.0.0.1", imap_port=dovecot.port, imap_ssl=False,
                                         imap_username=dovecot.user, imap_password=dovecot.password,
                                         imap_folder="Alerts")
    try:
        dovecot.append(mail("[PROBLEM] Disk full on db-1", "x", "<e1@mon>"), folder="Alerts")
        dovecot.append(mail("[PROBLEM] CPU high on web-2", "x", "<e2@mon>"), folder="Alerts")
        assert poll_mailbox(integration) == 2
        integration.refresh_from_db()
        first_validity = integration.imap_uidvalidity
        assert integration.imap_last_uid == 2 and first_validity > 0

        dovecot.command("delete", "Alerts")
        dovecot.command("create", "Alerts")
        dovecot.append(mail("[PROBLEM] Queue stuck", "jobs wait", "<e3@mon>"), folder="Alerts")  # UID 1 again
        [status] = dovecot.command("status", "Alerts", "(UIDVALIDITY)")
        assert f"UIDVALIDITY {first_validity})".encode() not in status

        assert poll_mailbox(integration) == 1
        integration.refresh_from_db()
        assert integration.imap_last_uid == 1 and integration.imap_uidvalidity not in (0, first_validity)
        assert RawPayload.objects.order_by("-id").first().events[0]["labels"]["message_id"] == "<e3@mon>"
        assert poll_mailbox(integration) == 0
    finally:
        dovecot.command("delete", "Alerts")
