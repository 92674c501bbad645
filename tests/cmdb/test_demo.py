"""The CMDB demo data: loaded once for this module (it writes ~900 records through the services), each
test then runs in its own savepoint on top of it."""

import datetime

import pytest
from django.utils import timezone

from opsdesk.cmdb import demo, impact
from opsdesk.cmdb.models import ConfigurationItem, Relationship
from opsdesk.core.actors import Actor
from opsdesk.core.demo import load_demo
from opsdesk.core.models import AuditEntry, Timer
from opsdesk.services.demo import SERVICES
from opsdesk.services.models import Service
from tests.demo_data import demo_for_module

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    # what this module's demo builds on, and the CMDB demo
    with demo_for_module(django_db_blocker, ("accounts", "services", "cmdb")) as created:
        yield created


def ci(name: str) -> ConfigurationItem:
    return ConfigurationItem.objects.get(name=name)


def current_relationships():
    return Relationship.objects.filter(ended_at__isnull=True)


def service_slugs(ids) -> list[str]:
    return sorted(Service.objects.filter(pk__in=ids).values_list("slug", flat=True))


def test_the_plan_is_the_same_on_every_run():
    day = datetime.date(2026, 3, 1)
    first, second = demo.build(day), demo.build(day)
    assert first.cis == second.cis and first.relations == second.relations
    assert first.cis["pay-web-01"]["data"]["attributes"] == second.cis["pay-web-01"]["data"]["attributes"]


def test_loading_again_creates_nothing(demo_data):
    assert demo_data > 800
    counts = (ConfigurationItem.objects.count(), current_relationships().count(), AuditEntry.objects.count())
    assert load_demo(only=("accounts", "services", "cmdb")) == 0
    assert demo.load(Actor.system("demo")) == 0
    assert (ConfigurationItem.objects.count(), current_relationships().count(), AuditEntry.objects.count()) == counts


def test_a_few_hundred_cis_and_about_twice_as_many_relationships(demo_data):
    cis = ConfigurationItem.objects.count()
    relationships = current_relationships().count()
    assert 270 <= cis <= 340, cis
    assert 550 <= relationships <= 700, relationships
    classes = set(ConfigurationItem.objects.values_list("ci_class__slug", flat=True))
    assert {"server", "virtual-machine", "application", "database", "network-device", "storage", "load-balancer",
            "cluster", "certificate", "software-licence", "container", "cloud-resource"} <= classes
    assert set(ConfigurationItem.objects.values_list("environment", flat=True)) == {"dev", "test", "staging",
                                                                                    "production"}


def test_every_demo_service_has_a_stack_down_to_the_hardware(demo_data):
    for slug, *_rest, status in SERVICES:
        service = Service.objects.get(slug=slug)
        assert service.cis.exists(), f"{slug} has no supporting CI"
        if status == "retired":
            continue  # a retired service is out of the impact graph
        upstream = impact.analyse(services=[service], direction="upstream", depth=20)
        classes = set(ConfigurationItem.objects.filter(pk__in=upstream.impacted_ci_ids)
                      .values_list("ci_class__slug", flat=True))
        assert len(upstream.impacted_ci_ids) >= 20, (slug, len(upstream.impacted_ci_ids))
        assert "network-device" in classes and classes & {"server", "virtual-machine"}, (slug, classes)


def test_redundancy_keeps_services_up_when_one_node_fails(demo_data):
    one_web_node = impact.analyse([ci("pay-web-01")])
    assert one_web_node.impacted_service_ids == []
    assert ("ci", ci("pay-web-cluster").pk) in one_web_node.degraded
    assert impact.analyse([ci("core-fra1-01")]).impacted_service_ids == []
    both_db_servers = impact.analyse([ci("pay-db-01"), ci("pay-db-02")])
    assert service_slugs(both_db_servers.impacted_service_ids) == ["online-shop", "payments-api"]
    both_cores = impact.analyse([ci("core-fra1-01"), ci("core-fra1-02")], depth=20)
    assert "network-core" in service_slugs(both_cores.impacted_service_ids)


def test_virtual_machines_name_the_host_they_are_hosted_on(demo_data):
    hosted = dict(current_relationships().filter(type__slug="hosted-on").values_list("source_id", "target_id"))
    vms = ConfigurationItem.objects.filter(ci_class__slug="virtual-machine")
    assert vms.count() > 80
    for vm in vms:
        assert vm.attributes["hypervisor"] == hosted[vm.pk], vm.name
        assert vm.ip_addresses[0].startswith("10.") and vm.hostnames


def test_every_lifecycle_state_is_present(demo_data):
    statuses = set(ConfigurationItem.objects.values_list("status", flat=True))
    assert statuses == {"planned", "ordered", "in_stock", "in_production", "maintenance", "retired", "disposed"}
    disposed = ConfigurationItem.objects.get(status="disposed")
    assert disposed.disposal_method and disposed.disposal_reference and disposed.disposal_approved_by is not None
    assert all(ci.status_reason for ci in ConfigurationItem.objects.filter(status__in=["maintenance", "retired"]))


def test_the_audits_and_reminders_have_something_to_find(demo_data):
    today = timezone.localdate()
    production_servers = ConfigurationItem.objects.filter(ci_class__slug="server", status="in_production",
                                                          environment="production")
    assert production_servers.filter(owner_team__isnull=True).count() >= 2
    assert production_servers.filter(warranty_end__lt=today).count() >= 2
    soon = ConfigurationItem.objects.filter(ci_class__slug="certificate", status="in_production",
                                            expires_on__gte=today, expires_on__lte=today + datetime.timedelta(days=30))
    assert soon.count() >= 3
    reminded = set(Timer.objects.filter(kind="cmdb.expiry_reminder", status="pending")
                   .values_list("object_id", flat=True))
    assert set(soon.values_list("pk", flat=True)) <= reminded
    assert ConfigurationItem.objects.filter(ci_class__slug="certificate", expires_on__lt=today).exists()
    assert ConfigurationItem.objects.filter(ci_class__slug="software-licence", status="in_production",
                                            expires_on__lte=today + datetime.timedelta(days=30)).exists()


def test_the_shipped_audit_rules_find_the_planted_problems(demo_data):
    from opsdesk.cmdb.auditing import run_audit

    run = run_audit(actor=Actor.system("test"))
    found = {}
    for rule, name in run.findings.values_list("rule__slug", "ci__name"):
        found.setdefault(rule, set()).add(name)
    assert {"esx-ams1-04", "esx-ams1-05", "esx-fra1-14"} <= found["production-server-without-owner"]
    assert {"esx-ams1-01", "esx-ams1-02", "esx-ams1-03"} <= found["warranty-expired-in-production"]
    assert "hr.example.com" in found["licence-or-certificate-expired-in-production"]
    assert "billing-srv-01" not in set().union(*found.values()), "retired CIs are not findings"


def test_the_demo_leaves_a_first_audit_run_for_the_dashboard(demo_data):
    from opsdesk.cmdb.models import AuditRun

    first = AuditRun.objects.order_by("id").first()
    assert first is not None and first.status == "done" and first.findings_count > 0
