"""The impact graph held in memory (impact_graph.py) stays correct: every write that changes it bumps
the version stamp in its transaction and the next analysis sees the change; a write that changes
nothing of it, or no write, costs no rebuild; a rolled-back write leaves no stale graph; threads build
once; an analysis costs a fixed number of queries; `limit` loads the display fields of what is shown
only, with the same answer."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from opsdesk.cmdb import impact_graph, import_runs
from opsdesk.cmdb import services as cmdb
from opsdesk.cmdb.impact import CI, SERVICE, analyse
from opsdesk.cmdb.impact_api import impact_body
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core import versions
from opsdesk.core.models import VersionStamp
from opsdesk.services import services as catalog
from tests.accounts.factories import TeamFactory
from tests.cmdb.factories import FACTORY_ACTOR, CIFactory, cls, relate, reltype
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def live(name, **kwargs):
    return CIFactory(name=name, status="in_production", **kwargs)


def token():
    return versions.current(versions.IMPACT_GRAPH)


def names(result, kind=CI):
    return {result.details[k]["name"] for k in result.impacted if k[0] == kind}


class Rebuilds:
    """Counts the graphs built inside the block."""

    def __enter__(self):
        self.start = impact_graph.BUILDS
        return self

    def __exit__(self, *exc):
        self.count = impact_graph.BUILDS - self.start


def changes_graph(write):
    """Run `write`, which must give the impact graph's version stamp a new token (returned)."""
    before = token()
    write()
    after = token()
    assert after and after != before, "the write did not bump the impact graph's version stamp"
    return after


# --- the version stamp ------------------------------------------------------------------------------------

def test_bump_gives_a_new_random_token_and_current_reads_it():
    assert versions.current("no-such-key") == ""
    first = versions.bump("test-key")
    second = versions.bump("test-key")
    assert len(first) == 32 and first != second
    assert versions.current("test-key") == second
    assert VersionStamp.objects.filter(key="test-key").count() == 1


def test_a_rolled_back_bump_leaves_the_token_as_it_was():
    committed = versions.bump("test-key")
    with pytest.raises(RuntimeError), transaction.atomic():
        assert versions.bump("test-key") != committed
        raise RuntimeError
    assert versions.current("test-key") == committed


# --- every write that changes the graph is seen by the next analysis --------------------------------------

def test_relate_and_unrelate():
    host, app = live("host"), live("app")
    assert names(analyse([host])) == set()
    relationship = None

    def add():
        nonlocal relationship
        relationship = relate(app, "runs-on", host)

    changes_graph(add)
    assert names(analyse([host])) == {"app"}
    changes_graph(lambda: cmdb.unrelate(relationship, actor=FACTORY_ACTOR))
    assert names(analyse([host])) == set()


def test_every_ci_transition_retire_and_reinstate():
    host, vm, app = live("host"), live("vm"), live("app")
    relate(vm, "runs-on", host)
    relate(app, "runs-on", vm)
    assert names(analyse([host])) == {"vm", "app"}
    changes_graph(lambda: cmdb.retire_ci(vm, actor=FACTORY_ACTOR, reason="migrated"))
    assert names(analyse([host])) == set()
    changes_graph(lambda: cmdb.transition_ci(vm, "reinstate", actor=FACTORY_ACTOR, data={"reason": "back"}))
    assert names(analyse([host])) == {"vm", "app"}


def test_create_ci_with_services_and_update_of_its_services():
    shop = ServiceFactory(name="Web shop", status="active")
    search = ServiceFactory(name="Search", status="active")
    host = live("host")
    analyse([host])
    app = None

    def create():
        nonlocal app
        app = cmdb.create_ci(actor=FACTORY_ACTOR, data={"name": "app", "ci_class": cls("application"),
                                                        "services": [shop]})

    changes_graph(create)
    assert names(analyse([app]), SERVICE) == {"Web shop"}
    changes_graph(lambda: cmdb.update_ci(app, actor=FACTORY_ACTOR, data={"services": [search]}))
    assert names(analyse([app]), SERVICE) == {"Search"}


