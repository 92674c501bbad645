"""Notifications end to end with real peers: a write through the service layer, the outbox, Redis,
a real Celery worker process, an SMTP server and a webhook receiver that checks signatures.

What a user would check: the webhook and the email arrive, signed and addressed as documented; a
crashed worker, a failing receiver or a broker outage delays a notification but never loses it,
never sends it twice, and never blocks or undoes the write that caused it.
"""

import datetime
import logging
import threading

import pytest
from django.utils import timezone

from opsdesk.core import events, notifications, tasks
from opsdesk.core.actors import Actor
from opsdesk.core.models import Delivery, JobRun, NotificationChannel, OutboxEvent
from opsdesk.services import services
from opsdesk.services.models import Service
from tests.accounts.factories import TeamFactory
from tests.integration.peers import WORKER_BASE_URL

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ACTOR = Actor.system("integration-test")
DISPATCH = "opsdesk.core.tasks.dispatch_event"
DELIVER = "opsdesk.core.tasks.deliver"
SWEEP = "opsdesk.core.tasks.sweep_outbox"


def webhook_channel(peers) -> NotificationChannel:
    return NotificationChannel.objects.create(name="Ops webhook", kind="webhook", target=peers.webhook.url,
                                              secret=peers.webhook.secret, event_types=["service.*"])


def create_service(name="Online Shop", slug="online-shop") -> Service:
    return services.create_service(actor=ACTOR, data={"name": name, "slug": slug, "owner_team": TeamFactory()})


def event_for(service) -> OutboxEvent:
    return OutboxEvent.objects.get(event_type="service.created", object_id=service.pk)


def sent(channel):
    return lambda: Delivery.objects.filter(channel=channel, status="sent").first()


def finished_runs(task_name: str) -> int:
    return JobRun.objects.filter(task_name=task_name, status="succeeded").count()


