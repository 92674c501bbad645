"""The ingest endpoints: POST /api/v1/integrations/<kind>/<key>/ and /api/v1/integrations/heartbeat/<key>/."""

import hashlib
import hmac
import io
import json
import time

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from opsdesk.alerts import intake_views
from opsdesk.alerts.integrations import rotate_key, set_bearer_token, update_integration
from opsdesk.alerts.models import Integration, RawPayload
from opsdesk.core.actors import Actor
from tests.alerts.factories import make_integration
from tests.alerts.test_intake import alertmanager_body, grafana_body, trigger

ACTOR = Actor.system("test")


def url(kind, key):
    return f"/api/v1/integrations/{kind}/{key}/"


def post(client, kind, key, body, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(url(kind, key), raw, content_type="application/json", **headers)


@pytest.fixture
def alertmanager(db):
    return make_integration("alertmanager")


def test_accepted_payload_is_stored_and_queued(client, alertmanager, django_capture_on_commit_callbacks):
    integration, key = alertmanager
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, "alertmanager", key, alertmanager_body())
    assert response.status_code == 202
    payload = RawPayload.objects.get()
    assert response.json() == {"status": "accepted", "payload": payload.pk, "alerts": 2}
    assert payload.integration == integration and payload.event_count == 2 and payload.processed_at is None
    assert payload.events[0]["fingerprint"] == "c626d2275ab0f610"
    assert json.loads(payload.body)["groupKey"] == alertmanager_body()["groupKey"]
    assert payload.size == len(payload.body.encode()) and payload.content_type == "application/json"
    assert len(callbacks) == 1  # processing is asked for after commit
    integration.refresh_from_db()
    assert integration.last_alert_at == payload.received_at == integration.last_heartbeat_at


def test_grafana_and_events(client, db):
    _grafana, grafana_key = make_integration("grafana")
    assert post(client, "grafana", grafana_key, grafana_body()).status_code == 202
    _events, events_key = make_integration("events")
    response = post(client, "events", events_key, {**trigger(), "dedup_key": "db-2/lag"})
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "db-2/lag" and response.json()["alerts"] == 1
    assert RawPayload.objects.count() == 2


@pytest.mark.parametrize(("raw", "code", "field"), [
    (b"{not json", "invalid_json", "body"),
    (json.dumps({"alerts": [{"status": "firing", "labels": {"port": 9100}}]}).encode(), "invalid_payload",
     "alerts[0].labels"),
    (json.dumps({"groupKey": "x"}).encode(), "invalid_payload", "alerts"),
    (b"[1, 2]", "invalid_payload", "body"),
])
def test_malformed_payload_is_400_and_stores_nothing(client, alertmanager, raw, code, field):
    integration, key = alertmanager
    response = post(client, "alertmanager", key, raw)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and field in error["fields"]
    assert RawPayload.objects.count() == 0
    integration.refresh_from_db()
    assert integration.last_alert_at is None


def test_unknown_key_disabled_integration_and_wrong_kind_are_404(client, alertmanager):
    integration, key = alertmanager
    for kind, used_key in (("alertmanager", "no-such-key"), ("grafana", key), ("email", key), ("nonsense", key)):
        response = post(client, kind, used_key, alertmanager_body())
        assert response.status_code == 404, kind
        assert response.json()["error"]["code"] == "not_found"
    update_integration(integration, actor=ACTOR, data={"enabled": False})
    assert post(client, "alertmanager", key, alertmanager_body()).status_code == 404
    assert RawPayload.objects.count() == 0


def test_rotated_key_stops_working_at_once_despite_the_cache(client, alertmanager):
    integration, key = alertmanager
    assert post(client, "alertmanager", key, alertmanager_body()).status_code == 202  # now cached
    new_key = rotate_key(integration, actor=ACTOR)
    assert post(client, "alertmanager", key, alertmanager_body()).status_code == 404
    assert post(client, "alertmanager", new_key, alertmanager_body()).status_code == 202


def test_get_is_405(client, alertmanager):
    _integration, key = alertmanager
    response = client.get(url("alertmanager", key))
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_needs_no_csrf_token(alertmanager):
    from django.test import Client

    _integration, key = alertmanager
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, "alertmanager", key, alertmanager_body()).status_code == 202


