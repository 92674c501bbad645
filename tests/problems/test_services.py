"""The rules of problems: numbering and priority from the matrix, the flow (resolution needs a root cause
and a fix, nothing written otherwise), creation from incidents, linked incidents, and publishing the
workaround or the fix to the incidents waiting on hold."""

import pytest
from django.core.exceptions import ValidationError

from opsdesk.accounts.services import set_membership
from opsdesk.core import search
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.comments import comments_for
from opsdesk.core.models import OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents import services as incident_services
from opsdesk.problems import services
from opsdesk.problems.models import Problem
from tests.accounts.factories import TeamFactory, UserFactory
from tests.cmdb.factories import CIFactory
from tests.incidents.factories import category
from tests.problems.factories import make_incident, make_problem
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def events(kind):
    return list(OutboxEvent.objects.filter(event_type=kind))


def to_rca(problem):
    problem = services.transition_problem(problem, "assess", actor=ACTOR)
    return services.transition_problem(problem, "start_rca", actor=ACTOR)


def on_hold_awaiting_problem(**fields):
    incident = make_incident(**fields)
    incident = incident_services.transition_incident(incident, "acknowledge", actor=ACTOR)
    return incident_services.transition_incident(incident, "hold", actor=ACTOR,
                                                 data={"hold_reason": "awaiting_problem"})


def test_a_problem_gets_a_number_priority_from_the_matrix_and_a_change_log_row():
    problem = make_problem(impact=1, urgency=1)
    assert problem.number.startswith("PRB-")
    assert problem.priority == incident_services.priority_for(1, 1)
    assert problem.status == "new" and problem.source == "manual"
    assert history_for(problem).first().action == "create"
    assert events("problem.created")


def test_priority_follows_impact_and_urgency_and_cannot_be_set_by_hand():
    problem = make_problem(impact=3, urgency=3)
    low = problem.priority
    problem = services.update_problem(problem, actor=ACTOR, data={"impact": 1, "urgency": 1, "priority": "P5"})
    assert problem.priority == incident_services.priority_for(1, 1) != low


def test_unknown_impact_is_refused_and_nothing_is_written():
    with pytest.raises(ValidationError) as exc:
        make_problem(impact=9)
    assert "impact" in exc.value.message_dict
    assert Problem.objects.count() == 0


def test_change_numbers_are_validated_and_normalized():
    problem = make_problem(change_numbers=["chg-12", "CHG-40", "CHG-12"])
    assert problem.change_numbers == ["CHG-12", "CHG-40"]
    with pytest.raises(ValidationError) as exc:
        services.update_problem(problem, actor=ACTOR, data={"change_numbers": ["change 12"]})
    assert "change_numbers" in exc.value.message_dict


def test_the_owner_must_belong_to_the_owner_team():
    team, stranger = TeamFactory(), UserFactory(username="stranger")
    with pytest.raises(ValidationError) as exc:
        make_problem(owner_team=team, owner=stranger)
    assert "owner" in exc.value.message_dict


def test_resolve_is_refused_without_root_cause_and_fix_and_nothing_is_written():
    problem = to_rca(make_problem())
    before = history_for(problem).count()
    with pytest.raises(ValidationError) as exc:
        services.transition_problem(problem, "resolve", actor=ACTOR)
    assert set(exc.value.message_dict) == {"root_cause", "fix_description"}
    problem.refresh_from_db()
    assert problem.status == "rca" and problem.resolved_at is None
    assert history_for(problem).count() == before
    with pytest.raises(ValidationError) as exc:
        services.transition_problem(problem, "resolve", actor=ACTOR, data={"root_cause": "Pool too small"})
    assert set(exc.value.message_dict) == {"fix_description"}


def test_resolve_with_root_cause_and_fix_given_or_already_written():
    problem = to_rca(make_problem())
    resolved = services.transition_problem(problem, "resolve", actor=ACTOR, data={
        "root_cause": "The connection pool is sized for 10 pods", "fix_description": "Pool size from pod count"})
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    assert resolved.root_cause.startswith("The connection pool")
    entry = history_for(resolved).filter(action="resolve").get()
    assert "root_cause" in entry.changes
    assert resolved.recurrence_checks.filter(status="watching").count() == 1  # the watch starts

    other = to_rca(make_problem(root_cause="Disk full", fix_description="Log rotation"))
    assert services.transition_problem(other, "resolve", actor=ACTOR).status == "resolved"


def test_close_reopen_and_cancel_record_their_times_and_reasons():
    problem = to_rca(make_problem(root_cause="x", fix_description="y"))
    problem = services.transition_problem(problem, "resolve", actor=ACTOR)
    problem = services.transition_problem(problem, "reopen", actor=ACTOR, data={"reason": "It came back"})
    assert problem.status == "fix_in_progress" and problem.resolved_at is None
    assert problem.status_reason == "It came back"
    problem = services.transition_problem(problem, "resolve", actor=ACTOR)
    problem = services.transition_problem(problem, "close", actor=ACTOR)
    assert problem.closed_at is not None
    with pytest.raises(TransitionNotAllowed):
        services.update_problem(problem, actor=ACTOR, data={"title": "Edited after closing"})
    with pytest.raises(TransitionNotAllowed):
        services.transition_problem(problem, "close", actor=ACTOR)
    cancelled = services.transition_problem(make_problem(), "cancel", actor=ACTOR, data={"reason": "Duplicate"})
    assert cancelled.status == "cancelled" and cancelled.status_reason == "Duplicate"


