"""The known error database: writes through core.records, the error-pattern check, matching an incident
against the active known errors (CI, class, service, pattern, text) and applying a workaround."""

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F

from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for
from opsdesk.core.comments import comments_for
from opsdesk.core.models import OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.problems import kedb
from opsdesk.problems.models import KnownError, WorkaroundApplication
from tests.cmdb.factories import CIFactory, cls
from tests.problems.factories import make_incident, make_known_error, make_problem
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


# --- writes -------------------------------------------------------------------------------------------

def test_create_numbers_logs_and_indexes():
    ke = make_known_error(error_pattern="ORA-00600")
    assert ke.number.startswith("KE-")
    assert ke.status == "active"
    entry = history_for(ke).first()
    assert entry.action == "create"
    assert entry.changes["error_pattern"] == [None, "ORA-00600"]
    from opsdesk.core import search

    hits = search.query("connection pool exhausted", kinds=["knownerror"])
    assert [h.number for h in hits] == [ke.number]
    assert hits[0].state == "active"


def test_title_and_symptom_are_required_and_nothing_is_written():
    with pytest.raises(ValidationError) as error:
        kedb.create_known_error(actor=ACTOR, data={"title": " ", "symptom": ""})
    assert set(error.value.message_dict) == {"title", "symptom"}
    with pytest.raises(ValidationError) as error:
        kedb.create_known_error(actor=ACTOR, data={"title": "x", "symptom": "y", "status": "retired"})
    assert "status" in error.value.message_dict
    assert not KnownError.objects.exists()


@pytest.mark.parametrize("pattern", ["ORA-00600", "java.lang.OutOfMemoryError", r"timeout after \d+ ms",
                                     r"(?i)connection (refused|reset)"])
def test_valid_patterns(pattern):
    assert kedb.validate_error_pattern(f"  {pattern} ") == pattern


@pytest.mark.parametrize("pattern, words", [
    ("ERR(42", "not a valid regular expression"),
    (r"(\w+)-\1", "Back-references and look-arounds are not supported"),
    (r"timeout(?=\s)", "not a valid regular expression"),
    ("x" * 301, "limited to"),
    (".*", "matches an empty text"),
    ("a|", "matches an empty text"),
])
def test_bad_patterns_are_refused(pattern, words):
    with pytest.raises(ValidationError) as error:
        make_known_error(error_pattern=pattern)
    assert words in " ".join(error.value.message_dict["error_pattern"])
    assert not KnownError.objects.exists()


@pytest.mark.parametrize("pattern, text", [
    (r"(a|a)*b", "a" * 10_000),
    (r"\s*\s*\s*\s*x", " " * 10_000),
    (r"(a+)+$", "a" * 10_000 + "!"),
])
def test_patterns_that_backtrack_in_python_are_matched_in_linear_time(pattern, text):
    """Python's `re` would run for hours on these; RE2 (core.patterns) answers at once, on the incident
    page and in the recurrence check alike."""
    ke = make_known_error(error_pattern=pattern)
    incident = make_incident(title="Nightly run", description=text)
    assert kedb.matching_known_errors(incident) == []
    assert ke.error_pattern == pattern


def test_update_and_retired_is_read_only():
    ke = make_known_error()
    ke = kedb.update_known_error(ke, actor=ACTOR, data={"workaround": "Scale the pool to 200."})
    assert history_for(ke).first().changes["workaround"][1] == "Scale the pool to 200."
    ke = kedb.transition_known_error(ke, "retire", actor=ACTOR, data={"reason": "Database replaced"})
    assert ke.status == "retired" and ke.status_reason == "Database replaced"
    with pytest.raises(TransitionNotAllowed):
        kedb.update_known_error(ke, actor=ACTOR, data={"title": "New"})
    with pytest.raises(ValidationError):
        kedb.transition_known_error(ke, "reactivate", actor=ACTOR, data={})
    ke = kedb.transition_known_error(ke, "reactivate", actor=ACTOR, data={"reason": "It came back"})
    assert ke.status == "active"


def test_mark_fixed_records_the_permanent_solution_and_illegal_transition_is_refused():
    ke = make_known_error()
    ke = kedb.transition_known_error(ke, "mark_fixed", actor=ACTOR, data={"permanent_solution": "Upgrade to 16.2"})
    assert ke.status == "fixed" and ke.permanent_solution == "Upgrade to 16.2"
    with pytest.raises(TransitionNotAllowed):
        kedb.transition_known_error(ke, "mark_fixed", actor=ACTOR)
    from opsdesk.core import search

    assert search.query("connection pool", kinds=["knownerror"])[0].state == "fixed"


