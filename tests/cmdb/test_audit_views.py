"""The configuration audit pages: dashboard with the trend, run details with findings and the
"accept as exception" form, rules and exceptions, per role. The path through them in a real browser is
in tests/e2e/test_cmdb_audits.py."""

import datetime
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsdesk.cmdb import auditing
from opsdesk.cmdb.models import AuditException, AuditRule, AuditRun, ConfigurationItem
from tests.cmdb.factories import FACTORY_ACTOR, CIFactory

pytestmark = pytest.mark.django_db
DASHBOARD = "/cmdb/audits/"
UNOWNED = "production-server-without-owner"


def _run_with_unowned_server(team, now=None):
    ci = CIFactory(name="legacy01", status="in_production")
    CIFactory(name="web01", status="in_production", owner_team=team)
    return ci, auditing.run_audit(actor=FACTORY_ACTOR, now=now)


def test_pages_need_a_login(client, db):
    for url in (DASHBOARD, "/cmdb/audits/rules/", "/cmdb/audits/exceptions/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_dashboard_before_any_run(client, users):
    client.force_login(users["viewer"])
    html = client.get(DASHBOARD).content.decode()
    assert "No audit has run yet." in html
    assert "Run audit now" not in html
    client.force_login(users["manager"])
    assert "Run audit now" in client.get(DASHBOARD).content.decode()


def test_dashboard_shows_latest_compliance_per_rule_and_class_and_the_trend(client, users, team):
    now = timezone.now()
    _ci, first = _run_with_unowned_server(team, now=now - datetime.timedelta(days=1))
    second = auditing.run_audit(actor=FACTORY_ACTOR, now=now)
    client.force_login(users["viewer"])
    response = client.get(DASHBOARD)
    html = response.content.decode()
    assert re.search(r'id="overall-compliance">[\d.]+ %', html)
    row = re.search(r'<tr class="class-row" data-rule="production-server-without-owner" data-class="server">(.*?)</tr>',
                    html, re.S).group(1)
    assert re.findall(r'<td class="text-end">(\d+)</td>', row) == ["2", "1", "0"] and "50 %" in row
    trend = response.context["trend"]
    assert trend["labels"][0].startswith(first.number) and trend["labels"][1].startswith(second.number)
    assert trend["overall"] == [float(first.compliance), float(second.compliance)]
    unowned = next(r for r in trend["rules"] if r["label"] == "Production servers without an owner team")
    assert unowned["values"] == [50.0, 50.0]
    data = re.search(r'<script id="audit-trend" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert json.loads(data) == json.loads(json.dumps(trend))
    assert 'src="/static/opsdesk/audit_trend.js"' in html and "<script>" not in html
    with CaptureQueriesContext(connection) as few:
        client.get(DASHBOARD)
    for _ in range(4):
        auditing.run_audit(actor=FACTORY_ACTOR)
    with CaptureQueriesContext(connection) as more:
        client.get(DASHBOARD)
    assert len(more) == len(few), [q["sql"] for q in more.captured_queries]


def test_a_failed_run_is_announced_on_the_dashboard(client, users):
    AuditRule.objects.filter(slug=UNOWNED).update(conditions=[{"field": "attr.gone", "op": "eq", "value": "x"}])
    run = auditing.run_audit(actor=FACTORY_ACTOR)
    client.force_login(users["viewer"])
    html = client.get(DASHBOARD).content.decode()
    assert f"{run.number}</a> failed" in html and UNOWNED in html


def test_run_audit_now_per_role(client, users, django_capture_on_commit_callbacks):
    client.force_login(users["responder"])
    assert client.post("/cmdb/audits/run/").status_code == 403
    client.force_login(users["manager"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/cmdb/audits/run/")
    run = AuditRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.status == "done"


def test_run_detail_lists_findings_with_links_filters_and_accept_buttons(client, users, team):
    ci, run = _run_with_unowned_server(team)
    client.force_login(users["viewer"])
    html = client.get(run.get_absolute_url()).content.decode()
    assert f'href="{ci.get_absolute_url()}"' in html and "Accept as exception" not in html
    client.force_login(users["manager"])
    page = client.get(run.get_absolute_url(), {"rule": UNOWNED, "show": "failing"})
    html = page.content.decode()
    assert [r["finding"].ci for r in page.context["rows"]] == [ci]
    assert f"/cmdb/audits/findings/{page.context['rows'][0]['finding'].pk}/accept/" in html
    assert client.get(run.get_absolute_url(), {"show": "excepted"}).context["page"].paginator.count == 0


def test_run_detail_query_count_does_not_grow_with_findings(client, users, team):
    client.force_login(users["manager"])
    _ci, run = _run_with_unowned_server(team)
    client.get(run.get_absolute_url())
    with CaptureQueriesContext(connection) as one:
        client.get(run.get_absolute_url())
    for _ in range(12):
        CIFactory(status="in_production")
    many_run = auditing.run_audit(actor=FACTORY_ACTOR)
    client.get(many_run.get_absolute_url())
    with CaptureQueriesContext(connection) as many:
        page = client.get(many_run.get_absolute_url())
    assert len(page.context["rows"]) == 13
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


def test_accept_form_per_role_errors_and_success(client, users, team):
    ci, run = _run_with_unowned_server(team)
    finding = run.findings.get(rule__slug=UNOWNED)
    url = f"/cmdb/audits/findings/{finding.pk}/accept/"
    client.force_login(users["responder"])
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "x", "expires_at": "2099-01-01"}).status_code == 403
    client.force_login(users["manager"])
    assert client.get(url).status_code == 200
    missing = client.post(url, {"reason": "", "expires_at": "2030-01-01"})
    assert missing.status_code == 422 and "This field is required" in missing.content.decode()
    past = client.post(url, {"reason": "Replaced", "expires_at": "2001-01-01"})
    assert past.status_code == 422
    html = past.content.decode()
    assert 'class="form-control is-invalid"' in html and "must be in the future" in html
    assert not AuditException.objects.exists()
    until = (timezone.localdate() + datetime.timedelta(days=14)).isoformat()
    done = client.post(url, {"reason": "Replaced next sprint", "expires_at": until})
    assert done.status_code == 302 and done["Location"] == f"{run.get_absolute_url()}?rule={UNOWNED}"
    exception = AuditException.objects.get()
    assert (exception.ci, exception.reason) == (ci, "Replaced next sprint")
    assert f"Accepted until {until}" in client.get(run.get_absolute_url()).content.decode()
    again = client.post(url, {"reason": "again", "expires_at": until})
    assert again.status_code == 409 and "already accepted" in again.content.decode()


def test_rule_pages_and_form(client, users):
    client.force_login(users["viewer"])
    listing = client.get("/cmdb/audits/rules/").content.decode()
    assert "Production servers without an owner team" in listing and "New rule" not in listing
    rule = AuditRule.objects.get(slug=UNOWNED)
    detail = client.get(rule.get_absolute_url()).content.decode()
    assert "owner_team isnull true" in detail and "ci_class eq server" in detail
    for role in ("viewer", "manager"):
        client.force_login(users[role])
        assert client.get("/cmdb/audits/rules/new/").status_code == 403
    client.force_login(users["admin"])
    form = {"slug": "no-location", "name": "No location", "kind": "filter", "severity": "low", "enabled": "on",
            "scope": "ci_class eq server\nstatus in in_production, maintenance", "conditions": "locaton isnull true"}
    invalid = client.post("/cmdb/audits/rules/new/", form)
    assert invalid.status_code == 422 and "Entry 1: unknown field “locaton”" in invalid.content.decode()
    assert not AuditRule.objects.filter(slug="no-location").exists()
    created = client.post("/cmdb/audits/rules/new/", {**form, "conditions": "location isnull true"})
    rule = AuditRule.objects.get(slug="no-location")
    assert created["Location"] == rule.get_absolute_url()
    assert rule.scope[1] == {"field": "status", "op": "in", "value": ["in_production", "maintenance"]}
    edited = client.post(f"/cmdb/audits/rules/{rule.pk}/edit/", {**form, "name": "Servers without a location",
                                                                  "conditions": "location isnull true"})
    assert edited.status_code == 302
    assert client.post(f"/cmdb/audits/rules/{rule.pk}/delete/").status_code == 302
    assert not AuditRule.objects.filter(slug="no-location").exists()


def test_a_builtin_rules_form_has_no_definition_fields(client, users):
    rule = AuditRule.objects.get(slug=UNOWNED)
    client.force_login(users["admin"])
    html = client.get(f"/cmdb/audits/rules/{rule.pk}/edit/").content.decode()
    assert 'name="conditions"' not in html and 'name="scope"' not in html and 'name="enabled"' in html
    client.post(f"/cmdb/audits/rules/{rule.pk}/edit/", {"name": rule.name, "severity": "low"})
    rule.refresh_from_db()
    assert not rule.enabled and rule.severity == "low"
    response = client.post(f"/cmdb/audits/rules/{rule.pk}/delete/", follow=True)
    assert "disable it instead" in response.content.decode() and AuditRule.objects.filter(pk=rule.pk).exists()


def test_exceptions_page_and_revoke(client, users, team):
    _ci, run = _run_with_unowned_server(team)
    exception = auditing.accept_finding(run.findings.get(rule__slug=UNOWNED), actor=FACTORY_ACTOR,
                                        reason="Spare", expires_at=timezone.now() + datetime.timedelta(days=3))
    client.force_login(users["viewer"])
    revoke = f"/cmdb/audits/exceptions/{exception.pk}/revoke/"
    html = client.get("/cmdb/audits/exceptions/").content.decode()
    assert "Spare" in html and revoke not in html
    assert client.post(revoke).status_code == 403
    client.force_login(users["manager"])
    assert revoke in client.get("/cmdb/audits/exceptions/").content.decode()
    assert client.post(revoke).status_code == 302
    exception.refresh_from_db()
    assert exception.revoked_at is not None
    assert "Spare" in client.get("/cmdb/audits/exceptions/", {"state": "revoked"}).content.decode()
    assert "Spare" not in client.get("/cmdb/audits/exceptions/").content.decode()


def test_a_drift_finding_shows_recorded_and_discovered_values(client, users, team):
    ci = CIFactory(name="db01", status="in_production", owner_team=team, ip_addresses=["10.0.0.5", "10.0.0.7"])
    ConfigurationItem.objects.filter(pk=ci.pk).update(discovered={"ip_addresses": ["10.0.0.6"]})
    run = auditing.run_audit(actor=FACTORY_ACTOR)
    client.force_login(users["viewer"])
    html = client.get(run.get_absolute_url(), {"rule": "drift-from-discovery"}).content.decode()
    assert "<td>ip_addresses</td><td>10.0.0.5, 10.0.0.7</td><td>10.0.0.6</td>" in html
