import hashlib
import hmac
import http.server
import json
import threading

import pytest
from django.core import mail
from django.utils import timezone

from opsdesk.core import events, notifications
from opsdesk.core.actors import Actor
from opsdesk.core.models import Delivery, Notification, NotificationChannel, OutboxEvent, Subscription
from opsdesk.core.tasks import sweep_outbox
from opsdesk.services import services
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


class Receiver:
    """A real HTTP server on loopback that records webhook requests; answers `status`."""

    def __init__(self):
        self.requests = []
        self.status = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def create_service(team, django_capture_on_commit_callbacks, name="Shop"):
    with django_capture_on_commit_callbacks(execute=True):
        return services.create_service(actor=ACTOR, data={"name": name, "slug": name.lower(), "owner_team": team})


def test_event_reaches_a_signed_webhook_and_email_channel(team, receiver, django_capture_on_commit_callbacks):
    NotificationChannel.objects.create(name="hook", kind="webhook", target=receiver.url, secret="s3cret",
                                       event_types=["service.*"])
    NotificationChannel.objects.create(name="ops mail", kind="email", target="ops@example.com, lead@example.com",
                                       event_types=["service.created"])
    NotificationChannel.objects.create(name="other", kind="webhook", target=receiver.url, event_types=["team.*"])
    service = create_service(team, django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1, "only the matching webhook channel is called"
    headers, body = receiver.requests[0]
    expected = hmac.new(b"s3cret", headers["X-Opsdesk-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Opsdesk-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["event"] == "service.created"
    assert payload["object"]["repr"] == str(service)
    assert payload["object"]["url"].endswith(f"/services/{service.pk}/")
    assert headers["X-Opsdesk-Delivery"] == payload["id"]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com", "lead@example.com"]
    assert "service.created" in mail.outbox[0].subject
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_subscriptions_give_in_app_notifications_and_email(team, django_capture_on_commit_callbacks):
    fan = UserFactory(username="fan", email="fan@example.com")
    quiet = UserFactory(username="quiet")
    Subscription.objects.create(user=fan, event_type="service.*", in_app=True, email=True)
    Subscription.objects.create(user=quiet, event_type="team.*")
    service = create_service(team, django_capture_on_commit_callbacks)
    notification = Notification.objects.get(user=fan)
    assert notification.url == service.get_absolute_url() and notification.read_at is None
    assert not Notification.objects.filter(user=quiet).exists()
    assert [m.to for m in mail.outbox] == [["fan@example.com"]]


def test_dispatch_twice_adds_nothing(team, receiver, django_capture_on_commit_callbacks):
    NotificationChannel.objects.create(name="hook", kind="webhook", target=receiver.url, event_types=["*"])
    create_service(team, django_capture_on_commit_callbacks)
    event = OutboxEvent.objects.get(event_type="service.created")
    with django_capture_on_commit_callbacks(execute=True):
        events.dispatch(event.pk)
    assert Delivery.objects.filter(event=event).count() == 1
    assert len(receiver.requests) == 1


def test_failing_channel_never_blocks_the_write_and_is_retried(team, receiver, django_capture_on_commit_callbacks):
    receiver.status = 500
    NotificationChannel.objects.create(name="hook", kind="webhook", target=receiver.url, event_types=["*"])
    service = create_service(team, django_capture_on_commit_callbacks)
    assert service.pk is not None
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "HTTP 500" in delivery.last_error and delivery.next_attempt_at > timezone.now()
    assert notifications.deliver(delivery.pk) == "skipped", "not due yet: back-off is respected"
    receiver.status = 200
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_outbox() == {"events": 0, "deliveries": 1}
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2
    assert len({h["X-Opsdesk-Delivery"] for h, _ in receiver.requests}) == 1, "retries keep the idempotency key"


def test_delivery_gives_up_after_the_backoff_schedule(team, settings, django_capture_on_commit_callbacks):
    settings.OUTBOX_RETRY_BACKOFF_SECONDS = [1, 1]
    NotificationChannel.objects.create(name="dead end", kind="webhook", target="http://127.0.0.1:9/x",
                                       event_types=["*"])
    create_service(team, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    for _ in range(3):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        notifications.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "dead" and delivery.attempts == 3


def test_invalid_apprise_url_is_recorded_not_raised(team, django_capture_on_commit_callbacks):
    NotificationChannel.objects.create(name="chat", kind="apprise", target="notaservice://nothing",
                                       event_types=["*"])
    create_service(team, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and "not valid" in delivery.last_error


def test_apprise_channel_posts_to_a_json_endpoint(team, receiver, django_capture_on_commit_callbacks):
    # Apprise's generic JSON service ("json://host:port/path") stands in for Slack, Teams, Mattermost ...
    target = receiver.url.replace("http://", "json://")
    NotificationChannel.objects.create(name="chat", kind="apprise", target=target, event_types=["*"])
    create_service(team, django_capture_on_commit_callbacks, name="Mail")
    assert Delivery.objects.get().status == "sent"
    body = json.loads(receiver.requests[0][1])
    assert "service.created" in body["title"] and "Mail" in body["title"]


def test_sweeper_dispatches_events_the_broker_lost(team):
    # No on_commit execution here: as if the broker was down when the write committed.
    services.create_service(actor=ACTOR, data={"name": "Lost", "slug": "lost", "owner_team": team})
    event = OutboxEvent.objects.get(event_type="service.created")
    assert event.dispatched_at is None
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timezone.timedelta(minutes=5))
    assert sweep_outbox()["events"] == 1
    event.refresh_from_db()
    assert event.dispatched_at is not None


def test_channel_test_goes_only_to_that_channel(team, receiver, django_capture_on_commit_callbacks):
    from opsdesk.core.channels import send_test

    everything = NotificationChannel.objects.create(name="all", kind="webhook", target=receiver.url,
                                                    event_types=["*"])
    mailer = NotificationChannel.objects.create(name="mail", kind="email", target="ops@example.com")
    fan = UserFactory(username="fan2")
    Subscription.objects.create(user=fan, event_type="*")
    with django_capture_on_commit_callbacks(execute=True):
        send_test(mailer, actor=ACTOR)
    assert receiver.requests == [] and not Notification.objects.exists()
    assert [d.channel for d in Delivery.objects.all()] == [mailer], f"not sent to {everything}"


def test_old_delivered_events_are_pruned_pending_ones_kept(team, receiver, django_capture_on_commit_callbacks):
    from opsdesk.core.tasks import prune_outbox

    NotificationChannel.objects.create(name="hook", kind="webhook", target=receiver.url, event_types=["*"])
    create_service(team, django_capture_on_commit_callbacks, name="Old")
    receiver.status = 500
    create_service(team, django_capture_on_commit_callbacks, name="Stuck")
    OutboxEvent.objects.update(created_at=timezone.now() - timezone.timedelta(days=120))
    assert prune_outbox() == 2  # the sent event and its delivery
    remaining = list(OutboxEvent.objects.values_list("object_repr", flat=True))
    assert len(remaining) == 1 and "Stuck" in remaining[0], "an event with a pending delivery is kept"


def test_one_transaction_hands_its_events_to_the_worker_in_one_message(team, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    """A transaction that emits many events (a demo load, an import) sends one broker message, not one
    per event; a transaction with one event keeps the single-event task; a rolled-back savepoint's
    events are not dispatched."""
    from django.db import transaction

    sent = []
    real_enqueue = events.enqueue
    monkeypatch.setattr(events, "enqueue", lambda name, *args: (sent.append((name, args)), real_enqueue(name, *args)))
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            first = services.create_service(actor=ACTOR, data={"name": "A", "slug": "a", "owner_team": team})
            services.create_service(actor=ACTOR, data={"name": "B", "slug": "b", "owner_team": team})
            try:
                with transaction.atomic():
                    services.create_service(actor=ACTOR, data={"name": "C", "slug": "c", "owner_team": team})
                    raise RuntimeError("roll this savepoint back")
            except RuntimeError:
                pass
            services.activate_service(first, actor=ACTOR)
    dispatches = [(name, args) for name, args in sent if "dispatch" in name]
    assert [name for name, _args in dispatches] == ["opsdesk.core.tasks.dispatch_events"]
    assert len(dispatches[0][1][0]) == 4  # three kept events and the rolled-back one's id
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    assert OutboxEvent.objects.count() == 3
    sent.clear()
    create_service(team, django_capture_on_commit_callbacks, name="Single")
    assert [name for name, _args in sent if "dispatch" in name] == ["opsdesk.core.tasks.dispatch_event"]
