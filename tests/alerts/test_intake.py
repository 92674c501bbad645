"""The payload parsers: each kind's body -> normalised AlertEvents, and every kind of bad body refused with
the path of what is wrong."""

import copy
import dataclasses
import datetime
import json

import pytest

from opsdesk.alerts.fingerprint import fingerprint
from opsdesk.alerts.intake import (
    AlertEvent,
    PayloadError,
    parse_alertmanager,
    parse_body,
    parse_email,
    parse_events,
    parse_grafana,
    thread_subject,
)

UTC = datetime.UTC


def alertmanager_body(**overrides):
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "opsdesk",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "job": "api"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "HighLatency", "instance": "web-1:9100", "job": "api",
                                            "severity": "critical"},
             "annotations": {"summary": "p99 latency above 2 s", "runbook_url": "https://runbooks/latency"},
             "startsAt": "2024-05-01T10:00:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus:9090/graph?g0.expr=latency", "fingerprint": "c626d2275ab0f610"},
            {"status": "resolved", "labels": {"alertname": "HighLatency", "instance": "web-2:9100", "job": "api"},
             "annotations": {}, "startsAt": "2024-05-01T09:00:00Z", "endsAt": "2024-05-01T10:05:00+02:00",
             "generatorURL": "", "fingerprint": ""},
        ],
    }
    body.update(overrides)
    return body


def errors_of(parse, body) -> dict:
    with pytest.raises(PayloadError) as caught:
        parse(body)
    assert caught.value.message
    return caught.value.fields


# --- Alertmanager ----------------------------------------------------------------------------------------

def test_alertmanager_normalises_each_alert():
    first, second = parse_alertmanager(alertmanager_body())
    assert first.fingerprint == "c626d2275ab0f610"
    assert first.status == "firing"
    assert first.summary == "p99 latency above 2 s"
    assert first.severity == "critical"
    assert first.source == "web-1:9100"
    assert first.group_key == '{}:{alertname="HighLatency"}'
    assert first.starts_at == datetime.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert first.ends_at is None  # Go's zero time: still firing
    assert first.generator_url.startswith("http://prometheus")
    assert first.annotations["runbook_url"] == "https://runbooks/latency"
    # Without a fingerprint in the body it is computed from the labels the way Alertmanager does.
    assert second.fingerprint == fingerprint({"alertname": "HighLatency", "instance": "web-2:9100", "job": "api"})
    assert second.status == "resolved"
    assert second.ends_at == datetime.datetime(2024, 5, 1, 8, 5, tzinfo=UTC)
    assert second.summary == "HighLatency"
    assert second.severity == ""


def test_events_survive_the_json_round_trip():
    for event in parse_alertmanager(alertmanager_body()):
        assert AlertEvent.from_json(json.loads(json.dumps(event.to_json()))) == event
        expected = dataclasses.asdict(event)
        expected.update(starts_at=event.starts_at.isoformat() if event.starts_at else None,
                        ends_at=event.ends_at.isoformat() if event.ends_at else None)
        assert event.to_json() == expected
        assert event.to_json()["labels"] is not event.labels  # a copy, as asdict gives


