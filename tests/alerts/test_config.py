"""The alert sections of the configuration file: export without secrets, apply creates and updates by
name through the services (a dry run changes nothing), and a bad item names its place in the file."""

import datetime

import pytest
import time_machine

from opsdesk.alerts import services
from opsdesk.alerts.models import Integration, MaintenanceWindow, Route, Silence
from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from tests.alerts.factories import make_integration
from tests.alerts.rule_factories import MaintenanceWindowFactory, RouteFactory, SilenceFactory
from tests.cmdb.factories import CIFactory
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


# --- maintenance windows and silences (keyed by title / comment and start) ---------------------------------

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_export_lists_windows_not_ended_nor_cancelled_and_applies_back_unchanged(clock):
    service, ci = ServiceFactory(slug="checkout"), CIFactory()
    planned = MaintenanceWindowFactory(title="DB upgrade", description="Postgres 17", services=[service], cis=[ci],
                                       starts_at=NOW + HOUR, ends_at=NOW + 3 * HOUR)
    MaintenanceWindowFactory(title="Running", starts_at=NOW - HOUR, ends_at=NOW + HOUR)
    MaintenanceWindowFactory(title="Over", starts_at=NOW - 3 * HOUR, ends_at=NOW - HOUR)
    called_off = MaintenanceWindowFactory(title="Called off", starts_at=NOW + HOUR, ends_at=NOW + 2 * HOUR)
    services.cancel_maintenance_window(called_off, actor=ACTOR)
    document = config_as_code.export_document()
    exported = document["alert_maintenance_windows"]
    assert [item["title"] for item in exported] == ["Running", "DB upgrade"]
    assert exported[1] == {"title": "DB upgrade", "description": "Postgres 17", "starts": "2026-12-01T13:00:00+00:00",
                           "ends": "2026-12-01T15:00:00+00:00", "services": ["checkout"], "cis": [ci.number]}
    changes = config_as_code.apply_document(config_as_code.load(config_as_code.dump(document)), actor=ACTOR)
    windows = [c for c in changes if c.section == "alert_maintenance_windows"]
    assert [(c.key, c.action) for c in windows] == [("Running @ 2026-12-01T11:00:00+00:00", "unchanged"),
                                                     ("DB upgrade @ 2026-12-01T13:00:00+00:00", "unchanged")]
    assert MaintenanceWindow.objects.count() == 4 and history_for(planned).count() == 1


def test_apply_creates_and_updates_a_window_by_title_and_start_and_a_dry_run_changes_nothing(clock):
    ServiceFactory(slug="checkout"), ServiceFactory(slug="payments")
    ci = CIFactory()
    text = f"""
alert_maintenance_windows:
  - title: DB upgrade
    description: Postgres 17
    starts: 2026-12-01T14:00:00+01:00
    ends: "2026-12-01T15:00:00Z"
    services: [payments, checkout]
    cis: [{ci.number}]
"""
    dry = apply(text, dry_run=True)
    assert [(c.action, c.key) for c in dry if c.section == "alert_maintenance_windows"] == [
        ("create", "DB upgrade @ 2026-12-01T13:00:00+00:00")]
    assert not MaintenanceWindow.objects.exists()
    apply(text)
    window = MaintenanceWindow.objects.get()
    assert (window.starts_at, window.ends_at) == (NOW + HOUR, NOW + 3 * HOUR)
    assert sorted(s.slug for s in window.services.all()) == ["checkout", "payments"] and list(window.cis.all()) == [ci]
    assert history_for(window).get().actor_label == "system:config"
    # Same start written in UTC, services in another order: unchanged. A later end: an update of the same window.
    assert [c.action for c in apply(text.replace("2026-12-01T14:00:00+01:00", "2026-12-01T13:00:00Z")
                                    .replace("[payments, checkout]", "[checkout, payments]"))] == ["unchanged"]
    changes = apply(text.replace("15:00:00Z", "16:00:00Z"), dry_run=True)
    assert [(c.action, c.fields) for c in changes] == [
        ("update", {"ends": ["2026-12-01T15:00:00+00:00", "2026-12-01T16:00:00+00:00"]})]
    window.refresh_from_db()
    assert window.ends_at == NOW + 3 * HOUR
    apply(text.replace("15:00:00Z", "16:00:00Z"))
    window.refresh_from_db()
    assert window.ends_at == NOW + 4 * HOUR and MaintenanceWindow.objects.count() == 1
    # Another start is another window.
    apply(text.replace("14:00:00+01:00", "18:00:00+01:00").replace("15:00:00Z", "19:00:00Z"))
    assert MaintenanceWindow.objects.count() == 2


