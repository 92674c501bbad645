"""Fixtures for tests against real peers: Redis as the broker, a real Celery worker process on the
test database, an SMTP server and a webhook receiver on loopback.

They run when OPSDESK_TEST_BROKER_URL names a Redis database (e.g. redis://127.0.0.1:6379/15) and
skip otherwise (tests/conftest.py turns the skip into a failure when OPSDESK_REQUIRE_ALL=1).
Every run uses its own queue name, so messages left in Redis by an earlier run never reach this one.
"""

from __future__ import annotations

import json
import os
import uuid
from base64 import b64decode

import pytest

from tests.integration.peers import (
    WORKER_BASE_URL,
    SmtpServer,
    WebhookReceiver,
    Worker,
    wait_for,
    worker_database_url,
)

BROKER_URL = os.environ.get("OPSDESK_TEST_BROKER_URL", "")
WEBHOOK_SECRET = "integration-secret-" + uuid.uuid4().hex


class Broker:
    """What the tests need to know about the Redis broker: which messages wait in our queue."""

    def __init__(self, url: str, queue: str):
        import redis

        self.url, self.queue = url, queue
        self.client = redis.Redis.from_url(url)

    def waiting(self) -> list[dict]:
        """The task messages waiting in the queue (kombu's Redis transport keeps them in a list)."""
        found = []
        for raw in self.client.lrange(self.queue, 0, -1):
            message = json.loads(raw)
            args = json.loads(b64decode(message["body"]))[0] if message.get("body") else []
            found.append({"task": message["headers"]["task"], "args": args})
        return found

    def depth(self) -> int:
        return self.client.llen(self.queue)

    def remove_queue(self) -> None:
        """Delete this run's queue, its bindings and any unacknowledged message of a killed worker
        (Redis would otherwise restore it into the dead queue after the visibility timeout)."""
        keys = list(self.client.scan_iter(match=f"*{self.queue}*"))
        if keys:
            self.client.delete(*keys)
        for tag, raw in self.client.hgetall("unacked").items():
            try:
                _message, exchange, routing_key = json.loads(raw)
            except ValueError:
                continue
            if self.queue in (exchange, routing_key):
                self.client.hdel("unacked", tag)
                self.client.zrem("unacked_index", tag)
        self.client.close()


@pytest.fixture(scope="module")
def broker():
    if not BROKER_URL:
        pytest.skip("set OPSDESK_TEST_BROKER_URL (e.g. redis://127.0.0.1:6379/15) to run the real-worker tests")
    if not BROKER_URL.startswith(("redis://", "rediss://")):
        pytest.fail(f"OPSDESK_TEST_BROKER_URL must name a Redis database, not {BROKER_URL!r}")
    found = Broker(BROKER_URL, f"opsdesk-it-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    found.client.ping()  # configured but unreachable is an error, not a reason to skip
    yield found
    found.remove_queue()


@pytest.fixture(scope="module")
def smtp_server(broker):
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def webhook_receiver(broker):
    receiver = WebhookReceiver(secret=WEBHOOK_SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def worker(broker, smtp_server, django_db_setup, tmp_path_factory):
    """One worker process for the module (restarted by tests that kill it). It depends on
    django_db_setup, so it is stopped before pytest-django drops the test database."""
    from django.conf import settings
    from django.db import connection

    passthrough = {k: v for k, v in os.environ.items()
                   if not k.startswith(("OPSDESK_", "CELERY_", "DJANGO_")) and "proxy" not in k.lower()}
    env = {
        **passthrough,
        "DJANGO_SETTINGS_MODULE": "opsdesk.settings",
        "OPSDESK_DATA_DIR": str(settings.DATA_DIR),
        "OPSDESK_DATABASE_URL": worker_database_url(connection.settings_dict, os.environ.get("OPSDESK_DATABASE_URL")),
        "OPSDESK_BROKER_URL": broker.url,
        "OPSDESK_QUEUE": broker.queue,
        "OPSDESK_SMTP_HOST": smtp_server.host,
        "OPSDESK_SMTP_PORT": str(smtp_server.port),
        "OPSDESK_EMAIL_FROM": "opsdesk@example.test",
        "OPSDESK_BASE_URL": WORKER_BASE_URL,
        "OPSDESK_OUTBOUND_TIMEOUT_SECONDS": "10",
        "OPSDESK_LOG_LEVEL": "INFO",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    run_dir = tmp_path_factory.mktemp("worker")
    process = Worker(env=env, queue=broker.queue, log_path=run_dir / "worker.log", cwd=run_dir)
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture
def celery_on_broker(broker):
    """Point this process's Celery app at the real broker and queue (the test settings use an eager
    in-memory app), and put it back afterwards. `use(url)` re-points it mid-test."""
    from kombu import pools

    from opsdesk.celery import app

    keys = ("broker_url", "task_always_eager", "task_default_queue")
    saved = {key: getattr(app.conf, key) for key in keys}

    def use(url: str) -> None:
        app.conf.broker_url = url
        app.conf.task_always_eager = False
        app.conf.task_default_queue = broker.queue
        # The connection pool, queues and router are built lazily from the settings and then cached.
        app._pool = None
        app.__dict__.pop("amqp", None)

    use(broker.url)
    yield use
    for key, value in saved.items():
        setattr(app.conf, key, value)
    app._pool = None
    app.__dict__.pop("amqp", None)
    pools.reset()


class Peers:
    def __init__(self, broker, worker, webhook_receiver, smtp_server, use_broker):
        self.broker, self.worker, self.webhook, self.smtp = broker, worker, webhook_receiver, smtp_server
        self.mailbox = smtp_server.mailbox
        self.use_broker = use_broker

    def describe(self) -> str:
        from opsdesk.core.models import Delivery, JobRun, OutboxEvent

        lines = [self.webhook.describe(), self.mailbox.describe(),
                 f"queue {self.broker.queue}: {self.broker.waiting()}"]
        lines += [f"event {e.pk} {e.event_type} dispatched_at={e.dispatched_at}" for e in OutboxEvent.objects.all()]
        lines += [f"delivery {d.pk} {d.destination} {d.status} attempts={d.attempts} next={d.next_attempt_at} "
                  f"error={d.last_error!r}" for d in Delivery.objects.all()]
        lines += [f"job {j.task_name} {j.status} {j.error!r}" for j in JobRun.objects.order_by("started_at")]
        return "\n".join(lines) + "\n" + self.worker.tail(40)

    def wait_for(self, condition, what: str, timeout: float = 30.0):
        return wait_for(condition, what, timeout=timeout, diagnostics=self.describe)

    def wait_until_idle(self) -> None:
        """Nothing waiting in the queue and no task of the current worker still running, so the next
        test (and pytest-django's flush of the tables) starts from a quiet worker."""
        from opsdesk.core.models import JobRun

        if not self.worker.running:
            return
        self.wait_for(lambda: self.broker.depth() == 0
                      and not JobRun.objects.filter(status="running", started_at__gte=self.worker.started_at).exists(),
                      "the worker to become idle")


@pytest.fixture
def peers(transactional_db, broker, worker, webhook_receiver, smtp_server, celery_on_broker):
    """Everything a delivery test needs, reset for the test. Requests transactional_db first so the
    idle wait below runs before the tables are flushed."""
    if not worker.running:  # an earlier test killed it and failed before restarting it
        worker.start()
    webhook_receiver.reset()
    smtp_server.mailbox.reset()
    found = Peers(broker, worker, webhook_receiver, smtp_server, celery_on_broker)
    yield found
    webhook_receiver.reset()  # releases a stalled request
    found.wait_until_idle()
