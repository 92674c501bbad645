"""Trend detection on generated incident histories: recurring incidents on one CI, service or category,
or with similar titles, become one problem candidate; noise becomes none."""

from __future__ import annotations

import datetime
import random

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.problems import trends
from opsdesk.problems.configuration import problem_settings
from opsdesk.problems.models import ProblemCandidate
from tests.cmdb.factories import CIFactory
from tests.problems.factories import make_incident, make_problem
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
T0 = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)
WORDS = ("printer toner paper vpn login password mailbox quota laptop screen keyboard badge door wifi "
         "calendar invite license excel macro backup restore ticket phone headset camera monitor cable dock "
         "certificate proxy firewall dns latency queue deadlock invoice payroll report export import sync").split()


def history(items):
    """Create incidents at given offsets from T0: [(hours, fields), ...]."""
    made = []
    for hours, fields in items:
        with time_machine.travel(T0 + datetime.timedelta(hours=hours), tick=False):
            made.append(make_incident(**fields))
    return made


def detect(days_after=0):
    return trends.detect(now=T0 + datetime.timedelta(days=days_after, hours=1))


def test_five_incidents_on_one_ci_within_a_week_make_one_candidate_listing_them():
    ci = CIFactory(name="db-01")
    titles = ["Database slow", "Replication lag alarm", "Checkout timeouts", "Disk latency high", "Backups overran"]
    incidents = history([(i * 30, {"title": t, "cis": [ci]}) for i, t in enumerate(titles)])
    found = trends.detect(now=T0 + datetime.timedelta(days=6))
    assert len(found) == 1
    candidate = found[0]
    assert (candidate.kind, candidate.key, candidate.ci, candidate.status) == ("ci", f"ci:{ci.pk}", ci, "open")
    assert set(candidate.incidents.all()) == set(incidents)
    assert candidate.incident_count == 5
    assert "db-01" in candidate.title and "5" in candidate.reason
    assert ProblemCandidate.objects.count() == 1
    # Asking again changes nothing; a sixth incident updates the same candidate.
    assert trends.detect(now=T0 + datetime.timedelta(days=6)) == []
    sixth = history([(24 * 6, {"title": "Database restarted", "cis": [ci]})])[0]
    updated = trends.detect(now=T0 + datetime.timedelta(days=6, hours=2))
    assert [c.pk for c in updated] == [candidate.pk]
    assert ProblemCandidate.objects.count() == 1
    assert sixth in updated[0].incidents.all() and updated[0].incident_count == 6


def test_five_alike_titles_on_one_ci_are_still_one_candidate():
    ci = CIFactory(name="web-02")
    history([(i * 20, {"title": f"Disk full on web-02 /var partition {i}", "cis": [ci]}) for i in range(5)])
    found = trends.detect(now=T0 + datetime.timedelta(days=5))
    assert [c.kind for c in found] == ["ci"]


def test_four_incidents_or_five_spread_over_more_than_the_window_make_none():
    ci = CIFactory()
    history([(i * 24, {"title": f"Thing {i}", "cis": [ci]}) for i in range(4)])
    assert detect(days_after=5) == []
    other = CIFactory()
    history([(i * 24 * 3, {"title": f"Other {i}", "cis": [other]}) for i in range(5)])  # over 12 days
    assert trends.detect(now=T0 + datetime.timedelta(days=12, hours=1)) == []


def test_random_noise_makes_no_candidate():
    rng = random.Random(7)
    cis = [CIFactory() for _ in range(12)]
    services_ = [ServiceFactory() for _ in range(6)]
    items = []
    for _i in range(40):
        title = " ".join(rng.sample(WORDS, 4))
        fields = {"title": title, "cis": [rng.choice(cis)] if rng.random() < 0.7 else []}
        if rng.random() < 0.5:
            fields["service"] = rng.choice(services_)
        items.append((rng.uniform(0, 24 * 28), fields))
    history(sorted(items, key=lambda item: item[0]))
    for day in (7, 14, 21, 28):
        assert trends.detect(now=T0 + datetime.timedelta(days=day)) == []
    assert not ProblemCandidate.objects.exists()


def test_a_service_with_ten_incidents_in_a_week_is_a_candidate():
    service = ServiceFactory(name="Payments")
    history([(i * 12, {"title": f"Case {i} {WORDS[i]}", "service": service}) for i in range(10)])
    found = trends.detect(now=T0 + datetime.timedelta(days=6))
    assert [(c.kind, c.service) for c in found] == [("service", service)]
    assert found[0].incident_count == 10


def test_similar_titles_on_different_cis_make_a_text_candidate():
    items = [(i * 30, {"title": f"Certificate expired on api-gw-{i:02d} TLS handshake fails", "cis": [CIFactory()]})
             for i in range(4)]
    items.append((10, {"title": "Printer out of toner", "cis": []}))
    incidents = history(items)
    found = trends.detect(now=T0 + datetime.timedelta(days=6))
    assert len(found) == 1
    candidate = found[0]
    assert candidate.kind == "text"
    assert set(candidate.incidents.all()) == set(incidents[:4])
    assert "certificate" in candidate.key and "expired" in candidate.key
    assert "api" not in candidate.key.split()  # host names are collapsed away