def test_create_from_problem_prefills_and_links():
    service = ServiceFactory()
    ci = CIFactory(name="db-01")
    problem = make_problem(title="Checkout database runs out of connections", description="502 at peak",
                           service=service, cis=[ci])
    problem.root_cause = "Pool of 100 for 300 workers"
    problem.workaround = "Restart the pods one by one"
    problem.fix_description = "Pool of 400"
    problem.save(update_fields=["root_cause", "workaround", "fix_description"])
    ke = kedb.create_known_error_from_problem(problem, actor=ACTOR, data={"error_pattern": "remaining connection"})
    assert ke.problem == problem
    assert (ke.title, ke.symptom, ke.root_cause, ke.workaround, ke.permanent_solution) == (
        "Checkout database runs out of connections", "502 at peak", "Pool of 100 for 300 workers",
        "Restart the pods one by one", "Pool of 400")
    assert list(ke.cis.all()) == [ci] and list(ke.services.all()) == [service]
    assert ke.error_pattern == "remaining connection"


# --- matching -----------------------------------------------------------------------------------------

def _numbers(matches):
    return [m.known_error.number for m in matches]


def test_same_ci_shows_the_active_known_error_first_with_its_reason():
    db01, other = CIFactory(name="db-01"), CIFactory(name="web-01", ci_class=cls("server"))
    on_ci = make_known_error(title="Replication lag on the orders database", symptom="Orders stall", cis=[db01])
    make_known_error(title="Disk full on web", symptom="Web answers 500", cis=[other])
    retired = make_known_error(title="Old problem", symptom="Orders stall", cis=[db01])
    kedb.transition_known_error(retired, "retire", actor=ACTOR, data={"reason": "gone"})
    incident = make_incident(title="Orders page slow", cis=[db01])
    matches = kedb.matching_known_errors(incident)
    assert _numbers(matches) == [on_ci.number]
    assert "same CI db-01" in matches[0].reasons


def test_ci_class_service_pattern_and_text_each_match_and_rank():
    database = cls("database")
    service = ServiceFactory(name="Online Shop")
    ci = CIFactory(name="db-07", ci_class=database)
    by_class = make_known_error(title="Vacuum stalls", symptom="Slow queries", ci_classes=[database])
    by_service = make_known_error(title="Shop cache cold after deploy", symptom="Slow pages", services=[service])
    by_pattern = make_known_error(title="Internal error of the driver", symptom="Crash", error_pattern=r"ORA-0+600")
    by_text = make_known_error(title="Invoice export hangs at midnight", symptom="The invoice export job hangs")
    unrelated = make_known_error(title="Printer offline", symptom="Printing fails")
    incident = make_incident(title="Invoice export hangs", description="Log: ORA-00600 internal error",
                             service=service, cis=[ci])
    matches = {m.known_error.number: m for m in kedb.matching_known_errors(incident, limit=10)}
    assert unrelated.number not in matches
    assert any(r.startswith("CI class") for r in matches[by_class.number].reasons)
    assert matches[by_service.number].reasons == ["service Online Shop"]
    assert matches[by_pattern.number].reasons == ["pattern ORA-0+600"]
    assert "similar text" in matches[by_text.number].reasons
    ranked = _numbers(kedb.matching_known_errors(incident, limit=10))
    assert ranked.index(by_pattern.number) < ranked.index(by_class.number) < ranked.index(by_service.number) \
        < ranked.index(by_text.number)


def test_a_plain_code_matches_literally_a_regex_as_written_both_ignoring_case():
    code = make_known_error(title="Gateway", symptom="Gateway fails", error_pattern="GW-1234")
    regex = make_known_error(title="Queue", symptom="Queue fails", error_pattern=r"Q\d{3}X")
    assert not kedb.is_regex("GW-1234") and kedb.is_regex(r"Q\d{3}X")
    assert _numbers(kedb.matching_known_errors(make_incident(title="fails with gw-1234"))) == [code.number]
    assert _numbers(kedb.matching_known_errors(make_incident(title="fails with q123x"))) == [regex.number]
    assert kedb.matching_known_errors(make_incident(title="GW1234 and Q12X")) == []


