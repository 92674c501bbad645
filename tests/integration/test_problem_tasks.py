"""The problems beat tasks through a real worker on Redis: trend detection proposes the candidate for five
incidents on one CI; the recurrence sweep evaluates an ended watch and the owner's email goes out.

The worker is a separate process, so its clock cannot be frozen: the resolved problem is made with the
clock moved back by more than the watch, so its check is due when the worker sweeps.
"""

import datetime

import pytest
import time_machine
from django.utils import timezone

from opsdesk.core.actors import Actor
from opsdesk.core.models import JobRun, Notification
from opsdesk.problems import services, tasks
from opsdesk.problems.models import ProblemCandidate, RecurrenceCheck
from tests.accounts.factories import UserFactory
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_incident, make_problem

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ACTOR = Actor.system("integration-test")


def run_on_worker(peers, task) -> None:
    """What beat does: ask a worker to run the task, and wait until it has."""
    name = task.name
    before = JobRun.objects.filter(task_name=name, status="succeeded").count()
    task.delay()
    peers.wait_for(lambda: JobRun.objects.filter(task_name=name, status="succeeded").count() > before,
                   f"{name} to run on the worker")


def test_trend_detection_on_the_worker_proposes_one_candidate(peers):
    ci = CIFactory(name="mq-07")
    incidents = [make_incident(actor=ACTOR, title=f"Queue {i} stuck", cis=[ci]) for i in range(5)]
    run_on_worker(peers, tasks.detect_trends)
    candidate = ProblemCandidate.objects.get()
    assert (candidate.kind, candidate.ci, candidate.incident_count) == ("ci", ci, 5)
    assert set(candidate.incidents.all()) == set(incidents)
    run_on_worker(peers, tasks.detect_trends)  # a second run (or a second worker) adds nothing
    assert ProblemCandidate.objects.count() == 1


def test_recurrence_sweep_on_the_worker_evaluates_and_emails_the_owner(peers):
    owner = UserFactory(username="omar", email="omar@example.com", role="responder")
    ci = CIFactory()
    with time_machine.travel(timezone.now() - datetime.timedelta(days=45), tick=True):
        first = make_incident(actor=ACTOR, title="Cache stampede on product pages", cis=[ci])
        problem = make_problem(title="Cache stampede", owner=owner, cis=[ci], incidents=[first])
        problem = services.transition_problem(problem, "start_rca", actor=ACTOR)
        services.transition_problem(problem, "resolve", actor=ACTOR,
                                    data={"root_cause": "Same TTL everywhere", "fix_description": "TTL jitter"})
    check = RecurrenceCheck.objects.get(problem=problem)
    assert check.ends_at < timezone.now()
    run_on_worker(peers, tasks.evaluate_recurrence)
    check.refresh_from_db()
    assert (check.status, check.verdict, check.count_before, check.count_after) == ("evaluated", "effective", 1, 0)
    [mail] = peers.wait_for(lambda: peers.mailbox.received(), "the evaluation email to reach the SMTP server")
    assert mail.rcpt_tos == ["omar@example.com"]
    assert "problem.recurrence_evaluated" in mail.message["Subject"]
    assert Notification.objects.filter(user=owner, event__event_type="problem.recurrence_evaluated").count() == 1
    run_on_worker(peers, tasks.evaluate_recurrence)  # evaluated once
    peers.wait_until_idle()
    assert len(peers.mailbox.received()) == 1