def test_update_of_redundancy_min_and_mode():
    cluster = live("cluster", ci_class=cls("cluster"))
    nodes = [live(f"node{i}") for i in range(4)]
    for node in nodes:
        relate(node, "member-of", cluster)
    assert names(analyse(nodes[:1])) == {"cluster"}
    changes_graph(lambda: cmdb.update_ci(cluster, actor=FACTORY_ACTOR, data={"redundancy_min": 2}))
    assert names(analyse(nodes[:2])) == set(), "2 of 4 down, 2 needed: up"
    assert names(analyse(nodes[:3])) == {"cluster"}
    changes_graph(lambda: cmdb.update_ci(cluster, actor=FACTORY_ACTOR, data={"redundancy_mode": "percent"}))
    assert names(analyse(nodes[:3])) == set(), "2 % of 4 members: 1 needed, 1 up"
    assert analyse(nodes[:3]).degraded[(CI, cluster.pk)]["required"] == 1


def test_create_ci_with_redundancy_bumps():
    changes_graph(lambda: CIFactory(name="pair", redundancy_min=1))


def test_service_dependencies_and_retirement():
    payments = ServiceFactory(name="Payments", status="active")
    gateway = live("gateway", services=[payments])
    checkout = None

    def create():  # planned (the service layer's create, without the factory's transitions): a node too
        nonlocal checkout
        checkout = catalog.create_service(actor=FACTORY_ACTOR, data={
            "name": "Checkout", "slug": "checkout", "owner_team": TeamFactory(), "depends_on": [payments]})

    assert names(analyse([gateway]), SERVICE) == {"Payments"}
    changes_graph(create)
    assert names(analyse([gateway]), SERVICE) == {"Payments", "Checkout"}
    changes_graph(lambda: catalog.update_service(checkout, actor=FACTORY_ACTOR, data={"depends_on": []}))
    assert names(analyse([gateway]), SERVICE) == {"Payments"}
    changes_graph(lambda: catalog.retire_service(payments, actor=FACTORY_ACTOR, reason="replaced"))
    assert names(analyse([gateway]), SERVICE) == set()


def test_relationship_type_direction_and_names():
    db, app = live("db"), live("app")
    relate(app, "depends-on", db)
    depends_on = reltype("depends-on")
    result = analyse([db])
    assert [s["via"] for s in result.path((CI, app.pk))] == [None, "is needed by"]

    changes_graph(lambda: cmdb.update_relationship_type(depends_on, actor=FACTORY_ACTOR,
                                                        data={"reverse_name": "is relied on by"}))
    assert [s["via"] for s in analyse([db]).path((CI, app.pk))] == [None, "is relied on by"]
    changes_graph(lambda: cmdb.update_relationship_type(depends_on, actor=FACTORY_ACTOR,
                                                        data={"impact": "source_to_target"}))
    assert names(analyse([db])) == set() and names(analyse([app])) == {"db"}
    changes_graph(lambda: cmdb.create_relationship_type(actor=FACTORY_ACTOR, data={
        "slug": "feeds", "name": "feeds", "reverse_name": "is fed by", "impact": "source_to_target"}))


# --- no rebuild without a change ----------------------------------------------------------------------------

def test_no_write_no_rebuild_and_writes_outside_the_graph_none_either():
    host, app = live("host"), live("app")
    relate(app, "runs-on", host)
    analyse([host])
    stamp = token()
    with Rebuilds() as rebuilds:
        for _ in range(3):
            assert names(analyse([host])) == {"app"}
        analyse([app], direction="upstream")
    assert rebuilds.count == 0

    with Rebuilds() as rebuilds:
        cmdb.update_ci(app, actor=FACTORY_ACTOR, data={"name": "shop-app", "description": "renamed"})
        result = analyse([host])
    assert token() == stamp and rebuilds.count == 0
    assert names(result) == {"shop-app"}, "names come from the database, not from the graph"

    with Rebuilds() as rebuilds:
        relate(live("worker"), "runs-on", host)
        assert names(analyse([host])) == {"shop-app", "worker"}
        assert names(analyse([host])) == {"shop-app", "worker"}
    assert rebuilds.count == 1


def test_a_new_ci_without_edges_is_a_root_without_a_rebuild():
    host = live("host")
    relate(live("app"), "runs-on", host)
    analyse([host])
    with Rebuilds() as rebuilds:
        new = CIFactory(name="new")  # no services, no redundancy: no bump
        retired = CIFactory(name="old", status="retired")  # its transitions bump
        result = analyse([new, retired, 987654321])
        again = analyse([new])
    assert result.roots == [(CI, new.pk), (CI, retired.pk)] and result.impacted == {}
    assert again.roots == [(CI, new.pk)] and rebuilds.count == 1


