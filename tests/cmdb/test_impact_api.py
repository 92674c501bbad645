"""The impact endpoints (GET /api/v1/cmdb/cis/{id}/impact/, POST /api/v1/cmdb/impact/) and the service
map pages (/cmdb/<pk>/map/, /cmdb/map/?service=<slug>, both also as JSON): roles, errors, the pinned
query count and what a user reads in the answer."""

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openapi_spec_validator import validate

from opsdesk.cmdb import services as cmdb
from tests.cmdb.factories import FACTORY_ACTOR, CIFactory, cls, relate
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ROLES = ("viewer", "responder", "manager", "admin")


def live(name, **kwargs):
    return CIFactory(name=name, status="in_production", **kwargs)


@pytest.fixture
def shop():
    """An application on a 2-node cluster with redundancy 1, supporting the web shop."""
    service = ServiceFactory(name="Web shop", slug="web-shop", status="active", tier=1, criticality="critical")
    cluster = live("cluster", ci_class=cls("cluster"), redundancy_min=1)
    node1, node2 = live("node1"), live("node2")
    relate(node1, "member-of", cluster)
    relate(node2, "member-of", cluster)
    app = live("shop-app", ci_class=cls("application"), services=[service])
    relate(app, "runs-on", cluster)
    return {"service": service, "cluster": cluster, "node1": node1, "node2": node2, "app": app}


def impact_url(ci, query=""):
    return f"/api/v1/cmdb/cis/{ci.pk}/impact/{query}"


# --- GET one CI -----------------------------------------------------------------------------------------


def test_every_role_reads_the_impact_of_a_ci(api, users, shop):
    for role in ROLES:
        response = api(users[role]).get(impact_url(shop["app"]))
        assert response.status_code == 200, (role, response.content)
        body = response.json()
        assert [s["slug"] for s in body["impacted_services"]] == ["web-shop"]


def test_read_only_token_reads(api, users, shop):
    assert api(users["viewer"], scope="read").get(impact_url(shop["app"])).status_code == 200


def test_answer_lists_impacted_cis_and_services_with_paths(api, users, shop):
    body = api(users["viewer"]).get(impact_url(shop["cluster"])).json()

    assert body["direction"] == "downstream" and body["depth"] == 10
    assert body["root"] == [{"id": shop["cluster"].pk, "number": shop["cluster"].number, "name": "cluster",
                             "status": "in_production", "url": f"/cmdb/{shop['cluster'].pk}/"}]
    (app,) = body["impacted_cis"]
    assert app["number"] == shop["app"].number and app["class"] == "application"
    assert app["depth"] == 1 and app["redundancy"] is None and app["url"] == f"/cmdb/{shop['app'].pk}/"
    assert [(s["name"], s["via"]) for s in app["path"]] == [("cluster", None), ("shop-app", "runs")]
    (service,) = body["impacted_services"]
    assert service["tier"] == 1 and service["criticality"] == "critical" and service["depth"] == 2
    assert service["url"] == f"/services/{shop['service'].pk}/"
    assert [s["kind"] for s in service["path"]] == ["ci", "ci", "service"]
    assert body["counts"] == {"cis": 1, "services": 1, "degraded_cis": 0}
    assert body["truncated"] is False


def test_upstream_lists_what_the_ci_depends_on(api, users, shop):
    body = api(users["viewer"]).get(impact_url(shop["app"], "?direction=upstream&depth=2")).json()
    assert {c["name"] for c in body["impacted_cis"]} == {"cluster", "node1", "node2"}
    node = next(c for c in body["impacted_cis"] if c["name"] == "node1")
    assert [(s["name"], s["via"]) for s in node["path"]] == [("shop-app", None), ("cluster", "runs on"),
                                                             ("node1", "has member")]
    assert body["impacted_services"] == []
    assert [c["name"] for c in api(users["viewer"]).get(
        impact_url(shop["app"], "?direction=upstream&depth=1")).json()["impacted_cis"]] == ["cluster"]


