"""The audit API: rules (admins write), runs (managers start one: 202), findings (accept as an exception)
and exceptions (revoke), per role, with pinned list query counts; and acceptance 5 end to end."""

import datetime
import uuid

import factory
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsdesk.cmdb import auditing
from opsdesk.cmdb.models import AuditException, AuditFinding, AuditRule, AuditRun
from opsdesk.core.testing import ROLES, APIRecordTests
from tests.cmdb.factories import FACTORY_ACTOR, CIFactory

pytestmark = pytest.mark.django_db
RULES = "/api/v1/cmdb/audit-rules/"
RUNS = "/api/v1/cmdb/audit-runs/"
FINDINGS = "/api/v1/cmdb/audit-findings/"
EXCEPTIONS = "/api/v1/cmdb/audit-exceptions/"
UNOWNED = "production-server-without-owner"
IN_A_MONTH = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()


class AuditRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditRule

    slug = factory.Sequence(lambda n: f"rule-{n}")
    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = "filter"
    conditions = [{"field": "location", "op": "isnull", "value": True}]

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return auditing.create_rule(actor=FACTORY_ACTOR, data=kwargs)


class TestAuditRuleAPI(APIRecordTests):
    endpoint = RULES
    factory = AuditRuleFactory
    writer_role = "admin"
    create_status = {"viewer": 403, "responder": 403, "manager": 403, "admin": 201}
    update_status = {"viewer": 403, "responder": 403, "manager": 403, "admin": 200}
    list_queries = 3  # token, count, page

    def create_payload(self, team):
        return {"slug": f"no-vendor-{uuid.uuid4().hex[:6]}", "name": "Servers without a vendor", "kind": "filter",
                "scope": [{"field": "ci_class", "op": "eq", "value": "server"}],
                "conditions": [{"field": "vendor", "op": "isnull", "value": True}], "severity": "low"}

    def update_payload(self):
        return {"severity": "high", "description": "Vendors are needed for support contracts"}


