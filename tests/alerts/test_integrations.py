"""The integration services: validation, keys shown once and stored hashed, secrets masked in the change
log, and the test alert going through the ingest path."""

import json

import pytest
from django.core.exceptions import ValidationError

from opsdesk.alerts.integrations import (
    MASK,
    REPLACED,
    create_integration,
    hash_secret,
    ingest_url,
    integration_for_key,
    rotate_key,
    send_test_alert,
    set_bearer_token,
    update_integration,
)
from opsdesk.alerts.models import Integration, RawPayload
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry
from tests.alerts.factories import IntegrationFactory, make_integration

ACTOR = Actor.system("test")


def changes_of(integration):
    return [entry.changes for entry in AuditEntry.objects.filter(object_id=integration.pk,
                                                                 content_type__model="integration")
            .order_by("id")]


def test_key_is_shown_once_and_stored_hashed(db):
    integration, key = create_integration(actor=ACTOR, data={"name": "Prometheus", "kind": "alertmanager"})
    assert len(key) == 32
    assert integration.key_hash == hash_secret(key) and integration.key_prefix == key[:8]
    assert key not in json.dumps(changes_of(integration))
    assert integration_for_key(key) == integration
    assert integration_for_key("other") is None


@pytest.mark.parametrize(("data", "field"), [
    ({"kind": "nagios"}, "kind"),
    ({"severity_map": {"critical": "P0"}}, "severity_map.critical"),
    ({"severity_map": {"fatal": "P1"}}, "severity_map.fatal"),
    ({"severity_map": ["P1"]}, "severity_map"),
    ({"ci_labels": "instance"}, "ci_labels"),
    ({"ci_labels": ["instance", 3]}, "ci_labels"),
    ({"ci_labels": [""]}, "ci_labels"),
    ({"heartbeat_interval_minutes": 0}, "heartbeat_interval_minutes"),
    ({"heartbeat_interval_minutes": "5"}, "heartbeat_interval_minutes"),
    ({"payload_retention_days": 0}, "payload_retention_days"),
    ({"flapping_changes": 50}, "flapping_changes"),  # more than the 50 state changes an alert keeps
    ({"imap_port": 70000}, "imap_port"),
    ({"key_hash": "x"}, "key_hash"),
    ({"kind": "email"}, "imap_host"),
    ({"kind": "email", "imap_host": "mail", "imap_username": "ops"}, "imap_password"),
    ({"name": ""}, "name"),
    ({"grouping_template": "{{ alertname }}/{% if x %}"}, "grouping_template"),
])
def test_create_refuses_bad_fields_by_name(db, data, field):
    with pytest.raises(ValidationError) as caught:
        create_integration(actor=ACTOR, data={"name": "Source", "kind": "alertmanager", **data})
    assert field in caught.value.message_dict
    assert not Integration.objects.exists()


def test_update_refuses_bad_fields_and_changes_nothing(db):
    integration, _key = make_integration("alertmanager", severity_map={"critical": "P1"})
    with pytest.raises(ValidationError) as caught:
        update_integration(integration, actor=ACTOR, data={"severity_map": {"warning": "P9"}, "description": "x"})
    assert "severity_map.warning" in caught.value.message_dict
    integration.refresh_from_db()
    assert integration.severity_map == {"critical": "P1"} and integration.description == ""


def test_name_is_unique(db):
    make_integration("alertmanager", name="Prometheus")
    with pytest.raises(ValidationError) as caught:
        make_integration("grafana", name="Prometheus")
    assert "name" in caught.value.message_dict


def test_email_integration_defaults_its_port(db):
    integration, _key = make_integration("email", imap_port=None, imap_ssl=True)
    assert integration.imap_port == 993


def test_secrets_are_masked_in_the_change_log(db):
    integration, _key = make_integration("email", hmac_secret="first-secret", imap_password="imap-pass-1")
    update_integration(integration, actor=ACTOR, data={"hmac_secret": "second-secret", "imap_password": "pass-2"})
    set_bearer_token(integration, actor=ACTOR, token="a-long-bearer-token-123")
    logged = json.dumps(changes_of(integration))
    for secret in ("first-secret", "second-secret", "imap-pass-1", "pass-2", "a-long-bearer-token-123",
                   hash_secret("a-long-bearer-token-123")):
        assert secret not in logged
    created, updated, bearer = changes_of(integration)
    assert created["hmac_secret"] == [None, MASK]
    assert updated == {"hmac_secret": [MASK, REPLACED], "imap_password": [MASK, REPLACED]}
    assert bearer["bearer_token_hash"] == ["", MASK]
    integration.refresh_from_db()
    assert integration.hmac_secret == "second-secret" and integration.imap_password == "pass-2"


def test_rotate_key(db):
    integration, old = make_integration("alertmanager")
    assert integration_for_key(old) == integration  # cached now
    new = rotate_key(integration, actor=ACTOR)
    assert new != old
    assert integration_for_key(old) is None
    assert integration_for_key(new).pk == integration.pk
    assert [c.get("key_prefix") for c in changes_of(integration)][-1] == [old[:8], new[:8]]


def test_bearer_token_set_and_removed(db):
    integration, _key = make_integration("alertmanager")
    with pytest.raises(ValidationError):
        set_bearer_token(integration, actor=ACTOR, token="short")
    integration = set_bearer_token(integration, actor=ACTOR, token="a-long-bearer-token-123")
    assert integration.bearer_token_hash == hash_secret("a-long-bearer-token-123")
    integration = set_bearer_token(integration, actor=ACTOR, token="")
    assert integration.bearer_token_hash == ""


def test_ingest_url(db, settings):
    settings.BASE_URL = "https://ops.example.com/"
    integration, key = make_integration("grafana")
    assert ingest_url(integration, key) == f"https://ops.example.com/api/v1/integrations/grafana/{key}/"
    assert ingest_url(integration, key, "heartbeat") == f"https://ops.example.com/api/v1/integrations/heartbeat/{key}/"


@pytest.mark.parametrize("kind", ["alertmanager", "grafana", "events", "email"])
def test_send_test_alert_stores_a_labelled_payload(db, kind, django_capture_on_commit_callbacks):
    integration = IntegrationFactory(kind=kind)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        payload = send_test_alert(integration, actor=ACTOR)
    assert callbacks  # processing is asked for after commit
    assert RawPayload.objects.get() == payload
    assert payload.event_count == 1
    [event] = payload.events
    assert event["status"] == "firing"
    labels_and_annotations = {**event["labels"], **event["annotations"]}
    assert labels_and_annotations.get("opsdesk_test") == "true"
    assert changes_of(integration)[-1] == {"payload": [None, payload.pk]}


def test_flapping_changes_up_to_one_less_than_the_kept_state_changes(db):
    integration, _key = create_integration(actor=ACTOR, data={"name": "Source", "kind": "alertmanager",
                                                               "flapping_changes": 49})
    assert integration.flapping_changes == 49
    with pytest.raises(ValidationError) as caught:
        update_integration(integration, actor=ACTOR, data={"flapping_changes": 50})
    assert "At most 49" in caught.value.message_dict["flapping_changes"][0]
    integration.refresh_from_db()
    assert integration.flapping_changes == 49
