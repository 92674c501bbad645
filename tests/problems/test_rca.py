"""Root-cause analyses: strict data shapes with errors naming the path, several analyses per problem,
the change log on the problem, read-only closed problems, contributing factors, "use as root cause",
and the fishbone drawn as escaped SVG sized to its content."""

import re

import pytest
from django.core.exceptions import ValidationError

from opsdesk.core.audit import history_for
from opsdesk.core.models import OutboxEvent
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.problems import rca, services
from opsdesk.problems.models import Problem, RootCauseAnalysis
from tests.problems.factories import FACTORY_ACTOR, make_problem

pytestmark = pytest.mark.django_db

FIVE_WHYS = {
    "problem": "Checkout answered 502 after the deploy",
    "whys": [{"question": "Why did checkout answer 502?", "answer": "The pods could not get a database connection."},
             {"question": "Why no connection?", "answer": "The pool was exhausted."},
             {"question": "Why exhausted?", "answer": "Retries held connections while waiting."}],
    "root_cause": "The retry path does not release its connection before sleeping.",
}
FISHBONE = {
    "effect": "Checkout answers 502 after deploys",
    "causes": [{"category": "technology", "text": "Pool too small", "sub": ["Default of 10", "No load test"]},
               {"category": "process", "text": "Deploys at peak time"},
               {"category": "people", "text": "On-call not told"}],
}
TIMELINE = {"events": [{"at": "2026-11-20T10:09:00Z", "text": "Rollback started", "kind": "action"},
                       {"at": "2026-11-20T10:04:00+00:00", "text": "Alert fired", "kind": "detect"}]}


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


def test_several_analyses_per_problem_each_in_its_stored_shape():
    problem = make_problem()
    whys = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS, title="Deploy 502s")
    fish = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    line = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="timeline", data=TIMELINE)
    assert list(problem.analyses.values_list("method", flat=True)) == ["five_whys", "fishbone", "timeline"]
    assert whys.title == "Deploy 502s" and whys.data == FIVE_WHYS
    assert fish.data["causes"][1] == {"category": "process", "text": "Deploys at peak time", "sub": []}
    # Timeline events are stored in UTC, sorted by time.
    assert [e["text"] for e in line.data["events"]] == ["Alert fired", "Rollback started"]
    assert line.data["events"][0]["at"] == "2026-11-20T10:04:00Z"


@pytest.mark.parametrize(("method", "data", "paths"), [
    ("five_whys", {"whys": []}, {"whys"}),
    ("five_whys", {"whys": [{"question": "Why?", "answer": "x"}, {"question": "Why?", "answer": "x"},
                            {"question": "Why?", "answer": " "}]}, {"whys[2].answer"}),
    ("five_whys", {"whys": [{"question": "q", "answer": "a", "extra": 1}]}, {"whys[0].extra"}),
    ("five_whys", {"whys": [{"question": "q", "answer": "a"}] * 11}, {"whys"}),
    ("five_whys", {"whys": [{"question": "q" * 1001, "answer": "a"}]}, {"whys[0].question"}),
    ("five_whys", {"whys": "not a list"}, {"whys"}),
    ("five_whys", ["not", "an", "object"], {"data"}),
    ("five_whys", {"whys": [{"question": "q", "answer": "a"}], "verdict": "x"}, {"verdict"}),
    ("fishbone", {"effect": "", "causes": []}, {"effect"}),
    ("fishbone", {"effect": "e", "causes": [{"category": "weather", "text": "Rain"}]}, {"causes[0].category"}),
    ("fishbone", {"effect": "e", "causes": [{"category": "people", "text": "t", "sub": ["ok", 3]}]},
     {"causes[0].sub[1]"}),
    ("fishbone", {"effect": "e", "causes": [{"category": "people", "text": "t"}] * 61}, {"causes"}),
    ("timeline", {"events": [{"at": "yesterday", "text": "x"}]}, {"events[0].at"}),
    ("timeline", {"events": [{"at": "2026-11-20T10:04:00Z", "text": "x", "kind": "party"}]}, {"events[0].kind"}),
    ("timeline", {"events": [{"at": "2026-11-20T10:04:00Z", "text": "x"}] * 201}, {"events"}),
])
def test_bad_shapes_are_refused_naming_the_path_and_nothing_is_written(method, data, paths):
    problem = make_problem()
    with pytest.raises(ValidationError) as excinfo:
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method=method, data=data)
    assert set(errors_of(excinfo)) == paths
    assert not RootCauseAnalysis.objects.exists()


def test_an_unknown_method_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        rca.add_analysis(make_problem(), actor=FACTORY_ACTOR, method="tarot", data={})
    assert set(errors_of(excinfo)) == {"method"}


def test_every_write_is_in_the_problems_change_log_with_an_event():
    problem = make_problem()
    analysis = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS)
    changed = {**FIVE_WHYS, "root_cause": "Retries keep their connection."}
    rca.update_analysis(analysis, actor=FACTORY_ACTOR, data=changed, title="Second look")
    rca.update_analysis(analysis, actor=FACTORY_ACTOR, data=changed, title="Second look")  # no change: no row
    rca.delete_analysis(analysis, actor=FACTORY_ACTOR)
    entries = [e for e in history_for(problem) if e.action.startswith("rca_")]
    assert sorted(e.action for e in entries) == ["rca_add", "rca_delete", "rca_update"]
    update = next(e for e in entries if e.action == "rca_update")
    assert update.changes["title"] == ["", "Second look"]
    # The change log keeps the analysis as readable text, not as raw data.
    assert "Root cause: Retries keep their connection." in update.changes["content"][1]
    assert "Root cause: The retry path does not release" in update.changes["content"][0]
    deleted = next(e for e in entries if e.action == "rca_delete")
    assert "Root cause: Retries keep their connection." in deleted.changes["content"][0]  # kept after deletion
    assert "Why 2: Why no connection? → The pool was exhausted." in deleted.changes["content"][0]
    assert not any("{" in str(pair) for e in entries for pair in e.changes.values())
    assert not RootCauseAnalysis.objects.exists()
    assert set(OutboxEvent.objects.filter(event_type__startswith="problem.rca_").values_list("event_type", flat=True)) \
        == {"problem.rca_added", "problem.rca_updated", "problem.rca_deleted"}