def test_one_common_word_is_not_similar_text():
    make_known_error(title="Checkout database pool exhausted", symptom="Pool exhausted")
    assert kedb.matching_known_errors(make_incident(title="Checkout button misaligned")) == []


def test_no_links_and_no_text_matches_nothing():
    assert kedb.matching_known_errors(make_incident(title="zzz")) == []


def test_matching_makes_a_bounded_number_of_queries(django_assert_max_num_queries):
    ci = CIFactory(name="db-01")
    service = ServiceFactory()
    for index in range(12):
        make_known_error(title=f"Known error {index} of the orders database", symptom="Orders stall",
                         cis=[ci], services=[service], error_pattern=f"ERR-{index}")
    incident = make_incident(title="Orders database stalls ERR-3", cis=[ci], service=service)
    incident = type(incident).objects.prefetch_related("cis").get(pk=incident.pk)
    with django_assert_max_num_queries(9):
        matches = kedb.matching_known_errors(incident)
    assert len(matches) == 5
    assert matches[0].known_error.error_pattern == "ERR-3"


# --- applying a workaround -----------------------------------------------------------------------------

def test_apply_workaround_records_on_both_and_counts_once():
    ke = make_known_error()
    incident = make_incident()
    application = kedb.apply_workaround(ke, incident, actor=ACTOR)
    assert application.actor_label == "system:test"
    ke.refresh_from_db()
    assert ke.times_applied == 1 and ke.last_applied_at == application.applied_at
    comment = comments_for(incident).first()
    assert comment.body == f"Workaround of {ke.number} applied: Restart the checkout pods one by one."
    assert history_for(incident).filter(action="apply_workaround").get().changes == {
        "known_error": [None, ke.number]}
    assert history_for(ke).first().changes == {"incident": [None, incident.number], "times_applied": [0, 1]}
    assert OutboxEvent.objects.filter(event_type="knownerror.workaround_applied").count() == 1
    with pytest.raises(TransitionNotAllowed, match="already applied"):
        kedb.apply_workaround(ke, incident, actor=ACTOR)
    ke.refresh_from_db()
    assert ke.times_applied == 1
    assert WorkaroundApplication.objects.count() == 1


def test_apply_counts_with_f_expressions_across_incidents():
    ke = make_known_error()
    for _ in range(3):
        kedb.apply_workaround(ke, make_incident(), actor=ACTOR)
    assert KnownError.objects.filter(pk=ke.pk, times_applied=F("times_applied")).get().times_applied == 3


def test_apply_is_refused_for_retired_known_errors_without_workaround_and_closed_incidents():
    retired = kedb.transition_known_error(make_known_error(), "retire", actor=ACTOR, data={"reason": "gone"})
    incident = make_incident()
    with pytest.raises(TransitionNotAllowed, match="retired"):
        kedb.apply_workaround(retired, incident, actor=ACTOR)
    with pytest.raises(TransitionNotAllowed, match="no workaround"):
        kedb.apply_workaround(make_known_error(workaround=""), incident, actor=ACTOR)
    from opsdesk.incidents import services as incidents

    cancelled = incidents.transition_incident(make_incident(), "cancel", actor=ACTOR, data={"reason": "dup"})
    with pytest.raises(TransitionNotAllowed, match="cancelled"):
        kedb.apply_workaround(make_known_error(), cancelled, actor=ACTOR)
    assert not WorkaroundApplication.objects.exists()


# --- at the same moment (PostgreSQL) ---------------------------------------------------------------------

@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_applies_count_each_incident_once():
    from django.db import connection

    from tests.concurrency import run_together

    assert connection.vendor == "postgresql"
    ke = make_known_error()
    first, second = make_incident(), make_incident()

    def apply(incident):
        def call():
            try:
                return kedb.apply_workaround(ke, incident, actor=ACTOR).pk
            except TransitionNotAllowed:
                return "refused"
        return call

    results = run_together(apply(first), apply(first), apply(second))
    assert results.count("refused") == 1
    ke.refresh_from_db()
    assert ke.times_applied == 2
    assert WorkaroundApplication.objects.count() == 2
    assert comments_for(first).filter(body__startswith=f"Workaround of {ke.number}").count() == 1
