"""The root-cause analysis API contract: roles per method, 400 errors naming the path with nothing
written, 409 on closed problems, read-only tokens, the fishbone SVG, contributing factors, and a list
whose query count does not grow with the analyses."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.problems import rca, services
from opsdesk.problems.models import Problem, RootCauseAnalysis
from tests.problems.factories import FACTORY_ACTOR, make_problem
from tests.problems.test_rca import FISHBONE, FIVE_WHYS, TIMELINE

pytestmark = pytest.mark.django_db


def url(problem, tail=""):
    return f"/api/v1/problems/problems/{problem.pk}/{tail}"


@pytest.mark.parametrize(("role", "read", "write"), [
    ("viewer", 200, 403), ("responder", 200, 201), ("manager", 200, 201), ("admin", 200, 201)])
def test_roles_per_method(api, users, role, read, write):
    problem = make_problem()
    client = api(users[role])
    assert client.get(url(problem, "analyses/")).status_code == read
    response = client.post(url(problem, "analyses/"), {"method": "fishbone", "data": FISHBONE}, format="json")
    assert response.status_code == write
    if write == 403:
        assert response.json()["error"]["code"] == "permission_denied"
        assert not RootCauseAnalysis.objects.exists()


def test_anonymous_and_read_only_tokens(api, users):
    problem = make_problem()
    assert api().get(url(problem, "analyses/")).status_code == 401
    read_only = api(users["admin"], scope="read")
    assert read_only.get(url(problem, "analyses/")).status_code == 200
    response = read_only.post(url(problem, "analyses/"), {"method": "timeline", "data": TIMELINE}, format="json")
    assert response.status_code == 403 and "read-only" in response.json()["error"]["message"]
    assert api(users["admin"]).get("/api/v1/problems/problems/999999/analyses/").status_code == 404


def test_team_roles_apply_to_the_teams_problems(api, users, team, other_team):
    own, other = make_problem(owner_team=team), make_problem(owner_team=other_team)
    client = api(users["team_manager"])
    payload = {"method": "five_whys", "data": FIVE_WHYS}
    assert client.post(url(own, "analyses/"), payload, format="json").status_code == 201
    assert client.post(url(other, "analyses/"), payload, format="json").status_code == 403


def test_create_read_update_delete(api, users):
    problem = make_problem()
    client = api(users["responder"])
    response = client.post(url(problem, "analyses/"), {"method": "five_whys", "title": "Deploys", "data": FIVE_WHYS},
                           format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["method"] == "five_whys" and body["method_label"] == "5 Whys"
    assert body["problem"] == {"id": problem.pk, "number": problem.number}
    assert body["data"] == FIVE_WHYS
    one = url(problem, f"analyses/{body['id']}/")
    assert client.get(one).json()["title"] == "Deploys"
    response = client.patch(one, {"title": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["title"] == "Renamed"
    assert response.json()["data"] == FIVE_WHYS
    assert client.put(one, {"title": "x"}, format="json").status_code == 400  # PUT needs the data
    changed = {**FIVE_WHYS, "root_cause": "Retries hold connections."}
    assert client.put(one, {"data": changed}, format="json").json()["data"]["root_cause"] == changed["root_cause"]
    response = client.post(url(problem, f"analyses/{body['id']}/use-as-root-cause/"))
    assert response.status_code == 200 and response.json()["root_cause"] == changed["root_cause"]
    assert Problem.objects.get(pk=problem.pk).root_cause == changed["root_cause"]
    assert api(users["viewer"]).delete(one).status_code == 403
    assert client.delete(one).status_code == 204
    assert client.get(one).status_code == 404


def test_bad_data_is_a_400_naming_the_path_and_nothing_is_written(api, users):
    problem = make_problem()
    client = api(users["responder"])
    whys = [{"question": "Why?", "answer": "a"}, {"question": "Why?", "answer": "b"}, {"question": "Why?"}]
    response = client.post(url(problem, "analyses/"), {"method": "five_whys", "data": {"whys": whys}}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {"whys[2].answer"}
    response = client.post(url(problem, "analyses/"), {"method": "palmistry", "data": {}}, format="json")
    assert response.status_code == 400 and "method" in response.json()["error"]["fields"]
    response = client.post(url(problem, "analyses/"), {"method": "fishbone", "data": {
        "effect": "x", "causes": [{"category": "weather", "text": "Rain"}]}}, format="json")
    assert set(response.json()["error"]["fields"]) == {"causes[0].category"}
    response = client.post(url(problem, "analyses/"), "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"
    assert not RootCauseAnalysis.objects.exists()
    analysis = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="timeline", data=TIMELINE)
    response = client.patch(url(problem, f"analyses/{analysis.pk}/"),
                            {"data": {"events": [{"at": "soon", "text": "x"}]}}, format="json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"events[0].at"}
    analysis.refresh_from_db()
    assert analysis.data["events"][0]["text"] == "Alert fired"


def test_a_cancelled_problem_answers_409(api, users):
    problem = make_problem()
    analysis = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    services.transition_problem(problem, "cancel", actor=FACTORY_ACTOR, data={"reason": "Duplicate"})
    client = api(users["responder"])
    response = client.post(url(problem, "analyses/"), {"method": "fishbone", "data": FISHBONE}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert "read-only" in response.json()["error"]["message"]
    assert client.delete(url(problem, f"analyses/{analysis.pk}/")).status_code == 409
    assert client.put(url(problem, "contributing-factors/"), {"factors": ["x"]}, format="json").status_code == 409
    assert client.get(url(problem, "analyses/")).status_code == 200  # still readable


def test_the_fishbone_svg_endpoint(api, users):
    problem = make_problem()
    fish = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    whys = rca.add_analysis(problem, actor=FACTORY_ACTOR, method="five_whys", data=FIVE_WHYS)
    client = api(users["viewer"])
    response = client.get(url(problem, f"analyses/{fish.pk}/fishbone.svg"))
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg") and b"Pool too small" in response.content
    missing = client.get(url(problem, f"analyses/{whys.pk}/fishbone.svg"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_contributing_factors(api, users):
    problem = make_problem()
    client = api(users["responder"])
    response = client.put(url(problem, "contributing-factors/"), {"factors": ["Peak deploys", " ", "No alert"]},
                          format="json")
    assert response.status_code == 200 and response.json() == {"factors": ["Peak deploys", "No alert"]}
    assert api(users["viewer"]).get(url(problem, "contributing-factors/")).json()["factors"] == ["Peak deploys",
                                                                                                 "No alert"]
    response = client.put(url(problem, "contributing-factors/"), {"factors": ["x"] * 31}, format="json")
    assert response.status_code == 400 and "factors" in response.json()["error"]["fields"]
    assert api(users["viewer"]).put(url(problem, "contributing-factors/"), {"factors": []},
                                    format="json").status_code == 403
    assert Problem.objects.get(pk=problem.pk).contributing_factors == ["Peak deploys", "No alert"]


def test_the_list_costs_the_same_queries_for_one_analysis_or_twelve(api, users):
    problem = make_problem()
    client = api(users["viewer"])
    rca.add_analysis(problem, actor=FACTORY_ACTOR, method="fishbone", data=FISHBONE)
    client.get(url(problem, "analyses/"))
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(url(problem, "analyses/")).json()) == 1
    for method, data in (("five_whys", FIVE_WHYS), ("fishbone", FISHBONE), ("timeline", TIMELINE)) * 4:
        rca.add_analysis(problem, actor=FACTORY_ACTOR, method=method, data=data)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url(problem, "analyses/")).json()) == 13
    assert len(many) == len(one) <= 5  # token, its user's memberships, the problem, the analyses
