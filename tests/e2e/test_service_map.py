"""The service map in a real browser (Chromium): a viewer opens the map of a service, clicks a node on
the canvas and lands on that CI's page, comes back and takes the list beside the map to another CI; on
a cluster's map, "Simulate failure" colours the application and the service its failure impacts.
Pages must leave the console free of CSP violations and JavaScript errors."""

import re

import pytest

from tests.accounts.factories import UserFactory
from tests.cmdb.factories import CIFactory, cls, relate
from tests.e2e.screenshots import shot
from tests.services.factories import ServiceFactory

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def shop():
    service = ServiceFactory(name="Web shop", slug="web-shop", status="active", tier=1)
    cluster = CIFactory(name="shop-cluster", ci_class=cls("cluster"), status="in_production", redundancy_min=1)
    nodes = [CIFactory(name=f"shop-node-{i}", status="in_production") for i in (1, 2)]
    for node in nodes:
        relate(node, "member-of", cluster)
    app = CIFactory(name="shop-app", ci_class=cls("application"), status="in_production", services=[service])
    relate(app, "runs-on", cluster)
    return {"service": service, "cluster": cluster, "nodes": nodes, "app": app}


def wait_for_map(page):
    page.locator("#service-map[data-ready='true']").wait_for()


def click_node_on_canvas(page, node_id):
    """Click where cytoscape drew the node: its rendered position inside the map's container."""
    position = page.evaluate("(id) => window.opsdeskServiceMap.getElementById(id).renderedPosition()", node_id)
    box = page.locator("#service-map").bounding_box()
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])


def test_viewer_opens_a_service_map_and_clicks_through_to_a_ci(new_page, log_in, console, shop):
    viewer = UserFactory(username="vera", role="viewer")
    page = log_in(new_page(), viewer)

    page.goto("/cmdb/map/")
    page.get_by_label("Service").select_option(label=f"{shop['service'].number} Web shop")
    page.get_by_role("button", name="Show its map").click()
    expect(page).to_have_url(re.compile(r"/cmdb/map/\?service=web-shop"))
    wait_for_map(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Web shop")
    nodes = page.get_by_role("navigation", name="Nodes on the map")
    for name in ("shop-app", "shop-cluster", "shop-node-1", "shop-node-2"):
        expect(nodes.get_by_role("link", name=re.compile(name))).to_be_visible()
    drawn = page.evaluate("window.opsdeskServiceMap.nodes().map((n) => n.id()).sort()")
    assert drawn == sorted([f"service-{shop['service'].pk}", f"ci-{shop['app'].pk}", f"ci-{shop['cluster'].pk}",
                            *(f"ci-{n.pk}" for n in shop["nodes"])])
    shot(page, "service-map")

    # A click on the drawn node (the canvas) opens the CI's page.
    click_node_on_canvas(page, f"ci-{shop['app'].pk}")
    expect(page).to_have_url(re.compile(rf"/cmdb/{shop['app'].pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("shop-app")

    # Back on the map, the list beside it is the keyboard's way to the same pages.
    page.go_back()
    wait_for_map(page)
    page.get_by_role("navigation", name="Nodes on the map").get_by_role("link", name=re.compile("shop-node-1")).click()
    expect(page).to_have_url(re.compile(rf"/cmdb/{shop['nodes'][0].pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("shop-node-1")
    console.assert_clean()


def test_simulated_failure_of_a_cluster_colours_what_it_impacts(new_page, log_in, console, shop):
    viewer = UserFactory(username="vera", role="viewer")
    page = log_in(new_page(), viewer)

    page.goto(f"/cmdb/{shop['cluster'].pk}/")
    page.get_by_role("link", name="Service map").click()
    expect(page).to_have_url(re.compile(rf"/cmdb/{shop['cluster'].pk}/map/$"))
    wait_for_map(page)
    summary = page.locator("#failure-summary")
    expect(summary).to_be_hidden()

    button = page.get_by_role("button", name="Simulate failure")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("1 CI impacted, 1 service impacted.")
    expect(summary.get_by_role("link", name=re.compile("Web shop"))).to_be_visible()
    impacted = page.evaluate("window.opsdeskServiceMap.nodes('.impacted').map((n) => n.data('name')).sort()")
    assert impacted == ["Web shop", "shop-app"]
    expect(page.locator("#map-nodes .list-group-item-danger")).to_have_count(2)
    shot(page, "service-map-simulated")

    button.click()
    expect(summary).to_be_hidden()
    assert page.evaluate("window.opsdeskServiceMap.nodes('.impacted').length") == 0

    # One node of the pair: nothing impacted, the cluster degraded (redundancy 1).
    page.goto(f"/cmdb/{shop['nodes'][0].pk}/map/")
    wait_for_map(page)
    page.get_by_role("button", name="Simulate failure").click()
    expect(page.locator("#failure-summary")).to_contain_text("0 CIs impacted, 0 services impacted.")
    expect(page.locator("#failure-summary")).to_contain_text("1 redundant CI loses members but stays up.")
    degraded = page.evaluate("window.opsdeskServiceMap.nodes('.degraded').map((n) => n.data('name'))")
    assert degraded == ["shop-cluster"]
    console.assert_clean()