def test_a_bad_rule_is_400_naming_the_entry_and_nothing_is_stored(api, users, team):
    before = AuditRule.objects.count()
    payload = {**TestAuditRuleAPI().create_payload(team),
               "conditions": [{"field": "vendor", "op": "isnull", "value": True},
                              {"field": "last_seen_at", "op": "older_than_days", "value": "a month"}]}
    response = api(users["admin"]).post(RULES, payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"]["conditions"].startswith("Entry 2: the value must be a number of days")
    assert AuditRule.objects.count() == before


def test_a_builtin_rule_can_be_disabled_but_not_redefined_or_deleted(api, users):
    rule = AuditRule.objects.get(slug=UNOWNED)
    client = api(users["admin"])
    assert client.patch(f"{RULES}{rule.pk}/", {"enabled": False}, format="json").json()["enabled"] is False
    redefined = client.patch(f"{RULES}{rule.pk}/", {"conditions": [{"field": "vendor", "op": "isnull",
                                                                    "value": True}]}, format="json")
    assert redefined.status_code == 400 and "keeps its definition" in redefined.json()["error"]["fields"]["conditions"]
    deleted = client.delete(f"{RULES}{rule.pk}/")
    assert deleted.status_code == 409 and "disable it instead" in deleted.json()["error"]["message"]
    rule.refresh_from_db()
    assert rule.conditions == [{"field": "owner_team", "op": "isnull", "value": True}]


def test_delete_a_custom_rule_per_role(api, users):
    rule = AuditRuleFactory()
    for role in ("viewer", "responder", "manager"):
        assert api(users[role]).delete(f"{RULES}{rule.pk}/").status_code == 403, role
    assert api(users["admin"]).delete(f"{RULES}{rule.pk}/").status_code == 204
    assert not AuditRule.objects.filter(pk=rule.pk).exists()


# --- runs --------------------------------------------------------------------------------------------

def test_start_a_run_per_role(api, users, django_capture_on_commit_callbacks):
    CIFactory(status="in_production")
    for role in ROLES:
        with django_capture_on_commit_callbacks(execute=True):
            response = api(users[role]).post(RUNS, format="json")
        expected = 202 if role in ("manager", "admin") else 403
        assert response.status_code == expected, (role, response.content)
        if expected == 202:
            body = response.json()
            assert body["number"].startswith("AUD-") and body["status"] == "running"
            assert AuditRun.objects.get(pk=body["id"]).status == "done"  # the worker (eager here) ran it
    assert api(users["admin"], scope="read").post(RUNS, format="json").status_code == 403


def test_a_second_run_while_one_is_running_is_409(api, users):
    client = api(users["manager"])
    first = client.post(RUNS, format="json")  # its worker hand-off happens on commit, which never comes here
    assert first.status_code == 202
    second = client.post(RUNS, format="json")
    assert second.status_code == 409
    assert first.json()["number"] in second.json()["error"]["message"]
    assert AuditRun.objects.count() == 1


def test_run_list_query_count_is_pinned_and_detail_has_results(api, users):
    client = api(users["viewer"])
    auditing.run_audit(actor=FACTORY_ACTOR)
    client.get(RUNS)
    with CaptureQueriesContext(connection) as one:
        assert client.get(RUNS).status_code == 200
    for _ in range(5):
        auditing.run_audit(actor=FACTORY_ACTOR)
    with CaptureQueriesContext(connection) as many:
        runs = client.get(RUNS).json()
    assert len(many) == len(one) == 3, [q["sql"] for q in many.captured_queries]  # token, count, page
    assert runs["count"] == 6
    detail = client.get(f"{RUNS}{runs['results'][0]['id']}/").json()
    assert {r["rule"] for r in detail["results"]} == set(AuditRule.objects.values_list("slug", flat=True))


# --- findings and exceptions -------------------------------------------------------------------------

def _unowned_finding(**ci):
    ci = CIFactory(status="in_production", **ci)
    return auditing.run_audit(actor=FACTORY_ACTOR).findings.get(rule__slug=UNOWNED, ci=ci)


def test_findings_list_filters_and_query_count(api, users, team):
    client = api(users["viewer"])
    ci = CIFactory(status="in_production", name="legacy01")
    run = auditing.run_audit(actor=FACTORY_ACTOR)
    client.get(FINDINGS)
    with CaptureQueriesContext(connection) as one:
        assert client.get(FINDINGS).status_code == 200
    for _ in range(10):
        CIFactory(status="in_production")
    later = auditing.run_audit(actor=FACTORY_ACTOR)
    with CaptureQueriesContext(connection) as many:
        body = client.get(FINDINGS).json()
    assert len(many) == len(one) == 3, [q["sql"] for q in many.captured_queries]  # token, count, page
    assert body["count"] == 12
    by_run = client.get(FINDINGS, {"run": run.pk, "rule": UNOWNED}).json()["results"]
    assert [(f["run"], f["ci"]["number"]) for f in by_run] == [(run.number, ci.number)]
    by_ci = client.get(FINDINGS, {"ci": ci.pk}).json()["results"]
    assert {f["run"] for f in by_ci} == {run.number, later.number}
    assert client.get(FINDINGS, {"excepted": "true"}).json()["count"] == 0


def test_accept_a_finding_per_role(api, users, team, other_team):
    expected = {"viewer": 403, "responder": 403, "manager": 201, "admin": 201}
    for role in ROLES:
        finding = _unowned_finding()
        response = api(users[role]).post(f"{FINDINGS}{finding.pk}/accept/",
                                         {"reason": "Decommissioned next month", "expires_at": IN_A_MONTH},
                                         format="json")
        assert response.status_code == expected[role], (role, response.content)
    assert AuditException.objects.count() == 2
    assert api(users["manager"], scope="read").post(f"{FINDINGS}{finding.pk}/accept/", {}).status_code == 403


def test_a_team_manager_accepts_findings_of_their_teams_cis_only(api, users, team, other_team):
    AuditRule.objects.filter(slug=UNOWNED).update(enabled=False)
    auditing.create_rule(actor=FACTORY_ACTOR, data={
        "slug": "no-location", "name": "No location", "kind": "filter",
        "conditions": [{"field": "location", "op": "isnull", "value": True}]})
    own, foreign = CIFactory(owner_team=team), CIFactory(owner_team=other_team)
    run = auditing.run_audit(actor=FACTORY_ACTOR)
    client = api(users["team_manager"])
    payload = {"reason": "Spare", "expires_at": IN_A_MONTH}
    assert client.post(f"{FINDINGS}{run.findings.get(ci=own).pk}/accept/", payload, format="json").status_code == 201
    assert client.post(f"{FINDINGS}{run.findings.get(ci=foreign).pk}/accept/", payload,
                       format="json").status_code == 403


def test_accept_with_bad_input_is_400_and_twice_is_409(api, users):
    finding = _unowned_finding()
    client = api(users["manager"])
    url = f"{FINDINGS}{finding.pk}/accept/"
    missing = client.post(url, {"expires_at": IN_A_MONTH}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    too_late = (timezone.localdate() + datetime.timedelta(days=400)).isoformat()
    far = client.post(url, {"reason": "x", "expires_at": too_late}, format="json")
    assert far.status_code == 400 and "at most 366 days" in far.json()["error"]["fields"]["expires_at"]
    assert not AuditException.objects.exists()
    assert client.post(url, {"reason": "x", "expires_at": IN_A_MONTH}, format="json").status_code == 201
    again = client.post(url, {"reason": "x", "expires_at": IN_A_MONTH}, format="json")
    assert again.status_code == 409 and "already accepted" in again.json()["error"]["message"]


def test_exceptions_list_revoke_per_role_and_query_count(api, users):
    for _ in range(3):
        finding = _unowned_finding()
        auditing.accept_finding(finding, actor=FACTORY_ACTOR, reason="Spare part",
                                expires_at=timezone.now() + datetime.timedelta(days=5))
    client = api(users["viewer"])
    client.get(EXCEPTIONS)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(EXCEPTIONS, {"state": "active"}).json()
    assert len(queries) == 3, [q["sql"] for q in queries.captured_queries]  # token, count, page
    assert body["count"] == 3 and body["results"][0]["state"] == "active"
    exception = AuditException.objects.first()
    for role in ("viewer", "responder"):
        assert api(users[role]).post(f"{EXCEPTIONS}{exception.pk}/revoke/").status_code == 403
    revoked = api(users["manager"]).post(f"{EXCEPTIONS}{exception.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert api(users["admin"]).post(f"{EXCEPTIONS}{exception.pk}/revoke/").status_code == 409
    assert client.get(EXCEPTIONS, {"state": "revoked"}).json()["count"] == 1
    assert client.get(EXCEPTIONS, {"state": "active"}).json()["count"] == 2


def _result(client, run_id, rule=UNOWNED, ci_class="server"):
    run = client.get(f"{RUNS}{run_id}/").json()
    return run, next(r for r in run["results"] if r["rule"] == rule and r["ci_class"] == ci_class)


def test_acceptance_5_an_accepted_finding_leaves_compliance_until_it_expires(api, users, team,
                                                                              django_capture_on_commit_callbacks):
    client = api(users["manager"])
    created = client.post("/api/v1/cmdb/cis/", {"name": "legacy01", "ci_class": "server",
                                               "environment": "production"}, format="json")
    assert created.status_code == 201, created.content
    server = created.json()
    assert client.post(f"/api/v1/cmdb/cis/{server['id']}/deploy/", {}, format="json").status_code == 200
    CIFactory(status="in_production", owner_team=team)  # an owned production server: compliant

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(RUNS, format="json")
    assert started.status_code == 202
    run, result = _result(client, started.json()["id"])
    assert run["status"] == "done"
    assert (result["checked"], result["failing"], result["excepted"], result["compliance"]) == (2, 1, 0, "50.00")
    findings = client.get(FINDINGS, {"run": run["id"], "rule": UNOWNED}).json()["results"]
    assert [f["ci"]["number"] for f in findings] == [server["number"]]

    accepted = client.post(f"{FINDINGS}{findings[0]['id']}/accept/",
                           {"reason": "Decommissioned on the 30th", "expires_at": IN_A_MONTH}, format="json")
    assert accepted.status_code == 201 and accepted.json()["state"] == "active"

    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(RUNS, format="json").json()
    run, result = _result(client, second["id"])
    assert (result["checked"], result["failing"], result["excepted"], result["compliance"]) == (2, 0, 1, "100.00")
    assert [f["excepted"] for f in client.get(FINDINGS, {"run": run["id"], "rule": UNOWNED}).json()["results"]] \
        == [True]

    # The clock moves past the expiry (the scheduled run takes `now`).
    expiry = AuditException.objects.get().expires_at
    third = auditing.run_audit(actor=FACTORY_ACTOR, now=expiry + datetime.timedelta(minutes=1))
    run, result = _result(client, third.pk)
    assert (result["failing"], result["excepted"], result["compliance"]) == (1, 0, "50.00")
    assert AuditFinding.objects.get(run=third, rule__slug=UNOWNED).excepted is False
