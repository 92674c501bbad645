"""Alert intake against real peers: the Prometheus Alertmanager binary (Debian's 0.25) posting its
webhooks to a live Opsdesk server, and the payloads processed by a real Celery worker on Redis.

What a user would check (issue 5): Opsdesk computes an alert's fingerprint as Alertmanager does; the
firing webhook of a group opens one incident, Alertmanager's repeats are counted and not duplicated,
the resolved webhook resolves the incident (acceptance 1); the events API does the same through a
real worker; a silence made before the alert fires keeps the incident and the page away while the
alert is still listed (acceptance 2).

The worker is another process: these tests wait for the database to show its work (short polls,
never a fixed sleep); Alertmanager's own timers are set to a second.
"""

from __future__ import annotations

import datetime
import json
import shutil
import urllib.error
import urllib.request

import pytest
from django.urls import reverse
from django.utils import timezone

from opsdesk.alerts.fingerprint import fingerprint
from opsdesk.alerts.models import Alert, AlertGroup, RawPayload
from opsdesk.core.actors import Actor
from opsdesk.incidents.models import Incident
from tests.alerts.factories import make_integration
from tests.integration.peers import ALERTMANAGER_BINARY, Alertmanager, free_port, wait_for

pytestmark = pytest.mark.integration
# The tests with a live server and the worker commit for real (another process reads their rows).
with_worker = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("integration-test")


def _require_alertmanager():
    if not shutil.which(ALERTMANAGER_BINARY):
        pytest.skip(f"{ALERTMANAGER_BINARY} is missing: apt-get install -y prometheus-alertmanager")


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def ingest_url(live_server, kind: str, key: str) -> str:
    return live_server.url + reverse("alerts_ingest", kwargs={"kind": kind, "key": key})


_SERVED: set[int] = set()  # worker generations that processed a test's payloads


@pytest.fixture
def peers(peers):
    """The peers of tests/integration/conftest.py, with a worker that has served no earlier test.

    A worker process caches content type ids (ContentType.objects), and the flush after each
    transactional test creates the content types anew with new ids: a worker that served an earlier
    test would write change-log rows and events with ids that no longer exist (a foreign key error
    on commit). So a worker that served a test is restarted (about 5 s)."""
    if peers.worker.generation in _SERVED:
        peers.worker.stop()
        peers.worker.start()
    _SERVED.add(peers.worker.generation)
    return peers


@pytest.fixture
def start_alertmanager(tmp_path):
    """`start_alertmanager(webhook_url, **timings)` -> a running Alertmanager, stopped after the test.

    Requested after `peers` by the tests that use both, so it is stopped before the peers fixture
    waits for the worker to become idle (a running Alertmanager would keep sending webhooks)."""
    _require_alertmanager()
    started = []

    def start(webhook_url: str, **options) -> Alertmanager:
        manager = Alertmanager(webhook_url=webhook_url, work_dir=tmp_path / f"alertmanager-{len(started)}", **options)
        started.append(manager)
        return manager.start()

    yield start
    for manager in started:
        manager.stop()


def describe(manager: Alertmanager | None = None) -> str:
    lines = [f"payload {p.pk} processed_at={p.processed_at} error={p.error!r} events={len(p.events)}"
             for p in RawPayload.objects.order_by("pk")]
    lines += [f"alert {a.fingerprint} {a.status} repeats={a.repeat_count} group={a.group_id} "
              f"suppressed={a.suppressed!r}" for a in Alert.objects.order_by("pk")]
    lines += [f"group {g.pk} {g.status} open={g.is_open} incident={g.incident_id} key={g.group_key!r}"
              for g in AlertGroup.objects.order_by("pk")]
    lines += [f"incident {i.number} {i.status} {i.title!r}" for i in Incident.objects.order_by("pk")]
    return "\n".join(lines) + ("\n" + manager.tail(30) if manager else "")


# --- 1. fingerprints -------------------------------------------------------------------------------------