def test_too_large_is_413_and_stores_nothing(client, alertmanager, settings):
    _integration, key = alertmanager
    raw = json.dumps(alertmanager_body()).encode()
    settings.ALERTS_MAX_PAYLOAD_BYTES = len(raw) - 1
    response = post(client, "alertmanager", key, raw)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    settings.ALERTS_MAX_PAYLOAD_BYTES = len(raw)
    assert post(client, "alertmanager", key, raw).status_code == 202
    assert RawPayload.objects.count() == 1


class ExplodingStream(io.RawIOBase):
    """A request body that fails the test when read."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def test_413_reads_none_of_the_body(alertmanager, settings):
    _integration, key = alertmanager
    settings.ALERTS_MAX_PAYLOAD_BYTES = 1000
    request = RequestFactory().generic("POST", url("alertmanager", key), b"", content_type="application/json")
    request.META["CONTENT_LENGTH"] = str(50 * 1024 * 1024)
    request.META["wsgi.input"] = ExplodingStream()
    request._stream = ExplodingStream()
    response = intake_views.ingest(request, "alertmanager", key)
    assert response.status_code == 413


def sign(secret: str, body: bytes, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_OPSDESK_TIMESTAMP": timestamp, "HTTP_X_OPSDESK_SIGNATURE": f"sha256={digest}"}


def test_hmac_signature(client, db):
    _integration, key = make_integration("alertmanager", hmac_secret="s3cret-shared-with-alertmanager")
    raw = json.dumps(alertmanager_body()).encode()
    good = sign("s3cret-shared-with-alertmanager", raw)
    assert post(client, "alertmanager", key, raw).status_code == 401
    assert post(client, "alertmanager", key, raw, **sign("wrong secret", raw)).status_code == 401
    assert post(client, "alertmanager", key, raw + b" ", **good).status_code == 401  # body changed
    stale = sign("s3cret-shared-with-alertmanager", raw, timestamp=int(time.time()) - 301)
    response = post(client, "alertmanager", key, raw, **stale)
    assert response.status_code == 401 and "X-Opsdesk-Timestamp" in response.json()["error"]["message"]
    odd = {"HTTP_X_OPSDESK_TIMESTAMP": "²", "HTTP_X_OPSDESK_SIGNATURE": "sha256=é"}
    assert post(client, "alertmanager", key, raw, **odd).status_code == 401
    odd = {**good, "HTTP_X_OPSDESK_SIGNATURE": "sha256=é"}
    assert post(client, "alertmanager", key, raw, **odd).status_code == 401
    assert RawPayload.objects.count() == 0
    assert post(client, "alertmanager", key, raw, **good).status_code == 202


def test_bearer_token(client, alertmanager):
    integration, key = alertmanager
    set_bearer_token(integration, actor=ACTOR, token="a-long-bearer-token-123")
    raw = json.dumps(alertmanager_body()).encode()
    assert post(client, "alertmanager", key, raw).status_code == 401
    assert post(client, "alertmanager", key, raw, HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    assert post(client, "alertmanager", key, raw, HTTP_AUTHORIZATION="Basic a-long-bearer-token-123").status_code \
        == 401
    assert RawPayload.objects.count() == 0
    ok = post(client, "alertmanager", key, raw, HTTP_AUTHORIZATION="Bearer a-long-bearer-token-123")
    assert ok.status_code == 202


def test_heartbeat_endpoint(client, db):
    integration, key = make_integration("events", heartbeat_interval_minutes=5)
    response = client.post(f"/api/v1/integrations/heartbeat/{key}/")
    assert response.status_code == 204
    integration.refresh_from_db()
    assert integration.last_heartbeat_at is not None and integration.last_alert_at is None
    assert (integration.heartbeat_due_at - integration.last_heartbeat_at).total_seconds() == 300
    assert client.post("/api/v1/integrations/heartbeat/unknown-key/").status_code == 404
    assert client.get(f"/api/v1/integrations/heartbeat/{key}/").status_code == 405
    assert RawPayload.objects.count() == 0


def test_heartbeat_honours_the_bearer_token(client, db):
    integration, key = make_integration("alertmanager")
    set_bearer_token(integration, actor=ACTOR, token="a-long-bearer-token-123")
    assert client.post(f"/api/v1/integrations/heartbeat/{key}/").status_code == 401
    assert client.post(f"/api/v1/integrations/heartbeat/{key}/",
                       HTTP_AUTHORIZATION="Bearer a-long-bearer-token-123").status_code == 204


def test_ingest_queries_stay_flat(client, alertmanager, django_assert_max_num_queries):
    """A cold request: the key lookup, the insert and the activity mark; a warm one (key cached, activity
    marked within 30 s): the insert alone (the test's savepoint pair aside), whatever the alert count."""
    _integration, key = alertmanager
    alert = alertmanager_body()["alerts"][0]
    with django_assert_max_num_queries(6):
        assert post(client, "alertmanager", key, alertmanager_body(alerts=[alert])).status_code == 202
    with django_assert_max_num_queries(3) as captured:
        assert post(client, "alertmanager", key, alertmanager_body(alerts=[alert] * 200)).status_code == 202
    assert sum("INSERT" in q["sql"] for q in captured.captured_queries) == 1
    assert not any("alerts_integration" in q["sql"] for q in captured.captured_queries)


def test_cache_entry_holds_the_integration_30_seconds(client, alertmanager):
    integration, key = alertmanager
    assert post(client, "alertmanager", key, alertmanager_body()).status_code == 202
    cached = cache.get(f"alerts:integration:{integration.key_hash}")
    assert isinstance(cached, Integration) and cached.pk == integration.pk


def test_refusals_are_logged_without_the_key(client, alertmanager, caplog):
    _integration, key = alertmanager
    caplog.set_level("INFO")
    assert post(client, "alertmanager", key, b"{not json").status_code == 400
    assert post(client, "grafana", key, alertmanager_body()).status_code == 404
    assert "alert intake refused POST /api/v1/integrations/alertmanager/" + key[:8] in caplog.text
    assert key not in caplog.text


def test_a_broker_outage_does_not_fail_the_request(client, alertmanager, monkeypatch,
                                                   django_capture_on_commit_callbacks):
    """The payload is committed before the broker is asked; the sweeper processes it later."""
    from kombu.exceptions import OperationalError

    from opsdesk.celery import app

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app.tasks["opsdesk.alerts.tasks.process_payload"], "delay", broker_down)
    _integration, key = alertmanager
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "alertmanager", key, alertmanager_body())
    assert response.status_code == 202
    assert RawPayload.objects.get().processed_at is None