def test_an_ended_window_in_an_old_file_is_unchanged_but_cannot_be_edited(clock):
    MaintenanceWindowFactory(title="Done", starts_at=NOW - 3 * HOUR, ends_at=NOW - HOUR)
    text = "alert_maintenance_windows:\n  - {title: Done, starts: '2026-12-01T09:00:00Z', ends: '%s'}\n"
    assert [c.action for c in apply(text % "2026-12-01T11:00:00Z")] == ["unchanged"]
    with pytest.raises(config_as_code.ConfigError) as caught:
        apply(text % "2026-12-01T13:00:00Z")
    assert caught.value.problems[0].startswith("alert_maintenance_windows/Done @ 2026-12-01T09:00:00+00:00: ")
    assert "over" in caught.value.problems[0]
    assert MaintenanceWindow.objects.get().ends_at == NOW - HOUR


def test_export_lists_active_and_future_silences_and_applies_back_unchanged(clock):
    integration, _key = make_integration("alertmanager", name="Prod")
    active = SilenceFactory(comment="Known noise", matchers=['alertname="DiskFull"'], integration=integration,
                            starts_at=NOW - HOUR, ends_at=NOW + HOUR)
    SilenceFactory(comment="Tonight", starts_at=NOW + 8 * HOUR, ends_at=NOW + 10 * HOUR)
    services.expire_silence(SilenceFactory(comment="Expired by hand"), actor=ACTOR)
    SilenceFactory(comment="Ended", starts_at=NOW - HOUR, ends_at=NOW + datetime.timedelta(minutes=1))
    clock.shift(datetime.timedelta(minutes=2))
    document = config_as_code.export_document()
    exported = document["alert_silences"]
    assert [item["comment"] for item in exported] == ["Known noise", "Tonight"]
    assert exported[0] == {"comment": "Known noise", "starts": "2026-12-01T11:00:00+00:00",
                           "ends": "2026-12-01T13:00:00+00:00", "integration": "Prod",
                           "matchers": [{"label": "alertname", "op": "=", "value": "DiskFull"}]}
    changes = config_as_code.apply_document(config_as_code.load(config_as_code.dump(document)), actor=ACTOR)
    assert {c.action for c in changes if c.section == "alert_silences"} == {"unchanged"}
    assert Silence.objects.count() == 4 and history_for(active).count() == 1


def test_apply_creates_and_updates_a_silence_by_comment_and_start(clock):
    make_integration("alertmanager", name="Prod")
    text = """
alert_silences:
  - comment: |
      Disk alerts during the migration
    starts: 2026-12-01T12:30:00Z
    ends: 2026-12-01T14:00:00Z
    matchers: ['alertname=~"Disk.*"', {label: env, value: prod}]
    integration: Prod
"""
    assert [c.action for c in apply(text, dry_run=True)] == ["create"] and not Silence.objects.exists()
    apply(text)
    silence = Silence.objects.get()
    assert silence.comment == "Disk alerts during the migration" and silence.integration.name == "Prod"
    assert silence.matchers == [{"label": "alertname", "op": "=~", "value": "Disk.*"},
                                {"label": "env", "op": "=", "value": "prod"}]
    assert services.silence_state(silence) == "pending"
    assert [c.action for c in apply(text)] == ["unchanged"]
    changes = apply(text.replace("value: prod", "value: staging"))
    assert [(c.action, list(c.fields)) for c in changes] == [("update", ["matchers"])]
    silence.refresh_from_db()
    assert silence.matchers[1]["value"] == "staging" and Silence.objects.count() == 1


def test_an_expired_silence_cannot_be_changed_from_the_file(clock):
    silence = SilenceFactory(comment="Noise", starts_at=NOW - HOUR, ends_at=NOW + HOUR,
                             matchers=[{"label": "alertname", "op": "=", "value": "A"}])
    services.expire_silence(silence, actor=ACTOR)
    text = ("alert_silences:\n  - {comment: Noise, starts: '2026-12-01T11:00:00Z', ends: '2026-12-01T13:00:00Z', "
            "matchers: [{label: alertname, value: %s}]}\n")
    assert [c.action for c in apply(text % "A")] == ["unchanged"]
    with pytest.raises(config_as_code.ConfigError) as caught:
        apply(text % "B")
    assert caught.value.problems == ["alert_silences/Noise @ 2026-12-01T11:00:00+00:00: This silence has ended; "
                                     "create a new one."]