LABEL_SETS = {
    "one label": {"alertname": "Up"},
    "typical": {"alertname": "DiskFull", "instance": "db-1.example.com:9100", "job": "node", "severity": "critical",
                "mountpoint": "/var/lib/postgresql"},
    "unicode values": {"alertname": "Überlast", "summary": "日本語の説明 ✓", "emoji": "🔥 on fire",
                       "quote": 'a "b" \\c'},
    # Go sorts names by bytes: upper case before "_" before lower case; prefixes before longer names.
    "names that sort interestingly": {"a": "1", "B": "2", "_z": "3", "aa": "4", "a_": "5", "A": "6", "Z9": "7",
                                       "z": "8", "alertname": "Sorting"},
    "values with separators and spaces": {"alertname": "Sep", "path": "/a/b c", "tab": "x\ty", "newline": "1\n2",
                                          "latin1": "\xff\xfe"},
    "many labels": {"alertname": "Many", **{f"label_{i:03d}": f"value {i}" for i in range(60)}},
    "long value": {"alertname": "Long", "description": "x" * 1500},
}


def test_fingerprints_match_those_of_the_real_alertmanager(start_alertmanager):
    # Nothing is notified in this test: a long group_wait, and a receiver nobody listens on.
    manager = start_alertmanager(f"http://127.0.0.1:{free_port()}/unused", group_wait="1h")
    alerts = [{"labels": labels, "annotations": {"case": name}} for name, labels in LABEL_SETS.items()]
    manager.post_alerts(alerts)

    held = {alert["annotations"]["case"]: alert for alert in manager.alerts()}

    assert set(held) == set(LABEL_SETS)
    for name, labels in LABEL_SETS.items():
        assert held[name]["labels"] == labels, name
        assert fingerprint(labels) == held[name]["fingerprint"], name
    assert len({alert["fingerprint"] for alert in held.values()}) == len(LABEL_SETS)


def test_a_label_with_an_empty_value_counts_as_absent_as_in_alertmanager(start_alertmanager):
    """Alertmanager (like Prometheus) drops empty-valued labels before it fingerprints: `env=""` is
    the same alert as no `env` at all, so a source that sends the empty label dedups with one that
    leaves it out."""
    manager = start_alertmanager(f"http://127.0.0.1:{free_port()}/unused", group_wait="1h")
    posted = {"alertname": "EmptyValue", "instance": "web-1", "env": ""}
    manager.post_alerts([{"labels": posted}])

    [held] = manager.alerts()

    assert held["labels"] == {"alertname": "EmptyValue", "instance": "web-1"}
    assert fingerprint(posted) == held["fingerprint"]


# --- 2. acceptance 1: Alertmanager's firing, repeated and resolved webhooks ------------------------------


