"""Seed a throwaway database with a CMDB of the size under test, for benchmarks/cmdb.py.

CIs, relationships and links go in with plain INSERTs (executemany: seeding speed is not the
subject), services and teams with bulk_create; CI numbers are assigned in one block and the CI number
sequence set to match, as the write path would leave it. The graph is shaped like a two-datacentre
estate (fixed random seed, so runs compare), scaled by the number of CIs asked for (the counts below
are for 100,000):

- per datacentre a core network (a cluster CI with two core switches as members, redundancy 1), an
  edge router (the two routers are connected-to each other: a cycle) and an edge firewall pair;
- top-of-rack switches, which depend on the core network; 20 hosts a rack, half of the racks
  dual-homed (the host depends on two switches and declares redundancy 1);
- 100 hypervisor clusters of 8 to 16 hypervisors (member-of, redundancy "all but two" or 75 %);
  ~37,000 VMs hosted on the clusters, each depending on its cluster's storage array (16 arrays);
- 24 Kubernetes clusters whose worker nodes are VMs (member-of, redundancy 60 %); 40,000 containers
  run on them;
- 300 services (the catalogue: 10 % platform services that many others depend on, one identity hub);
  10,000 applications, each supporting a service and running on its containers or on 1 to 3 VMs
  (redundancy 1 when it runs on several), many depending on a database and some on another
  application, on a service they consume or on a certificate;
- 1,000 logical databases with 1 to 3 instances (replicas: member-of, redundancy 1), the instances
  on database servers (shared, up to 8 a server) or VMs; load balancers, certificates, licences;
- what is left of the relationship budget goes to shared hubs, in this order: VMs depend on their
  datacentre's DNS, containers on its image registry (as many as the budget allows: with 200,000
  relationships about two thirds of the VMs and none of the containers), then backup servers back up hosts
  ("backs-up": no impact); 1 % of the relationships are ended (history); 3 % of the CIs are retired.
"""

from __future__ import annotations

import datetime
import random
import time
from dataclasses import dataclass, field

from seed import WORDS  # the service seed's vocabulary: the same names on both

OSES = [("debian", "12"), ("debian", "11"), ("rhel", "9"), ("ubuntu", "22.04"), ("windows", "2022")]
LANGUAGES = ["java", "python", "go", "node", "dotnet", "php"]
ENGINES = ["postgresql", "postgresql", "mysql", "mariadb", "oracle", "mongodb", "redis"]
VENDORS = [("Dell", "PowerEdge R650"), ("HPE", "ProLiant DL380"), ("Lenovo", "ThinkSystem SR650")]
RACK_SIZE = 20
BATCH = 2000


@dataclass
class CmdbSeeded:
    admin: object
    n_cis: int
    n_relationships: int
    n_ended: int
    n_services: int
    n_service_links: int  # CI supports service
    team_slug: str
    roles: dict[str, list[int]]  # role -> CI ids (typical candidates, hubs)
    by_class: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