def test_one_node_of_the_pair_degrades_the_cluster_but_impacts_nothing(api, users, shop):
    body = api(users["viewer"]).get(impact_url(shop["node1"])).json()
    assert body["impacted_cis"] == [] and body["impacted_services"] == []
    assert body["degraded_cis"] == [{"id": shop["cluster"].pk, "number": shop["cluster"].number, "name": "cluster",
                                     "url": f"/cmdb/{shop['cluster'].pk}/",
                                     "redundancy": {"mode": "count", "min": 1, "required": 1, "members": 2,
                                                    "down": 1}}]


def test_limit_truncates_the_lists_nearest_first(api, users):
    root = live("root")
    for i in range(4):
        relate(live(f"dependent{i}"), "depends-on", root)
    body = api(users["viewer"]).get(impact_url(root, "?limit=2")).json()
    assert len(body["impacted_cis"]) == 2 and body["counts"]["cis"] == 4 and body["truncated"] is True


def test_without_credentials_is_401(api, shop):
    response = api().get(impact_url(shop["app"]))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert api().post("/api/v1/cmdb/impact/", {"cis": [shop["app"].pk]}, format="json").status_code == 401


def test_unknown_ci_is_404(api, users):
    for pk in (999999, 2**63, 10**30):
        response = api(users["viewer"]).get(f"/api/v1/cmdb/cis/{pk}/impact/")
        assert response.status_code == 404, pk
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query, field", [
    ("?direction=sideways", "direction"), ("?depth=0", "depth"), ("?depth=51", "depth"), ("?depth=ten", "depth"),
    ("?limit=0", "limit"), ("?limit=50001", "limit"),
])
def test_bad_parameters_are_400_naming_the_field(api, users, shop, query, field):
    response = api(users["viewer"]).get(impact_url(shop["app"], query))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_retired_ci_impacts_nothing(api, users, shop):
    cmdb.retire_ci(shop["app"], actor=FACTORY_ACTOR, reason="replaced")
    body = api(users["viewer"]).get(impact_url(shop["app"])).json()
    assert body["root"][0]["status"] == "retired"
    assert body["impacted_cis"] == [] and body["impacted_services"] == []


def test_query_count_does_not_grow_with_the_impacted_nodes(api, users):
    """Per level one edge query and one for the CIs met; no query per node."""
    client = api(users["viewer"])

    def star(size):
        root = live(f"root{size}")
        for i in range(size):
            leaf = live(f"leaf{size}-{i}", services=[ServiceFactory(status="active")])
            relate(leaf, "runs-on", root)
        return root

    small, large = star(2), star(15)
    client.get(impact_url(small))  # warm caches (token last-used, content types)
    with CaptureQueriesContext(connection) as few:
        assert client.get(impact_url(small)).json()["counts"] == {"cis": 2, "services": 2, "degraded_cis": 0}
    with CaptureQueriesContext(connection) as many:
        assert client.get(impact_url(large)).json()["counts"] == {"cis": 15, "services": 15, "degraded_cis": 0}
    assert len(few) == len(many), [q["sql"] for q in many.captured_queries]
    # the token (with its user), the impact graph's version stamp (the walk is in memory), then the display
    # fields of the CIs (with their classes) and of the services
    assert len(many) == 4, "\n".join(q["sql"][:150] for q in many.captured_queries)


# --- POST several CIs ------------------------------------------------------------------------------------


def test_both_nodes_failing_together_impact_the_service_with_paths(api, users, shop):
    """Acceptance 2 through the API."""
    client = api(users["viewer"])
    one = client.post("/api/v1/cmdb/impact/", {"cis": [shop["node1"].pk]}, format="json").json()
    assert one["impacted_services"] == [] and one["degraded_cis"][0]["redundancy"]["down"] == 1

    response = client.post("/api/v1/cmdb/impact/", {"cis": [shop["node1"].number, shop["node2"].pk]},
                           format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["name"] for r in body["root"]] == ["node1", "node2"]
    assert [c["name"] for c in body["impacted_cis"]] == ["cluster", "shop-app"]
    cluster = body["impacted_cis"][0]
    assert cluster["redundancy"] == {"mode": "count", "min": 1, "required": 1, "members": 2, "down": 2}
    (service,) = body["impacted_services"]
    assert service["slug"] == "web-shop"
    assert [(s["name"], s["via"]) for s in service["path"]][1:] == [("cluster", "member of"), ("shop-app", "runs"),
                                                                    ("Web shop", "supports")]
    assert service["path"][0]["name"] in {"node1", "node2"}


