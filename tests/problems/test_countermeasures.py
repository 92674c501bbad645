"""Countermeasures: type, owner, due date, the status flow, the optional change number, and the overdue
sweep that tells the owner once (frozen clock, no sleeping)."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.models import OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.problems import services, tasks
from tests.accounts.factories import TeamFactory, UserFactory
from tests.problems.factories import make_countermeasure, make_problem

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
DUE = datetime.date(2026, 3, 20)
AFTER_DUE_DAY = datetime.datetime(2026, 3, 21, 9, 0, tzinfo=datetime.UTC)


def overdue_events():
    return list(OutboxEvent.objects.filter(event_type="countermeasure.overdue"))


def test_a_countermeasure_is_recorded_on_its_problem():
    problem = make_problem()
    cm = make_countermeasure(problem, change_number="chg-12", due_date=DUE)
    assert cm.status == "planned" and cm.kind == "monitoring"
    assert cm.change_number == "CHG-12"
    assert history_for(cm).first().action == "create"
    assert history_for(problem).filter(action="add_countermeasure").exists()


def test_bad_input_is_refused_and_nothing_is_written():
    problem = make_problem()
    with pytest.raises(ValidationError) as exc:
        make_countermeasure(problem, change_number="change twelve")
    assert "change_number" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        make_countermeasure(problem, kind="prayer")
    assert "kind" in exc.value.message_dict
    with pytest.raises(ValidationError):
        make_countermeasure(problem, status="done")  # the status moves by transitions only
    assert problem.countermeasures.count() == 0


def test_the_status_flow_records_completion_and_reasons():
    cm = make_countermeasure(make_problem())
    cm = services.transition_countermeasure(cm, "start", actor=ACTOR)
    cm = services.transition_countermeasure(cm, "complete", actor=ACTOR)
    assert cm.status == "done" and cm.completed_at is not None
    with pytest.raises(TransitionNotAllowed):
        services.transition_countermeasure(cm, "complete", actor=ACTOR)
    cm = services.transition_countermeasure(cm, "reopen", actor=ACTOR, data={"reason": "The alert never fired"})
    assert cm.status == "in_progress" and cm.completed_at is None and cm.status_reason == "The alert never fired"
    with pytest.raises(ValidationError):
        services.transition_countermeasure(cm, "cancel", actor=ACTOR)  # a reason is required
    cm.refresh_from_db()
    assert cm.status == "in_progress"


def test_countermeasures_of_a_closed_problem_are_read_only():
    problem = make_problem(root_cause="x", fix_description="y")
    cm = make_countermeasure(problem)
    for name in ("assess", "start_rca", "resolve", "close"):
        problem = services.transition_problem(problem, name, actor=ACTOR)
    with pytest.raises(TransitionNotAllowed):
        make_countermeasure(problem)
    with pytest.raises(TransitionNotAllowed):
        services.update_countermeasure(cm, actor=ACTOR, data={"title": "Changed"})
    with pytest.raises(TransitionNotAllowed):
        services.transition_countermeasure(cm, "start", actor=ACTOR)


def test_an_overdue_countermeasure_is_notified_once_to_its_owner():
    owner = UserFactory(username="owner", role="responder")
    cm = make_countermeasure(make_problem(), owner=owner, due_date=DUE)
    done = make_countermeasure(make_problem(), owner=owner, due_date=DUE)
    services.transition_countermeasure(done, "complete", actor=ACTOR)
    with time_machine.travel(datetime.datetime(2026, 3, 20, 12, 0, tzinfo=datetime.UTC), tick=False):
        assert services.notify_overdue_countermeasures() == 0  # due today: not overdue yet
    with time_machine.travel(AFTER_DUE_DAY, tick=False):
        assert tasks.notify_overdue_countermeasures() == 1
        assert services.notify_overdue_countermeasures() == 0  # once
    sent = overdue_events()
    assert len(sent) == 1 and sent[0].object_id == cm.pk
    assert sent[0].payload["recipients"] == [owner.pk]
    assert sent[0].payload["days_overdue"] == 1
    cm.refresh_from_db()
    assert cm.overdue_notified_at == AFTER_DUE_DAY


def test_a_new_due_date_re_arms_the_reminder_and_without_owner_the_problem_team_hears():
    team = TeamFactory()
    members = [UserFactory(username=f"member{n}", role="responder") for n in range(2)]
    for member in members:
        set_membership(team, member, actor=ACTOR, role="responder")
    cm = make_countermeasure(make_problem(owner_team=team), due_date=DUE)
    with time_machine.travel(AFTER_DUE_DAY, tick=False):
        assert services.notify_overdue_countermeasures() == 1
        cm = services.update_countermeasure(cm, actor=ACTOR, data={"due_date": DUE + datetime.timedelta(days=1)})
        assert cm.overdue_notified_at is None
    with time_machine.travel(AFTER_DUE_DAY + datetime.timedelta(days=1), tick=False):
        assert services.notify_overdue_countermeasures() == 1
    assert sorted(overdue_events()[-1].payload["recipients"]) == sorted(m.pk for m in members)