def lease_runs_out(delivery) -> None:
    """Instead of waiting for the lease or the back-off: move the delivery's next attempt into the past."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))


def sweep(peers) -> None:
    """What beat does every minute: ask a worker to run the outbox sweeper, and wait until it has."""
    before = finished_runs(SWEEP)
    tasks.sweep_outbox.delay()
    peers.wait_for(lambda: finished_runs(SWEEP) > before, "the outbox sweep to run on the worker")


def test_created_service_is_announced_by_a_signed_webhook_and_an_email(peers):
    hook = webhook_channel(peers)
    mail = NotificationChannel.objects.create(name="Ops mail", kind="email", target="oncall@example.com",
                                              event_types=["service.*"])
    NotificationChannel.objects.create(name="Changes only", kind="webhook", target=peers.webhook.url,
                                       secret=peers.webhook.secret, event_types=["change.*"])

    service = create_service()

    peers.wait_for(lambda: Delivery.objects.filter(status="sent").count() == 2, "both deliveries to be sent")
    assert Delivery.objects.count() == 2  # the channel for change.* events was not asked
    hook_delivery, mail_delivery = Delivery.objects.get(channel=hook), Delivery.objects.get(channel=mail)
    for delivery in (hook_delivery, mail_delivery):
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
        assert delivery.delivered_at is not None

    key = str(hook_delivery.idempotency_key)
    assert peers.webhook.rejected == []  # the signature verified
    assert peers.webhook.count(key) == 1
    [request] = peers.webhook.requests
    assert request.event == "service.created"
    body = peers.webhook.processed[key]
    assert body["id"] == key
    assert body["event"] == "service.created"
    assert body["actor"] == "system:integration-test"
    assert body["object"] == {"type": "services.service", "id": service.pk, "repr": str(service),
                              "url": WORKER_BASE_URL + service.get_absolute_url()}

    [received] = peers.mailbox.received()
    assert received.rcpt_tos == ["oncall@example.com"]
    assert received.mail_from == "opsdesk@example.test"
    assert received.message["To"] == "oncall@example.com"
    assert received.message["Subject"] == f"[Opsdesk] service.created: {service}"
    assert received.message["X-Opsdesk-Delivery"] == str(mail_delivery.idempotency_key)
    text = received.message.get_content()
    assert f"Record: {service}" in text and "By: system:integration-test" in text
    assert f"Open: {WORKER_BASE_URL}{service.get_absolute_url()}" in text


def test_event_waits_in_redis_while_the_worker_is_down_and_is_delivered_once_after_restart(peers):
    channel = webhook_channel(peers)
    peers.worker.kill()  # SIGKILL: no warm shutdown

    service = create_service()

    event = event_for(service)
    # The write is committed, and its event went to Redis (not to an in-process eager run).
    assert Service.objects.filter(pk=service.pk).exists()
    assert peers.broker.waiting() == [{"task": DISPATCH, "args": [event.pk]}]
    assert event.dispatched_at is None and not Delivery.objects.exists()

    peers.worker.start()

    delivery = peers.wait_for(sent(channel), "the webhook delivery to be sent by the new worker")
    assert delivery.attempts == 1
    sweep(peers)  # a later sweep finds nothing left to send
    assert peers.webhook.count(delivery.idempotency_key) == 1
    assert peers.webhook.rejected == []


def test_delivery_claimed_by_a_dead_worker_is_sent_once_after_its_lease_expires(peers):
    channel = webhook_channel(peers)
    peers.worker.kill()
    service = create_service()
    # A worker dispatched the event, took the lease on the delivery and died before sending.
    events.dispatch(event_for(service).pk)
    delivery = Delivery.objects.get(channel=channel)
    assert notifications.claim(delivery.pk)

    peers.worker.start()

    # The new worker runs the waiting messages (the dispatch, and the delivery it queues again) but
    # leaves a delivery alone while somebody else's lease on it runs.
    peers.wait_for(lambda: finished_runs(DISPATCH) == 1 and finished_runs(DELIVER) == 2,
                   "the waiting dispatch and delivery messages to run")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert peers.webhook.count(delivery.idempotency_key) == 0

    lease_runs_out(delivery)
    sweep(peers)

    delivery = peers.wait_for(sent(channel), "the sweeper to re-send the delivery after the lease")
    assert delivery.attempts == 2
    sweep(peers)
    assert peers.webhook.count(delivery.idempotency_key) == 1  # exactly one receipt for this idempotency key
    assert len(peers.webhook.requests) == 1 and peers.webhook.rejected == []


def test_worker_killed_while_sending_is_resent_with_the_same_idempotency_key(peers):
    channel = webhook_channel(peers)
    peers.webhook.stall = threading.Event()  # the receiver holds its answer: the worker waits for it
    create_service()
    peers.wait_for(lambda: sum(peers.webhook.receipts.values()) == 1, "the worker to start sending")
    delivery = Delivery.objects.get(channel=channel)
    key = str(delivery.idempotency_key)

    peers.worker.kill()  # the receiver got the request; the sender never learns the answer
    peers.webhook.stall.set()
    peers.wait_for(lambda: key in peers.webhook.processed, "the receiver to process the first request")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)

    lease_runs_out(delivery)
    peers.worker.start()
    sweep(peers)

    delivery = peers.wait_for(sent(channel), "the delivery to be sent again after the lease ran out")
    assert delivery.attempts == 2
    # At least once on the wire, once in effect: the repeat carries the same key and is dropped.
    assert peers.webhook.count(key) == 2
    assert [r.delivery_id for r in peers.webhook.requests] == [key, key]
    assert list(peers.webhook.processed) == [key]
    assert peers.webhook.requests[0].body == peers.webhook.requests[1].body
    assert peers.webhook.rejected == []


def test_failing_webhook_keeps_the_write_and_is_retried_until_the_receiver_recovers(peers):
    channel = webhook_channel(peers)
    peers.webhook.fail_with = 500

    service = create_service()

    delivery = peers.wait_for(
        lambda: Delivery.objects.filter(channel=channel, attempts=1).exclude(last_error="").first(),
        "the first attempt to fail",
    )
    assert Service.objects.filter(pk=service.pk, name="Online Shop").exists()  # the write stands
    assert delivery.status == "pending"
    assert "HTTP 500" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()  # backs off instead of hammering the receiver
    key = str(delivery.idempotency_key)
    assert peers.webhook.count(key) == 1 and peers.webhook.processed == {}

    peers.webhook.fail_with = None  # the receiver recovers
    lease_runs_out(delivery)  # and the back-off is over
    sweep(peers)

    delivery = peers.wait_for(sent(channel), "the retry to be sent")
    assert (delivery.attempts, delivery.last_error) == (2, "")
    assert [r.answered for r in peers.webhook.requests] == [500, 200]
    assert peers.webhook.count(key) == 2 and list(peers.webhook.processed) == [key]
    assert peers.webhook.rejected == []


def test_write_succeeds_while_the_broker_is_down_and_the_sweeper_delivers_later(peers, caplog):
    channel = webhook_channel(peers)
    peers.use_broker("redis://127.0.0.1:1/0")  # nothing listens there

    with caplog.at_level(logging.WARNING, logger="opsdesk.core.events"):
        service = create_service()

    assert Service.objects.filter(pk=service.pk).exists()  # the write was not blocked
    assert f"could not enqueue {DISPATCH}" in caplog.text
    event = event_for(service)
    assert event.dispatched_at is None
    assert peers.broker.depth() == 0 and not Delivery.objects.exists()

    peers.use_broker(peers.broker.url)  # the broker is back
    # The sweeper leaves events younger than its grace period to the normal path; let that pass.
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=2))
    sweep(peers)

    delivery = peers.wait_for(sent(channel), "the swept event to be delivered")
    event.refresh_from_db()
    assert event.dispatched_at is not None
    assert peers.webhook.count(delivery.idempotency_key) == 1
    assert peers.webhook.rejected == []


def test_worker_records_a_job_run_for_each_task(peers):
    channel = webhook_channel(peers)

    create_service()

    peers.wait_for(sent(channel), "the delivery to be sent")
    peers.wait_for(lambda: finished_runs(DISPATCH) == 1 and finished_runs(DELIVER) == 1,
                   "the job runs of the dispatch and the delivery to finish")
    runs = list(JobRun.objects.order_by("started_at"))
    assert [(r.task_name, r.status) for r in runs] == [(DISPATCH, "succeeded"), (DELIVER, "succeeded")]
    for run in runs:
        assert run.task_id and run.error == ""
        assert run.finished_at is not None and run.finished_at >= run.started_at
        assert run.duration_ms is not None
    assert runs[0].task_id != runs[1].task_id