@pytest.mark.parametrize("text, where", [
    ("alert_maintenance_windows:\n  - {title: W, starts: '2026-12-01T13:00:00', ends: '2026-12-01T14:00:00Z', "
     "services: [checkout]}\n", "alert_maintenance_windows/W @ 2026-12-01T13:00:00/starts: "),
    ("alert_maintenance_windows:\n  - {title: W, starts: 'tomorrow', ends: '2026-12-01T14:00:00Z', "
     "services: [checkout]}\n", "alert_maintenance_windows/W @ tomorrow/starts: "),
    ("alert_maintenance_windows:\n  - {title: W, starts: '2026-12-01T13:00:00Z', ends: '2026-12-01T14:00:00Z', "
     "services: [checkout, nosuch]}\n", "alert_maintenance_windows/W @ 2026-12-01T13:00:00+00:00/services: "),
    ("alert_maintenance_windows:\n  - {title: W, starts: '2026-12-01T13:00:00Z', ends: '2026-12-01T14:00:00Z', "
     "cis: [CI-999]}\n", "alert_maintenance_windows/W @ 2026-12-01T13:00:00+00:00/cis: "),
    ("alert_maintenance_windows:\n  - {title: W, starts: '2026-12-01T13:00:00Z', ends: '2026-12-01T12:00:00Z', "
     "services: [checkout]}\n", "alert_maintenance_windows/W @ 2026-12-01T13:00:00+00:00/ends: "),
    ("alert_maintenance_windows:\n  - {title: W, starts: '2026-12-01T13:00:00Z', ends: '2026-12-01T14:00:00Z'}\n",
     "alert_maintenance_windows/W @ 2026-12-01T13:00:00+00:00/services: "),
    ("alert_maintenance_windows:\n  - {title: W, starts: '2026-12-01T13:00:00Z', ends: '2026-12-01T14:00:00Z', "
     "services: [checkout]}\n  - {title: W, starts: '2026-12-01T14:00:00+01:00', ends: '2026-12-01T15:00:00Z', "
     "services: [checkout]}\n", "alert_maintenance_windows/W @ 2026-12-01T13:00:00+00:00: "),
    ("alert_maintenance_windows:\n  - {title: W, starts: '2026-12-01T13:00:00Z'}\n", "alert_maintenance_windows/0: "),
    ("alert_silences:\n  - {comment: S, starts: '2026-12-01T13:00:00Z', ends: '2026-12-01T14:00:00Z', "
     "matchers: ['team=~\"(db\"']}\n", "alert_silences/S @ 2026-12-01T13:00:00+00:00/matchers: "),
    ("alert_silences:\n  - {comment: S, starts: '2026-12-01T13:00:00Z', ends: '2026-12-01T14:00:00Z', "
     "matchers: [{label: team, value: db}], integration: Nowhere}\n",
     "alert_silences/S @ 2026-12-01T13:00:00+00:00/integration: "),
    ("alert_silences:\n  - {comment: S, starts: '2026-12-01T08:00:00Z', ends: '2026-12-01T09:00:00Z', "
     "matchers: [{label: team, value: db}]}\n", "alert_silences/S @ 2026-12-01T08:00:00+00:00/ends: "),
    ("alert_silences:\n  - {comment: S, starts: '2026-12-01T13:00:00Z', ends: '2026-12-01T14:00:00Z', "
     "matchers: []}\n", "alert_silences/0/matchers: "),
])
def test_a_bad_window_or_silence_is_refused_with_its_place_and_nothing_is_written(clock, text, where):
    ServiceFactory(slug="checkout")
    with pytest.raises(config_as_code.ConfigError) as caught:
        apply(text)
    assert any(problem.startswith(where) for problem in caught.value.problems), caught.value.problems
    assert not MaintenanceWindow.objects.exists() and not Silence.objects.exists()


def test_export_of_windows_and_silences_takes_a_fixed_number_of_queries(clock, django_assert_max_num_queries):
    for number in range(3):
        MaintenanceWindowFactory(services=[ServiceFactory()], cis=[CIFactory()])
        SilenceFactory(integration=make_integration(name=f"I{number}")[0])
    with django_assert_max_num_queries(4):
        exported = [section.export() for section in config_as_code.sections()
                    if section.key in ("alert_maintenance_windows", "alert_silences")]
    assert [len(items) for items in exported] == [3, 3]
