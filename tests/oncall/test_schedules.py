"""Schedule services: validation, who may change what, overrides, the swap flow, the change log and events."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.oncall import schedules, selectors
from opsdesk.oncall.models import CalendarFeed, Layer, Override, Schedule, ShiftSwap
from tests.accounts.factories import UserFactory
from tests.oncall.factories import LayerFactory, OverrideFactory, ScheduleFactory

UTC = dt.UTC
NOW = dt.datetime(2026, 2, 2, 8, 0, tzinfo=UTC)  # a Monday
MONDAY = dt.datetime(2026, 2, 2, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def crew(team):
    """A schedule of `team` with a daily rotation alice -> bob; carol is a responder outside it."""
    alice, bob, carol = (UserFactory(username=n, role="responder") for n in ("alice", "bob", "carol"))
    lead = UserFactory(username="lead", role="viewer")
    set_membership(team, lead, actor=Actor.system("test"), role="manager")
    schedule = ScheduleFactory(team=team, time_zone="Europe/Berlin")
    LayerFactory(schedule=schedule, users=[alice, bob], rotation_start=MONDAY, turn_unit="days")
    return {"schedule": schedule, "alice": alice, "bob": bob, "carol": carol, "lead": lead}


def as_user(user):
    return Actor.for_user(user)


# --- schedules and layers ------------------------------------------------------------------------------------

def test_create_schedule_validates_the_time_zone_and_makes_a_secret(users, team):
    actor = as_user(users["manager"])
    with pytest.raises(ValidationError) as error:
        schedules.create_schedule(actor=actor, data={"name": "Nights", "time_zone": "Mars/Olympus"})
    assert "time_zone" in error.value.message_dict
    assert not Schedule.objects.exists()
    schedule = schedules.create_schedule(actor=actor, data={"name": "Nights shift", "team": team,
                                                            "time_zone": "America/New_York"})
    assert schedule.slug == "nights-shift"
    assert len(schedule.ical_token) >= 40
    assert history_for(schedule).first().action == "create"
    assert OutboxEvent.objects.filter(event_type="schedule.created").count() == 1


def test_only_managers_of_the_team_change_a_schedule(users, team, other_team):
    schedule = ScheduleFactory(team=team)
    with pytest.raises(PermissionDenied):
        schedules.update_schedule(schedule, actor=as_user(users["responder"]), data={"description": "x"})
    schedules.update_schedule(schedule, actor=as_user(users["team_manager"]), data={"description": "ours"})
    foreign = ScheduleFactory(team=other_team)
    with pytest.raises(PermissionDenied):
        schedules.update_schedule(foreign, actor=as_user(users["team_manager"]), data={"description": "x"})
    with pytest.raises(PermissionDenied):  # nor move their schedule to a team they do not manage
        schedules.update_schedule(schedule, actor=as_user(users["team_manager"]), data={"team": other_team})
    schedule.refresh_from_db()
    assert schedule.description == "ours" and schedule.team == team


@pytest.mark.parametrize(("data", "field"), [
    ({"users": []}, "users"),
    ({"users": [999999]}, "users"),
    ({"turn_count": 0}, "turn_count"),
    ({"turn_unit": "months"}, "turn_unit"),
    ({"rotation_start": "2026-02-02T09:00"}, "rotation_start"),  # no offset
    ({"rotation_start": "soon"}, "rotation_start"),
    ({"starts_at": MONDAY, "ends_at": MONDAY}, "ends_at"),
    ({"restrictions": {"kind": "daily", "ranges": [{"start": "9:00", "end": "17:00"}]}}, "restrictions"),
    ({"restrictions": {"kind": "daily", "ranges": [{"start": "24:00", "end": "17:00"}]}}, "restrictions"),
    ({"restrictions": {"kind": "weekly", "ranges": [{"start_day": 7, "start": "09:00", "end_day": 0,
                                                     "end": "17:00"}]}}, "restrictions"),
    ({"restrictions": {"kind": "daily", "ranges": [{"start": "09:00"}]}}, "restrictions"),
    ({"restrictions": {"kind": "monthly", "ranges": []}}, "restrictions"),
])
def test_layer_validation_names_the_field_and_writes_nothing(users, data, field):
    schedule = ScheduleFactory()
    valid = {"name": "Primary", "users": [users["responder"].pk], "rotation_start": MONDAY}
    with pytest.raises(ValidationError) as error:
        schedules.add_layer(schedule, actor=as_user(users["manager"]), data={**valid, **data})
    assert field in error.value.message_dict
    assert not Layer.objects.exists()


def test_layer_refuses_deactivated_people(users):
    gone = UserFactory(role="responder", is_active=False)
    with pytest.raises(ValidationError) as error:
        schedules.add_layer(ScheduleFactory(), actor=as_user(users["manager"]),
                            data={"name": "L", "users": [gone.pk], "rotation_start": MONDAY})
    assert "deactivated" in str(error.value)


def test_layers_take_usernames_go_on_top_and_are_logged_on_the_schedule(users):
    schedule = ScheduleFactory()
    actor = as_user(users["manager"])
    first = schedules.add_layer(schedule, actor=actor, data={
        "name": "Weekly", "users": ["responder", users["manager"]], "rotation_start": MONDAY,
        "restrictions": {"kind": "weekly", "ranges": [{"start_day": 0, "start": "09:00", "end_day": 4,
                                                       "end": "17:00"}]}})
    second = schedules.add_layer(schedule, actor=actor, data={"name": "Top", "users": ["manager"],
                                                              "rotation_start": MONDAY})
    assert first.users == [users["responder"].pk, users["manager"].pk]
    assert (first.order, second.order) == (1, 2)
    schedules.update_layer(first, actor=actor, data={"turn_count": 2})
    schedules.remove_layer(second, actor=actor)
    assert [e.action for e in history_for(schedule)][:3] == ["remove_layer", "update_layer", "add_layer"]
    assert list(schedule.layers.values_list("name", flat=True)) == ["Weekly"]


def test_delete_schedule_refused_while_an_escalation_step_pages_it(users):
    from opsdesk.oncall.models import EscalationPolicy, EscalationStep

    schedule = ScheduleFactory()
    policy = EscalationPolicy.objects.create(name="P", slug="p")
    step = EscalationStep.objects.create(policy=policy, position=1, kind="notify_schedule", schedule=schedule)
    with pytest.raises(ValidationError):
        schedules.delete_schedule(schedule, actor=as_user(users["admin"]))
    step.delete()
    schedules.delete_schedule(schedule, actor=as_user(users["admin"]))
    assert not Schedule.objects.exists()
    assert OutboxEvent.objects.filter(event_type="schedule.deleted").exists()


# --- overrides ------------------------------------------------------------------------------------------------

def test_a_responder_overrides_for_themself_only(crew):
    schedule, carol = crew["schedule"], crew["carol"]
    period = {"starts_at": MONDAY + dt.timedelta(hours=2), "ends_at": MONDAY + dt.timedelta(hours=4)}
    with pytest.raises(PermissionDenied):
        schedules.add_override(schedule, actor=as_user(carol), data={"user": crew["bob"], **period})
    # not a member of the schedule's team: she may not put herself on call in it either
    with pytest.raises(PermissionDenied, match="Only members of"):
        schedules.add_override(schedule, actor=as_user(carol), data={"user": carol, **period})
    assert not Override.objects.exists()
    set_membership(schedule.team, carol, actor=Actor.system("test"), role="responder")
    override = schedules.add_override(schedule, actor=as_user(carol), data={"user": carol, **period})
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(hours=3)) == [carol]
    assert history_for(override).first().action == "create"
    event = OutboxEvent.objects.get(event_type="schedule.override_added")
    assert "recipients" not in event.payload  # carol did it herself
    schedules.add_override(schedule, actor=as_user(crew["lead"]), data={"user": carol, **period})
    told = OutboxEvent.objects.filter(event_type="schedule.override_added").latest("id")
    assert told.payload["recipients"] == [carol.pk]
    # a viewer may not even put themself on call, member or not
    viewer = UserFactory(role="viewer")
    set_membership(schedule.team, viewer, actor=Actor.system("test"), role="viewer")
    with pytest.raises(PermissionDenied):
        schedules.add_override(schedule, actor=as_user(viewer), data={"user": viewer, **period})


def test_a_schedule_without_a_team_takes_any_responders_self_override(crew):
    schedule = ScheduleFactory(team=None)
    period = {"starts_at": MONDAY + dt.timedelta(hours=2), "ends_at": MONDAY + dt.timedelta(hours=4)}
    schedules.add_override(schedule, actor=as_user(crew["carol"]), data={"user": crew["carol"], **period})
    assert selectors.on_call_at(schedule, MONDAY + dt.timedelta(hours=3)) == [crew["carol"]]


def test_a_team_manager_overrides_for_anyone_and_bad_periods_are_refused(crew):
    schedule, lead = crew["schedule"], crew["lead"]
    with pytest.raises(ValidationError) as error:
        schedules.add_override(schedule, actor=as_user(lead), data={
            "user": crew["carol"], "starts_at": MONDAY, "ends_at": MONDAY - dt.timedelta(hours=1)})
    assert "ends_at" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        schedules.add_override(schedule, actor=as_user(lead), data={"user": crew["carol"], "starts_at": MONDAY})
    assert "ends_at" in error.value.message_dict
    assert not Override.objects.exists()
    override = schedules.add_override(schedule, actor=as_user(lead), data={
        "user": crew["carol"], "starts_at": MONDAY, "ends_at": MONDAY + dt.timedelta(hours=1)})
    with pytest.raises(PermissionDenied):  # bob neither manages nor is the person on call by it
        schedules.remove_override(override, actor=as_user(crew["bob"]))
    schedules.remove_override(override, actor=as_user(crew["carol"]))
    assert not Override.objects.exists()


# --- swaps ----------------------------------------------------------------------------------------------------

def _alices_day():
    return MONDAY, MONDAY + dt.timedelta(days=1)


def test_only_the_person_on_call_may_ask_for_a_swap_of_their_own_shift(crew):
    start, end = _alices_day()
    with pytest.raises(ValidationError) as error:
        schedules.request_swap(crew["schedule"], actor=as_user(crew["bob"]), starts_at=start, ends_at=end)
    assert "starts_at" in error.value.message_dict
    with pytest.raises(ValidationError):  # the shift runs past alice's turn into bob's
        schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start,
                               ends_at=end + dt.timedelta(hours=1))
    with pytest.raises(ValidationError):
        schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start, ends_at=end,
                               proposed_to=crew["alice"])
    assert not ShiftSwap.objects.exists()


def test_a_swap_proposed_to_someone_is_theirs_to_accept(crew):
    start, end = _alices_day()
    swap = schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start, ends_at=end,
                                  proposed_to=crew["carol"], note="dentist")
    requested = OutboxEvent.objects.get(event_type="shiftswap.requested")
    assert requested.payload["recipients"] == [crew["carol"].pk]
    with pytest.raises(PermissionDenied):
        schedules.accept_swap(swap, actor=as_user(crew["bob"]))
    with pytest.raises(PermissionDenied):
        schedules.accept_swap(swap, actor=as_user(crew["alice"]))
    swap = schedules.accept_swap(swap, actor=as_user(crew["carol"]))
    assert (swap.status, swap.taken_by) == ("accepted", crew["carol"])
    override = Override.objects.get(swap=swap)
    assert (override.user, override.starts_at, override.ends_at) == (crew["carol"], start, end)
    assert selectors.on_call_at(crew["schedule"], start + dt.timedelta(hours=5)) == [crew["carol"]]
    accepted = OutboxEvent.objects.get(event_type="shiftswap.accepted")
    assert accepted.payload["recipients"] == [crew["alice"].pk]
    with pytest.raises(TransitionNotAllowed):  # taken once only
        schedules.accept_swap(swap, actor=as_user(crew["carol"]))
    assert [e.action for e in history_for(swap)][:2] == ["accepted", "request"]


def test_an_open_swap_may_be_taken_by_anyone_but_the_requester(crew):
    start, end = _alices_day()
    swap = schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start, ends_at=end)
    with pytest.raises(ValidationError):  # nobody was asked: nobody declines
        schedules.decline_swap(swap, actor=as_user(crew["bob"]))
    viewer = UserFactory(role="viewer")
    with pytest.raises(PermissionDenied):
        schedules.accept_swap(swap, actor=as_user(viewer))
    with pytest.raises(PermissionDenied):  # carol is a responder, but neither in the team nor in a rotation
        schedules.accept_swap(swap, actor=as_user(crew["carol"]))
    assert not Override.objects.exists()
    swap = schedules.accept_swap(swap, actor=as_user(crew["bob"]))
    assert swap.taken_by == crew["bob"]


def test_decline_and_cancel(crew):
    start, end = _alices_day()
    asked = schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start, ends_at=end,
                                   proposed_to=crew["carol"])
    with pytest.raises(PermissionDenied):
        schedules.decline_swap(asked, actor=as_user(crew["bob"]))
    assert schedules.decline_swap(asked, actor=as_user(crew["carol"])).status == "declined"
    again = schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start, ends_at=end)
    with pytest.raises(PermissionDenied):
        schedules.cancel_swap(again, actor=as_user(crew["bob"]))
    assert schedules.cancel_swap(again, actor=as_user(crew["alice"])).status == "cancelled"
    assert not Override.objects.exists()


def test_a_manager_assigns_a_swap(crew):
    start, end = _alices_day()
    swap = schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start, ends_at=end)
    with pytest.raises(PermissionDenied):
        schedules.assign_swap(swap, actor=as_user(crew["bob"]), user=crew["carol"])
    with pytest.raises(ValidationError):
        schedules.assign_swap(swap, actor=as_user(crew["lead"]), user=crew["alice"])
    swap = schedules.assign_swap(swap, actor=as_user(crew["lead"]), user=crew["carol"])
    assert (swap.status, swap.taken_by) == ("accepted", crew["carol"])
    assert Override.objects.get(swap=swap).user == crew["carol"]
    event = OutboxEvent.objects.get(event_type="shiftswap.accepted")
    assert sorted(event.payload["recipients"]) == sorted([crew["alice"].pk, crew["carol"].pk])


def test_a_past_shift_cannot_be_offered_or_taken(crew, clock):
    start, end = _alices_day()
    swap = schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start, ends_at=end)
    clock.move_to(end + dt.timedelta(minutes=1))
    with pytest.raises(ValidationError):
        schedules.accept_swap(swap, actor=as_user(crew["bob"]))
    with pytest.raises(ValidationError):
        schedules.request_swap(crew["schedule"], actor=as_user(crew["alice"]), starts_at=start, ends_at=end)


def test_calendar_feed_is_the_owners_and_can_be_replaced(users):
    user = users["responder"]
    with pytest.raises(PermissionDenied):
        schedules.calendar_feed(user, actor=as_user(users["admin"]))
    feed = schedules.calendar_feed(user, actor=as_user(user))
    assert schedules.calendar_feed(user, actor=as_user(user)).token == feed.token
    replaced = schedules.calendar_feed(user, actor=as_user(user), rotate=True)
    assert replaced.token != feed.token
    assert CalendarFeed.objects.count() == 1


def test_override_factory_and_selectors_agree(crew):
    OverrideFactory(schedule=crew["schedule"], user=crew["carol"], starts_at=MONDAY, ends_at=MONDAY +
                    dt.timedelta(hours=1))
    assert selectors.on_call_at(crew["schedule"], MONDAY) == [crew["carol"]]
    assert selectors.on_call_at(crew["schedule"], MONDAY + dt.timedelta(hours=1)) == [crew["alice"]]
