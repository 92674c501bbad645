"""Risk assessment: each factor on crafted CMDB graphs and histories, the tier-1 floor (acceptance 1),
the questionnaire service and its refusals."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from opsdesk.changes import risk
from opsdesk.changes.models import ChangeCategory, ChangeRequest, ChangeSettings, ChangeTemplate, RiskQuestion
from opsdesk.core.audit import history_for
from opsdesk.core.workflow import TransitionNotAllowed
from tests.accounts.factories import TeamFactory
from tests.changes.factories import FACTORY_ACTOR, make_change, window
from tests.cmdb.factories import CIFactory, relate
from tests.incidents.factories import make_incident
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def factor(assessment, key):
    return next(f for f in assessment.factors if f["key"] == key)


def set_state(change, **fields):
    ChangeRequest.objects.filter(pk=change.pk).update(**fields)
    change.refresh_from_db()
    return change


@pytest.fixture
def payments_graph():
    """db-01 <- app-01 (runs on) -> supports Payments (tier 1)."""
    payments = ServiceFactory(name="Payments", tier=1, criticality="critical")
    db = CIFactory(name="db-01")
    app = CIFactory(name="app-01", services=[payments])
    relate(app, "runs-on", db)
    return {"db": db, "app": app, "payments": payments}


# --- acceptance 1: a tier-1 service reached means at least high ------------------------------------------

def test_a_change_whose_ci_impact_reaches_a_tier_1_service_is_at_least_high_and_says_why(payments_graph):
    change = make_change(cis=[payments_graph["db"]])
    assessment = risk.assess(change)
    assert assessment.score < ChangeSettings.objects.get(pk=1).risk_high_from  # the points alone are not high
    assert assessment.level == "high"
    impact = factor(assessment, "cmdb_impact")
    assert impact["points"] == risk.TIER_POINTS[1]
    text = impact["explanation"]
    assert "Payments" in text and "at least high" in text
    # The paths are a list next to the sentence (shown as <ul> on the panel).
    [path] = impact["paths"]
    assert "db-01" in path and "app-01" in path and "Payments (tier 1)" in path
    assert path.index("db-01") < path.index("app-01") < path.index("Payments")


def test_the_same_graph_on_a_tier_3_service_stays_low():
    shop = ServiceFactory(name="Intranet", tier=3)
    db = CIFactory(name="db-09")
    app = CIFactory(name="app-09", services=[shop])
    relate(app, "runs-on", db)
    assessment = risk.assess(make_change(cis=[db]))
    assert assessment.level == "low"
    assert factor(assessment, "cmdb_impact")["points"] == risk.TIER_POINTS[3]
    assert "Intranet" in factor(assessment, "cmdb_impact")["explanation"]


def test_the_floor_does_not_lower_a_very_high_score(payments_graph):
    ChangeSettings.objects.filter(pk=1).update(risk_very_high_from=30, risk_high_from=20, risk_medium_from=10)
    assert risk.assess(make_change(cis=[payments_graph["db"]])).level == "very_high"


def test_the_change_s_own_tier_1_service_counts_too():
    payments = ServiceFactory(name="Payments", tier=1)
    assessment = risk.assess(make_change(services=[payments]))
    assert assessment.level == "high"
    assert "Payments (tier 1) is an affected service" in factor(assessment, "cmdb_impact")["paths"][0]


def test_no_cis_or_services_no_impact():
    assessment = risk.assess(make_change())
    assert factor(assessment, "cmdb_impact")["points"] == 0
    assert assessment.level == "low"


# --- the questionnaire -----------------------------------------------------------------------------------

def test_the_five_shipped_questions_exist_with_weights():
    questions = list(RiskQuestion.objects.filter(active=True))
    assert len(questions) == 5
    assert all(any(a["weight"] > 0 for a in q.answers) for q in questions)


def test_questionnaire_points_are_the_chosen_weights_and_unanswered_questions_are_named():
    change = make_change()
    assessment = risk.assess(change, answers={"tested": "no", "backout-tested": "none"})
    q = factor(assessment, "questionnaire")
    assert q["points"] == 15 + 20
    assert "Not answered yet" in q["explanation"]
    assert RiskQuestion.objects.get(slug="complexity").text in q["explanation"]
    assert RiskQuestion.objects.get(slug="tested").text not in q["explanation"].split("Not answered yet")[1]


def test_inactive_questions_do_not_count():
    RiskQuestion.objects.filter(slug="tested").update(active=False)
    q = factor(risk.assess(make_change(), answers={"tested": "no"}), "questionnaire")
    assert q["points"] == 0


def test_levels_follow_the_settings_thresholds():
    settings = ChangeSettings.objects.get(pk=1)
    assert risk.level_for(settings.risk_medium_from - 1, settings) == "low"
    assert risk.level_for(settings.risk_medium_from, settings) == "medium"
    assert risk.level_for(settings.risk_high_from, settings) == "high"
    assert risk.level_for(settings.risk_very_high_from, settings) == "very_high"
    change = make_change()
    answers = {"tested": "no", "backout-tested": "none"}  # 35 points: medium by default
    assert risk.assess(change, answers=answers).level == "medium"
    ChangeSettings.objects.filter(pk=1).update(risk_medium_from=10, risk_high_from=30, risk_very_high_from=90)
    assert risk.assess(change, answers=answers).level == "high"


# --- lead time -------------------------------------------------------------------------------------------

def test_a_normal_change_planned_too_soon_adds_lead_time_points():
    start, end = window(start_in_hours=10)
    lead = factor(risk.assess(make_change(planned_start=start, planned_end=end)), "lead_time")
    assert lead["points"] == risk.LEAD_TIME_POINTS
    assert "72 hours" in lead["explanation"]


def test_lead_time_counts_from_submission():
    start, end = window(start_in_hours=100)
    change = make_change(planned_start=start, planned_end=end)
    change = set_state(change, submitted_at=start - datetime.timedelta(hours=5))
    assert factor(risk.assess(change), "lead_time")["points"] == risk.LEAD_TIME_POINTS


def test_enough_lead_time_adds_nothing():
    assert factor(risk.assess(make_change()), "lead_time")["points"] == 0


def test_emergency_changes_have_lead_time_waived():
    start, end = window(start_in_hours=1)
    lead = factor(risk.assess(make_change(change_type="emergency", planned_start=start, planned_end=end)),
                  "lead_time")
    assert lead["points"] == 0
    assert "waived" in lead["explanation"]


# --- maintenance windows ---------------------------------------------------------------------------------

def _maintenance(start, end, *, services=(), cis=(), cancelled_at=None):
    from opsdesk.alerts.models import MaintenanceWindow

    window_ = MaintenanceWindow.objects.create(title="Sunday patching", starts_at=start, ends_at=end,
                                               cancelled_at=cancelled_at)
    window_.services.set(services)
    window_.cis.set(cis)
    return window_


def test_a_window_outside_maintenance_adds_points_and_a_covering_one_names_it():
    service = ServiceFactory(name="Billing")
    change = make_change(services=[service])
    outside = factor(risk.assess(change), "maintenance_window")
    assert outside["points"] == risk.OUTSIDE_MAINTENANCE_POINTS
    hour = datetime.timedelta(hours=1)
    _maintenance(change.planned_start - hour, change.planned_end + hour, services=[service])
    covered = factor(risk.assess(change), "maintenance_window")
    assert covered["points"] == 0
    assert "Sunday patching" in covered["explanation"]


def test_maintenance_must_cover_the_whole_window_of_the_change_s_cis():
    ci = CIFactory(name="fw-01")
    change = make_change(cis=[ci])
    hour = datetime.timedelta(hours=1)
    _maintenance(change.planned_start - hour, change.planned_end - hour, cis=[ci])  # ends too early
    _maintenance(change.planned_start - hour, change.planned_end + hour, cis=[CIFactory()])  # another CI
    _maintenance(change.planned_start - hour, change.planned_end + hour, cis=[ci],
                 cancelled_at=change.planned_start)  # cancelled before the end
    assert factor(risk.assess(change), "maintenance_window")["points"] == risk.OUTSIDE_MAINTENANCE_POINTS
    _maintenance(change.planned_start, change.planned_end, cis=[ci])
    assert factor(risk.assess(change), "maintenance_window")["points"] == 0


# --- history ---------------------------------------------------------------------------------------------

def _category(name):
    return ChangeCategory.objects.filter(name=name).first() or ChangeCategory.objects.create(
        slug=name.lower().replace(" ", "-"), name=name)


def _closed(team, category, outcome, *, days_ago=30):
    change = make_change(owner_team=team, category=category)
    return set_state(change, status="closed", outcome=outcome,
                     closed_at=timezone.now() - datetime.timedelta(days=days_ago))


def test_history_is_the_owner_team_s_failure_rate_in_the_category():
    team = TeamFactory(name="Team DBA")
    database = _category("Database")
    other = _category("Other things")
    for outcome in ["failed", "backed_out", "failed"] + ["successful"] * 6 + ["successful_with_issues"]:
        _closed(team, database, outcome)
    _closed(team, database, "cancelled")  # not counted
    _closed(team, database, "failed", days_ago=400)  # too old
    _closed(team, other, "failed")  # another category
    _closed(TeamFactory(), database, "failed")  # another team
    open_change = make_change(owner_team=team, category=database)  # not closed
    set_state(open_change, outcome="failed")
    history = factor(risk.assess(make_change(owner_team=team, category=database)), "history")
    assert history["explanation"] == "3 of 10 database changes by Team DBA failed in the last 6 months (30%)."
    assert history["points"] == round(0.3 * 2 * risk.HISTORY_POINTS_MAX)


def test_no_history_adds_nothing():
    history = factor(risk.assess(make_change()), "history")
    assert history["points"] == 0
    assert "closed no" in history["explanation"]


def test_history_months_come_from_the_settings():
    team = TeamFactory(name="Team Net")
    category = _category("Net things")
    _closed(team, category, "failed", days_ago=100)
    ChangeSettings.objects.filter(pk=1).update(history_months=2)
    assert factor(risk.assess(make_change(owner_team=team, category=category)), "history")["points"] == 0


# --- open incidents --------------------------------------------------------------------------------------

def test_open_incidents_on_the_affected_services_and_cis_are_counted_and_named():
    service = ServiceFactory(name="Mail")
    ci = CIFactory(name="mx-01")
    on_service = make_incident(service=service)
    on_ci = make_incident(cis=[ci])
    make_incident(service=ServiceFactory())  # elsewhere
    make_incident(cis=[CIFactory()])
    incidents = factor(risk.assess(make_change(services=[service], cis=[ci])), "open_incidents")
    assert incidents["points"] == 2 * risk.OPEN_INCIDENT_POINTS
    assert on_service.number in incidents["explanation"] and on_ci.number in incidents["explanation"]
    assert incidents["explanation"].startswith("2 open incident")


def test_closed_incidents_do_not_count():
    service = ServiceFactory()
    incident = make_incident(service=service)
    from opsdesk.incidents.models import Incident

    Incident.objects.filter(pk=incident.pk).update(status="closed")
    assert factor(risk.assess(make_change(services=[service])), "open_incidents")["points"] == 0


# --- expected outage, standard changes, totals ------------------------------------------------------------

def test_an_expected_outage_adds_points():
    assert factor(risk.assess(make_change()), "expected_outage")["points"] == 0
    outage = factor(risk.assess(make_change(expected_outage=True, outage_minutes=20)), "expected_outage")
    assert outage["points"] == risk.OUTAGE_POINTS
    assert "20 minutes" in outage["explanation"]


def test_the_score_is_the_sum_of_all_factors(payments_graph):
    start, end = window(start_in_hours=5)
    change = make_change(cis=[payments_graph["db"]], expected_outage=True, planned_start=start, planned_end=end)
    assessment = risk.assess(change, answers={"tested": "no"})
    assert assessment.score == sum(f["points"] for f in assessment.factors)
    assert [f["key"] for f in assessment.factors] == ["questionnaire", "cmdb_impact", "lead_time",
                                                     "maintenance_window", "history", "open_incidents",
                                                     "expected_outage"]
    assert all(f["label"] and f["explanation"].endswith((".", "?")) for f in assessment.factors)


def test_a_standard_change_keeps_its_template_s_level_but_lists_the_factors(payments_graph):
    template = ChangeTemplate.objects.create(slug="restart-x", name="Restart a web node", change_type="standard",
                                             risk_level="low")
    change = make_change(change_type="standard", template=template, cis=[payments_graph["db"]])
    assessment = risk.assess(change)
    assert assessment.level == "low"
    assert assessment.factors[0]["key"] == "standard"
    assert "pre-approved standard change" in assessment.factors[0]["explanation"]
    assert factor(assessment, "cmdb_impact")["points"] == risk.TIER_POINTS[1]


def test_assess_writes_nothing_and_its_queries_do_not_grow_with_the_graph(payments_graph,
                                                                         django_assert_max_num_queries):
    change = make_change(cis=[payments_graph["db"]], services=[payments_graph["payments"]])
    with django_assert_max_num_queries(20):
        risk.assess(change)
    many = [CIFactory(services=[ServiceFactory(tier=2)]) for _i in range(6)]
    for ci in many:
        relate(ci, "runs-on", payments_graph["db"])
        make_incident(cis=[ci])
    bigger = make_change(cis=[payments_graph["db"], *many], services=[payments_graph["payments"]])
    with django_assert_max_num_queries(20):
        risk.assess(bigger)
    change.refresh_from_db()
    assert change.risk_level == "" and change.risk_assessed_at is None


# --- the questionnaire service ---------------------------------------------------------------------------

def test_answering_stores_answers_and_the_assessment_audited():
    change = make_change()
    change = risk.answer_questionnaire(change, {"tested": "no", "complexity": "complex"}, actor=FACTORY_ACTOR)
    change.refresh_from_db()
    assert change.risk_answers == {"tested": "no", "complexity": "complex"}
    assert change.risk_score == 15 + 12 and change.risk_assessed_at is not None
    assert change.risk_factors[0]["key"] == "questionnaire" and change.risk_factors[0]["points"] == 27
    entry = history_for(change).filter(action="update").first()
    assert "risk_answers" in entry.changes
    # Later answers merge; a blank answer clears one.
    change = risk.answer_questionnaire(change, {"tested": "yes", "complexity": ""}, actor=FACTORY_ACTOR)
    assert change.risk_answers == {"tested": "yes"}


def test_unknown_question_or_answer_is_refused_and_nothing_is_written():
    change = make_change()
    with pytest.raises(ValidationError) as exc:
        risk.answer_questionnaire(change, {"nope": "yes", "tested": "maybe"}, actor=FACTORY_ACTOR)
    assert set(exc.value.message_dict) == {"nope", "tested"}
    change.refresh_from_db()
    assert change.risk_answers == {} and change.risk_assessed_at is None


def test_answers_are_refused_after_the_assessment():
    change = set_state(make_change(), status="approval")
    with pytest.raises(TransitionNotAllowed):
        risk.answer_questionnaire(change, {"tested": "yes"}, actor=FACTORY_ACTOR)
    change.refresh_from_db()
    assert change.risk_answers == {}


def test_reassess_saves_and_is_refused_when_closed(payments_graph):
    change = make_change(cis=[payments_graph["db"]])
    change = risk.reassess(change, actor=FACTORY_ACTOR)
    assert change.risk_level == "high"
    set_state(change, status="closed")
    with pytest.raises(TransitionNotAllowed):
        risk.reassess(change, actor=FACTORY_ACTOR)


# --- walk-through fixes: degraded redundancy and the impact paths as a list -----------------------------------

def test_a_host_whose_vm_reaches_a_service_only_through_a_redundant_cluster_says_the_redundancy_absorbs_it():
    """esx-02 hosts one of three cluster members: the cluster (2 needed) is degraded, no service is reached;
    the factor says so and adds a few points, fewer than the smallest service impact."""
    from tests.cmdb.factories import cls

    platform = ServiceFactory(name="Kubernetes Platform", tier=1)
    cluster = CIFactory(name="k8s-eu1-cluster", ci_class=cls("cluster"), redundancy_min=2)
    members = [CIFactory(name=f"k8s-eu1-cp-0{i}") for i in (1, 2, 3)]
    for member in members:
        relate(member, "member-of", cluster)
    app = CIFactory(name="k8s-api", services=[platform])
    relate(app, "runs-on", cluster)
    host = CIFactory(name="esx-fra1-02")
    relate(members[0], "hosted-on", host)

    impact = factor(risk.assess(make_change(cis=[host])), "cmdb_impact")
    text = impact["explanation"]
    assert "reaches no service in the CMDB, but redundancy is reduced" in text
    assert "esx-fra1-02's failure is absorbed by redundancy: k8s-eu1-cluster loses 1 of 3 members." in text
    assert 0 < impact["points"] < risk.TIER_POINTS[4] + 1
    assert impact["points"] == risk.DEGRADED_POINTS


def test_degraded_redundancy_is_said_and_counted_next_to_a_service_reached(payments_graph):
    from tests.cmdb.factories import cls

    cluster = CIFactory(name="db-cluster", ci_class=cls("cluster"), redundancy_min=1)
    relate(payments_graph["db"], "member-of", cluster)
    relate(CIFactory(name="db-02"), "member-of", cluster)
    impact = factor(risk.assess(make_change(cis=[payments_graph["db"]])), "cmdb_impact")
    assert impact["points"] == risk.TIER_POINTS[1] + risk.DEGRADED_POINTS
    assert "db-01's failure is absorbed by redundancy: db-cluster loses 1 of 2 members." in impact["explanation"]


def test_the_impact_explanation_is_a_sentence_and_the_paths_a_list():
    services = [ServiceFactory(name=f"Service {i}", tier=2) for i in range(3)]
    db = CIFactory(name="db-77")
    for i, service in enumerate(services):
        relate(CIFactory(name=f"app-7{i}", services=[service]), "runs-on", db)
    impact = factor(risk.assess(make_change(cis=[db])), "cmdb_impact")
    assert set(impact) == {"key", "label", "points", "explanation", "paths"}
    assert impact["explanation"] == ("The impact reaches 3 service(s), the most critical of tier 2: "
                                     "Service 0, Service 1, Service 2.")
    assert len(impact["paths"]) == 3
    assert all(p.startswith("db-77 -> ") and p.endswith("(tier 2)") for p in impact["paths"])
