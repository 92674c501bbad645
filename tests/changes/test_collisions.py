"""Collision detection: shared CIs, parent/child CIs through the CMDB (acceptance 2), services, the
implementer, freeze windows global and per service, and what never collides."""

import datetime

import pytest

from opsdesk.changes import collisions, freezes
from opsdesk.changes.models import ChangeRequest
from tests.accounts.factories import UserFactory
from tests.changes.factories import FACTORY_ACTOR, make_change, window
from tests.cmdb.factories import CIFactory, relate
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


def planned(status="submitted", **fields):
    """A change holding its window on the calendar (submitted unless told)."""
    change = make_change(**fields)
    ChangeRequest.objects.filter(pk=change.pk).update(status=status)
    change.refresh_from_db()
    return change


def kinds(found):
    return sorted(item["kind"] for item in found)


# --- acceptance 2 ----------------------------------------------------------------------------------------

def test_two_overlapping_changes_on_a_vm_and_its_host_collide():
    host = CIFactory(name="esx-07")
    vm = CIFactory(name="vm-billing-02")
    relate(vm, "hosted-on", host)
    start, end = window()
    on_host = planned(cis=[host], planned_start=start, planned_end=end, title="Patch ESX host")
    on_vm = planned(cis=[vm], planned_start=start + HOUR, planned_end=end + HOUR, title="Resize VM")
    found = collisions.find(on_vm)
    assert kinds(found) == ["related_ci"]
    warning = found[0]
    assert warning["change_id"] == on_host.pk and warning["change_number"] == on_host.number
    assert "esx-07" in warning["message"] and "vm-billing-02" in warning["message"]
    assert "hosted on" in warning["message"]
    # and the other way round: the host's change sees the VM's
    back = collisions.find(on_host)
    assert [(f["kind"], f["change_id"]) for f in back] == [("related_ci", on_vm.pk)]


def test_ended_relationships_do_not_link_changes():
    from opsdesk.cmdb import services as cmdb_services

    host, vm = CIFactory(), CIFactory()
    relationship = relate(vm, "runs-on", host)
    cmdb_services.unrelate(relationship, actor=FACTORY_ACTOR)
    planned(cis=[host])
    assert collisions.find(planned(cis=[vm])) == []


def test_ci_shared_by_two_changes_collides_with_the_ci_named():
    db = CIFactory(name="db-01")
    first = planned(cis=[db])
    second = planned(cis=[db])
    found = collisions.find(second)
    assert [(f["kind"], f["change_id"]) for f in found] == [("ci", first.pk)]
    assert "db-01" in found[0]["message"] and first.number in found[0]["message"]


def test_shared_service_collides():
    billing = ServiceFactory(name="Billing")
    first = planned(services=[billing])
    found = collisions.find(planned(services=[billing]))
    assert [(f["kind"], f["change_id"]) for f in found] == [("service", first.pk)]
    assert "Billing" in found[0]["message"]


def test_the_same_implementer_double_booked_collides():
    alice = UserFactory(username="alice", role="responder")
    first = planned(implementer=alice)
    found = collisions.find(planned(implementer=alice))
    assert [(f["kind"], f["change_id"]) for f in found] == [("implementer", first.pk)]
    assert "alice" in found[0]["message"]
    assert collisions.find(planned(implementer=UserFactory(role="responder"))) == []


# --- what does not collide -------------------------------------------------------------------------------

def test_a_change_never_collides_with_itself():
    db = CIFactory()
    alice = UserFactory(role="responder")
    service = ServiceFactory()
    assert collisions.find(planned(cis=[db], services=[service], implementer=alice)) == []


@pytest.mark.parametrize("status", ["draft", "closed", "rejected"])
def test_draft_closed_cancelled_and_rejected_changes_do_not_collide(status):
    db = CIFactory()
    planned(status=status, cis=[db])
    assert collisions.find(planned(cis=[db])) == []


def test_windows_that_only_touch_do_not_overlap():
    db = CIFactory()
    start, end = window()
    planned(cis=[db], planned_start=end, planned_end=end + HOUR)  # starts when ours ends
    planned(cis=[db], planned_start=start - 2 * HOUR, planned_end=start)  # ends when ours starts
    assert collisions.find(planned(cis=[db], planned_start=start, planned_end=end)) == []