@pytest.mark.parametrize(("change", "path"), [
    (lambda b: b.pop("alerts"), "alerts"),
    (lambda b: b.update(alerts=[]), "alerts"),
    (lambda b: b.update(alerts="x"), "alerts"),
    (lambda b: b.update(version="3"), "version"),
    (lambda b: b.update(status="broken"), "status"),
    (lambda b: b.update(groupKey=7), "groupKey"),
    (lambda b: b.update(commonLabels=["x"]), "commonLabels"),
    (lambda b: b["alerts"].append("not an alert"), "alerts[2]"),
    (lambda b: b["alerts"][1].update(status="pending"), "alerts[1].status"),
    (lambda b: b["alerts"][1].pop("status"), "alerts[1].status"),
    (lambda b: b["alerts"][0]["labels"].update(port=9100), "alerts[0].labels"),
    (lambda b: b["alerts"][0].update(labels=None), "alerts[0].labels"),
    (lambda b: b["alerts"][0]["annotations"].update(count=3), "alerts[0].annotations"),
    (lambda b: b["alerts"][0]["labels"].update({"": "x"}), "alerts[0].labels."),
    (lambda b: b["alerts"][0]["labels"].update({"n" * 201: "x"}), "alerts[0].labels." + "n" * 50),
    (lambda b: b["alerts"][0]["labels"].update(big="v" * 2001), "alerts[0].labels.big"),
    (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
    (lambda b: b["alerts"][0].update(endsAt=12), "alerts[0].endsAt"),
    (lambda b: b["alerts"][0].update(generatorURL=["x"]), "alerts[0].generatorURL"),
    (lambda b: b["alerts"][0].update(fingerprint="f" * 65), "alerts[0].fingerprint"),
])
def test_alertmanager_refuses_with_the_path(change, path):
    body = copy.deepcopy(alertmanager_body())
    change(body)
    assert path in errors_of(parse_alertmanager, body)


def test_alertmanager_names_every_wrong_alert():
    body = alertmanager_body()
    body["alerts"][0]["labels"]["port"] = 1
    body["alerts"][1]["status"] = "x"
    assert set(errors_of(parse_alertmanager, body)) == {"alerts[0].labels", "alerts[1].status"}


def test_alertmanager_at_most_1000_alerts():
    alert = alertmanager_body()["alerts"][0]
    assert len(parse_alertmanager(alertmanager_body(alerts=[alert] * 1000))) == 1000
    assert "alerts" in errors_of(parse_alertmanager, alertmanager_body(alerts=[alert] * 1001))


def test_label_value_of_2000_characters_is_accepted():
    body = alertmanager_body()
    body["alerts"][0]["labels"]["long"] = "v" * 2000
    assert parse_alertmanager(body)[0].labels["long"] == "v" * 2000


def test_empty_label_values_are_dropped_as_alertmanager_drops_them():
    """The real Alertmanager holds {"a": "", "b": "x"} as {"b": "x"} with fingerprint 019d71999ffa1e47
    (tests/alerts/test_fingerprint.py); the labels kept and the computed fingerprint agree with it."""
    body = alertmanager_body()
    body["alerts"][1]["labels"] = {"a": "", "b": "x"}
    body["alerts"][1]["annotations"] = {"summary": "", "note": "kept"}
    body["commonLabels"] = {"job": "", "alertname": "HighLatency"}
    second = parse_alertmanager(body)[1]
    assert second.labels == {"b": "x"}
    assert second.fingerprint == "019d71999ffa1e47" == fingerprint({"b": "x"})
    assert second.annotations == {"summary": "", "note": "kept"}  # annotations are no labels: kept as sent
    # An empty-valued label with an empty name is dropped before the names are checked, as Alertmanager does.
    body["alerts"][1]["labels"] = {"": "", "b": "x"}
    assert parse_alertmanager(body)[1].labels == {"b": "x"}


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)", "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)", "//evil.example/x", "http://", "https:///path",
    "ftp://files.example.com/x", "http://[::1", "graph?g0.expr=up", "http://a\nb.example.com/",
])
def test_a_generator_url_that_is_not_http_is_dropped_and_the_alert_kept(url):
    body = alertmanager_body()
    body["alerts"][0]["generatorURL"] = url
    first, _second = parse_alertmanager(body)
    assert first.generator_url == ""
    assert first.summary == "p99 latency above 2 s" and first.fingerprint == "c626d2275ab0f610"


@pytest.mark.parametrize("url", ["http://prometheus:9090/graph?g0.expr=up", "HTTPS://grafana.example.com/d/1",
                                 "https://[2001:db8::1]:9090/graph"])
def test_an_http_generator_url_is_kept(url):
    body = alertmanager_body()
    body["alerts"][0]["generatorURL"] = url
    assert parse_alertmanager(body)[0].generator_url == url


# --- Grafana ---------------------------------------------------------------------------------------------

def grafana_body():
    return {
        "receiver": "opsdesk", "status": "firing", "orgId": 1, "groupKey": '{}/{}:{alertname="High memory usage"}',
        "groupLabels": {"alertname": "High memory usage"}, "commonLabels": {"team": "blue"},
        "commonAnnotations": {}, "externalURL": "https://grafana.example.com/", "version": "1",
        "title": "[FIRING:1] High memory usage (blue)", "state": "alerting",
        "message": "**Firing**\nValue: B=44.2",
        "alerts": [{
            "status": "firing", "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {"description": "The system has high memory usage"},
            "startsAt": "2021-10-12T09:51:03.157076+02:00", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example.com/alerting/1afz29v7z/edit", "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana.example.com/alerting/silence/new", "dashboardURL": "",
            "panelURL": "", "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={} value=44.2 ]",
        }],
    }


def test_grafana_keeps_its_extras_as_annotations():
    (event,) = parse_grafana(grafana_body())
    assert event.fingerprint == "c6eadffa33fcdf37"
    assert event.starts_at == datetime.datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert event.summary == "High memory usage"
    assert json.loads(event.annotations["values"]) == {"B": 44.23943737541908, "C": 1}
    assert event.annotations["value_string"].startswith("[ var='B'")
    assert event.annotations["silence_url"].endswith("/silence/new")
    assert "dashboard_url" not in event.annotations  # empty in the body
    assert event.group_key.endswith('alertname="High memory usage"}')