@with_worker
def test_alertmanager_group_opens_one_incident_counts_repeats_and_resolves_it(peers, live_server,
                                                                            start_alertmanager):
    integration, key = make_integration("alertmanager", name="Prometheus production",
                                        severity_map={"critical": "P1", "warning": "P3"})
    # repeat_interval 1s: Alertmanager sends the unchanged group again every second, as it would
    # every few hours in production.
    manager = start_alertmanager(ingest_url(live_server, "alertmanager", key), repeat_interval="1s")
    started = timezone.now() - datetime.timedelta(minutes=2)
    alerts = [
        {"labels": {"alertname": "HighErrorRate", "cluster": "eu-1", "instance": f"api-{n}:8080",
                    "severity": "critical"},
         "annotations": {"summary": f"5xx above 5 % on api-{n}"}, "startsAt": iso(started),
         "generatorURL": "http://prometheus.example.com/graph?g0.expr=rate"}
        for n in (1, 2)
    ]
    # Another cluster is another group of the same alert name: its own incident.
    other = {"labels": {"alertname": "HighErrorRate", "cluster": "us-1", "instance": "api-9:8080",
                        "severity": "warning"}, "startsAt": iso(started)}

    def wait(condition, what):
        return wait_for(condition, what, timeout=30, diagnostics=lambda: describe(manager) + "\n" + peers.describe())

    manager.post_alerts([*alerts, other])
    fingerprints = {alert["labels"]["instance"]: alert["fingerprint"] for alert in manager.alerts()}

    wait(lambda: Incident.objects.count() == 2 and Alert.objects.count() == 3, "two incidents for the two groups")
    group = AlertGroup.objects.get(group_key__contains='cluster="eu-1"')
    incident = group.incident
    assert incident is not None and incident.source == "alert"
    assert incident.priority == "P1"
    assert set(group.alerts.values_list("fingerprint", flat=True)) == {fingerprints["api-1:8080"],
                                                                       fingerprints["api-2:8080"]}
    assert set(Alert.objects.values_list("fingerprint", flat=True)) == set(fingerprints.values())
    assert group.alerts.filter(status="firing").count() == 2

    # Prometheus keeps evaluating the rule and posts the same alerts again; Alertmanager re-sends the
    # group. Every repeat is counted on the alert, nothing is created twice.
    manager.post_alerts(alerts)
    wait(lambda: all(a.repeat_count >= 2 for a in group.alerts.all()), "Alertmanager's repeats to be counted")
    assert Alert.objects.filter(integration=integration).count() == 3
    assert AlertGroup.objects.filter(integration=integration).count() == 2
    assert Incident.objects.count() == 2
    incident.refresh_from_db()
    assert incident.status not in ("resolved", "closed")

    # The rule stops firing: Prometheus sends the alerts with endsAt in the past, Alertmanager sends
    # the resolved webhook (send_resolved: true) and the incident is resolved.
    ended = iso(timezone.now() - datetime.timedelta(seconds=5))
    manager.post_alerts([{**alert, "endsAt": ended} for alert in alerts])
    wait(lambda: Incident.objects.get(pk=incident.pk).status == "resolved", "the resolved webhook to resolve it")

    group.refresh_from_db()
    assert (group.status, group.is_open) == ("resolved", False)
    assert set(group.alerts.values_list("status", flat=True)) == {"resolved"}
    assert Alert.objects.filter(integration=integration).count() == 3
    assert Incident.objects.count() == 2
    # The other cluster's group still fires: its incident stays open.
    other_group = AlertGroup.objects.get(group_key__contains='cluster="us-1"')
    assert other_group.is_open and other_group.incident.status not in ("resolved", "closed")
    assert not RawPayload.objects.exclude(error="").exists()
    manager.stop()  # before the worker is asked to become idle


# --- 3. the events API through a real worker -------------------------------------------------------------


@with_worker
def test_events_api_trigger_repeat_acknowledge_resolve_through_a_real_worker(peers, live_server):
    integration, key = make_integration("events", name="Uptime checks")
    url = ingest_url(live_server, "events", key)
    trigger = {"routing_key": "ignored", "event_action": "trigger", "dedup_key": "checkout-down",
               "payload": {"summary": "Checkout answers 503", "severity": "critical", "source": "uptime-probe-3",
                           "component": "checkout", "custom_details": {"status": 503}}}

    def send(body) -> RawPayload:
        status, answer = post_json(url, body)
        assert status == 202, answer
        assert answer["status"] == "accepted" and answer["alerts"] == 1
        # The request only stored the payload; the worker on Redis processes it.
        return wait_for(lambda: RawPayload.objects.filter(pk=answer["payload"], processed_at__isnull=False).first(),
                        f"payload {answer['payload']} to be processed by the worker", timeout=30,
                        diagnostics=lambda: describe() + "\n" + peers.describe())

    payload = send(trigger)
    assert payload.error == ""
    alert = Alert.objects.get(integration=integration)
    assert (alert.fingerprint, alert.status, alert.repeat_count) == ("checkout-down", "firing", 0)
    incident = alert.group.incident
    assert incident is not None and incident.status == "new"

    send(trigger)
    alert.refresh_from_db()
    assert alert.repeat_count == 1
    assert Alert.objects.count() == 1 and Incident.objects.count() == 1

    send({"event_action": "acknowledge", "dedup_key": "checkout-down"})
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert incident.acknowledged_at is not None

    send({"event_action": "resolve", "dedup_key": "checkout-down"})
    alert.refresh_from_db()
    incident.refresh_from_db()
    assert alert.status == "resolved"
    assert incident.status == "resolved"
    assert Alert.objects.count() == 1 and AlertGroup.objects.count() == 1 and Incident.objects.count() == 1
    assert not RawPayload.objects.exclude(error="").exists()


