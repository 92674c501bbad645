import datetime

import pytest
from django.utils import timezone

from opsdesk.core import timers
from opsdesk.core.models import Timer

pytestmark = pytest.mark.django_db


@pytest.fixture
def ran():
    calls = []

    @timers.handler("test.ping")
    def ping(timer):
        calls.append(timer.payload["n"])

    @timers.handler("test.broken")
    def broken(timer):
        raise RuntimeError("boom")

    yield calls
    timers.HANDLERS.pop("test.ping", None)
    timers.HANDLERS.pop("test.broken", None)


def test_due_timers_run_once_in_due_order(ran):
    now = timezone.now()
    timers.schedule("test.ping", now + datetime.timedelta(minutes=5), payload={"n": 2})
    timers.schedule("test.ping", now + datetime.timedelta(minutes=1), payload={"n": 1})
    timers.schedule("test.ping", now + datetime.timedelta(hours=1), payload={"n": 3})
    assert timers.sweep(now=now) == 0
    assert timers.sweep(now=now + datetime.timedelta(minutes=10)) == 2
    assert ran == [1, 2]
    assert timers.sweep(now=now + datetime.timedelta(minutes=10)) == 0, "a done timer never runs again"
    assert Timer.objects.filter(status="pending").count() == 1


def test_failing_handler_is_retried_with_backoff_then_given_up(ran):
    now = timezone.now()
    timer = timers.schedule("test.broken", now)
    timers.schedule("test.ping", now, payload={"n": 7})
    timers.sweep(now=now)
    assert ran == [7], "one failing timer does not stop the others"
    timer.refresh_from_db()
    assert timer.status == "pending" and timer.attempts == 1 and "boom" in timer.last_error
    assert timer.due_at > now
    for day in range(1, timers.MAX_ATTEMPTS + 1):
        timers.sweep(now=now + datetime.timedelta(days=day))
    timer.refresh_from_db()
    assert timer.status == "failed"


def test_cancel(ran, team):
    timers.schedule("test.ping", timezone.now(), obj=team, payload={"n": 1})
    assert timers.cancel("test.ping", team) == 1
    assert timers.sweep() == 0 and ran == []