def test_without_a_stamp_nothing_is_cached():
    """A database whose stamp was never bumped (just migrated, or filled by bulk inserts that bypass
    the services): its state is unknown, so every analysis reads it."""
    host, app = live("host"), live("app")
    relate(app, "runs-on", host)
    VersionStamp.objects.all().delete()
    with Rebuilds() as rebuilds:
        analyse([host])
        assert names(analyse([host])) == {"app"}
    assert rebuilds.count == 2


def test_a_rolled_back_write_leaves_no_stale_graph():
    host, app = live("host"), live("app")
    assert names(analyse([host])) == set()
    with pytest.raises(RuntimeError), transaction.atomic():
        relate(app, "runs-on", host)
        assert names(analyse([host])) == {"app"}, "the transaction sees its own write"
        raise RuntimeError("roll back")
    assert names(analyse([host])) == set()
    assert names(analyse([app], direction="upstream")) == set()


def test_a_built_graph_never_changes():
    host, app = live("host"), live("app")
    relate(app, "runs-on", host)
    old = impact_graph.get_graph()
    cmdb.retire_ci(app, actor=FACTORY_ACTOR, reason="gone")
    new = impact_graph.get_graph()
    assert new is not old and new is impact_graph.get_graph()
    assert app.pk in old.down[host.pk] and host.pk not in new.down


