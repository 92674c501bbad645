"""Real peer programs for the integration tests, all on loopback: a Celery worker process, an SMTP
server (aiosmtpd) and a webhook receiver that checks signatures the way a customer's receiver would.

Nothing here imports Opsdesk's own signing code: the receiver implements the contract documented in
opsdesk.core.notifications independently, so a change that breaks receivers breaks these tests.
"""

from __future__ import annotations

import collections
import contextlib
import email
import email.policy
import hashlib
import hmac
import http.server
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

SIGNATURE_TOLERANCE_SECONDS = 300
WORKER_BASE_URL = "https://opsdesk.example.test"  # the worker's public address, used in notification links


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, what: str, *, timeout: float = 30.0, diagnostics=None):
    """Poll `condition` until it returns something truthy; fail with `what` (and diagnostics) after
    `timeout` seconds. Short polls instead of long sleeps keep the tests fast and deterministic."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            extra = f"\n{diagnostics()}" if diagnostics else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


# --- webhook receiver ----------------------------------------------------------------------------


@dataclass
class WebhookRequest:
    delivery_id: str
    event: str
    timestamp: str
    body: dict
    answered: int


@dataclass
class WebhookReceiver:
    """An HTTP endpoint on 127.0.0.1 that verifies `X-Opsdesk-Signature` and drops repeats by
    `X-Opsdesk-Delivery`, counting every signed request it received per delivery id."""

    secret: str
    fail_with: int | None = None  # answer this status instead of 200 (the receiver is "down")
    stall: threading.Event | None = None  # hold the response until set (a worker dies mid-send)
    receipts: collections.Counter = field(default_factory=collections.Counter)
    processed: dict = field(default_factory=dict)  # delivery id -> first body accepted (2xx)
    requests: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # reasons for unsigned or badly signed requests
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/opsdesk"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._receive(self.path, self.headers, body)
                with contextlib.suppress(OSError):  # the sender may be gone (killed mid-send)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.stall is not None:
            self.stall.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            if self.stall is not None:
                self.stall.set()
            self.fail_with = None
            self.stall = None
            self.receipts.clear()
            self.processed.clear()
            self.requests.clear()
            self.rejected.clear()

    def expected_signature(self, timestamp: str, body: bytes) -> str:
        # The documented contract: "sha256=" + HMAC-SHA256(secret, timestamp + "." + body), hex.
        digest = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return f"sha256={digest}"

    def _receive(self, path, headers, body: bytes) -> int:
        delivery_id = headers.get("X-Opsdesk-Delivery", "")
        timestamp = headers.get("X-Opsdesk-Timestamp", "")
        signature = headers.get("X-Opsdesk-Signature", "")
        problem = None
        if path != "/hooks/opsdesk":
            problem = f"unexpected path {path}"
        elif not delivery_id:
            problem = "no X-Opsdesk-Delivery header"
        elif not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
            problem = f"missing or stale X-Opsdesk-Timestamp {timestamp!r}"
        elif not hmac.compare_digest(signature, self.expected_signature(timestamp, body)):
            problem = f"bad signature {signature!r}"
        if problem:
            with self._lock:
                self.rejected.append(problem)
            return 401
        payload = json.loads(body)
        with self._lock:
            self.receipts[delivery_id] += 1
            stall, fail_with = self.stall, self.fail_with
        if stall is not None:
            stall.wait(60)
        answered = fail_with or 200
        with self._lock:
            self.requests.append(WebhookRequest(delivery_id, headers.get("X-Opsdesk-Event", ""), timestamp, payload,
                                                answered))
            if answered < 300 and delivery_id not in self.processed:  # a repeat is acknowledged, not re-processed
                self.processed[delivery_id] = payload
        return answered

    def count(self, delivery_id) -> int:
        with self._lock:
            return self.receipts[str(delivery_id)]

    def describe(self) -> str:
        with self._lock:
            return (f"webhook receiver: receipts={dict(self.receipts)} processed={list(self.processed)} "
                    f"rejected={self.rejected}")


# --- SMTP server ---------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list
    message: email.message.EmailMessage


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages: list[ReceivedMail] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self.messages)

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()

    def describe(self) -> str:
        return "smtp: " + ", ".join(f"{m.rcpt_tos} {m.message['Subject']!r}" for m in self.received())


class SmtpServer:
    def __init__(self):
        from aiosmtpd.controller import Controller

        self.mailbox = Mailbox()
        self.host, self.port = "127.0.0.1", free_port()
        self._controller = Controller(self.mailbox, hostname=self.host, port=self.port)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


# --- Celery worker -------------------------------------------------------------------------------


def worker_database_url(settings_dict: dict, configured_url: str | None) -> str:
    """The URL of the database the test process uses right now (pytest-django's test database), for
    the worker's OPSDESK_DATABASE_URL."""
    name = str(settings_dict["NAME"])
    if settings_dict["ENGINE"].endswith("sqlite3"):
        # Same file and the same connection options as the product's embedded default (IMMEDIATE
        # transactions, busy timeout, WAL), so two processes share it as `opsdesk serve` does.
        options = {k: v for k, v in (settings_dict.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
        return f"sqlite:///{quote(name)}" + (f"?{urlencode(options)}" if options else "")
    if not configured_url:
        raise RuntimeError("the test database is not SQLite, but no OPSDESK_DATABASE_URL says where it is")
    parts = urlsplit(configured_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(name), parts.query, parts.fragment))


class Worker:
    """`python -m celery -A opsdesk worker --pool solo` as a subprocess, started and killed at will."""

    def __init__(self, *, env: dict, queue: str, log_path: Path, cwd: Path):
        self.env, self.queue, self.log_path, self.cwd = env, queue, log_path, cwd
        self.process: subprocess.Popen | None = None
        self.started_at = None  # aware datetime of the last start, for "what did this worker do"
        self.generation = 0
        self._log = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> Worker:
        from django.utils import timezone

        assert not self.running, "the worker is already running"
        self.generation += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")  # kept open while the process runs
        self._log.write(f"\n===== worker start #{self.generation} =====\n".encode())
        self._log.flush()
        self.started_at = timezone.now()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "opsdesk", "worker", "--pool", "solo", "-Q", self.queue,
             "--loglevel", "INFO", "--hostname", f"{self.queue}-{self.generation}@%h",
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            env=self.env, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited with code {self.process.returncode}:\n{self.tail()}")
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                return b" ready." in handle.read()

        wait_for(ready, "the Celery worker to be ready", timeout=timeout, diagnostics=self.tail)
        return self

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgement, nothing flushed (a crashed host)."""
        self._end(signal.SIGKILL, 0)

    def stop(self) -> None:
        """SIGTERM (warm shutdown), SIGKILL if it does not end within 15 s."""
        self._end(signal.SIGTERM, 15)

    def _end(self, sig, grace: float) -> None:
        if self.process is None:
            return
        # The solo pool runs tasks in the worker process itself: there are no children to signal.
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=grace or 10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no worker log)"
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last {len(text)} lines of {self.log_path} ---\n" + "\n".join(text)


# --- Prometheus Alertmanager ---------------------------------------------------------------------

ALERTMANAGER_BINARY = "/usr/bin/prometheus-alertmanager"  # Debian's package prometheus-alertmanager (0.25)


class Alertmanager:
    """The real Prometheus Alertmanager on a free loopback port, without clustering (no gossip, no
    settle wait), with one route whose webhook receiver is `webhook_url` (an Opsdesk integration URL).

    Short group timings keep the tests quick: the first notification of a group goes out after
    `group_wait`, changes (new or resolved alerts) after `group_interval`, and an unchanged group is
    sent again after `repeat_interval`. Alerts are posted and read back through the API v2, as
    Prometheus and `amtool` do.
    """

    def __init__(self, *, webhook_url: str, work_dir: Path, group_by=("alertname", "cluster"),
                 group_wait: str = "1s", group_interval: str = "1s", repeat_interval: str = "1h",
                 binary: str = ALERTMANAGER_BINARY):
        self.webhook_url, self.work_dir, self.binary = webhook_url, Path(work_dir), binary
        self.group_by = list(group_by)
        self.group_wait, self.group_interval, self.repeat_interval = group_wait, group_interval, repeat_interval
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.work_dir / "alertmanager.log"
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """alertmanager.yml. JSON is YAML, so the config is written with json.dumps: no YAML
        dependency and no quoting mistakes in the webhook URL."""
        route = {"receiver": "opsdesk", "group_by": self.group_by, "group_wait": self.group_wait,
                 "group_interval": self.group_interval, "repeat_interval": self.repeat_interval}
        receivers = [{"name": "opsdesk", "webhook_configs": [
            {"url": self.webhook_url, "send_resolved": True, "max_alerts": 0}]}]
        return json.dumps({"route": route, "receivers": receivers}, indent=2)

    def start(self, timeout: float = 15.0) -> Alertmanager:
        assert self.process is None, "Alertmanager is already running"
        if not Path(self.binary).exists():
            raise FileNotFoundError(f"{self.binary} is missing: apt-get install -y prometheus-alertmanager")
        storage = self.work_dir / "data"
        storage.mkdir(parents=True, exist_ok=True)
        config_file = self.work_dir / "alertmanager.yml"
        config_file.write_text(self.config())
        self._log = open(self.log_path, "ab")  # kept open while the process runs
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={config_file}", f"--storage.path={storage}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             f"--web.external-url={self.url}", "--log.level=info"],
            cwd=self.work_dir, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"Alertmanager exited with code {self.process.returncode}:\n{self.tail()}")
            try:
                return self._request("GET", "/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, "Alertmanager to be ready", timeout=timeout, diagnostics=self.tail)
        return self

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _request(self, method: str, path: str, body=None, timeout: float = 10.0) -> tuple[int, object]:
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", "Accept": "application/json"})
        # No proxy for loopback, whatever the environment says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def post_alerts(self, alerts: list[dict]) -> None:
        """`POST /api/v2/alerts`: each alert is {"labels": {...}, "annotations": {...}, "startsAt": ...,
        "endsAt": ..., "generatorURL": ...}; an alert with `endsAt` in the past is resolved."""
        status, answer = self._request("POST", "/api/v2/alerts", alerts)
        if status != 200:
            raise AssertionError(f"Alertmanager refused the alerts ({status}): {answer}")

    def alerts(self, **filters) -> list[dict]:
        """`GET /api/v2/alerts`: the alerts Alertmanager holds, each with its `fingerprint`, `labels`
        and `status` ({"state": "active" | "suppressed" | "unprocessed", ...})."""
        query = ("?" + urlencode(filters)) if filters else ""
        status, answer = self._request("GET", "/api/v2/alerts" + query)
        if status != 200:
            raise AssertionError(f"GET /api/v2/alerts answered {status}: {answer}")
        return answer

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no Alertmanager log)"
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last {len(text)} lines of {self.log_path} ---\n" + "\n".join(text)
