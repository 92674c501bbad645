"""Impact analysis on known graphs: chains, diamonds, cycles, the depth limit, redundancy (N and N%),
several CIs failing at once, upstream, services, and what leaves the analysis (ended relationships,
retired CIs and services)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.cmdb import services as cmdb
from opsdesk.cmdb.impact import CI, SERVICE, analyse
from opsdesk.services import services as catalog
from tests.cmdb.factories import FACTORY_ACTOR, CIFactory, cls, relate
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def live(name, **kwargs):
    return CIFactory(name=name, status="in_production", **kwargs)


def names(result, kind=CI):
    return {result.details[k]["name"] for k in result.impacted if k[0] == kind}


def path_of(result, record, kind=CI):
    return [(step["name"], step["via"]) for step in result.path((kind, record.pk))]


def test_chain_follows_the_declared_impact_direction_with_paths():
    host = live("host")
    vm = live("vm", ci_class=cls("virtual-machine"))
    app = live("app", ci_class=cls("application"))
    relate(vm, "hosted-on", host)
    relate(app, "runs-on", vm)

    result = analyse([host])

    assert names(result) == {"vm", "app"}
    assert result.impacted[(CI, vm.pk)].depth == 1
    assert result.impacted[(CI, app.pk)].depth == 2
    assert path_of(result, app) == [("host", None), ("vm", "hosts"), ("app", "runs")]
    # A failure of the app impacts nothing below it.
    assert analyse([app]).impacted == {}


def test_source_to_target_both_and_none():
    node, cluster = live("node"), live("cluster", ci_class=cls("cluster"))
    relate(node, "member-of", cluster)  # the member's (source's) failure impacts the cluster
    left, right = live("switch-a"), live("switch-b")
    relate(left, "connected-to", right)  # both ways
    backup = live("backup-server")
    relate(backup, "backs-up", node)  # no impact at all

    assert names(analyse([node])) == {"cluster"}
    assert names(analyse([cluster])) == set()
    assert names(analyse([left])) == {"switch-b"}
    assert names(analyse([right])) == {"switch-a"}
    assert names(analyse([backup])) == set()
    assert "backup-server" not in names(analyse([node], direction="upstream"))


def test_diamond_reaches_the_bottom_once_by_a_shortest_path():
    a, b, c, d = live("a"), live("b"), live("c"), live("d")
    relate(b, "depends-on", a)
    relate(c, "depends-on", a)
    relate(d, "depends-on", b)
    relate(d, "depends-on", c)

    result = analyse([a])

    assert names(result) == {"b", "c", "d"}
    assert result.impacted[(CI, d.pk)].depth == 2
    path = path_of(result, d)
    assert path[0] == ("a", None) and path[-1] == ("d", "is needed by") and path[1][0] in {"b", "c"}
    assert len(path) == 3


def test_cycle_ends_without_revisiting():
    a, b, c = live("a"), live("b"), live("c")
    relate(b, "depends-on", a)  # a -> b
    relate(c, "depends-on", b)  # b -> c
    relate(a, "depends-on", c)  # c -> a

    downstream = analyse([a])
    assert names(downstream) == {"b", "c"}, "the failed CI itself is not listed as impacted"
    assert [downstream.impacted[(CI, x.pk)].depth for x in (b, c)] == [1, 2]

    upstream = analyse([a], direction="upstream")
    assert names(upstream) == {"c", "b"}
    assert path_of(upstream, b) == [("a", None), ("c", "depends on"), ("b", "depends on")]


def test_depth_limits_the_path_length():
    chain = [live(f"n{i}") for i in range(6)]
    for before, after in zip(chain, chain[1:], strict=False):
        relate(after, "depends-on", before)

    assert names(analyse([chain[0]], depth=2)) == {"n1", "n2"}
    assert names(analyse([chain[0]], depth=5)) == {"n1", "n2", "n3", "n4", "n5"}
    assert names(analyse([chain[0]], direction="upstream", depth=50)) == set()
    assert names(analyse([chain[5]], direction="upstream", depth=1)) == {"n4"}
    for bad in (0, 51, -1, "3", None, True):
        with pytest.raises(ValidationError) as error:
            analyse([chain[0]], depth=bad)
        assert "depth" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        analyse([chain[0]], direction="sideways")
    assert "direction" in error.value.message_dict


def cluster_of(size, **redundancy):
    cluster = live("cluster", ci_class=cls("cluster"), **redundancy)
    nodes = [live(f"node{i + 1}") for i in range(size)]
    for node in nodes:
        relate(node, "member-of", cluster)
    return cluster, nodes


def test_acceptance_two_node_cluster_with_redundancy_one_keeps_the_service_up():
    """Acceptance 2: an application runs on a 2-node cluster with redundancy 1: one node down -> the
    service is not impacted; both down -> impacted, with the paths returned."""
    shop = ServiceFactory(name="Web shop", slug="web-shop", status="active")
    cluster, (node1, node2) = cluster_of(2, redundancy_min=1)
    app = live("shop-app", ci_class=cls("application"), services=[shop])
    relate(app, "runs-on", cluster)

    one_down = analyse([node1])
    assert one_down.impacted == {}
    assert one_down.degraded[(CI, cluster.pk)] == {"mode": "count", "min": 1, "required": 1, "members": 2,
                                                   "down": 1}

    both_down = analyse([node1, node2])
    assert names(both_down) == {"cluster", "shop-app"}
    assert names(both_down, SERVICE) == {"Web shop"}
    assert both_down.impacted[(CI, cluster.pk)].redundancy == {"mode": "count", "min": 1, "required": 1,
                                                               "members": 2, "down": 2}
    path = path_of(both_down, shop, SERVICE)
    assert path[0][0] in {"node1", "node2"} and path[0][1] is None
    assert path[1:] == [("cluster", "member of"), ("shop-app", "runs"), ("Web shop", "supports")]
    assert both_down.degraded == {}


def test_redundancy_count_n():
    cluster, nodes = cluster_of(3, redundancy_min=2)
    assert names(analyse(nodes[:1])) == set()
    assert analyse(nodes[:1]).degraded[(CI, cluster.pk)]["down"] == 1
    two = analyse(nodes[:2])
    assert names(two) == {"cluster"}
    assert two.impacted[(CI, cluster.pk)].redundancy == {"mode": "count", "min": 2, "required": 2,
                                                         "members": 3, "down": 2}


def test_redundancy_percent_rounds_the_members_needed_up():
    cluster, nodes = cluster_of(3, redundancy_min=50, redundancy_mode="percent")  # 2 of 3 needed
    assert names(analyse(nodes[:1])) == set()
    result = analyse(nodes[:2])
    assert names(result) == {"cluster"}
    assert result.impacted[(CI, cluster.pk)].redundancy == {"mode": "percent", "min": 50, "required": 2,
                                                            "members": 3, "down": 2}


def test_redundancy_percent_of_four():
    cluster, nodes = cluster_of(4, redundancy_min=50, redundancy_mode="percent")  # 2 of 4 needed
    assert names(analyse(nodes[:2])) == set()
    assert names(analyse(nodes[:3])) == {"cluster"}


def test_redundant_ci_tips_when_members_fail_at_different_depths():
    """node1 fails directly, node2 fails because its switch failed: the cluster goes down when the
    second member goes, one level later, and its path runs through that member."""
    cluster, (node1, node2) = cluster_of(2, redundancy_min=1)
    switch = live("switch")
    relate(node2, "depends-on", switch)

    result = analyse([node1, switch])

    assert names(result) == {"node2", "cluster"}
    assert result.impacted[(CI, cluster.pk)].depth == 2
    assert path_of(result, cluster) == [("switch", None), ("node2", "is needed by"), ("cluster", "member of")]


def test_without_redundancy_one_member_is_enough():
    cluster, nodes = cluster_of(2)
    result = analyse(nodes[:1])
    assert names(result) == {"cluster"}
    assert result.impacted[(CI, cluster.pk)].redundancy is None


def test_several_cis_failing_at_once_are_all_roots():
    a, b, c = live("a"), live("b"), live("c")
    relate(c, "depends-on", a)
    relate(c, "depends-on", b)
    result = analyse([a, b.pk])
    assert result.roots == [(CI, a.pk), (CI, b.pk)]
    assert names(result) == {"c"}
    assert analyse([a, b], depth=1).impacted.keys() == {(CI, c.pk)}


def test_upstream_lists_everything_that_could_impact_and_ignores_redundancy():
    shop = ServiceFactory(name="Web shop", slug="web-shop", status="active")
    cluster, (node1, node2) = cluster_of(2, redundancy_min=1)
    app = live("shop-app", ci_class=cls("application"), services=[shop])
    relate(app, "runs-on", cluster)

    result = analyse(services=[shop], direction="upstream")

    assert names(result) == {"shop-app", "cluster", "node1", "node2"}
    assert path_of(result, node1)[1:] == [("shop-app", "is supported by"), ("cluster", "runs on"),
                                          ("node1", "has member")]
    assert result.path((CI, node1.pk))[0]["kind"] == SERVICE


def test_relationships_to_services_and_service_dependencies():
    payments = ServiceFactory(name="Payments", slug="payments", status="active")
    checkout = ServiceFactory(name="Checkout", slug="checkout", status="active", depends_on=[payments])
    gateway = live("gateway", services=[payments])
    relay = live("relay")
    relate(relay, "member-of", service=checkout)  # source_to_target: the relay's failure impacts checkout
    client = live("client")
    relate(client, "depends-on", service=payments)  # target_to_source: payments' failure impacts the client

    from_gateway = analyse([gateway])
    assert names(from_gateway, SERVICE) == {"Payments", "Checkout"}
    assert names(from_gateway) == {"client"}
    assert path_of(from_gateway, checkout, SERVICE) == [("gateway", None), ("Payments", "supports"),
                                                        ("Checkout", "is needed by")]
    assert path_of(from_gateway, client) == [("gateway", None), ("Payments", "supports"),
                                             ("client", "is needed by")]
    assert names(analyse([relay]), SERVICE) == {"Checkout"}

    upstream = analyse(services=[checkout], direction="upstream")
    assert names(upstream, SERVICE) == {"Payments"}
    assert names(upstream) == {"relay", "gateway"}
    assert path_of(upstream, gateway, CI) == [("Checkout", None), ("Payments", "depends on"),
                                              ("gateway", "is supported by")]


def test_impacted_services_most_critical_first():
    low = ServiceFactory(name="Intranet", slug="intranet", status="active", tier=4, criticality="low")
    top = ServiceFactory(name="Payments", slug="payments", status="active", tier=1, criticality="critical")
    mid = ServiceFactory(name="Search", slug="search", status="active", tier=1, criticality="high")
    db = live("db", services=[low, top, mid])
    ordered = analyse([db]).impacted_services_by_criticality()
    assert [s["name"] for s in ordered] == ["Payments", "Search", "Intranet"]
    assert ordered[0]["path"][0]["name"] == "db" and ordered[0]["tier"] == 1


def test_ended_relationships_are_ignored():
    host, app = live("host"), live("app")
    relationship = relate(app, "runs-on", host)
    assert names(analyse([host])) == {"app"}
    cmdb.unrelate(relationship, actor=FACTORY_ACTOR)
    assert names(analyse([host])) == set()
    assert names(analyse([app], direction="upstream")) == set()


def test_retired_cis_are_out_of_the_analysis_but_planned_ones_take_part():
    host = live("host")
    vm = live("vm")
    app = live("app")
    relate(vm, "runs-on", host)
    relate(app, "runs-on", vm)
    planned = CIFactory(name="new-app")  # planned
    relate(planned, "runs-on", host)
    assert names(analyse([host])) == {"vm", "app", "new-app"}

    cmdb.retire_ci(vm, actor=FACTORY_ACTOR, reason="migrated")
    assert names(analyse([host])) == {"new-app"}, "a retired CI passes no failure on"
    assert names(analyse([app], direction="upstream")) == set()
    assert analyse([vm]).impacted == {}, "a retired CI fails nobody"


def test_retired_members_do_not_count_for_redundancy():
    cluster, (node1, node2, node3) = cluster_of(3, redundancy_min=1)
    cmdb.retire_ci(node3, actor=FACTORY_ACTOR, reason="broken")
    assert analyse([node1]).degraded[(CI, cluster.pk)]["members"] == 2
    result = analyse([node1, node2])
    assert names(result) == {"cluster"}
    assert result.impacted[(CI, cluster.pk)].redundancy["members"] == 2


def test_retired_services_are_out_of_the_analysis():
    old = ServiceFactory(name="Old portal", slug="old-portal", status="active")
    db = live("db", services=[old])
    assert names(analyse([db]), SERVICE) == {"Old portal"}
    catalog.retire_service(old, actor=FACTORY_ACTOR, reason="replaced")
    assert names(analyse([db]), SERVICE) == set()


def test_unknown_ids_are_left_out_and_details_are_loaded():
    host, app = live("host"), live("app", ci_class=cls("application"))
    relate(app, "runs-on", host)
    result = analyse([host.pk, 987654])
    assert result.roots == [(CI, host.pk)]
    details = result.details[(CI, app.pk)]
    assert details["number"] == app.number and details["class"] == "application"
    assert details["status"] == "in_production" and details["status_label"] == "In production"


def test_query_count_depends_on_levels_not_on_nodes():
    def star(size):
        root = live("root")
        clusters = [live(f"cluster{i}", redundancy_min=1) for i in range(size)]
        for i, cluster in enumerate(clusters):
            relate(cluster, "depends-on", root)
            leaf = live(f"leaf{i}", services=[ServiceFactory(status="active")])
            relate(leaf, "runs-on", cluster)
        return root

    small, large = star(2), star(12)
    analyse([small])  # the first analysis after the writes builds the impact graph (impact_graph.py)
    with CaptureQueriesContext(connection) as few:
        assert len(analyse([small]).impacted) == 2 * 2 + 2
    with CaptureQueriesContext(connection) as many:
        assert len(analyse([large]).impacted) == 12 * 2 + 12
    assert len(few) == len(many), [q["sql"] for q in many.captured_queries]