def test_normalise_collapses_hosts_numbers_and_stop_words():
    assert trends.normalise("Disk FULL on db-01.example.com (97%) after 3 retries") == {"disk", "full", "retries"}
    assert trends.normalise("Timeout to 10.0.4.12 port 5432") == {"timeout", "port"}
    clusters = trends.text_clusters({1: "Disk full on db-01", 2: "disk full on db-02!", 3: "Disk is full, db-07",
                                     4: "VPN login fails"}, similarity_threshold=0.6, minimum=3)
    assert clusters == [([3, 2, 1], ["disk", "full"])]


def test_keys_covered_by_an_open_problem_or_recently_dismissed_are_not_proposed():
    ci, other = CIFactory(), CIFactory()
    incidents = history([(i * 10, {"title": f"Case {WORDS[i]}", "cis": [ci]}) for i in range(5)])
    history([(i * 10 + 1, {"title": f"Issue {WORDS[10 + i]}", "cis": [other]}) for i in range(5)])
    make_problem(title="Known flaky host", incidents=incidents[:4])
    found = trends.detect(now=T0 + datetime.timedelta(days=3))
    assert [c.ci for c in found] == [other]
    trends.dismiss_candidate(found[0], actor=ACTOR, reason="Planned load tests")
    assert trends.detect(now=T0 + datetime.timedelta(days=3, hours=1)) == []


def test_dismiss_needs_a_reason_and_an_open_candidate():
    ci = CIFactory()
    history([(i, {"title": f"Case {WORDS[i]}", "cis": [ci]}) for i in range(5)])
    candidate = detect(days_after=1)[0]
    assert trends.detect(now=T0 + datetime.timedelta(hours=3)) == []  # a window before the fifth
    with pytest.raises(ValidationError):
        trends.dismiss_candidate(candidate, actor=ACTOR, reason="  ")
    candidate.refresh_from_db()
    assert candidate.status == "open"
    trends.dismiss_candidate(candidate, actor=ACTOR, reason="Test environment")
    candidate.refresh_from_db()
    assert (candidate.status, candidate.dismiss_reason) == ("dismissed", "Test environment")
    assert AuditEntry.objects.filter(action="dismiss", object_id=candidate.pk).exists()
    with pytest.raises(TransitionNotAllowed):
        trends.dismiss_candidate(candidate, actor=ACTOR, reason="again")


def test_dismissed_keys_come_back_after_dismiss_days():
    config = problem_settings()
    config.dismiss_days = 2
    config.save()
    ci = CIFactory()
    history([(i, {"title": f"Case {WORDS[i]}", "cis": [ci]}) for i in range(5)])
    with time_machine.travel(T0 + datetime.timedelta(hours=6), tick=False):
        trends.dismiss_candidate(trends.detect()[0], actor=ACTOR, reason="noise")
    history([(24 * 3 + i, {"title": f"Again {WORDS[i]}", "cis": [ci]}) for i in range(5)])
    found = trends.detect(now=T0 + datetime.timedelta(days=3, hours=6))
    assert len(found) == 1 and found[0].status == "open"


def test_accept_creates_the_problem_from_the_incidents():
    ci = CIFactory(name="mq-03")
    incidents = history([(i * 5, {"title": f"Queue backlog {WORDS[i]}", "cis": [ci]}) for i in range(5)])
    candidate = detect(days_after=1)[0]
    user_actor = ACTOR
    problem = trends.accept_candidate(candidate, actor=user_actor, data={"title": "Queue backlog on mq-03"})
    candidate.refresh_from_db()
    assert (candidate.status, candidate.problem) == ("accepted", problem)
    assert candidate.decided_at is not None
    assert problem.title == "Queue backlog on mq-03" and problem.source == "trend"
    assert set(problem.incidents.all()) == set(incidents)
    assert ci in problem.cis.all()
    with pytest.raises(TransitionNotAllowed):
        trends.accept_candidate(candidate, actor=user_actor)
    # The accepted key is now covered by the open problem: no new candidate.
    assert trends.detect(now=T0 + datetime.timedelta(days=1, hours=2)) == []


def test_detection_reads_the_window_with_a_bounded_number_of_queries(django_assert_max_num_queries):
    cis = [CIFactory() for _ in range(3)]
    history([(i, {"title": f"Case {WORDS[i]} {WORDS[i + 1]}", "cis": [cis[i % 3]]}) for i in range(15)])
    problem_settings()
    with django_assert_max_num_queries(40):
        found = trends.detect(now=T0 + datetime.timedelta(days=1))
    assert len(found) == 3
    # timezone-aware windows
    assert all(timezone.is_aware(c.window_start) for c in found)


def test_a_dismissed_text_cluster_stays_dismissed_when_its_key_words_shift():
    history([(i * 10, {"title": f"Certificate expired on gw-{i} TLS handshake fails"}) for i in range(4)])
    [candidate] = trends.detect(now=T0 + datetime.timedelta(days=2))
    assert candidate.kind == "text"
    trends.dismiss_candidate(candidate, actor=ACTOR, reason="Renewal already planned")
    more = history([(60 + i, {"title": f"Certificate expired on gw-{i} TLS handshake refused"}) for i in range(4)])
    clusters = trends.text_clusters({i.pk: i.title for i in more + list(candidate.incidents.all())},
                                    similarity_threshold=0.6, minimum=4)
    assert [words for _ids, words in clusters] == [["certificate", "expired", "handshake", "refused", "tls"]]
    assert trends.detect(now=T0 + datetime.timedelta(days=3)) == []  # another key, the same incidents