def test_create_from_one_incident_prefills_links_and_tells_the_incident():
    ci = CIFactory()
    service = ServiceFactory()
    incident = make_incident(title="Checkout 502 after deploy", cis=[ci], service=service,
                             category=category("software"), impact=2, urgency=1)
    problem = services.create_problem_from_incidents([incident], actor=ACTOR)
    assert problem.source == "incident"
    assert problem.title == "Checkout 502 after deploy"
    assert problem.service == service and problem.category == incident.category
    assert list(problem.cis.all()) == [ci]
    assert (problem.impact, problem.urgency, problem.priority) == (2, 1, incident.priority)
    assert list(problem.incidents.all()) == [incident]
    linked = history_for(incident).filter(action="link_problem").get()
    assert problem.number in linked.changes["problem"][1]


def test_create_from_several_incidents_takes_the_common_service_and_all_cis():
    a, b = CIFactory(), CIFactory()
    shop, other = ServiceFactory(), ServiceFactory()
    incidents = [make_incident(title="Shop slow", cis=[a], service=shop, impact=3, urgency=2),
                 make_incident(title="Shop down", cis=[b], service=shop, impact=2, urgency=3),
                 make_incident(title="Shop 500", cis=[a], service=other)]
    problem = services.create_problem_from_incidents(incidents, actor=ACTOR, data={"title": "Shop keeps failing"})
    assert problem.title == "Shop keeps failing"
    assert problem.service == shop
    assert set(problem.cis.all()) == {a, b}
    assert (problem.impact, problem.urgency) == (2, 2)
    assert problem.incidents.count() == 3
    assert all(history_for(i).filter(action="link_problem").exists() for i in incidents)
    with pytest.raises(ValidationError):
        services.create_problem_from_incidents([], actor=ACTOR)


def test_link_and_unlink_incidents():
    problem = make_problem()
    first, second = make_incident(), make_incident()
    assert services.link_incidents(problem, [first, second], actor=ACTOR) == [first, second]
    assert services.link_incidents(problem, [first], actor=ACTOR) == []  # already linked: nothing again
    services.unlink_incident(problem, first, actor=ACTOR)
    assert list(problem.incidents.all()) == [second]
    assert history_for(first).filter(action="unlink_problem").exists()
    with pytest.raises(ValidationError):
        services.unlink_incident(problem, first, actor=ACTOR)
    assert [e.action for e in history_for(problem)[:3]] == ["unlink_incident", "link_incidents", "create"]


def test_publishing_the_workaround_tells_waiting_incidents_and_notifies_their_assignee():
    team = TeamFactory()
    person = UserFactory(username="person", role="responder")
    set_membership(team, person, actor=ACTOR, role="responder")
    waiting = on_hold_awaiting_problem(assignment_group=team, assignee=person)
    other_hold = make_incident()
    other_hold = incident_services.transition_incident(other_hold, "acknowledge", actor=ACTOR)
    other_hold = incident_services.transition_incident(other_hold, "hold", actor=ACTOR,
                                                       data={"hold_reason": "awaiting_vendor"})
    problem = make_problem()
    services.link_incidents(problem, [waiting, other_hold], actor=ACTOR)

    problem = services.publish_workaround(problem, actor=ACTOR, text="Restart the checkout pods one by one.")
    assert problem.workaround == "Restart the checkout pods one by one."
    assert problem.workaround_published_at is not None
    comments = list(comments_for(waiting))
    assert len(comments) == 1 and "Restart the checkout pods" in comments[0].body
    assert problem.number in comments[0].body
    assert not comments_for(other_hold).exists()
    told = events("incident.problem_workaround_published")
    assert len(told) == 1 and told[0].object_id == waiting.pk
    assert told[0].payload["recipients"] == [person.pk]
    assert events("problem.workaround_published")[0].payload["incidents_told"] == 1


def test_publishing_the_fix_notifies_the_team_when_nobody_is_assigned():
    team = TeamFactory()
    members = [UserFactory(username=f"m{n}", role="responder") for n in range(2)]
    for member in members:
        set_membership(team, member, actor=ACTOR, role="responder")
    waiting = on_hold_awaiting_problem(assignment_group=team)
    if waiting.assignee_id is not None:  # an assignment rule may have picked someone: unassign for this test
        waiting = incident_services.update_incident(waiting, actor=ACTOR, data={"assignee": None})
    problem = make_problem(fix_description="Pool sized from the pod count")
    services.link_incidents(problem, [waiting], actor=ACTOR)
    problem = services.publish_fix(problem, actor=ACTOR)
    assert problem.fix_published_at is not None
    told = events("incident.problem_fix_published")
    assert sorted(told[0].payload["recipients"]) == sorted(m.pk for m in members)
    assert "Pool sized from the pod count" in comments_for(waiting).get().body


def test_publishing_needs_a_text_and_a_writable_problem():
    problem = make_problem()
    with pytest.raises(ValidationError):
        services.publish_workaround(problem, actor=ACTOR, text="  ")
    with pytest.raises(ValidationError):
        services.publish_fix(problem, actor=ACTOR)  # no fix written yet
    problem.refresh_from_db()
    assert problem.workaround_published_at is None and problem.fix_published_at is None
    cancelled = services.transition_problem(problem, "cancel", actor=ACTOR, data={"reason": "Duplicate"})
    with pytest.raises(TransitionNotAllowed):
        services.publish_workaround(cancelled, actor=ACTOR, text="Too late")


def test_problems_are_found_by_full_text_search():
    make_problem(title="Payment gateway timeouts", root_cause="TLS handshake to the acquirer is slow")
    hits = search.query("acquirer handshake", kinds=["problem"])
    assert hits and hits[0].title == "Payment gateway timeouts"