def test_grafana_urls_that_are_not_http_are_dropped():
    body = grafana_body()
    body["alerts"][0].update(generatorURL="javascript:alert(1)", silenceURL="data:text/html,x",
                             dashboardURL="javascript:void(0)", panelURL="https://grafana.example.com/d/1?viewPanel=2")
    (event,) = parse_grafana(body)
    assert event.generator_url == ""
    assert "silence_url" not in event.annotations and "dashboard_url" not in event.annotations
    assert event.annotations["panel_url"] == "https://grafana.example.com/d/1?viewPanel=2"
    assert event.summary == "High memory usage"


@pytest.mark.parametrize(("change", "path"), [
    (lambda b: b.update(orgId="one"), "orgId"),
    (lambda b: b.update(title=5), "title"),
    (lambda b: b["alerts"][0].update(values={"B": "high"}), "alerts[0].values"),
    (lambda b: b["alerts"][0].update(values=[1]), "alerts[0].values"),
    (lambda b: b["alerts"][0].update(dashboardURL=3), "alerts[0].dashboardURL"),
    (lambda b: b["alerts"][0]["labels"].update(zone=None), "alerts[0].labels"),
])
def test_grafana_refuses_with_the_path(change, path):
    body = grafana_body()
    change(body)
    assert path in errors_of(parse_grafana, body)


# --- events API ------------------------------------------------------------------------------------------

def trigger(**payload):
    return {"routing_key": "ignored", "event_action": "trigger", "payload": {
        "summary": "DB replica lag 300 s", "severity": "error", "source": "db-2.example.com",
        "timestamp": "2024-05-01T10:00:00Z", **payload}}


def test_events_trigger_without_dedup_key_computes_one():
    (event,) = parse_events(trigger(component="postgres", group="db", custom_details={"lag": 300, "note": "x"}))
    assert event.action == "trigger" and event.status == "firing"
    assert event.fingerprint == fingerprint({"source": "db-2.example.com", "summary": "DB replica lag 300 s",
                                             "component": "postgres", "group": "db"})
    assert event.labels == {"component": "postgres", "group": "db", "source": "db-2.example.com",
                            "severity": "error"}
    assert event.annotations["lag"] == "300"  # JSON-encoded when not a string
    assert event.annotations["note"] == "x"
    assert event.severity == "error" and event.source == "db-2.example.com"
    assert event.starts_at == datetime.datetime(2024, 5, 1, 10, tzinfo=UTC)
    # The same trigger again has the same fingerprint: repeats dedup without a key.
    assert parse_events(trigger(component="postgres", group="db"))[0].fingerprint == event.fingerprint


def test_events_dedup_key_links_and_images():
    body = trigger(custom_details="free text")
    body.update(dedup_key="db-2/lag", links=[{"href": "https://grafana/d/1", "text": "Dashboard"}],
                images=[{"src": "https://grafana/render/1.png"}], client="Zabbix")
    (event,) = parse_events(body)
    assert event.fingerprint == "db-2/lag"
    assert event.annotations["custom_details"] == "free text"
    assert json.loads(event.annotations["links"])[0]["href"] == "https://grafana/d/1"
    assert json.loads(event.annotations["images"])[0]["src"].endswith(".png")
    assert event.annotations["client"] == "Zabbix"


def test_events_links_images_and_client_url_keep_only_http():
    body = trigger()
    body.update(links=[{"href": "javascript:alert(1)", "text": "Click"}, {"href": "https://grafana/d/1"}],
                images=[{"src": "data:image/svg+xml,<svg onload=alert(1)>"}], client_url="javascript:alert(1)",
                client="Zabbix")
    (event,) = parse_events(body)
    assert json.loads(event.annotations["links"]) == [{"href": "https://grafana/d/1"}]
    assert "images" not in event.annotations and "client_url" not in event.annotations
    assert event.annotations["client"] == "Zabbix"
    body["client_url"] = "https://zabbix.example.com/"
    assert parse_events(body)[0].annotations["client_url"] == "https://zabbix.example.com/"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_events_acknowledge_and_resolve_need_only_the_dedup_key(action):
    (event,) = parse_events({"event_action": action, "dedup_key": "db-2/lag"})
    assert event.action == action and event.fingerprint == "db-2/lag"
    assert event.status == ("resolved" if action == "resolve" else "firing")