class _Graph:
    """CIs as dicts and relationships by list index, before anything is written."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.cis: list[dict] = []
        self.rels: list[tuple] = []  # (source index, type slug, target index | None, service index | None, ended)
        self.rel_keys: set[tuple] = set()
        self.supports: set[tuple[int, int]] = set()  # (CI index, service index)
        self.roles: dict[str, list[int]] = {}
        self.fill: dict[str, int] = {}  # relationships by origin: the structure, then the budget's fill

    def ci(self, cls: str, name: str, role: str = "", **fields) -> int:
        self.cis.append({"cls": cls, "name": name, **fields})
        index = len(self.cis) - 1
        if role:
            self.roles.setdefault(role, []).append(index)
        return index

    def rel(self, source: int, kind: str, target: int | None = None, service: int | None = None,
            ended: bool = False) -> bool:
        key = (source, kind, target, service)
        if source == target or (not ended and key in self.rel_keys):
            return False
        if not ended:
            self.rel_keys.add(key)
        self.rels.append((source, kind, target, service, ended))
        return True


def _status(rng, physical=False) -> str:
    if physical:
        return rng.choices(["in_production", "maintenance", "retired", "in_stock", "planned", "disposed"],
                           [88, 3, 3, 3, 2, 1])[0]
    return rng.choices(["in_production", "maintenance", "retired", "planned"], [91, 3, 3, 3])[0]


def _environment(rng) -> str:
    return rng.choices(["production", "staging", "test", "dev"], [55, 15, 15, 15])[0]


def _ip(dc: int, index: int) -> str:
    return f"10.{dc}.{(index // 250) % 250}.{index % 250 + 1}"


def build(n_cis: int, n_relationships: int, n_services: int, n_teams: int, rng: random.Random) -> _Graph:
    """The whole estate in memory (see the module docstring)."""
    g = _Graph(rng)
    f = n_cis / 100_000
    dcs = (1, 2)
    counts = {
        "storage": max(1, round(8 * f)), "hv_clusters": max(2, round(50 * f)), "k8s": max(1, round(12 * f)),
        "physical": max(20, round(6000 * f)), "containers": round(40_000 * f), "apps": max(20, round(10_000 * f)),
        "dbs": max(5, round(1000 * f)), "lbs": max(2, round(500 * f)), "certs": max(2, round(1000 * f)),
        "licences": max(1, round(500 * f)),
    }

    def owner(infra=False):
        if rng.random() < 0.04:
            return None
        return rng.randrange(min(5, n_teams)) if infra else rng.randrange(n_teams)

    core, edge_fw, dns, registry, tors, hv_clusters, k8s, arrays = {}, {}, {}, {}, {}, {}, {}, {}
    hosts: dict[int, list[int]] = {dc: [] for dc in dcs}
    routers = {}
    for dc in dcs:
        loc = f"DC{dc}"
        core[dc] = g.ci("cluster", f"Core network DC{dc}", "hub-core", environment="production", location=loc,
                        redundancy_min=1, owner=owner(True), attributes={"technology": "EVPN/VXLAN"})
        for side in "ab":
            switch = g.ci("network-device", f"core-sw-dc{dc}-{side}", location=loc, owner=owner(True),
                          attributes={"device_role": "switch", "firmware": "10.4.1", "port_count": 64})
            g.rel(switch, "member-of", core[dc])
        routers[dc] = g.ci("network-device", f"edge-rtr-dc{dc}", "hub-router", location=loc, owner=owner(True),
                           attributes={"device_role": "router", "firmware": "17.9", "port_count": 16})
        edge_fw[dc] = g.ci("cluster", f"Edge firewall DC{dc}", location=loc, redundancy_min=1, owner=owner(True),
                           attributes={"technology": "active/passive"})
        for side in "ab":
            fw = g.ci("network-device", f"edge-fw-dc{dc}-{side}", location=loc, owner=owner(True),
                      attributes={"device_role": "firewall", "firmware": "7.2.5", "port_count": 24})
            g.rel(fw, "member-of", edge_fw[dc])
        g.rel(edge_fw[dc], "depends-on", routers[dc])
        g.rel(edge_fw[dc], "depends-on", core[dc])
        arrays[dc] = [g.ci("storage", f"san-dc{dc}-{i:02d}", "hub-storage", location=loc, owner=owner(True),
                           attributes={"capacity_tb": rng.choice([200, 400, 800]),
                                       "protocol": rng.choice(["fc", "iscsi", "nfs"])})
                      for i in range(counts["storage"])]
        hv_clusters[dc] = []
        for c in range(counts["hv_clusters"]):
            size = rng.randint(8, 16)
            percent = rng.random() < 0.3
            cluster = g.ci("cluster", f"vsphere-dc{dc}-{c:03d}", "hv-cluster", location=loc, owner=owner(True),
                           redundancy_min=75 if percent else size - 2,
                           redundancy_mode="percent" if percent else "count",
                           attributes={"technology": "vSphere 8"})
            hv_clusters[dc].append(cluster)
            g.cis[cluster]["array"] = rng.choice(arrays[dc])
            for h in range(size):
                hv = g.ci("server", f"esx-dc{dc}-{c:03d}-{h:02d}", "hypervisor", location=loc, owner=owner(True),
                          physical=True, dc=dc, attributes=_server_attributes(rng, hypervisor=True))
                g.rel(hv, "member-of", cluster)
                hosts[dc].append(hv)
    g.rel(routers[1], "connected-to", routers[2])  # the WAN link: "both" ways, a cycle
    physical_roles = ["db-server"] * 40 + ["bare-metal"] * 30 + ["backup-server"] * 10 + ["misc-server"] * 20
    for p in range(counts["physical"]):
        dc = dcs[p % 2]
        role = physical_roles[p % 100]
        server = g.ci("server", f"{role.split('-')[0]}-dc{dc}-{p:05d}", role, location=f"DC{dc}", physical=True, dc=dc,
                      owner=owner(), environment=_environment(rng) if role != "db-server" else "production",
                      attributes=_server_attributes(rng))
        hosts[dc].append(server)
    # Racks: top-of-rack switches that depend on the core; half of the racks dual-homed.
    for dc in dcs:
        rng.shuffle(hosts[dc])
        tors[dc] = []
        for rack, start in enumerate(range(0, len(hosts[dc]), RACK_SIZE)):
            dual = rack % 2 == 0
            pair = []
            for side in ("ab" if dual else "a"):
                tor = g.ci("network-device", f"tor-dc{dc}-r{rack:03d}{side}", location=f"DC{dc} / rack {rack:03d}",
                           owner=owner(True), attributes={"device_role": "switch", "firmware": "9.3.10",
                                                          "port_count": 48})
                g.rel(tor, "depends-on", core[dc])
                pair.append(tor)
                tors[dc].append(tor)
            for host in hosts[dc][start:start + RACK_SIZE]:
                g.cis[host]["location"] = f"DC{dc} / rack {rack:03d}"
                for tor in pair:
                    g.rel(host, "depends-on", tor)
                if dual:
                    g.cis[host]["redundancy_min"] = 1
    # Shared platform CIs: DNS and the image registry, each on two VMs (redundancy 1).
    vms: dict[int, list[int]] = {dc: [] for dc in dcs}

    def vm(dc, name, role="", **extra):
        index = g.ci("virtual-machine", name, role, location=f"DC{dc}", dc=dc, owner=extra.pop("owner", owner()),
                     environment=extra.pop("environment", _environment(rng)), attributes=_vm_attributes(rng),
                     **extra)
        cluster = rng.choice(hv_clusters[dc])
        g.rel(index, "hosted-on", cluster)
        # The VM's disks live on its cluster's array. (Not the cluster itself: a redundant CI counts every
        # node with an impact edge into it as a member, so the array would be one member among the hosts.)
        g.rel(index, "depends-on", g.cis[cluster]["array"])
        vms[dc].append(index)
        return index

    for dc in dcs:
        for label, store, slug in (("DNS", dns, "dns"), ("Container registry", registry, "registry")):
            store[dc] = g.ci("application", f"{label} DC{dc}", "hub-platform", location=f"DC{dc}", redundancy_min=1,
                             owner=owner(True), attributes={"version": "1.0", "language": "go"})
            for i in range(2):
                g.rel(store[dc], "runs-on", vm(dc, f"{slug}-dc{dc}-{i}", environment="production",
                                              status="in_production"))
    # Kubernetes clusters: worker nodes are VMs.
    for dc in dcs:
        k8s[dc] = []
        for k in range(counts["k8s"]):
            cluster = g.ci("cluster", f"k8s-dc{dc}-{k:02d}", "k8s-cluster", location=f"DC{dc}", owner=owner(True),
                           redundancy_min=60, redundancy_mode="percent", attributes={"technology": "Kubernetes 1.31"})
            k8s[dc].append(cluster)
            for w in range(rng.randint(6, 20)):
                g.rel(vm(dc, f"k8s-dc{dc}-{k:02d}-w{w:02d}", "k8s-node", environment="production"), "member-of",
                      cluster)
    containers = []
    for c in range(counts["containers"]):
        dc = dcs[c % 2]
        index = g.ci("container", f"pod-dc{dc}-{c:06d}", location=f"DC{dc}", dc=dc, owner=owner(),
                     environment=_environment(rng),
                     attributes={"image": f"registry.example.net/{rng.choice(WORDS)}:{rng.randint(1, 40)}",
                                 "replicas": 1, "namespace": rng.choice(WORDS)})
        g.rel(index, "runs-on", rng.choice(k8s[dc]))
        containers.append(index)
    certs = [g.ci("certificate", f"*.{rng.choice(WORDS)}{i}.example.com", owner=owner(),
                  expires_on=datetime.date(2026, 1, 1) + datetime.timedelta(days=rng.randrange(730)),
                  attributes={"common_name": f"*.{WORDS[i % len(WORDS)]}{i}.example.com", "issuer": "Let's Encrypt"})
             for i in range(counts["certs"])]
    for i in range(counts["licences"]):
        g.ci("software-licence", f"licence-{rng.choice(WORDS)}-{i:04d}", owner=owner(), status="in_production",
             expires_on=datetime.date(2026, 1, 1) + datetime.timedelta(days=rng.randrange(730)),
             attributes={"product": rng.choice(["RHEL", "Windows Server", "Oracle DB", "VMware vSphere"]),
                         "seats": rng.choice([10, 50, 100, 500])})
    # Databases: a logical database with 1 to 3 instances (replicas) on shared database servers or VMs.
    db_servers = {dc: [h for h in hosts[dc] if g.cis[h]["name"].startswith("db-")] for dc in dcs}
    logical_dbs = []
    for d in range(counts["dbs"]):
        dc = dcs[d % 2]
        instances = rng.choice([1, 2, 2, 3])
        engine = rng.choice(ENGINES)
        logical = g.ci("database", f"{rng.choice(WORDS)}-db-{d:04d}", "logical-db", location=f"DC{dc}", owner=owner(),
                       environment=_environment(rng), redundancy_min=1 if instances > 1 else None,
                       attributes={"engine": engine, "version": "15", "size_gb": rng.choice([20, 100, 500, 2000])})
        logical_dbs.append(logical)
        for i in range(instances):
            instance = g.ci("database", f"{g.cis[logical]['name']}-{i}", "db-instance", location=f"DC{dc}",
                            owner=g.cis[logical]["owner"], environment=g.cis[logical]["environment"],
                            attributes={"engine": engine, "version": "15", "port": 5432})
            g.rel(instance, "member-of", logical)
            on_vm = rng.random() < 0.3 or not db_servers[dc]
            g.rel(instance, "runs-on", vm(dc, f"dbvm-dc{dc}-{d:04d}-{i}", "db-vm") if on_vm
                  else rng.choice(db_servers[dc]))
    # Applications: each supports a service; on its containers or on shared application-server VMs.
    app_servers = {dc: [] for dc in dcs}
    free_containers = list(containers)
    rng.shuffle(free_containers)
    apps = []
    for a in range(counts["apps"]):
        dc = dcs[a % 2]
        service = a % n_services if a < n_services else rng.randrange(n_services)
        app = g.ci("application", f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-app-{a:05d}", "app", location=f"DC{dc}",
                   owner=owner(), environment=_environment(rng),
                   attributes={"version": f"{rng.randint(1, 9)}.{rng.randint(0, 30)}",
                               "language": rng.choice(LANGUAGES)})
        apps.append(app)
        g.supports.add((app, service))
        if a % 2 == 0 and free_containers:
            placed = [free_containers.pop() for _ in range(min(len(free_containers), rng.randint(1, 8)))]
        else:
            need = rng.choice([1, 1, 1, 2, 3])
            placed = []
            for _ in range(need):
                if app_servers[dc] and rng.random() < 0.5:
                    placed.append(rng.choice(app_servers[dc]))
                else:
                    server = vm(dc, f"app-dc{dc}-{len(app_servers[dc]):05d}", "app-server")
                    app_servers[dc].append(server)
                    placed.append(server)
        placed = list(dict.fromkeys(placed))
        for host in placed:
            g.rel(app, "runs-on", host)
        if len(placed) > 1:
            g.cis[app]["redundancy_min"] = 1
        if rng.random() < 0.7:
            database = rng.choice(logical_dbs)
            g.rel(app, "depends-on", database)
            g.supports.add((database, service))
        if a > 0 and rng.random() < 0.2:
            g.rel(app, "depends-on", rng.choice(apps[:-1]))
        if rng.random() < 0.05:
            g.rel(app, "depends-on", service=rng.randrange(n_services))
        if rng.random() < 0.1:
            g.rel(app, "depends-on", rng.choice(certs))
    for i in range(counts["lbs"]):
        dc = dcs[i % 2]
        lb = g.ci("load-balancer", f"lb-dc{dc}-{i:04d}", location=f"DC{dc}", owner=owner(True),
                  attributes={"vip": _ip(dc + 100, i), "algorithm": rng.choice(["round-robin", "least-connections"])})
        g.supports.add((lb, rng.randrange(n_services)))
        g.rel(lb, "depends-on", edge_fw[dc])
        g.rel(lb, "depends-on", rng.choice(certs))
        g.rel(lb, "depends-on", rng.choice(tors[dc]))
    # The rest of the CIs asked for: VMs that run no application in the CMDB (jump hosts, build agents ...).
    for i in range(max(0, n_cis - len(g.cis))):
        dc = dcs[i % 2]
        vm(dc, f"vm-dc{dc}-{i:06d}", "vm")
    # Fill the relationship budget: the DNS and registry hubs, ended relationships, backups (no impact).
    budget = n_relationships - len(g.rels)
    ended = max(0, round(0.01 * n_relationships))
    g.fill = {"structure": len(g.rels), "VM depends on DNS": 0, "container depends on registry": 0,
              "ended": 0, "backs-up": 0}
    shuffled = vms[1] + vms[2]
    rng.shuffle(shuffled)
    for v in shuffled:
        if budget - ended > 0 and g.rel(v, "depends-on", dns[g.cis[v]["dc"]]):
            budget -= 1
            g.fill["VM depends on DNS"] += 1
    for c in containers:
        if budget - ended > 0 and g.rel(c, "depends-on", registry[g.cis[c]["dc"]]):
            budget -= 1
            g.fill["container depends on registry"] += 1
    all_vms = vms[1] + vms[2]
    while ended > 0 and budget > 0 and apps:
        g.rel(rng.choice(apps), "runs-on", rng.choice(all_vms), ended=True)
        ended -= 1
        budget -= 1
        g.fill["ended"] += 1
    backups = g.roles.get("backup-server", [])
    targets = all_vms + hosts[1] + hosts[2]
    attempts = 0
    while budget > 0 and backups and attempts < 10 * n_relationships:
        attempts += 1
        if g.rel(rng.choice(backups), "backs-up", rng.choice(targets)):
            budget -= 1
            g.fill["backs-up"] += 1
    return g


def _server_attributes(rng, hypervisor=False) -> dict:
    os_name, version = ("debian", "12") if hypervisor else rng.choice(OSES)
    return {"os": "esxi" if hypervisor else os_name, "os_version": "8.0" if hypervisor else version,
            "cpu_count": rng.choice([32, 48, 64, 96, 128]) if hypervisor else rng.choice([4, 8, 16, 24, 32, 64]),
            "memory_gb": rng.choice([256, 512, 768, 1024]) if hypervisor else rng.choice([16, 32, 64, 128, 256]),
            "disk_gb": rng.choice([480, 960, 1920, 3840]), "virtualised": False}


def _vm_attributes(rng) -> dict:
    os_name, version = rng.choice(OSES)
    return {"os": os_name, "os_version": version, "cpu_count": rng.choice([1, 2, 2, 4, 4, 8, 16]),
            "memory_gb": rng.choice([2, 4, 8, 16, 32, 64]), "disk_gb": rng.choice([20, 40, 80, 200])}


def _adapter(field):
    """How one field's Python value becomes a query parameter, chosen once per field (what bulk_create
    works out again for every value)."""
    from django.db import connection

    ops, kind = connection.ops, field.get_internal_type()
    if kind == "JSONField":
        return lambda value: ops.adapt_json_value(value, field.encoder)
    if kind == "DateTimeField":
        return ops.adapt_datetimefield_value
    if kind == "DateField":
        return ops.adapt_datefield_value
    if kind == "DecimalField":
        return lambda value: ops.adapt_decimalfield_value(value, field.max_digits, field.decimal_places)
    return None


def raw_insert(model, rows: list[dict], batch: int = 5000) -> None:
    """INSERT the rows (dicts by attribute name; a missing field takes its default) with executemany:
    the database's own speed, without the ORM's per-value work. Without "id" the database numbers them."""
    from django.db import connection

    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if f.attname != "id" or "id" in rows[0]]
    quote = connection.ops.quote_name
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    plan = [(f.attname, f.get_default() if f.has_default() else (None if f.null else ""), _adapter(f))
            for f in fields]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            values = []
            for row in rows[start:start + batch]:
                line = []
                for name, default, adapt in plan:
                    value = row.get(name, default)
                    line.append(adapt(value) if adapt is not None and value is not None else value)
                values.append(line)
            cursor.executemany(sql, values)


def _reset_sequences(models) -> None:
    """After rows were inserted with their ids: PostgreSQL's id sequences continue after the highest."""
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)