def test_numbers_are_matched_without_regard_to_case_and_digits_are_ids(api, users, shop):
    body = api(users["viewer"]).post("/api/v1/cmdb/impact/", {
        "cis": [shop["node1"].number.lower(), str(shop["node2"].pk)], "depth": 1}, format="json").json()
    assert [c["name"] for c in body["impacted_cis"]] == ["cluster"] and body["depth"] == 1


def test_read_only_token_and_every_role_may_post_the_query(api, users, shop):
    for role in ROLES:
        response = api(users[role], scope="read").post("/api/v1/cmdb/impact/", {"cis": [shop["app"].pk]},
                                                      format="json")
        assert response.status_code == 200, (role, response.content)


@pytest.mark.parametrize("payload, field", [
    ({}, "cis"), ({"cis": []}, "cis"), ({"cis": "CI-1"}, "cis"), ({"cis": [True]}, "cis"), ({"cis": [None]}, "cis"),
    ({"cis": [1], "direction": "up"}, "direction"), ({"cis": [1], "depth": 99}, "depth"),
])
def test_bad_post_is_400_naming_the_field(api, users, shop, payload, field):
    response = api(users["viewer"]).post("/api/v1/cmdb/impact/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_unknown_cis_are_named_in_the_400(api, users, shop):
    response = api(users["viewer"]).post("/api/v1/cmdb/impact/", {"cis": [shop["app"].pk, 999999, "CI-99999",
                                                                          2**64]}, format="json")
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["cis"]
    assert message == f"No such CI: 999999, CI-99999, {2**64}."


def test_too_many_cis_is_400(api, users, shop):
    response = api(users["viewer"]).post("/api/v1/cmdb/impact/", {"cis": [shop["app"].pk] * 1001}, format="json")
    assert response.status_code == 400 and "cis" in response.json()["error"]["fields"]


def test_malformed_json_is_400(api, users):
    response = api(users["viewer"]).generic("POST", "/api/v1/cmdb/impact/", "{nope", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"


def test_endpoints_are_in_the_openapi_schema(client, users):
    client.force_login(users["admin"])  # (a viewer gets 403 from a view elsewhere in the CMDB API)
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate(schema)
    assert "/api/v1/cmdb/cis/{id}/impact/" in schema["paths"] and "/api/v1/cmdb/impact/" in schema["paths"]
    get = schema["paths"]["/api/v1/cmdb/cis/{id}/impact/"]["get"]
    assert {p["name"] for p in get["parameters"]} >= {"id", "direction", "depth", "limit"}
    assert "ImpactAnalysis" in schema["components"]["schemas"]


# --- the service map pages --------------------------------------------------------------------------------


def test_map_pages_need_a_login(client, shop):
    for url in (f"/cmdb/{shop['app'].pk}/map/", "/cmdb/map/?service=web-shop", "/cmdb/map/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_ci_map_page_embeds_the_graph_and_lists_the_nodes_as_links(client, users, shop):
    client.force_login(users["viewer"])
    response = client.get(f"/cmdb/{shop['cluster'].pk}/map/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="map-data"' in html and "vendor/cytoscape/cytoscape.min.js" in html
    assert "<script>" not in html.replace(" ", "") and "onclick" not in html.lower()
    for ci in (shop["app"], shop["node1"], shop["node2"]):
        assert f'href="/cmdb/{ci.pk}/"' in html
    assert f'href="/services/{shop["service"].pk}/"' in html
    assert f'data-url="/cmdb/{shop["cluster"].pk}/map/?depth=2&amp;simulate=1&amp;format=json"' in html


def test_ci_map_json_has_nodes_and_edges_and_the_failure_on_demand(client, users, shop):
    client.force_login(users["viewer"])
    data = client.get(f"/cmdb/{shop['cluster'].pk}/map/?format=json").json()
    by_id = {n["id"]: n for n in data["nodes"]}
    cluster, app = by_id[f"ci-{shop['cluster'].pk}"], by_id[f"ci-{shop['app'].pk}"]
    assert cluster["root"] and cluster["distance"] == 0 and cluster["side"] == "root"
    assert app["side"] == "downstream" and app["distance"] == 1 and app["url"] == f"/cmdb/{shop['app'].pk}/"
    assert by_id[f"ci-{shop['node1'].pk}"]["side"] == "upstream" and data["depth"] == 2
    edges = {(e["source"], e["target"], e["label"]) for e in data["edges"]}
    assert edges == {(f"ci-{shop['node1'].pk}", f"ci-{shop['cluster'].pk}", "member of"),
                     (f"ci-{shop['node2'].pk}", f"ci-{shop['cluster'].pk}", "member of"),
                     (f"ci-{shop['cluster'].pk}", f"ci-{shop['app'].pk}", "runs"),
                     (f"ci-{shop['app'].pk}", f"service-{shop['service'].pk}", "supports")}
    assert data["failure"] is None, "the failure is analysed only when asked for"

    failure = client.get(f"/cmdb/{shop['cluster'].pk}/map/?format=json&simulate=1").json()["failure"]
    assert failure["impacted"] == sorted([f"ci-{shop['app'].pk}", f"service-{shop['service'].pk}"])
    assert failure["cis"] == 1 and failure["services"] == 1 and failure["outside"] == 0
    assert failure["summary"] == "1 CI impacted, 1 service impacted."
    assert failure["servicesHit"] == [{"number": shop["service"].number, "name": "Web shop", "tier": 1,
                                       "tierLabel": "Tier 1", "url": f"/services/{shop['service'].pk}/"}]

    node = client.get(f"/cmdb/{shop['node1'].pk}/map/?format=json&simulate=1&depth=1").json()["failure"]
    assert node["impacted"] == [] and node["degradedNodes"] == [f"ci-{shop['cluster'].pk}"]
    assert node["summary"] == "0 CIs impacted, 0 services impacted. 1 redundant CI loses members but stays up."


def test_failure_beyond_the_map_is_counted(client, users, shop):
    client.force_login(users["viewer"])
    failure = client.get(f"/cmdb/{shop['cluster'].pk}/map/?format=json&simulate=1&depth=1").json()["failure"]
    assert failure["impacted"] == [f"ci-{shop['app'].pk}"] and failure["outside"] == 1
    assert failure["summary"] == "1 CI impacted, 1 service impacted. 1 of them is beyond this map."


def test_depth_bounds_the_map_and_bad_depths_fall_back(client, users, shop):
    client.force_login(users["viewer"])
    one = client.get(f"/cmdb/{shop['node1'].pk}/map/?format=json&depth=1").json()
    assert {n["name"] for n in one["nodes"]} == {"node1", "cluster"}
    for bad in ("0", "9", "x"):
        assert client.get(f"/cmdb/{shop['node1'].pk}/map/?format=json&depth={bad}").json()["depth"] == 2


def test_service_map_shows_what_supports_the_service(client, users, shop):
    client.force_login(users["viewer"])
    data = client.get("/cmdb/map/?service=web-shop&format=json").json()
    assert {n["name"] for n in data["nodes"]} == {"Web shop", "shop-app", "cluster", "node1", "node2"}
    assert data["depth"] == 3
    assert client.get("/cmdb/map/?service=web-shop&format=json&simulate=1").json()["failure"] is None
    assert all(n["side"] in ("root", "upstream") for n in data["nodes"])
    html = client.get("/cmdb/map/?service=web-shop").content.decode()
    assert 'id="simulate-failure"' not in html and f'href="/cmdb/{shop["node2"].pk}/"' in html


def test_service_picker_and_unknown_records(client, users, shop):
    client.force_login(users["viewer"])
    picker = client.get("/cmdb/map/")
    assert picker.status_code == 200 and 'value="web-shop"' in picker.content.decode()
    assert client.get("/cmdb/map/?service=nope").status_code == 404
    assert client.get("/cmdb/999999/map/").status_code == 404