def test_heartbeat_request_resolves_the_monitoring_down_incident(client, db):
    import datetime

    import time_machine

    from opsdesk.alerts.heartbeats import check_heartbeats
    from opsdesk.incidents.models import Incident

    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as clock:
        _integration, key = make_integration("events", heartbeat_interval_minutes=5)
        assert client.post(f"/api/v1/integrations/heartbeat/{key}/").status_code == 204  # integration now cached
        clock.shift(datetime.timedelta(minutes=6))
        assert check_heartbeats() == 1
        clock.shift(datetime.timedelta(minutes=1))
        assert client.post(f"/api/v1/integrations/heartbeat/{key}/").status_code == 204
    assert Incident.objects.get().status == "resolved"


def test_body_nested_too_deeply_is_400_invalid_json(client, alertmanager, caplog):
    """'[' x 50,000 is under the size limit; json.loads gives up with RecursionError, which answers 400."""
    _integration, key = alertmanager
    caplog.set_level("INFO")
    response = post(client, "alertmanager", key, b"[" * 50000)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert not RawPayload.objects.exists()
    assert key not in caplog.text


@pytest.mark.parametrize("path", ["ingest", "heartbeat"])
def test_an_unexpected_failure_is_a_generic_500_logged_without_the_key(client, alertmanager, monkeypatch, caplog,
                                                                       path):
    """The cache (Redis in production) is down: the request answers 500 with a generic body, and the log
    names the path with the key cut to 8 characters; Django's own "Internal Server Error: <path>" line,
    which would carry the whole key, is not written."""
    from django.core.cache import caches

    def cache_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    _integration, key = alertmanager
    monkeypatch.setattr(caches["default"], "get", cache_down)
    caplog.set_level("INFO")
    target = url("alertmanager", key) if path == "ingest" else f"/api/v1/integrations/heartbeat/{key}/"
    response = client.post(target, json.dumps(alertmanager_body()), content_type="application/json")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "server_error" and "6379" not in error["message"] and error["fields"] == {}
    assert not RawPayload.objects.exists()
    assert f"alert intake failed on POST /api/v1/integrations/{path.replace('ingest', 'alertmanager')}/{key[:8]}…/" \
        in caplog.text
    assert "ConnectionError" in caplog.text  # the traceback is kept for whoever reads the log
    assert key not in caplog.text
    assert not [r for r in caplog.records if r.name == "django.request"]