def test_closed_and_cancelled_problems_are_read_only():
    problem = make_problem()
    analysis = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    services.transition_problem(problem, "cancel", actor=FACTORY_ACTOR, data={"reason": "Duplicate"})
    problem.refresh_from_db()
    with pytest.raises(TransitionNotAllowed, match="read-only"):
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    with pytest.raises(TransitionNotAllowed):
        rca.update_analysis(analysis, actor=FACTORY_ACTOR, data=FISHBONE, title="x")
    with pytest.raises(TransitionNotAllowed):
        rca.delete_analysis(analysis, actor=FACTORY_ACTOR)
    with pytest.raises(TransitionNotAllowed):
        rca.set_contributing_factors(problem, ["x"], actor=FACTORY_ACTOR)
    assert RootCauseAnalysis.objects.count() == 1


def test_contributing_factors_are_cleaned_bounded_and_logged():
    problem = make_problem()
    problem = rca.set_contributing_factors(problem, [" Peak-time deploys ", "", "No pool alert", "No pool alert"],
                                           actor=FACTORY_ACTOR)
    assert Problem.objects.get(pk=problem.pk).contributing_factors == ["Peak-time deploys", "No pool alert"]
    assert any("contributing_factors" in (e.changes or {}) for e in history_for(problem))
    with pytest.raises(ValidationError) as excinfo:
        rca.set_contributing_factors(problem, ["x"] * 31, actor=FACTORY_ACTOR)
    assert set(errors_of(excinfo)) == {"factors"}
    with pytest.raises(ValidationError) as excinfo:
        rca.set_contributing_factors(problem, ["ok", "y" * 301], actor=FACTORY_ACTOR)
    assert set(errors_of(excinfo)) == {"factors[1]"}
    assert Problem.objects.get(pk=problem.pk).contributing_factors == ["Peak-time deploys", "No pool alert"]


def test_use_as_root_cause_copies_the_5_whys_root_cause_to_the_problem():
    problem = make_problem()
    whys = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS)
    problem = rca.use_as_root_cause(whys, actor=FACTORY_ACTOR)
    assert Problem.objects.get(pk=problem.pk).root_cause == FIVE_WHYS["root_cause"]
    assert any((e.changes or {}).get("root_cause") == ["", FIVE_WHYS["root_cause"]] for e in history_for(problem))
    fish = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    with pytest.raises(ValidationError):
        rca.use_as_root_cause(fish, actor=FACTORY_ACTOR)
    empty = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys",
                             data={"whys": [{"question": "Why?", "answer": "Because."}]})
    with pytest.raises(ValidationError, match="no root cause"):
        rca.use_as_root_cause(empty, actor=FACTORY_ACTOR)


def test_the_fishbone_svg_has_every_category_and_cause_escaped_and_sized_to_its_content():
    problem = make_problem()
    data = {"effect": "Checkout <script>alert(1)</script> & 502", "causes": [
        *FISHBONE["causes"], {"category": "suppliers", "text": 'CDN "edge" <b>outage</b>'}]}
    svg = str(rca.fishbone_svg(rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=data)))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;outage&lt;/b&gt;" in svg
    for text in ("Technology", "Process", "People", "Suppliers", "Pool too small", "Default of 10",
                 "Deploys at peak time"):
        assert text in svg
    assert "Environment" not in svg  # categories without causes are left out
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    small = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone",
                             data={"effect": "e", "causes": [{"category": "people", "text": "t"}]})
    assert float(re.search(r'width="(\d+)"', str(rca.fishbone_svg(small))).group(1)) < width


def test_the_fishbone_keeps_causes_of_a_category_no_longer_configured():
    from opsdesk.problems.configuration import problem_settings

    problem = make_problem()
    analysis = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    settings_row = problem_settings()
    settings_row.rca_categories = [{"key": "people", "label": "People"}]
    settings_row.save()
    svg = str(rca.fishbone_svg(analysis))
    assert "Pool too small" in svg and "technology" in svg


def test_a_problem_holds_a_bounded_number_of_analyses():
    problem = make_problem()
    for _ in range(rca.MAX_ANALYSES):
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method="timeline", data=TIMELINE)
    with pytest.raises(ValidationError, match="at most"):
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method="timeline", data=TIMELINE)
    assert problem.analyses.count() == rca.MAX_ANALYSES


def test_fishbone_and_timeline_read_as_text_in_the_change_log():
    problem = make_problem()
    rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    rca.add_analysis(problem, actor=FACTORY_ACTOR, method="timeline", data=TIMELINE)
    contents = [e.changes["content"][1] for e in history_for(problem) if e.action == "rca_add"]
    fishbone = next(c for c in contents if c.startswith("Effect:"))
    assert "Effect: Checkout answers 502 after deploys" in fishbone
    assert "Pool too small (Default of 10; No load test)" in fishbone and "'category'" not in fishbone
    timeline = next(c for c in contents if not c.startswith("Effect:"))
    assert "Detection: Alert fired" in timeline and "2026-11-20 10:04" in timeline