# --- 4. acceptance 2: a silence made before the alert fires ----------------------------------------------


@with_worker
def test_silence_made_before_the_alert_fires_keeps_incident_and_page_away(peers, live_server, start_alertmanager,
                                                                          users, api):
    from opsdesk.alerts import services as alert_services
    from opsdesk.oncall import tasks as oncall_tasks
    from opsdesk.oncall.models import EscalationPolicy, EscalationRun, Page

    integration, key = make_integration("alertmanager", name="Prometheus staging")
    policy = EscalationPolicy.objects.create(name="Page the responder", slug="page-responder")
    step = policy.steps.create(position=0, kind="notify_users", wait_minutes=0)
    step.users.add(users["responder"])
    alert_services.create_route(actor=ACTOR, data={"name": "Everything", "order": 1, "escalation_policy": policy})
    silence = alert_services.create_silence(actor=Actor.for_user(users["responder"]), data={
        "matchers": [{"label": "env", "op": "=", "value": "staging"}],
        "starts_at": timezone.now() - datetime.timedelta(minutes=1),
        "ends_at": timezone.now() + datetime.timedelta(hours=2),
        "comment": "Load test of the staging cluster tonight"})
    manager = start_alertmanager(ingest_url(live_server, "alertmanager", key))
    started = iso(timezone.now() - datetime.timedelta(seconds=30))
    silenced = {"labels": {"alertname": "NodeDown", "cluster": "staging-1", "env": "staging", "instance": "st-4"},
                "annotations": {"summary": "st-4 is down"}, "startsAt": started}
    # A control alert of another group, not silenced: without it "no incident" could also mean "the
    # webhook never arrived".
    control = {"labels": {"alertname": "NodeDown", "cluster": "prod-1", "env": "production", "instance": "pr-7"},
               "annotations": {"summary": "pr-7 is down"}, "startsAt": started}

    manager.post_alerts([silenced, control])

    wait_for(lambda: Alert.objects.count() == 2 and Incident.objects.count() == 1
             and not RawPayload.objects.filter(processed_at__isnull=True).exists(),
             "both groups' webhooks to be processed", timeout=30,
             diagnostics=lambda: describe(manager) + "\n" + peers.describe())
    manager.stop()  # no more webhooks: what is stored now is final
    quiet = Alert.objects.get(labels__instance="st-4")
    loud = Alert.objects.get(labels__instance="pr-7")
    assert (quiet.suppressed, quiet.silence_id, quiet.status) == ("silence", silence.pk, "firing")
    assert quiet.group is None or quiet.group.incident is None
    assert loud.suppressed == "" and loud.group.incident is not None
    # The control incident is paged through the route's policy (beat's escalation sweep, asked of the
    # worker as beat would ask it); the silenced alert pages no one.
    [run] = EscalationRun.objects.all()
    assert run.incident == loud.group.incident
    oncall_tasks.sweep_escalations.delay()
    page = wait_for(lambda: Page.objects.first(), "the escalation sweep to page the responder", timeout=30,
                    diagnostics=peers.describe)
    assert (page.run_id, page.user) == (run.pk, users["responder"])
    peers.wait_until_idle()
    assert Page.objects.count() == 1

    # The silenced alert is still listed, marked as silenced.
    response = api(users["viewer"]).get("/api/v1/alerts/alerts/", {"suppressed": "silence"})
    assert response.status_code == 200, response.content
    listed = response.json()["results"]
    assert [row["fingerprint"] for row in listed] == [quiet.fingerprint]
