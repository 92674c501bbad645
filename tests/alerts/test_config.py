"""The alert sections of the configuration file: export without secrets, apply creates and updates by
name through the services (a dry run changes nothing), and a bad item names its place in the file."""

import pytest

from opsdesk.alerts.models import Integration, Route
from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from tests.alerts.factories import make_integration
from tests.alerts.rule_factories import RouteFactory
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("config")


def apply(text: str, dry_run: bool = False):
    return config_as_code.apply_document(config_as_code.load(f"version: 1\n{text}"), actor=ACTOR, dry_run=dry_run)


def test_export_has_settings_and_no_secrets(team):
    integration, key = make_integration("alertmanager", name="Prod", team=team, hmac_secret="super-secret-hmac",
                                        severity_map={"critical": "P1"})
    make_integration("email", name="Mailbox", imap_password="imap-pass-123")
    RouteFactory(name="DB", team=team, matchers=[{"label": "team", "op": "=", "value": "db"}])
    document = config_as_code.export_document()
    text = config_as_code.dump(document)
    assert key not in text and integration.key_hash not in text
    assert "super-secret-hmac" not in text and "imap-pass-123" not in text
    exported = {item["name"]: item for item in document["alert_integrations"]}
    assert exported["Prod"]["team"] == team.slug and exported["Prod"]["severity_map"] == {"critical": "P1"}
    assert "imap_host" not in exported["Prod"] and exported["Mailbox"]["imap_username"] == "ops"
    assert document["alert_routes"][0]["team"] == team.slug
    # An export applies to the same database as all "unchanged".
    changes = config_as_code.apply_document(config_as_code.load(text), actor=ACTOR)
    assert {c.action for c in changes if c.section.startswith("alert_")} == {"unchanged"}


def test_apply_creates_an_integration_and_says_its_key_must_be_rotated_to_be_seen(team):
    service = ServiceFactory()
    changes = apply(f"""
alert_integrations:
  - name: Grafana
    kind: grafana
    team: {team.slug}
    service: {service.slug}
    severity_map: {{critical: P1, warning: P3}}
    heartbeat_interval_minutes: 5
alert_routes:
  - name: Payments critical
    order: 5
    integration: Grafana
    matchers: [{{label: service, op: "=~", value: "payments.*"}}]
    severities: [critical]
    team: {team.slug}
    priority: P1
""")
    integration = Integration.objects.get(name="Grafana")
    assert integration.kind == "grafana" and integration.team == team and integration.service == service
    assert integration.heartbeat_due_at is not None
    created = next(c for c in changes if c.section == "alert_integrations")
    assert created.action == "create" and "rotate" in created.fields["key"][1]
    assert "rotate" in created.line()
    route = Route.objects.get(name="Payments critical")
    assert route.integration == integration and route.matchers[0]["op"] == "=~" and route.priority == "P1"
    assert history_for(route).get().actor_label == "system:config"


def test_apply_updates_by_name_and_a_dry_run_changes_nothing(team):
    RouteFactory(name="DB", order=10)
    changes = apply("alert_routes:\n  - name: DB\n    order: 3\n", dry_run=True)
    assert [(c.action, c.fields) for c in changes if c.section == "alert_routes"] == [("update", {"order": [10, 3]})]
    assert Route.objects.get(name="DB").order == 10
    apply("alert_routes:\n  - name: DB\n    order: 3\n")
    assert Route.objects.get(name="DB").order == 3


@pytest.mark.parametrize("text, where", [
    ("alert_routes:\n  - name: R\n    matchers: [{label: team, op: '=~', value: '(db'}]\n", "alert_routes/R"),
    ("alert_routes:\n  - name: R\n    team: nobody\n", "alert_routes/R"),
    ("alert_integrations:\n  - name: M\n    kind: email\n    imap_host: mail\n", "alert_integrations/M"),
    ("alert_routes:\n  - name: R\n  - name: R\n", "alert_routes/R"),
    ("alert_integrations:\n  - name: X\n    kind: pager\n", "alert_integrations/0/kind"),
])
def test_a_bad_item_is_refused_with_its_place_and_nothing_is_written(text, where):
    with pytest.raises(config_as_code.ConfigError) as caught:
        apply(text)
    assert any(problem.startswith(where) for problem in caught.value.problems), caught.value.problems
    assert not Route.objects.exists() and not Integration.objects.exists()


def test_the_kind_of_an_existing_integration_cannot_change():
    make_integration("alertmanager", name="Prod")
    with pytest.raises(config_as_code.ConfigError) as caught:
        apply("alert_integrations:\n  - name: Prod\n    kind: events\n")
    assert "kind" in " ".join(caught.value.problems)
    assert Integration.objects.get(name="Prod").kind == "alertmanager"