@pytest.mark.django_db(transaction=True)
def test_threads_wait_for_one_build():
    host = live("host")
    relate(live("app"), "runs-on", host)
    impact_graph.forget()
    barrier = threading.Barrier(8)
    graphs, errors = [], []

    def analyse_in_a_thread():
        try:
            barrier.wait()
            graphs.append(impact_graph.get_graph())
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    with Rebuilds() as rebuilds:
        threads = [threading.Thread(target=analyse_in_a_thread) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == [] and len(graphs) == 8
    assert rebuilds.count == 1 and all(graph is graphs[0] for graph in graphs)


# --- queries and the limit ------------------------------------------------------------------------------------

def star(size):
    root = live(f"root{size}")
    for i in range(size):
        leaf = live(f"leaf{size}-{i:02d}", services=[ServiceFactory(name=f"svc{size}-{i:02d}", status="active")])
        relate(leaf, "runs-on", root)
    return root


def test_an_analysis_costs_three_queries_however_big():
    small, large = star(2), star(20)
    analyse([small])
    for root, impacted in ((small, 4), (large, 40)):
        with CaptureQueriesContext(connection) as queries:
            assert len(analyse([root]).impacted) == impacted
        # the version stamp, the CIs' display fields (with their class), the services'
        assert len(queries) == 3, [q["sql"][:120] for q in queries.captured_queries]
    with CaptureQueriesContext(connection) as queries:
        analyse([large], direction="upstream", details=False)
    assert len(queries) == 1


def test_limit_shows_the_nearest_then_by_name_and_reads_only_those():
    large = star(20)
    analyse([large])
    with CaptureQueriesContext(connection) as queries:
        result = analyse([large], limit=5)
    # the stamp, per kind the names of the level the cut falls in, then the display fields
    assert len(queries) == 5, [q["sql"][:120] for q in queries.captured_queries]
    assert len(result.impacted) == 40
    assert len(result.details) == 1 + 5 + 5, "the root, 5 leaves, 5 services (whose paths run through those leaves)"
    body = impact_body(result, 5)
    assert [c["name"] for c in body["impacted_cis"]] == [f"leaf20-{i:02d}" for i in range(5)]
    assert [s["name"] for s in body["impacted_services"]] == [f"svc20-{i:02d}" for i in range(5)]
    assert [step["name"] for step in body["impacted_services"][0]["path"]] == ["root20", "leaf20-00", "svc20-00"]
    assert body["counts"] == {"cis": 20, "services": 20, "degraded_cis": 0} and body["truncated"] is True


def test_limit_gives_the_same_answer_as_loading_everything():
    """A mixed graph (services, redundancy, several levels), cut at every size: the listed nodes,
    their fields and their paths are those of the full analysis."""
    payments = ServiceFactory(name="Payments", status="active")
    checkout = ServiceFactory(name="Checkout", status="active", depends_on=[payments])
    ServiceFactory(name="Basket", status="active", depends_on=[payments])
    root = live("root", services=[payments])
    cluster = live("zz-cluster", ci_class=cls("cluster"), redundancy_min=1)
    for i, name in enumerate(["m", "c", "x", "a"]):
        node = live(name)
        relate(node, "depends-on", root)
        relate(node if i < 2 else live(f"{name}-spare"), "member-of", cluster)
        relate(live(f"{name}-app"), "runs-on", node)
    relate(live("client"), "depends-on", service=checkout)

    whole = analyse([root])
    full = impact_body(whole, 50)
    assert len(full["impacted_cis"]) == 9 and [d["name"] for d in full["degraded_cis"]] == ["zz-cluster"]
    assert len(whole.details) == 1 + 9 + 3 + 1
    for limit in range(1, 12):
        cut = impact_body(analyse([root], limit=limit), limit)
        for part in ("impacted_cis", "impacted_services", "degraded_cis"):
            assert cut[part] == full[part][:limit], (limit, part)
        assert cut["counts"] == full["counts"] and cut["root"] == full["root"]
        assert cut["truncated"] is (limit < 9)


def test_the_cut_orders_names_as_the_full_list_does_on_every_database():
    """The database picks the first names of the level the cut falls in: it must order as Python does
    (by code point), not by the database's locale (which would put "alpha" before "Zeta")."""
    root = live("root")
    for name in ("Zeta", "alpha", "Émile", "beta", "_x", "10", "9", "Ängel"):
        relate(live(name), "depends-on", root)
    full = [c["name"] for c in impact_body(analyse([root]), 50)["impacted_cis"]]
    assert full == ["10", "9", "Zeta", "_x", "alpha", "beta", "Ängel", "Émile"]
    for limit in range(1, 8):
        assert [c["name"] for c in impact_body(analyse([root], limit=limit), limit)["impacted_cis"]] == full[:limit]


def test_limit_loads_the_nodes_on_the_paths_beyond_the_cut():
    """client's path runs through Checkout, which the cut leaves out of the services listed."""
    payments = ServiceFactory(name="Payments", status="active")
    for name in ("Alerts", "Basket"):
        ServiceFactory(name=name, status="active", depends_on=[payments])
    checkout = ServiceFactory(name="Checkout", status="active", depends_on=[payments])
    root = live("root", services=[payments])
    relate(live("client"), "depends-on", service=checkout)

    body = impact_body(analyse([root], limit=2), 2)
    assert [s["name"] for s in body["impacted_services"]] == ["Payments", "Alerts"]
    (client,) = body["impacted_cis"]
    assert [(step["number"], step["name"]) for step in client["path"]] == [
        (root.number, "root"), (payments.number, "Payments"), (checkout.number, "Checkout"),
        (client["number"], "client")]


def test_limit_must_be_a_positive_whole_number():
    host = live("host")
    for bad in (0, -1, True, "5", 2.5):
        with pytest.raises(ValidationError) as error:
            analyse([host], limit=bad)
        assert "limit" in error.value.message_dict


# --- bulk paths ---------------------------------------------------------------------------------------------

def test_an_import_that_creates_cis_supporting_services(settings, tmp_path):
    """Imports create CIs in bulk (core.records.bulk_create_records), their services links included."""
    settings.CMDB_IMPORT_DIR = tmp_path / "imports"
    ServiceFactory(name="Web shop", slug="web-shop", status="active")
    analyse([live("host")])
    run = None

    def run_import():
        nonlocal run
        staged = import_runs.stage_upload(SimpleUploadedFile("cis.csv", b"name,serial,services\nweb01,S1,web-shop\n"),
                                          "csv")
        run = import_runs.execute(import_runs.create_import(actor=FACTORY_ACTOR, staged=staged, options={
            "default_class": "server", "match_keys": ["serial_number"], "dry_run": False,
            "mapping": {"name": "name", "serial": "serial_number", "services": "services"}}).pk)

    changes_graph(run_import)
    assert (run.status, run.created_count) == ("done", 1)
    web01 = ConfigurationItem.objects.get(serial_number="S1")
    assert names(analyse([web01]), SERVICE) == {"Web shop"}
