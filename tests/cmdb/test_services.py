"""The CMDB's rules: lifecycle, typed attributes, relationships, expiry reminders, unauthorised
changes and bulk edits."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from opsdesk.cmdb import services
from opsdesk.cmdb.models import ConfigurationItem, UnauthorisedChange
from opsdesk.cmdb.workflows import CI_WORKFLOW
from opsdesk.core import timers
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for, verify_chain
from opsdesk.core.models import OutboxEvent, Timer
from opsdesk.core.workflow import TransitionNotAllowed
from tests.cmdb.factories import CIFactory, cls, relate, reltype
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def test_numbers_change_log_and_event_on_create():
    ci = CIFactory(name="web-01", attributes={"cpu_count": 2})
    assert ci.number.startswith("CI-")
    entry = history_for(ci).get()
    assert entry.action == "create" and entry.changes["attributes"] == [None, {"cpu_count": 2}]
    assert OutboxEvent.objects.filter(event_type="configurationitem.created", object_id=ci.pk).exists()
    assert verify_chain().ok


@pytest.mark.parametrize("path", [
    ["order", "receive", "deploy", "start_maintenance", "end_maintenance", "retire", "dispose"],
    ["deploy", "retire", "reinstate", "deploy"],
    ["order", "retire"],
])
def test_lifecycle_paths(path, users):
    ci = CIFactory()
    data = {"reason": "test", "disposal_method": "destroyed", "disposal_reference": "CERT-9",
            "approved_by": users["manager"].username}
    for name in path:
        ci = services.transition_ci(ci, name, actor=ACTOR, data=data)
        assert ci.status == CI_WORKFLOW.get(name).target
    assert [e.action for e in history_for(ci).order_by("id")][1:] == path


def test_illegal_transitions_are_refused_with_a_sentence():
    ci = CIFactory(status="in_production")
    with pytest.raises(TransitionNotAllowed, match="only possible when it is Retired"):
        services.transition_ci(ci, "dispose", actor=ACTOR, data={"disposal_method": "recycled",
                                                                 "disposal_reference": "x", "approved_by": "x"})
    with pytest.raises(TransitionNotAllowed):
        services.transition_ci(ci, "receive", actor=ACTOR)
    ci.refresh_from_db()
    assert ci.status == "in_production"


def test_disposed_ci_is_read_only_and_keeps_its_history():
    ci = CIFactory(status="disposed")
    other = CIFactory()
    entries = history_for(ci).count()
    with pytest.raises(TransitionNotAllowed, match="read-only"):
        services.update_ci(ci, actor=ACTOR, data={"location": "bin"})
    with pytest.raises(TransitionNotAllowed):
        relate(other, "depends-on", ci)
    assert CI_WORKFLOW.available(ci) == []
    assert history_for(ci).count() == entries
    assert ci.disposal_approved_by is not None and ci.disposed_on == timezone.localdate()


def test_attribute_types_are_converted_and_checked_on_every_write():
    ci = CIFactory(attributes={"cpu_count": "8", "memory_gb": "31.5", "virtualised": "no"})
    assert ci.attributes == {"cpu_count": 8, "memory_gb": 31.5, "virtualised": False}
    with pytest.raises(ValidationError) as error:
        services.update_ci(ci, actor=ACTOR, data={"attributes": {"cpu_count": 2.5}})
    assert "attributes.cpu_count" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.update_ci(ci, actor=ACTOR, data={"ci_class": cls("certificate")})
    assert "attributes.cpu_count" in error.value.message_dict  # a certificate has no CPUs
    ci.refresh_from_db()
    assert ci.attributes["cpu_count"] == 8 and ci.ci_class.slug == "server"


def test_reference_attributes_name_an_existing_ci_of_the_class():
    host = CIFactory(name="hv-01")
    vm = CIFactory(ci_class=cls("virtual-machine"), attributes={"hypervisor": host.number})
    assert vm.attributes["hypervisor"] == host.pk
    with pytest.raises(ValidationError):
        CIFactory(ci_class=cls("virtual-machine"), attributes={"hypervisor": vm.number})  # not a server
    with pytest.raises(ValidationError):
        CIFactory(ci_class=cls("virtual-machine"), attributes={"hypervisor": "CI-999999"})


def test_addresses_are_validated_and_searchable():
    with pytest.raises(ValidationError) as error:
        CIFactory(ip_addresses=["10.0.0.300"])
    assert "ip_addresses" in error.value.message_dict
    ci = CIFactory(ip_addresses=["10.0.0.3"], hostnames=["Web-03.Example.NET."])
    assert ci.hostnames == ["web-03.example.net"]
    assert ConfigurationItem.objects.filter(identifiers__contains=" web-03.example.net ").get() == ci


def test_relationships_refuse_self_duplicates_and_end_without_deleting():
    app, host = CIFactory(), CIFactory()
    with pytest.raises(ValidationError):
        relate(app, "runs-on", app)
    rel = relate(app, "runs-on", host)
    with pytest.raises(ValidationError):
        relate(app, "runs-on", host)
    services.unrelate(rel, actor=ACTOR)
    rel.refresh_from_db()
    assert rel.ended_at is not None
    again = relate(app, "runs-on", host)  # a new one may begin after the old one ended
    assert again.pk != rel.pk
    assert [e.action for e in history_for(host).order_by("id")] == ["create", "relate", "unrelate", "relate"]
    retired = ServiceFactory(status="retired")
    with pytest.raises(ValidationError):
        services.relate(app, reltype("depends-on"), actor=ACTOR, target_service=retired)


def test_expiry_reminders_go_out_before_the_date_and_follow_changes():
    today = timezone.localdate()
    cert = CIFactory(ci_class=cls("certificate"), expires_on=today + datetime.timedelta(days=40))
    pending = Timer.objects.filter(kind=services.EXPIRY_TIMER, object_id=cert.pk, status="pending")
    assert sorted(t.payload["days"] for t in pending.all()) == [3, 14, 30]
    # Nothing is due yet.
    timers.sweep(now=timezone.now())
    assert not OutboxEvent.objects.filter(event_type="configurationitem.expiring").exists()
    # Eleven days later the 30-day reminder goes out, once.
    later = timezone.now() + datetime.timedelta(days=11)
    timers.sweep(now=later)
    timers.sweep(now=later)
    events = OutboxEvent.objects.filter(event_type="configurationitem.expiring", object_id=cert.pk)
    assert events.count() == 1 and events.get().payload["field"] == "expires_on"
    # Renewing the certificate replaces the remaining reminders.
    cert = services.update_ci(cert, actor=ACTOR, data={"expires_on": today + datetime.timedelta(days=400)})
    assert sorted(t.payload["date"] for t in pending.all()) == [(today + datetime.timedelta(days=400)).isoformat()] * 3
    # Retiring cancels them.
    services.retire_ci(cert, actor=ACTOR, reason="replaced")
    assert not pending.all().exists()


def test_an_expiry_already_inside_the_window_is_reminded_at_once():
    server = CIFactory(warranty_end=timezone.localdate() + datetime.timedelta(days=5))
    due = Timer.objects.filter(kind=services.EXPIRY_TIMER, object_id=server.pk, status="pending").get()
    assert due.payload["days"] == 14 and due.due_at <= timezone.now()
    timers.sweep(now=timezone.now())
    event = OutboxEvent.objects.get(event_type="configurationitem.expiring", object_id=server.pk)
    assert event.payload["days_left"] == 5 and event.payload["field"] == "warranty_end"


def test_tracked_changes_to_production_cis_need_a_change_reference():
    ci = CIFactory(status="in_production", attributes={"os": "Debian 11", "cpu_count": 4})
    services.update_ci(ci, actor=ACTOR, data={"attributes": {"cpu_count": 8}})  # not tracked
    assert not UnauthorisedChange.objects.exists()
    services.update_ci(ci, actor=ACTOR, data={"attributes": {"os": "Debian 12"}, "change_reference": "CHG-12"})
    assert not UnauthorisedChange.objects.exists()
    services.update_ci(ci, actor=Actor.system("someone"), data={"attributes": {"os": "Debian 13"},
                                                                 "ip_addresses": ["10.0.0.9"]})
    finding = UnauthorisedChange.objects.get()
    assert finding.fields == ["ip_addresses", "attributes.os"] and finding.actor_label.endswith("someone")
    assert finding.audit_entry == history_for(ci).order_by("-id").first()
    planned = CIFactory(attributes={"os": "x"})
    services.update_ci(planned, actor=ACTOR, data={"attributes": {"os": "y"}})
    assert UnauthorisedChange.objects.count() == 1


def test_change_authorisers_hook_covers_a_change():
    ci = CIFactory(status="in_production")
    services.change_authorisers.append(lambda ci_, fields, when: True)
    try:
        services.update_ci(ci, actor=ACTOR, data={"ip_addresses": ["10.2.2.2"]})
    finally:
        services.change_authorisers.clear()
    assert not UnauthorisedChange.objects.exists()


def test_bulk_edit_is_all_or_none(team):
    a, b = CIFactory(), CIFactory()
    disposed = CIFactory(status="disposed")
    with pytest.raises(TransitionNotAllowed):
        services.bulk_update_cis([a, b, disposed], actor=ACTOR, data={"location": "DC9"})
    assert set(ConfigurationItem.objects.values_list("location", flat=True)) == {""}
    services.bulk_update_cis([a, b], actor=ACTOR, data={"location": "DC9", "owner_team": team, "add_tags": ["x"]})
    for ci in (a, b):
        ci.refresh_from_db()
        assert ci.location == "DC9" and ci.owner_team == team and [t.name for t in ci.tags.all()] == ["x"]


@pytest.mark.django_db(transaction=True)
def test_a_bulk_edit_and_a_single_edit_of_one_of_its_cis_never_deadlock():
    """A single edit holds the last CI of a bulk edit and then needs the change-log head. The bulk edit
    used to take the head with its first CI and then wait for the last one: a deadlock, which PostgreSQL
    breaks by failing one of them. Now the bulk edit locks all its CIs first, so it simply waits.
    (SQLite runs one writer at a time, so there it passes either way.)"""
    import threading
    import time

    from django.db import connection, transaction

    cis = [CIFactory(name=f"bulk-{i}") for i in range(4)]
    last_locked = threading.Event()
    errors = []

    def single():
        try:
            with transaction.atomic():
                last = ConfigurationItem.objects.select_for_update().get(pk=cis[-1].pk)
                last_locked.set()
                time.sleep(1.0)  # the bulk edit runs into the lock meanwhile
                services.update_ci(last, actor=ACTOR, data={"vendor": "Dell"})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def bulk():
        try:
            last_locked.wait(10)
            services.bulk_update_cis(list(ConfigurationItem.objects.filter(pk__in=[c.pk for c in cis])),
                                     actor=ACTOR, data={"location": "DC7"})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=single), threading.Thread(target=bulk)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    last = ConfigurationItem.objects.get(pk=cis[-1].pk)
    assert (last.location, last.vendor) == ("DC7", "Dell")