def seed(n_cis: int, n_relationships: int, *, log=print, seed_value: int = 42) -> CmdbSeeded:
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    from opsdesk.accounts.models import Team
    from opsdesk.accounts.services import create_user
    from opsdesk.cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipType, identifiers_text
    from opsdesk.core.actors import Actor
    from opsdesk.core.models import NumberSequence, Tag
    from opsdesk.services.models import Service

    rng = random.Random(seed_value)
    seconds: dict[str, float] = {}
    admin = create_user(actor=Actor.system("bench-seed"), username="admin", role="admin", is_superuser=True,
                        first_name="Bench", last_name="Admin")
    n_services = max(30, round(300 * n_cis / 100_000))
    n_teams = 50

    t0 = time.perf_counter()
    graph = build(n_cis, n_relationships, n_services, n_teams, rng)
    seconds["generate the graph (Python)"] = time.perf_counter() - t0
    log(f"  generated {len(graph.cis):,} CIs and {len(graph.rels):,} relationships in memory in "
        f"{seconds['generate the graph (Python)']:.1f} s ({', '.join(f'{k} {v:,}' for k, v in graph.fill.items())})")

    t0 = time.perf_counter()
    Team.objects.bulk_create([Team(name=f"Team {i:03d}", slug=f"team-{i:03d}", created_by=admin, updated_by=admin)
                              for i in range(n_teams)])
    team_ids = list(Team.objects.order_by("slug").values_list("id", flat=True))
    now = timezone.now()
    services = []
    for i in range(n_services):
        label = "Identity Platform" if i == 0 else f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {i:04d}"
        platform = i < max(3, n_services // 10)
        status = "retired" if i > 10 and rng.random() < 0.03 else "active"
        services.append(Service(
            number=f"SVC-{i + 1}", name=label, slug=label.lower().replace(" ", "-"), owner_team_id=rng.choice(team_ids),
            tier=1 if platform else rng.choice([2, 3, 3, 4]), criticality="critical" if platform else
            rng.choice(["high", "medium", "low"]), status=status, retired_at=now if status == "retired" else None,
            created_by=admin, updated_by=admin))
    with transaction.atomic():
        Service.objects.bulk_create(services, batch_size=BATCH)
        NumberSequence.objects.update_or_create(prefix="SVC", defaults={"last_value": n_services})
    service_ids = list(Service.objects.order_by("id").values_list("id", flat=True))
    n_platform = max(3, n_services // 10)
    depends = set()
    for i in range(1, n_services):
        if rng.random() < 0.25:
            depends.add((service_ids[i], service_ids[0]))
        for _ in range(rng.choice([0, 1, 1, 2])):
            target = rng.randrange(min(i, n_platform))
            if target != i:
                depends.add((service_ids[i], service_ids[target]))
        if i > n_platform and rng.random() < 0.3:
            depends.add((service_ids[i], service_ids[rng.randrange(n_platform, i)]))
    Service.depends_on.through.objects.bulk_create(
        [Service.depends_on.through(from_service_id=a, to_service_id=b) for a, b in sorted(depends)], batch_size=BATCH)

    classes = dict(CIClass.objects.values_list("slug", "id"))
    types = dict(RelationshipType.objects.values_list("slug", "id"))
    tags = [Tag(name=f"{w}-{s}") for w in WORDS[:10] for s in ("prod", "pci", "gdpr")]
    Tag.objects.bulk_create(tags, ignore_conflicts=True)
    tag_ids = list(Tag.objects.filter(name__in=[t.name for t in tags]).values_list("id", flat=True))
    start = now - datetime.timedelta(days=3 * 365)
    base = ConfigurationItem.objects.aggregate(top=Max("id"))["top"] or 0  # 0: the table is new
    rows = []
    for index, ci in enumerate(graph.cis):
        dc = ci.get("dc", 1)
        addressed = ci["cls"] in ("server", "virtual-machine", "network-device", "load-balancer")
        ips = [_ip(dc, index)] if addressed else []
        hostnames = [f"{ci['name']}.dc{dc}.example.net"] if addressed else []
        physical = ci.get("physical", False)
        status = ci.get("status") or ("in_production" if ci["cls"] in ("cluster", "network-device", "storage")
                                      else _status(rng, physical))
        created = start + datetime.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        updated = created + datetime.timedelta(seconds=rng.randrange(max(1, int((now - created).total_seconds()))))
        team = ci.get("owner")
        vendor, model_name = rng.choice(VENDORS) if physical else ("", "")
        purchase = (created - datetime.timedelta(days=rng.randrange(60))).date() if physical else None
        rows.append({
            "id": base + index + 1, "number": f"CI-{index + 1}", "name": ci["name"], "ci_class_id": classes[ci["cls"]],
            "status": status, "environment": ci.get("environment", "production"),
            "owner_team_id": team_ids[team] if team is not None else None, "location": ci.get("location", ""),
            "ip_addresses": ips, "hostnames": hostnames, "identifiers": identifiers_text(ips, hostnames),
            "attributes": ci.get("attributes", {}), "serial_number": f"SN{dc}{index:08d}" if physical else "",
            "asset_tag": f"AT{index:07d}" if physical else "", "vendor": vendor, "model_name": model_name,
            "purchase_date": purchase,
            "warranty_end": purchase + datetime.timedelta(days=3 * 365) if purchase else None,
            "expires_on": ci.get("expires_on"), "redundancy_min": ci.get("redundancy_min"),
            "redundancy_mode": ci.get("redundancy_mode", "count"),
            "discovery_source": "vcenter" if ci["cls"] == "virtual-machine" else "", "created_at": created,
            "updated_at": updated, "created_by_id": admin.pk, "updated_by_id": admin.pk,
            "status_reason": "Decommissioned" if status == "retired" else ""})
    ids = [row["id"] for row in rows]
    with transaction.atomic():
        raw_insert(ConfigurationItem, rows)
        NumberSequence.objects.update_or_create(prefix="CI", defaults={"last_value": len(rows)})
    seconds["insert CIs"] = time.perf_counter() - t0
    log(f"  inserted {len(rows):,} CIs, {n_services:,} services ({len(depends):,} dependencies), "
        f"{n_teams} teams in {seconds['insert CIs']:.1f} s")

    t0 = time.perf_counter()
    ended_at = now - datetime.timedelta(days=30)
    rels = [{"source_id": ids[s], "type_id": types[kind], "target_id": ids[t] if t is not None else None,
             "target_service_id": service_ids[sv] if sv is not None else None, "ended_at": ended_at if ended else None,
             "created_at": now, "updated_at": now, "created_by_id": admin.pk, "updated_by_id": admin.pk}
            for s, kind, t, sv, ended in graph.rels]
    through = ConfigurationItem.services.through
    links = [{"configurationitem_id": ids[c], "service_id": service_ids[s]} for c, s in sorted(graph.supports)]
    tag_through = ConfigurationItem.tags.through
    tag_links = [{"configurationitem_id": pk, "tag_id": tag_id} for pk in ids if rng.random() < 0.3
                 for tag_id in rng.sample(tag_ids, rng.randint(1, 2))]
    with transaction.atomic():
        raw_insert(Relationship, rels)
        raw_insert(through, links)
        raw_insert(tag_through, tag_links)
        _reset_sequences([ConfigurationItem])
    seconds["insert relationships"] = time.perf_counter() - t0
    n_ended = sum(1 for r in graph.rels if r[4])
    log(f"  inserted {len(rels):,} relationships ({n_ended:,} ended), {len(links):,} CI-service links, "
        f"{len(tag_links):,} tag links in {seconds['insert relationships']:.1f} s")
    by_class: dict[str, int] = {}
    for ci in graph.cis:
        by_class[ci["cls"]] = by_class.get(ci["cls"], 0) + 1
    return CmdbSeeded(admin=admin, n_cis=len(rows), n_relationships=len(rels), n_ended=n_ended,
                      n_services=n_services, n_service_links=len(links), team_slug="team-000",
                      roles={role: [ids[i] for i in indexes] for role, indexes in graph.roles.items()},
                      by_class=by_class, seconds=seconds)


def mark_graph_changed() -> bool:
    """Bump the impact graph's version stamp, as every write through cmdb.services does: the seed's
    plain INSERTs do not, and without a stamp the analysis never keeps its in-memory graph (it
    cannot know what it holds). False when this code has no version stamps (before impact_graph.py)."""
    try:
        from opsdesk.core import versions
    except ImportError:
        return False
    if not hasattr(versions, "IMPACT_GRAPH"):
        return False
    versions.bump(versions.IMPACT_GRAPH)
    return True