@pytest.mark.parametrize(("body", "path"), [
    ({"payload": {}}, "event_action"),
    ({**trigger(), "event_action": "fire"}, "event_action"),
    ({"event_action": "resolve"}, "dedup_key"),
    ({"event_action": "acknowledge", "dedup_key": "  "}, "dedup_key"),
    ({"event_action": "trigger"}, "payload"),
    ({"event_action": "trigger", "payload": "x"}, "payload"),
    (trigger(summary=None), "payload.summary"),
    (trigger(summary=""), "payload.summary"),
    (trigger(summary="s" * 1025), "payload.summary"),
    (trigger(severity="urgent"), "payload.severity"),
    (trigger(severity=None), "payload.severity"),
    (trigger(source=None), "payload.source"),
    (trigger(timestamp="soon"), "payload.timestamp"),
    (trigger(component=7), "payload.component"),
    ({**trigger(), "dedup_key": 12}, "dedup_key"),
    ({**trigger(), "dedup_key": "k" * 256}, "dedup_key"),
    ({**trigger(), "links": [{"text": "no href"}]}, "links"),
    ({**trigger(), "images": "x"}, "images"),
    ({"event_action": "resolve", "dedup_key": "k", "payload": {"severity": "bad"}}, "payload.severity"),
])
def test_events_refuses_with_the_path(body, path):
    assert path in errors_of(parse_events, body)


def test_events_say_a_wrong_value_is_wrong_not_missing():
    assert "must be trigger, acknowledge or resolve, not explode" in str(
        errors_of(parse_events, {**trigger(), "event_action": "explode"})["event_action"])
    assert "is required" in str(errors_of(parse_events, {"payload": {}})["event_action"])
    assert "must be critical, error, warning or info, not huge" in str(
        errors_of(parse_events, trigger(severity="huge"))["payload.severity"])
    assert "is required" in str(errors_of(parse_events, trigger(severity=None))["payload.severity"])


def test_events_summary_of_1024_characters_is_accepted():
    assert len(parse_events(trigger(summary="s" * 1024))[0].annotations["summary"]) == 1024


# --- request bodies -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe", b'{"a": NaN}'])
def test_body_that_is_not_json(raw):
    with pytest.raises(PayloadError) as caught:
        parse_body("alertmanager", raw)
    assert caught.value.code == "invalid_json"


@pytest.mark.parametrize("raw", [b"[" * 50000, b'{"alerts": ' + b"[" * 50000 + b"]" * 50000 + b"}",
                                 b'{"a": ' * 5000 + b"1" + b"}" * 5000])
@pytest.mark.parametrize("kind", ["alertmanager", "grafana", "events"])
def test_body_nested_too_deeply_is_invalid_json(kind, raw):
    with pytest.raises(PayloadError) as caught:
        parse_body(kind, raw)
    assert caught.value.code == "invalid_json" and "nested too deeply" in caught.value.message


def test_custom_details_nested_below_the_parser_limit_are_kept_or_refused_cleanly():
    """Nested just below what json.loads accepts: writing it out again must not escape as RecursionError."""
    import sys

    for depth in (sys.getrecursionlimit() - 60, sys.getrecursionlimit() - 5):
        raw = (b'{"event_action": "trigger", "payload": {"summary": "s", "severity": "info", "source": "x", '
               b'"custom_details": {"deep": ' + b"[" * depth + b"]" * depth + b"}}}")
        try:
            (event,) = parse_body("events", raw)
        except PayloadError as exc:
            assert exc.code == "invalid_json"
        else:
            assert event.annotations["deep"].startswith("[[[")


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"3"])
def test_body_that_is_not_an_object(raw):
    with pytest.raises(PayloadError) as caught:
        parse_body("events", raw)
    assert caught.value.code == "invalid_payload" and "body" in caught.value.fields


def test_body_of_each_kind():
    assert len(parse_body("alertmanager", json.dumps(alertmanager_body()).encode())) == 2
    assert len(parse_body("grafana", json.dumps(grafana_body()).encode())) == 1
    assert parse_body("events", json.dumps(trigger()).encode())[0].action == "trigger"


# --- email -----------------------------------------------------------------------------------------------

def mail(subject, body="Disk /var is 97% full on db-1.\nseverity: critical\n", *, message_id="<1@mon>",
         references=None, in_reply_to=None, html=False):
    lines = [f"Subject: {subject}", "From: Nagios <nagios@mon.example.com>", "To: alerts@example.com",
             "Date: Wed, 01 May 2024 10:00:00 +0200", f"Message-ID: {message_id}"]
    if references:
        lines.append(f"References: {references}")
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    lines += ["MIME-Version: 1.0", f"Content-Type: text/{'html' if html else 'plain'}; charset=utf-8", "", body]
    return "\r\n".join(lines).encode()


