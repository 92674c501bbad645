"""Configuration audits: the conditions language (every operator, on real rows), the default rules (each
finds what it should and nothing else), compliance with exceptions over a moving clock, unauthorised
changes, rule writes and failing runs."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from opsdesk.cmdb import audit_conditions, auditing, services
from opsdesk.cmdb.audit_defaults import RULES
from opsdesk.cmdb.models import (
    AuditException,
    AuditFinding,
    AuditResult,
    AuditRule,
    AuditRun,
    ConfigurationItem,
    DiscoveredHost,
)
from opsdesk.core.audit import history_for
from opsdesk.core.models import OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from tests.cmdb.factories import FACTORY_ACTOR, CIFactory, cls
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = FACTORY_ACTOR
DAY = datetime.timedelta(days=1)


def names(queryset):
    return {ci.name for ci in queryset}


# --- the conditions language -------------------------------------------------------------------------

@pytest.fixture
def cmdb(team, other_team):
    """Four CIs that differ in every field the cases below look at."""
    today, now = timezone.localdate(), timezone.now()
    services.create_attribute(actor=ACTOR, data={"key": "end_of_support", "label": "End of support", "type": "date"})
    svc = ServiceFactory(slug="shop", owner_team=team)
    a = CIFactory(name="a", status="in_production", owner_team=team, tags=["pci"], services=[svc],
                  ip_addresses=["10.0.0.1"], hostnames=["a.example.net"], location="Berlin DC1", vendor="Dell",
                  warranty_end=today - 10 * DAY, last_seen_at=now - 40 * DAY, discovery_source="nmap",
                  purchase_cost=1000, attributes={"os": "Debian 12", "cpu_count": 8, "memory_gb": "64",
                                                  "virtualised": False, "end_of_support": "2020-01-01"})
    CIFactory(name="b", environment="test", ip_addresses=["10.0.0.2"], location="Paris",
              warranty_end=today + 20 * DAY, last_seen_at=now - 5 * DAY,
              attributes={"os": "Ubuntu 22.04", "cpu_count": 2, "memory_gb": "8.5", "virtualised": True,
                          "end_of_support": (today + 10 * DAY).isoformat()})
    CIFactory(name="c", ci_class=cls("certificate"), status="in_production", owner_team=other_team,
              tags=["pci", "web"], expires_on=today - DAY, attributes={"common_name": "shop.example.com"})
    CIFactory(name="d", ci_class=cls("virtual-machine"), status="in_production", owner_team=team,
              attributes={"hypervisor": a.pk, "os": "Debian 12"})
    return {"team": team.slug, "other": other_team.slug}


def _cases():
    today, now = timezone.localdate(), timezone.now()
    return [
        ("status", "eq", "in_production", "acd"), ("status", "ne", "planned", "acd"),
        ("status", "in", ["planned", "retired"], "b"), ("environment", "not_in", ["production"], "b"),
        ("ci_class", "eq", "server", "ab"), ("ci_class", "in", ["certificate", "virtual-machine"], "cd"),
        ("owner_team", "eq", "{team}", "ad"), ("owner_team", "ne", "{team}", "bc"),
        ("owner_team", "in", ["{team}", "{other}"], "acd"), ("owner_team", "not_in", ["{team}"], "bc"),
        ("owner_team", "isnull", True, "b"), ("owner_team", "isnull", False, "acd"),
        ("tags", "eq", "pci", "ac"), ("tags", "ne", "pci", "bd"), ("tags", "in", ["web", "nope"], "c"),
        ("tags", "not_in", ["pci"], "bd"), ("tags", "isnull", True, "bd"), ("tags", "isnull", False, "ac"),
        ("services", "eq", "shop", "a"), ("services", "isnull", True, "bcd"),
        ("location", "contains", "berlin", "a"), ("location", "eq", "Paris", "b"),
        ("location", "in", ["Paris", "Rome"], "b"), ("location", "not_in", ["Paris"], "acd"),
        ("location", "isnull", True, "cd"), ("location", "isnull", False, "ab"),
        ("ip_addresses", "contains", "10.0.0.1", "a"), ("ip_addresses", "isnull", True, "cd"),
        ("hostnames", "contains", "A.example.net", "a"),
        ("warranty_end", "before_today", None, "a"), ("warranty_end", "lt", today.isoformat(), "a"),
        ("warranty_end", "gte", today.isoformat(), "b"), ("warranty_end", "within_days", 30, "b"),
        ("warranty_end", "within_days", 10, ""), ("warranty_end", "older_than_days", 5, "a"),
        ("warranty_end", "older_than_days", 11, ""), ("warranty_end", "eq", (today + 20 * DAY).isoformat(), "b"),
        ("warranty_end", "ne", (today + 20 * DAY).isoformat(), "acd"), ("warranty_end", "isnull", True, "cd"),
        ("warranty_end", "within_last_days", 30, "a"), ("expires_on", "before_today", None, "c"),
        ("last_seen_at", "older_than_days", 30, "a"), ("last_seen_at", "within_last_days", 30, "b"),
        ("last_seen_at", "gt", (now - 10 * DAY).isoformat(), "b"), ("last_seen_at", "lte", now.isoformat(), "ab"),
        ("last_seen_at", "before_today", None, "ab"), ("last_seen_at", "isnull", True, "cd"),
        ("purchase_cost", "gte", 500, "a"), ("purchase_cost", "lt", 500, ""), ("purchase_cost", "isnull", True, "bcd"),
        ("missing_from_discovery", "eq", False, "abcd"), ("missing_from_discovery", "ne", False, ""),
        ("attr.os", "eq", "Debian 12", "ad"), ("attr.os", "ne", "Debian 12", "bc"),
        ("attr.os", "contains", "ubuntu", "b"), ("attr.os", "in", ["Ubuntu 22.04"], "b"),
        ("attr.os", "not_in", ["Ubuntu 22.04"], "acd"), ("attr.os", "isnull", True, "c"),
        ("attr.os", "isnull", False, "abd"), ("attr.cpu_count", "gt", 4, "a"), ("attr.cpu_count", "lte", 2, "b"),
        ("attr.cpu_count", "eq", 8, "a"), ("attr.cpu_count", "in", [2, 8], "ab"),
        ("attr.cpu_count", "isnull", True, "cd"),
        # Compared as numbers, not text: as text "64" < "9" and "8.5" > "10".
        ("attr.memory_gb", "lt", 10, "b"), ("attr.memory_gb", "gt", 9, "a"),
        ("attr.virtualised", "eq", True, "b"), ("attr.virtualised", "ne", True, "acd"),
        ("attr.virtualised", "isnull", True, "cd"),
        ("attr.end_of_support", "before_today", None, "a"), ("attr.end_of_support", "within_days", 30, "b"),
        ("attr.end_of_support", "older_than_days", 365, "a"), ("attr.end_of_support", "gt", "2021-01-01", "b"),
        ("attr.hypervisor", "isnull", False, "d"),
    ]


@pytest.mark.parametrize("field,op,value,expected", _cases(), ids=lambda v: str(v) if not isinstance(v, list) else
                         ",".join(map(str, v)))
def test_each_operator_selects_the_right_cis(cmdb, field, op, value, expected):
    value = [v.format(**cmdb) for v in value] if isinstance(value, list) and value and isinstance(value[0], str) \
        else value.format(**cmdb) if isinstance(value, str) else value
    entries = audit_conditions.normalise("ci", [{"field": field, "op": op, "value": value}], key="conditions")
    assert names(audit_conditions.matching(ConfigurationItem.objects.all(), "ci", entries)) == set(expected)


def test_conditions_are_anded(cmdb):
    entries = audit_conditions.normalise("ci", [{"field": "tags", "op": "eq", "value": "pci"},
                                                {"field": "ci_class", "op": "eq", "value": "server"}], key="scope")
    assert names(audit_conditions.matching(ConfigurationItem.objects.all(), "ci", entries)) == {"a"}


@pytest.mark.parametrize("entry,message", [
    ({"field": "colour", "op": "eq", "value": "red"}, "unknown field “colour”"),
    ({"field": "attr.nope", "op": "eq", "value": "x"}, "unknown field “attr.nope”"),
    ({"field": "status", "op": "lt", "value": "planned"}, "the operator “lt” does not apply to status"),
    ({"field": "ci_class", "op": "isnull", "value": True}, "does not apply to ci_class"),
    ({"field": "status", "op": "eq", "value": "live"}, "“live” is not one of"),
    ({"field": "owner_team", "op": "eq", "value": "no-such-team"}, "no team with the key “no-such-team”"),
    ({"field": "warranty_end", "op": "lt", "value": "31/12/2024"}, "must be a date"),
    ({"field": "last_seen_at", "op": "older_than_days", "value": "a month"}, "number of days"),
    ({"field": "owner_team", "op": "isnull", "value": "maybe"}, "true or false"),
    ({"field": "status", "op": "in", "value": []}, "non-empty list"),
    ({"field": "attr.cpu_count", "op": "gt", "value": "many"}, "must be a number"),
    ({"field": "status", "op": "eq", "value": "planned", "why": 1}, "unexpected key “why”"),
    ("status eq planned", "an entry is an object"),
])
def test_bad_entries_are_refused_naming_the_entry(entry, message):
    good = {"field": "status", "op": "eq", "value": "planned"}
    with pytest.raises(ValidationError) as caught:
        audit_conditions.normalise("ci", [good, entry], key="conditions")
    problems = caught.value.message_dict["conditions"]
    assert len(problems) == 1
    assert problems[0].startswith("Entry 2: ") and message in problems[0], problems


def test_line_form_round_trips():
    entries = [{"field": "status", "op": "in", "value": ["in_production", "maintenance"]},
               {"field": "owner_team", "op": "isnull", "value": True},
               {"field": "warranty_end", "op": "before_today", "value": None}]
    text = audit_conditions.format_lines(entries)
    assert text == "status in in_production, maintenance\nowner_team isnull true\nwarranty_end before_today"
    parsed = audit_conditions.parse_lines(text + "\n# a comment\n", key="scope")
    assert audit_conditions.normalise("ci", parsed, key="scope") == entries
    with pytest.raises(ValidationError, match="Line 2"):
        audit_conditions.parse_lines("status eq planned\nstatus", key="scope")


# --- the default rules -------------------------------------------------------------------------------

def test_default_rules_are_shipped_valid_and_builtin():
    for rule in RULES:
        stored = AuditRule.objects.get(slug=rule["slug"])
        assert stored.builtin and stored.enabled
        assert auditing.validate_definition(stored.kind, stored.scope, stored.conditions) == (stored.scope,
                                                                                              stored.conditions)


def _subjects(run) -> dict:
    found = {}
    for finding in run.findings.select_related("rule", "ci"):
        found.setdefault(finding.rule.slug, set()).add(finding.ci.name if finding.ci else finding.key)
    return found


def test_each_default_rule_finds_what_it_should_and_nothing_else(team):
    today, now = timezone.localdate(), timezone.now()
    server, prod = cls("server"), "in_production"
    CIFactory(name="unowned", status=prod)
    CIFactory(name="owned", status=prod, owner_team=team, ip_addresses=["10.1.1.1"], hostnames=["owned.example.net"])
    CIFactory(name="unowned-planned")
    CIFactory(name="unowned-test", status=prod, environment="test")
    CIFactory(name="unowned-app", ci_class=cls("application"), status=prod)
    CIFactory(name="warranty-over", status=prod, owner_team=team, warranty_end=today - DAY)
    CIFactory(name="warranty-ok", status=prod, owner_team=team, warranty_end=today + DAY)
    CIFactory(name="warranty-over-stock", owner_team=team, warranty_end=today - DAY)
    CIFactory(name="cert-over", ci_class=cls("certificate"), status=prod, owner_team=team, expires_on=today - DAY)
    CIFactory(name="cert-ok", ci_class=cls("certificate"), status=prod, owner_team=team, expires_on=today)
    for name, source, seen in (("unseen-31", "nmap", now - 31 * DAY), ("seen-29", "nmap", now - 29 * DAY),
                               ("unseen-no-source", "", now - 40 * DAY), ("never-seen", "nmap", None)):
        CIFactory(name=name, ci_class=cls("application"), status=prod, owner_team=team, discovery_source=source,
                  last_seen_at=seen)
    # What discovery records (the import writes these): hosts no CI matched, and what it saw of CIs.
    for key, seen in (("10.9.9.9", now - DAY), ("10.1.1.1", now - DAY), ("OWNED.example.net.", now - DAY),
                      ("10.8.8.8", now - 40 * DAY)):
        DiscoveredHost.objects.create(source="nmap", key=key, first_seen_at=seen, last_seen_at=seen)
    drifted = CIFactory(name="drifted", ci_class=server, status=prod, owner_team=team, ip_addresses=["10.2.2.1"],
                        attributes={"os": "Debian 11", "memory_gb": "16"})
    same = CIFactory(name="same", ci_class=server, status=prod, owner_team=team, ip_addresses=["10.3.3.1", "10.3.3.2"],
                     hostnames=["same.example.net"], attributes={"memory_gb": "16.0"})
    retired = CIFactory(name="retired-drifted", ci_class=server, status="retired", owner_team=team)
    ConfigurationItem.objects.filter(pk=drifted.pk).update(discovered={
        "ip_addresses": ["10.2.2.9"], "attributes": {"os": "Debian 12", "memory_gb": 16}, "cpu_model": "ignored"})
    ConfigurationItem.objects.filter(pk=same.pk).update(discovered={
        "ip_addresses": ["10.3.3.2", "10.3.3.1"], "hostnames": ["SAME.example.net"], "attributes": {"memory_gb": 16},
        "location": ""})
    ConfigurationItem.objects.filter(pk=retired.pk).update(discovered={"ip_addresses": ["10.4.4.4"]})
    changed = CIFactory(name="changed", status=prod, owner_team=team, attributes={"os": "Debian 12"})
    covered = CIFactory(name="covered", status=prod, owner_team=team, attributes={"os": "Debian 12"})
    services.update_ci(changed, actor=ACTOR, data={"attributes": {"os": "Debian 13"}})
    services.update_ci(covered, actor=ACTOR, data={"attributes": {"os": "Debian 13"}, "change_reference": "CHG-7"})

    run = auditing.run_audit(actor=ACTOR)

    assert run.status == "done", run.error
    assert _subjects(run) == {
        "production-server-without-owner": {"unowned"},
        "warranty-expired-in-production": {"warranty-over"},
        "licence-or-certificate-expired-in-production": {"cert-over"},
        "not-seen-by-discovery": {"unseen-31"},
        "discovered-not-registered": {"nmap:10.9.9.9"},
        "drift-from-discovery": {"drifted"},
        "unauthorised-changes": {"changed"},
    }
    drift = AuditFinding.objects.get(run=run, rule__slug="drift-from-discovery").details["differences"]
    assert drift == [{"field": "attributes.os", "recorded": "Debian 11", "discovered": "Debian 12"},
                     {"field": "ip_addresses", "recorded": ["10.2.2.1"], "discovered": ["10.2.2.9"]}]
    checked = {r.rule.slug: r.checked for r in run.results.select_related("rule") if r.rule.kind == "drift"}
    assert checked == {"drift-from-discovery": 2}  # drifted and same; the retired one is out of scope


def test_unauthorised_change_is_a_finding_only_without_a_change_reference(team):
    ci = CIFactory(name="web01", status="in_production", owner_team=team, attributes={"os": "Debian 12"})
    services.update_ci(ci, actor=ACTOR, data={"attributes": {"os": "Debian 13"}, "change_reference": "CHG-12"})
    run = auditing.run_audit(actor=ACTOR)
    assert not run.findings.filter(rule__slug="unauthorised-changes").exists()

    services.update_ci(ci, actor=ACTOR, data={"attributes": {"os": "Debian 14"}})
    services.update_ci(ci, actor=ACTOR, data={"description": "untracked field: no finding"})
    run = auditing.run_audit(actor=ACTOR)
    finding = run.findings.get(rule__slug="unauthorised-changes")
    assert finding.ci == ci and finding.details["fields"] == ["attributes.os"]
    assert finding.details["changes"] == {"attributes.os": ["Debian 13", "Debian 14"]}
    assert "without a change request" in finding.message
    result = run.results.get(rule__slug="unauthorised-changes")
    assert (result.ci_class_id, result.checked, result.failing, result.compliance) == (None, 1, 1, 0)
    # It stays a finding for 30 days unless accepted.
    later = auditing.run_audit(actor=ACTOR, now=timezone.now() + 31 * DAY)
    assert not later.findings.filter(rule__slug="unauthorised-changes").exists()


# --- compliance and exceptions over time --------------------------------------------------------------

def _result(run, slug="production-server-without-owner", ci_class="server"):
    return AuditResult.objects.get(run=run, rule__slug=slug, ci_class__slug=ci_class)


def test_an_accepted_finding_leaves_the_compliance_figure_until_it_expires(team, users):
    unowned = CIFactory(name="legacy01", status="in_production")
    CIFactory(status="in_production", owner_team=team)
    CIFactory(status="in_production", owner_team=team)
    now = timezone.now()
    first = auditing.run_audit(actor=ACTOR, now=now)
    result = _result(first)
    assert (result.checked, result.failing, result.excepted, str(result.compliance)) == (3, 1, 0, "66.67")

    finding = first.findings.get(rule__slug="production-server-without-owner")
    assert finding.ci == unowned
    expires = now + 30 * DAY
    exception = auditing.accept_finding(finding, actor=ACTOR, reason="Decommissioned in May", expires_at=expires,
                                        now=now)
    second = auditing.run_audit(actor=ACTOR, now=now + DAY)
    result = _result(second)
    assert (result.checked, result.failing, result.excepted, result.compliance) == (3, 0, 1, 100)
    assert second.findings.get(rule__slug="production-server-without-owner").excepted

    expired = auditing.run_audit(actor=ACTOR, now=expires + datetime.timedelta(seconds=1))
    result = _result(expired)
    assert (result.failing, result.excepted, str(result.compliance)) == (1, 0, "66.67")
    assert not expired.findings.get(rule__slug="production-server-without-owner").excepted
    assert auditing.exception_state(exception, expires) == "expired"


def test_a_revoked_exception_counts_again():
    CIFactory(name="legacy01", status="in_production")
    run = auditing.run_audit(actor=ACTOR)
    finding = run.findings.get(rule__slug="production-server-without-owner")
    exception = auditing.accept_finding(finding, actor=ACTOR, reason="ok for now", expires_at="2099-01-01",
                                        now=datetime.datetime(2098, 6, 1, tzinfo=datetime.UTC))
    assert exception.expires_at == datetime.datetime(2099, 1, 1, 23, 59, 59, 999999, tzinfo=datetime.UTC)  # (UTC)
    now = datetime.datetime(2098, 7, 1, tzinfo=datetime.UTC)
    assert _result(auditing.run_audit(actor=ACTOR, now=now)).excepted == 1
    auditing.revoke_exception(exception, actor=ACTOR, now=now)
    assert _result(auditing.run_audit(actor=ACTOR, now=now + DAY)).failing == 1
    with pytest.raises(TransitionNotAllowed, match="already revoked"):
        auditing.revoke_exception(exception, actor=ACTOR, now=now)
    assert [e.action for e in history_for(exception)] == ["revoke", "create"]


def test_an_unregistered_host_is_accepted_by_its_key():
    now = timezone.now()
    DiscoveredHost.objects.create(source="nmap", key="10.9.9.9", first_seen_at=now, last_seen_at=now)
    finding = auditing.run_audit(actor=ACTOR).findings.get(rule__slug="discovered-not-registered")
    auditing.accept_finding(finding, actor=ACTOR, reason="Lab printer", expires_at=now + DAY)
    run = auditing.run_audit(actor=ACTOR)
    assert run.findings.get(rule__slug="discovered-not-registered").excepted
    result = run.results.get(rule__slug="discovered-not-registered")
    assert (result.ci_class, result.checked, result.failing, result.excepted, result.compliance) == (None, 1, 0, 1,
                                                                                                    100)


@pytest.mark.parametrize("reason,expires,field,message", [
    ("", "+1", "reason", "Say why"),
    ("ok", "-1", "expires_at", "in the future"),
    ("ok", "+367", "expires_at", "at most 366 days"),
    ("ok", "next week", "expires_at", "Give the date"),
])
def test_accepting_needs_a_reason_and_a_near_future_expiry(reason, expires, field, message):
    CIFactory(status="in_production")
    finding = auditing.run_audit(actor=ACTOR).findings.get(rule__slug="production-server-without-owner")
    now = timezone.now()
    expires_at = now + int(expires) * DAY if expires[0] in "+-" else expires
    with pytest.raises(ValidationError) as caught:
        auditing.accept_finding(finding, actor=ACTOR, reason=reason, expires_at=expires_at, now=now)
    assert message in " ".join(caught.value.message_dict[field])
    assert not AuditException.objects.exists()


def test_a_finding_is_accepted_once_and_the_acceptance_is_logged():
    CIFactory(status="in_production")
    finding = auditing.run_audit(actor=ACTOR).findings.get(rule__slug="production-server-without-owner")
    exception = auditing.accept_finding(finding, actor=ACTOR, reason="Being replaced",
                                        expires_at=timezone.now() + DAY)
    with pytest.raises(TransitionNotAllowed, match="already accepted"):
        auditing.accept_finding(finding, actor=ACTOR, reason="again", expires_at=timezone.now() + DAY)
    entry = history_for(exception).get()
    assert entry.action == "create" and entry.changes["reason"] == [None, "Being replaced"]
    assert OutboxEvent.objects.filter(event_type="auditexception.created", object_id=exception.pk).exists()


# --- runs --------------------------------------------------------------------------------------------

def test_a_failing_rule_fails_the_run_naming_it_and_stores_nothing_else():
    CIFactory(status="in_production")
    good = auditing.run_audit(actor=ACTOR)
    # A rule whose stored definition no longer holds (written around the write path, as a broken upgrade would).
    AuditRule.objects.filter(slug="not-seen-by-discovery").update(
        conditions=[{"field": "attr.removed_since", "op": "eq", "value": "x"}])
    run = auditing.run_audit(actor=ACTOR)
    assert run.status == "failed" and run.compliance is None
    assert "not-seen-by-discovery" in run.error and "attr.removed_since" in run.error
    assert not run.findings.exists() and not run.results.exists()
    assert good.results.count() == AuditRule.objects.count()  # the earlier run is untouched
    assert OutboxEvent.objects.filter(event_type="auditrun.failed", object_id=run.pk).exists()


def test_disabled_rules_are_not_evaluated_and_runs_are_numbered():
    AuditRule.objects.exclude(slug="production-server-without-owner").update(enabled=False)
    CIFactory(status="in_production")
    run = auditing.run_audit(actor=ACTOR)
    assert run.number.startswith("AUD-")
    assert {r.rule.slug for r in run.results.select_related("rule")} == {"production-server-without-owner"}
    assert (run.checked, run.findings_count, run.excepted_count, run.compliance) == (1, 1, 0, 0)


def test_a_rule_with_nothing_in_scope_shows_at_100_percent():
    run = auditing.run_audit(actor=ACTOR)
    result = run.results.get(rule__slug="warranty-expired-in-production")
    assert (result.ci_class, result.checked, result.compliance) == (None, 0, 100)
    assert run.compliance == 100


def test_the_scheduled_task_runs_daily_and_closes_abandoned_runs():
    t0 = timezone.now()
    abandoned = AuditRun.objects.create(number="AUD-900", started_at=t0 - 7 * datetime.timedelta(hours=1))
    assert auditing.run_scheduled_audit(now=t0).endswith("%")
    abandoned.refresh_from_db()
    assert abandoned.status == "failed" and "stopped" in abandoned.error
    assert auditing.run_scheduled_audit(now=t0 + datetime.timedelta(hours=1)) == "not due"
    assert auditing.run_scheduled_audit(now=t0 + datetime.timedelta(hours=23, minutes=31)).endswith("%")
    assert AuditRun.objects.filter(trigger="schedule", status="done").count() == 2


# --- rules -------------------------------------------------------------------------------------------

def test_a_rule_is_created_normalised_and_logged():
    rule = auditing.create_rule(actor=ACTOR, data={
        "slug": "no-location", "name": "Servers without a location", "kind": "filter",
        "scope": [{"field": "ci_class", "op": "eq", "value": "server"}],
        "conditions": [{"field": "location", "op": "isnull", "value": "true"}]})
    assert rule.conditions == [{"field": "location", "op": "isnull", "value": True}]
    assert history_for(rule).get().action == "create"


def test_a_bad_rule_is_refused_naming_the_entry_and_nothing_is_stored():
    before = AuditRule.objects.count()
    with pytest.raises(ValidationError) as caught:
        auditing.create_rule(actor=ACTOR, data={
            "slug": "bad", "name": "Bad", "kind": "filter", "scope": [{"field": "status", "op": "gt", "value": 1}],
            "conditions": [{"field": "owner_team", "op": "isnull", "value": True},
                           {"field": "colour", "op": "eq", "value": "red"}]})
    assert caught.value.message_dict["scope"][0].startswith("Entry 1: the operator “gt”")
    assert caught.value.message_dict["conditions"][0].startswith("Entry 2: unknown field “colour”")
    for kind, data, key in (("filter", {}, "conditions"), ("drift", {"conditions": [{"field": "status", "op": "eq",
                                                                                     "value": "planned"}]},
                                                          "conditions"),
                            ("unregistered", {"scope": [{"field": "status", "op": "eq", "value": "planned"}]},
                             "scope"), ("sometimes", {}, "kind")):
        with pytest.raises(ValidationError) as caught:
            auditing.create_rule(actor=ACTOR, data={"slug": f"bad-{kind}", "name": "Bad", "kind": kind, **data})
        assert key in caught.value.message_dict, (kind, caught.value.message_dict)
    assert AuditRule.objects.count() == before


def test_builtin_rules_keep_their_definition_and_cannot_be_deleted():
    rule = AuditRule.objects.get(slug="production-server-without-owner")
    with pytest.raises(ValidationError, match="keeps its definition"):
        auditing.update_rule(rule, actor=ACTOR, data={"conditions": [{"field": "location", "op": "isnull",
                                                                      "value": True}]})
    rule = auditing.update_rule(rule, actor=ACTOR, data={"enabled": False, "severity": "low"})
    assert not rule.enabled and history_for(rule).first().changes["enabled"] == [True, False]
    with pytest.raises(TransitionNotAllowed, match="disable it instead"):
        auditing.delete_rule(rule, actor=ACTOR)
    with pytest.raises(ValidationError, match="cannot change"):
        auditing.update_rule(rule, actor=ACTOR, data={"kind": "drift"})


def test_a_custom_rule_is_deleted_only_before_it_has_results():
    data = {"name": "No vendor", "kind": "filter", "conditions": [{"field": "vendor", "op": "isnull", "value": True}]}
    unused = auditing.create_rule(actor=ACTOR, data={"slug": "unused", **data})
    auditing.delete_rule(unused, actor=ACTOR)
    assert not AuditRule.objects.filter(slug="unused").exists()
    used = auditing.create_rule(actor=ACTOR, data={"slug": "used", **data})
    auditing.run_audit(actor=ACTOR)
    with pytest.raises(TransitionNotAllowed, match="past audit runs"):
        auditing.delete_rule(used, actor=ACTOR)
