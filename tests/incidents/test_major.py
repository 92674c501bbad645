"""Major incidents: proposed by a responder, promoted or rejected by a manager only, roles, the
stakeholder-update cadence with its reminder (fires when due, re-arms, stops when resolved), child
incidents, and the major tab with its htmx actions."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from opsdesk.accounts.services import set_membership
from opsdesk.core import events, timers
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import Notification, OutboxEvent, Timer
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents import major, services
from opsdesk.incidents.models import CommunicationUpdate, Incident
from tests.accounts.factories import TeamFactory, UserFactory
from tests.incidents.factories import FACTORY_ACTOR, make_incident

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def people():
    return {name: UserFactory(username=name, role="responder") for name in ("carol", "bob", "sam")}


@pytest.fixture
def manager():
    return Actor.for_user(UserFactory(username="maria", role="manager"))


def sweep(capture):
    with capture(execute=True):
        timers.sweep()
    for event in OutboxEvent.objects.filter(dispatched_at__isnull=True):
        events.dispatch(event.pk)


def reminders():
    return sorted(Notification.objects.filter(event__event_type="incident.update_due")
                  .values_list("user__username", flat=True))


def test_proposed_then_promoted_with_roles_and_logged(people, manager):
    incident = make_incident(impact=2, urgency=2, title="Checkout slow")
    responder = Actor.for_user(people["bob"])
    incident = major.propose_major(incident, actor=responder, reason="Revenue impact")
    assert (incident.major_status, incident.major_reason) == ("proposed", "Revenue impact")
    with pytest.raises(TransitionNotAllowed):
        major.propose_major(incident, actor=responder, reason="again")

    incident = major.promote_major(incident, actor=manager, commander=people["carol"],
                                   communications_lead=people["bob"], scribe=people["sam"], update_cadence_minutes=20)
    assert incident.major_status == "major"
    assert (incident.commander, incident.communications_lead, incident.scribe) == (
        people["carol"], people["bob"], people["sam"])
    assert [e.action for e in history_for(incident).order_by("id")][-2:] == ["propose_major", "promote_major"]
    promoted = OutboxEvent.objects.get(event_type="incident.major_promoted")
    assert sorted(promoted.payload["recipients"]) == sorted(u.pk for u in people.values())
    assert OutboxEvent.objects.filter(event_type="incident.major_proposed").count() == 1
    with pytest.raises(TransitionNotAllowed):
        major.promote_major(incident, actor=manager)


def test_any_open_incident_may_be_promoted_directly_but_not_a_closed_one(manager):
    incident = major.promote_major(make_incident(), actor=manager)
    assert incident.major_status == "major"
    resolved = services.resolve_incident(make_incident(), actor=FACTORY_ACTOR, code="fixed", notes="ok")
    with pytest.raises(TransitionNotAllowed):
        major.promote_major(resolved, actor=manager)
    with pytest.raises(TransitionNotAllowed):
        major.propose_major(resolved, actor=manager, reason="late")


def test_rejection_needs_a_proposal_and_a_reason(people, manager):
    incident = make_incident()
    with pytest.raises(TransitionNotAllowed):
        major.reject_major(incident, actor=manager, reason="no")
    incident = major.propose_major(incident, actor=Actor.for_user(people["bob"]), reason="Looks big")
    with pytest.raises(ValidationError):
        major.reject_major(incident, actor=manager, reason=" ")
    incident = major.reject_major(incident, actor=manager, reason="Only one user affected")
    assert incident.major_status == "rejected"
    rejected = history_for(incident).get(action="reject_major")
    assert rejected.changes["reason"] == [None, "Only one user affected"]
    assert OutboxEvent.objects.filter(event_type="incident.major_rejected").count() == 1
    # A rejected proposal may be made again when things get worse.
    assert major.propose_major(incident, actor=Actor.for_user(people["bob"]), reason="Now 500 users").major_status \
        == "proposed"


def test_set_roles_changes_only_what_is_given(people, manager):
    incident = major.promote_major(make_incident(), actor=manager, commander=people["carol"])
    incident = major.set_roles(incident, actor=manager, scribe=people["sam"])
    assert (incident.commander, incident.scribe) == (people["carol"], people["sam"])
    incident = major.set_roles(incident, actor=manager, commander=None)
    assert incident.commander is None and incident.scribe == people["sam"]
    with pytest.raises(ValidationError):
        major.set_roles(incident, actor=manager, janitor=people["bob"])
    with pytest.raises(TransitionNotAllowed):
        major.set_roles(make_incident(), actor=manager, scribe=people["sam"])


def test_update_reminder_fires_when_due_re_arms_and_stops_when_resolved(people, manager,
                                                                         django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False) as clock:
        incident = major.promote_major(make_incident(impact=1, urgency=1), actor=manager, commander=people["carol"],
                                       communications_lead=people["bob"], update_cadence_minutes=30)
        assert incident.next_update_due_at == T0 + 30 * MINUTE
        clock.shift(29 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
        assert reminders() == []

        clock.shift(2 * MINUTE)  # 31: the first update is overdue
        sweep(django_capture_on_commit_callbacks)
        assert reminders() == ["bob", "carol"]
        sweep(django_capture_on_commit_callbacks)
        assert reminders() == ["bob", "carol"]  # once per due time, not once per sweep

        clock.shift(30 * MINUTE)  # 61: still nothing posted, reminded again
        sweep(django_capture_on_commit_callbacks)
        assert reminders() == ["bob", "bob", "carol", "carol"]

        clock.shift(2 * MINUTE)  # 63: the communications lead posts; the next is due at 93
        update = major.post_update(incident, actor=Actor.for_user(people["bob"]), body="Payments restored for EU.")
        assert update.audience == "stakeholders"
        incident.refresh_from_db()
        assert incident.next_update_due_at == T0 + 93 * MINUTE
        [pending] = Timer.objects.filter(kind=major.UPDATE_DUE, status="pending")
        assert pending.due_at == T0 + 93 * MINUTE
        clock.shift(20 * MINUTE)  # 83
        sweep(django_capture_on_commit_callbacks)
        assert len(reminders()) == 4

        services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="Gateway restarted")
        clock.shift(60 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
    assert len(reminders()) == 4
    assert not Timer.objects.filter(kind=major.UPDATE_DUE, status="pending").exists()


def test_internal_notes_do_not_reset_the_cadence_and_updates_need_a_major_incident(people, manager):
    with time_machine.travel(T0, tick=False) as clock:
        incident = major.promote_major(make_incident(), actor=manager)
        due = incident.next_update_due_at
        assert due == T0 + 30 * MINUTE  # the settings' default cadence
        clock.shift(10 * MINUTE)
        major.post_update(incident, actor=manager, body="DB failover in progress", audience="internal")
        incident.refresh_from_db()
        assert incident.next_update_due_at == due
    assert [u.audience for u in CommunicationUpdate.objects.all()] == ["internal"]
    assert OutboxEvent.objects.filter(event_type="incident.update_posted").count() == 1
    with pytest.raises(ValidationError):
        major.post_update(incident, actor=manager, body="  ")
    with pytest.raises(TransitionNotAllowed):
        major.post_update(make_incident(), actor=manager, body="Not major")


def test_children_link_unlink_and_no_cycles(manager):
    parent = major.promote_major(make_incident(title="Payments down"), actor=manager)
    child = make_incident(title="Checkout 502")
    child = major.link_child(parent, child, actor=manager)
    assert child.parent == parent
    assert list(parent.children.all()) == [child]
    assert history_for(parent).filter(action="link_child").count() == 1
    assert history_for(child).get(action="link_major").changes["parent"][1] == str(parent)

    with pytest.raises(ValidationError):
        major.link_child(parent, parent, actor=manager)
    other = major.promote_major(make_incident(title="Other major"), actor=manager)
    with pytest.raises(ValidationError):
        major.link_child(parent, other, actor=manager)  # a major incident is nobody's child
    with pytest.raises(TransitionNotAllowed):
        major.link_child(child, make_incident(), actor=manager)  # only major incidents have children

    # A major incident that is itself a child cannot take its own parent as a child.
    grand = major.promote_major(make_incident(title="Child promoted"), actor=manager)
    Incident.objects.filter(pk=grand.pk).update(parent=parent)
    Incident.objects.filter(pk=parent.pk).update(major_status="proposed")
    parent.refresh_from_db()
    with pytest.raises(ValidationError):
        major.link_child(grand, parent, actor=manager)

    child = major.unlink_child(child, actor=manager)
    assert child.parent is None
    with pytest.raises(ValidationError):
        major.unlink_child(child, actor=manager)


# --- the tab and its actions ---------------------------------------------------------------------------

def test_propose_by_responder_promote_by_manager_only(client, users):
    team = TeamFactory()
    incident = make_incident(impact=1, urgency=1, assignment_group=team)
    url = f"/incidents/{incident.pk}/major/"
    client.force_login(users["viewer"])
    assert client.post(url + "propose/", {"reason": "big"}).status_code == 403

    client.force_login(users["responder"])
    tab = client.get(f"/incidents/{incident.pk}/?tab=major").content.decode()
    assert 'id="major-p1-hint"' in tab  # a P1 not yet major suggests the proposal
    response = client.post(url + "propose/", {"reason": "All card payments fail"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "All card payments fail" in response.content.decode()
    assert client.post(url + "promote/", {}).status_code == 403
    assert client.post(url + "reject/", {"reason": "no"}).status_code == 403
    assert Incident.objects.get(pk=incident.pk).major_status == "proposed"

    client.force_login(users["manager"])
    response = client.post(url + "promote/", {"commander": users["responder"].pk, "update_cadence_minutes": "15"})
    assert response.status_code == 302 and response["Location"].endswith("?tab=major")
    incident.refresh_from_db()
    assert (incident.major_status, incident.commander, incident.update_cadence_minutes) == (
        "major", users["responder"], 15)


def test_team_manager_may_promote_their_teams_incident(client, users, team):
    incident = make_incident(assignment_group=team)
    client.force_login(users["team_manager"])  # a viewer globally, manager of `team`
    assert client.post(f"/incidents/{incident.pk}/major/promote/", {}).status_code == 302
    assert Incident.objects.get(pk=incident.pk).major_status == "major"
    other = make_incident(assignment_group=TeamFactory())
    assert client.post(f"/incidents/{other.pk}/major/promote/", {}).status_code == 403


def test_major_tab_shows_roles_log_children_and_errors_in_place(client, users):
    manager = Actor.for_user(users["manager"])
    incident = major.promote_major(make_incident(title="Payments down"), actor=manager, commander=users["responder"])
    major.post_update(incident, actor=manager, body="Investigating the payment gateway.")
    child = major.link_child(incident, make_incident(title="Checkout 502"), actor=manager)
    client.force_login(users["responder"])

    page = client.get(f"/incidents/{incident.pk}/?tab=major")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Investigating the payment gateway." in text and child.number in text
    assert "responder" in text  # the commander
    assert 'id="major-roles-form"' not in text  # roles are a manager's

    bad = client.post(f"/incidents/{incident.pk}/major/children/", {"child": "INC-999999"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422
    assert "INC-999999" in bad.content.decode()
    posted = client.post(f"/incidents/{incident.pk}/major/updates/", {"body": "Fix deployed; monitoring.",
                                                                     "audience": "stakeholders"},
                         HTTP_HX_REQUEST="true")
    assert posted.status_code == 200
    assert "Fix deployed; monitoring." in posted.content.decode()

    client.force_login(users["manager"])
    assert 'id="major-roles-form"' in client.get(f"/incidents/{incident.pk}/?tab=major").content.decode()
    roles = client.post(f"/incidents/{incident.pk}/major/roles/", {"scribe": "nobody-here"}, HTTP_HX_REQUEST="true")
    assert roles.status_code == 422


def test_responders_link_children_they_may_see(client, users):
    set_membership(TeamFactory(), users["responder"], actor=Actor.system("test"), role="responder")
    manager = Actor.for_user(users["manager"])
    incident = major.promote_major(make_incident(), actor=manager)
    child = make_incident(title="Checkout 502")
    client.force_login(users["responder"])
    response = client.post(f"/incidents/{incident.pk}/major/children/", {"child": child.number.lower()})
    assert response.status_code == 302
    assert Incident.objects.get(pk=child.pk).parent_id == incident.pk
    response = client.post(f"/incidents/{incident.pk}/major/children/{child.pk}/unlink/")
    assert response.status_code == 302
    assert Incident.objects.get(pk=child.pk).parent_id is None


def test_a_reopened_major_incident_owes_an_update_one_cadence_later(people, manager,
                                                                   django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False) as clock:
        incident = major.promote_major(make_incident(impact=1, urgency=1), actor=manager,
                                       communications_lead=people["bob"], update_cadence_minutes=30)
        services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="Gateway restarted")
        clock.shift(10 * MINUTE)
        services.transition_incident(incident, "reopen", actor=FACTORY_ACTOR, data={"reason": "Errors are back"})
        incident.refresh_from_db()
        assert incident.next_update_due_at == T0 + 40 * MINUTE
        clock.shift(31 * MINUTE)
        sweep(django_capture_on_commit_callbacks)
    assert reminders() == ["bob"]


def test_a_proposal_on_a_closed_incident_cannot_be_rejected(people, manager):
    incident = make_incident(impact=2, urgency=2)
    major.propose_major(incident, actor=Actor.for_user(people["carol"]), reason="Looks big")
    services.transition_incident(incident, "cancel", actor=FACTORY_ACTOR, data={"reason": "Duplicate"})
    with pytest.raises(TransitionNotAllowed):
        major.reject_major(incident, actor=manager, reason="Not big")
    incident.refresh_from_db()
    assert incident.major_status == "proposed"