def test_email_firing():
    (event,) = parse_email(mail("[PROBLEM] Disk full on db-1"))
    assert event.status == "firing"
    assert event.summary == "[PROBLEM] Disk full on db-1"
    assert event.fingerprint == fingerprint({"subject": "Disk full on db-1"})
    assert event.annotations["description"].startswith("Disk /var is 97% full")
    assert event.severity == "critical"
    assert event.source == "nagios@mon.example.com"
    assert event.labels["message_id"] == "<1@mon>"
    assert event.starts_at == datetime.datetime(2024, 5, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(("subject", "body"), [
    ("[RESOLVED] Disk full on db-1", "all good"),
    ("[ops] [RESOLVED:1] Disk full on db-1", "all good"),
    ("RESOLVED: Disk full on db-1", "all good"),
    ("Resolved: Disk full on db-1", "all good"),
    ("Re: Fwd: [ops] Resolved: Disk full on db-1", "all good"),
    ("Disk full on db-1", "Status: Resolved\nat 10:05"),
    ("Disk full on db-1", "Host: db-1\n  status : RESOLVED  \nat 10:05"),
])
def test_email_resolved(subject, body):
    (event,) = parse_email(mail(subject, body))
    assert event.status == "resolved"
    assert event.fingerprint == fingerprint({"subject": "Disk full on db-1"})
    assert event.ends_at is not None and event.starts_at is None


@pytest.mark.parametrize(("subject", "body"), [
    ("Disk full on db-1", "The problem is NOT RESOLVED yet."),
    ("Disk full on db-1", "RESOLVED"),
    ("Disk full on db-1", "Previous status: resolved at 09:00, firing again since 10:00"),
    ("Disk full on db-1", "will be resolved by the night shift"),
    ("Disk full on db-1 RESOLVED", "all good"),
    ("Disk full on db-1 (RESOLVED in the ticket?)", "all good"),
    ("Unresolved: Disk full on db-1", "all good"),
])
def test_email_resolved_word_in_prose_does_not_resolve(subject, body):
    assert parse_email(mail(subject, body))[0].status == "firing"


def test_email_html_status_line_resolves():
    (event,) = parse_email(mail("Disk full on db-1", "<p>Host db-1</p><p>Status: resolved</p>", html=True))
    assert event.status == "resolved"


def test_email_reply_threads_by_root_message_id():
    (reply,) = parse_email(mail("Re: something else", "still broken", message_id="<3@mon>",
                                references="<root@mon> <2@mon>", in_reply_to="<2@mon>"))
    assert reply.fingerprint == fingerprint({"thread": "<root@mon>"})
    assert reply.labels["thread"] == "<root@mon>"
    (only_in_reply_to,) = parse_email(mail("Re: x", "y", message_id="<4@mon>", in_reply_to="<root@mon>"))
    assert only_in_reply_to.fingerprint == reply.fingerprint


def test_email_html_body_becomes_text():
    (event,) = parse_email(mail("Disk", "<p>Disk &amp; CPU <b>high</b></p>", html=True))
    assert "Disk & CPU" in event.annotations["description"] and "<b>" not in event.annotations["description"]


def test_email_description_is_cut_at_4000_characters():
    (event,) = parse_email(mail("Big", "x" * 5000))
    assert len(event.annotations["description"]) == 4000


@pytest.mark.parametrize(("subject", "expected"), [
    ("Re: Fwd: [FIRING:2] Disk full", "Disk full"),
    ("RE: [ops] [PROBLEM]  Disk   full", "Disk full"),
    ("AW: Disk full", "Disk full"),
    ("Disk full", "Disk full"),
    ("FIRING: Disk full", "Disk full"),
    ("Disk full RESOLVED", "Disk full"),
    ("Resolved disk full", "Resolved disk full"),
    ("Resolved: Disk full", "Disk full"),
    ("Re: [ops] Problem: Disk full", "Disk full"),
])
def test_thread_subject(subject, expected):
    assert thread_subject(subject) == expected


def test_email_without_subject_uses_message_id_and_empty_mail_is_refused():
    (event,) = parse_email(mail("", "body only", message_id="<9@mon>"))
    assert event.fingerprint == fingerprint({"thread": "<9@mon>"})
    with pytest.raises(PayloadError):
        parse_email(b"")
    with pytest.raises(PayloadError):
        parse_email(b"From: a@b\r\n\r\n")