def test_no_window_no_collisions():
    db = CIFactory()
    planned(cis=[db])
    change = planned(cis=[db], planned_start=None, planned_end=None)
    assert collisions.find(change) == []


def test_an_explicit_window_overrides_the_change_s():
    db = CIFactory()
    start, end = window(start_in_hours=300)
    other = planned(cis=[db], planned_start=start, planned_end=end)
    change = planned(cis=[db])
    assert collisions.find(change) == []
    assert [f["change_id"] for f in collisions.find(change, start=start, end=end)] == [other.pk]


# --- freeze windows --------------------------------------------------------------------------------------

def _freeze(change, *, services=(), name="Year-end freeze", active=True):
    window_ = freezes.create_freeze_window(actor=FACTORY_ACTOR, data={
        "name": name, "reason": "Books are closing.", "starts_at": change.planned_start - HOUR,
        "ends_at": change.planned_start + HOUR, "services": list(services)})
    if not active:
        freezes.cancel_freeze_window(window_, actor=FACTORY_ACTOR)
    return window_


def test_a_global_freeze_catches_every_change_in_it():
    change = planned(services=[ServiceFactory()])
    bare = planned()
    freeze = _freeze(change)
    for each in (change, bare):
        found = collisions.find(each)
        assert [(f["kind"], f.get("freeze_id")) for f in found] == [("freeze", freeze.pk)]
        assert "Year-end freeze" in found[0]["message"] and "Books are closing." in found[0]["message"]


def test_a_service_freeze_catches_only_changes_on_its_services():
    erp, web = ServiceFactory(name="ERP"), ServiceFactory(name="Web")
    on_erp = planned(services=[erp, web])
    on_web = planned(services=[web])
    bare = planned()
    freeze = _freeze(on_erp, services=[erp, ServiceFactory()])
    assert [f.get("freeze_id") for f in collisions.find(on_erp) if f["kind"] == "freeze"] == [freeze.pk]
    assert [f for f in collisions.find(on_web) if f["kind"] == "freeze"] == []
    assert [f for f in collisions.find(bare) if f["kind"] == "freeze"] == []


def test_cancelled_and_non_overlapping_freezes_do_not_count():
    change = planned()
    _freeze(change, active=False)
    freezes.create_freeze_window(actor=FACTORY_ACTOR, data={
        "name": "Later", "starts_at": change.planned_end, "ends_at": change.planned_end + HOUR})
    assert collisions.find(change) == []


# --- several at once, and the cost -----------------------------------------------------------------------

def test_every_kind_is_reported_once_per_other_change(django_assert_max_num_queries):
    host, vm, other_vm = CIFactory(name="host-1"), CIFactory(name="vm-1"), CIFactory(name="vm-2")
    relate(vm, "runs-on", host)
    relate(other_vm, "runs-on", host)
    service = ServiceFactory()
    alice = UserFactory(role="responder")
    same = planned(cis=[vm, host], services=[service], implementer=alice)
    change = planned(cis=[vm], services=[service], implementer=alice)
    _freeze(change)
    with django_assert_max_num_queries(8):
        found = collisions.find(change)
    assert kinds(found) == ["ci", "freeze", "implementer", "service"]
    assert all(f.get("change_id") in (same.pk, None) for f in found)
    others = [planned(cis=[host, other_vm], services=[service], implementer=alice) for _i in range(5)]
    with django_assert_max_num_queries(8):
        found = collisions.find(change)
    assert {f["change_id"] for f in found if f["kind"] == "related_ci"} == {o.pk for o in others}


def test_find_for_a_proposed_window_without_a_change():
    db = CIFactory()
    existing = planned(cis=[db])
    found = collisions.find_for(cis=[db.pk], start=existing.planned_start, end=existing.planned_end)
    assert [f["change_id"] for f in found] == [existing.pk]
    assert collisions.find_for(cis=[db.pk], start=existing.planned_start, end=existing.planned_end,
                               exclude=existing.pk) == []
    assert collisions.find_for(cis=[db.pk], start=None, end=None) == []
