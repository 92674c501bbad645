"""Demo CMDB: about 300 CIs and 600 relationships forming the service maps of the demo services.

Two data centres (FRA1 production, AMS1 disaster recovery and non-production): edge routers, firewall
pairs, core and top-of-rack switches; vSphere hosts on SAN storage; Kubernetes clusters; and for each
demo service a stack such as: load-balancer pair -> web and app VMs in clusters with redundancy ->
the applications running on them -> database clusters (primary + replica), caches, Kafka, storage,
certificates. Some CIs are in other lifecycle states (planned, ordered, in stock, maintenance, retired,
one disposed), some production servers have no owner team or an expired warranty, and a few
certificates and licences expire within 30 days, so that the audits and reminders have something to show.

Everything is written through `cmdb.services`; CIs are matched by name, so running it again creates
nothing. Attribute values come from a seeded random generator (the same on every run); dates are
relative to the day of loading, so "expires in 12 days" stays true.
"""

from __future__ import annotations

import datetime
import random

from django.contrib.auth import get_user_model
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.services.models import Service

from . import services
from .models import AuditRun, CIClass, ConfigurationItem, Relationship, RelationshipType

SEED = 20240603
SITES = {"fra1": ("FRA1", 10), "ams1": ("AMS1", 20)}
NETS = {"mgmt": 1, "infra": 2, "production": 10, "staging": 20, "test": 30, "dev": 40}
UBUNTU, RHEL, WINDOWS = ("Ubuntu", "22.04"), ("Red Hat Enterprise Linux", "9.3"), ("Windows Server", "2022")
OS_LICENCES = {RHEL: "lic-rhel", WINDOWS: "lic-windows-server", UBUNTU: "lic-ubuntu-pro"}
LICENSED_BY = {"slug": "licensed-by", "name": "licensed by", "reverse_name": "licenses", "impact": "none",
               "description": "The CI runs under the licence; the licence's expiry is tracked on the licence CI."}
# The transitions from planned to each status (the shortest way, to keep the load quick).
PATHS = {"planned": [], "ordered": ["order"], "in_stock": ["order", "receive"], "in_production": ["deploy"],
         "maintenance": ["deploy", "start_maintenance"], "retired": ["deploy", "retire"],
         "disposed": ["deploy", "retire", "dispose"]}


class Ref(str):
    """A reference attribute's value: the CI of that name (resolved to its id when loading)."""


class Plan:
    """The demo CMDB as data: CIs by name (in creation order) and relationships by CI names."""

    def __init__(self, today: datetime.date):
        self.today = today
        self.rng = random.Random(SEED)
        self.cis: dict[str, dict] = {}
        self.relations: list[tuple[str, str, str]] = []
        self.hosts: dict[str, list[str]] = {"fra1": [], "ams1": []}
        self.tors: dict[str, list[str]] = {"fra1": [], "ams1": []}
        self._turn: dict[str, int] = {}
        self._addresses: dict[tuple[str, str], int] = {}
        self._asset_tags = 0

    # --- building blocks -------------------------------------------------------------------------------

    def ci(self, name: str, cls: str, *, status: str = "in_production", reason: str = "", **data) -> str:
        data.setdefault("environment", "production")
        self.cis[name] = {"cls": cls, "status": status, "reason": reason, "data": data}
        return name

    def rel(self, source: str, slug: str, *targets: str) -> None:
        """Targets are CI names or "service:<slug>"."""
        self.relations.extend((source, slug, target) for target in targets)

    def next_of(self, key: str, names: list[str]) -> str:
        turn = self._turn.get(key, 0)
        self._turn[key] = turn + 1
        return names[turn % len(names)]

    def ip(self, site: str, net: str) -> str:
        count = self._addresses.get((site, net), 0) + 1
        self._addresses[(site, net)] = count
        return f"10.{SITES[site][1]}.{NETS[net] + count // 250}.{count % 250 + 4}"

    def addressed(self, name: str, site: str, net: str, *, racked: bool = False) -> dict:
        """Address, host name and location (the rack, for hardware)."""
        location = f"{SITES[site][0]} / hall 2 / rack {self.rng.choice('ABCD')}{self.rng.randint(1, 12):02d}" \
            if racked else SITES[site][0]
        return {"ip_addresses": [self.ip(site, net)], "hostnames": [f"{name}.{site}.example.net"],
                "location": location}

    def days(self, low: int, high: int) -> datetime.date:
        return self.today + datetime.timedelta(days=self.rng.randint(low, high))

    def asset(self, vendor: str, model: str, *, cost: int, age_days: tuple[int, int] = (200, 1400),
              warranty_years: int = 5, serial: str = "SN") -> dict:
        bought = self.today - datetime.timedelta(days=self.rng.randint(*age_days))
        return {"vendor": vendor, "model_name": model, "purchase_date": bought,
                "purchase_cost": round(cost * self.rng.uniform(0.9, 1.1)),
                "warranty_end": bought + datetime.timedelta(days=365 * warranty_years),
                "serial_number": serial + "".join(self.rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
                                                  for _ in range(10 - len(serial))),
                "asset_tag": self._tag()}

    def cluster(self, name: str, technology: str, *, team: str | None, minimum: int | None = None,
                mode: str = "count", services_: tuple = (), environment: str = "production", **data) -> str:
        return self.ci(name, "cluster", owner_team=team, redundancy_min=minimum, redundancy_mode=mode,
                       services=list(services_), environment=environment,
                       attributes={"technology": technology}, **data)

    def vm(self, name: str, site: str, team: str | None, *, environment: str = "production", os=UBUNTU,
           cpu: int = 4, memory: int = 16, disk: int = 80, ports: str = "22", member_of: str | None = None,
           status: str = "in_production", **data) -> str:
        host = self.next_of(f"hosts-{site}", self.hosts[site])
        net = environment if environment in NETS else "production"
        self.ci(name, "virtual-machine", owner_team=team, environment=environment, status=status,
                **self.addressed(name, site, net), attributes={
                    "os": os[0], "os_version": os[1], "cpu_count": cpu, "memory_gb": memory, "disk_gb": disk,
                    "open_ports": ports, "hypervisor": Ref(host)}, **data)
        self.rel(name, "hosted-on", host)
        if os in OS_LICENCES:
            self.rel(name, "licensed-by", OS_LICENCES[os])
        if member_of:
            self.rel(name, "member-of", member_of)
        return name

    def tier(self, prefix: str, tier: str, count: int, site: str, team: str, *, app: str, version: str,
             language: str, environment: str = "production", minimum: int | None = None, mode: str = "count",
             services_: tuple = (), **vm) -> str:
        """`count` VMs in a cluster (when more than one) and the application running on them."""
        env = "" if environment == "production" else {"staging": "-stg", "test": "-test", "dev": "-dev"}[environment]
        if count > 1:
            runs_on = self.cluster(f"{prefix}{env}-{tier}-cluster", f"{app} {tier} tier", team=team,
                                   minimum=minimum, mode=mode, environment=environment, location=SITES[site][0])
            for number in range(1, count + 1):
                self.vm(f"{prefix}{env}-{tier}-{number:02d}", site, team, environment=environment,
                        member_of=runs_on, **vm)
        else:
            runs_on = self.vm(f"{prefix}{env}-{tier}-01", site, team, environment=environment, **vm)
        name = self.ci(f"{app}{env}", "application", owner_team=team, environment=environment,
                       services=list(services_), location=SITES[site][0], attributes={
                           "version": version, "language": language,
                           "repository": f"https://git.example.com/{prefix}/{app}"})
        self.rel(name, "runs-on", runs_on)
        return name

    def lb_pair(self, prefix: str, site: str, team: str, *, backend: str, certificate: str, service: str,
                vendor=("F5", "BIG-IP i5800", 38000)) -> str:
        """Two appliances sharing a virtual IP; the pair is the service's entry point."""
        pair = self.cluster(f"{prefix}-lb", f"{vendor[0]} {vendor[1]} active/standby", team=team, minimum=1,
                            location=SITES[site][0], tags=["dmz"], services_=(service,))
        vip = self.ip(site, "production")
        for number in (1, 2):
            name = self.ci(f"{prefix}-lb-{number:02d}", "load-balancer", owner_team=team, tags=["dmz"],
                           **self.addressed(f"{prefix}-lb-{number:02d}", site, "mgmt", racked=True),
                           **self.asset(vendor[0], vendor[1], cost=vendor[2], serial="F5-"),
                           attributes={"vip": vip, "algorithm": "least-connections"})
            self.rel(name, "member-of", pair)
            self.rel(name, "depends-on", self.next_of(f"tors-{site}", self.tors[site]))
            if vendor[0] == "F5":
                self.rel(name, "licensed-by", "lic-f5-best")
        self.rel(pair, "depends-on", f"fw-{site}", backend, certificate)
        return pair

    def db_cluster(self, prefix: str, site: str, team: str, *, engine: str = "postgresql", version: str = "16.3",
                   size: int = 200, physical: bool = False, environment: str = "production",
                   services_: tuple = (), replica_status: str = "in_production") -> str:
        """A primary and a replica on their own servers (or VMs), in a cluster that survives losing one."""
        env = "" if environment == "production" else "-stg"
        cluster = self.cluster(f"{prefix}{env}-db-cluster", f"{engine} {version} with Patroni" if engine ==
                               "postgresql" else f"{engine} {version}", team=team, minimum=1,
                               environment=environment, services_=services_, location=SITES[site][0])
        for role, number in (("primary", 1), ("replica", 2)):
            host = f"{prefix}{env}-db-{number:02d}"
            if physical:
                self.server(host, site, team, os=RHEL, cpu=64, memory=512, disk=7680,
                            vendor=("Dell", "PowerEdge R660", 21000), ports="22,5432")
            else:
                self.vm(host, site, team, environment=environment, os=RHEL, cpu=8, memory=64, disk=500,
                        ports="22,5432")
            name = self.ci(f"{prefix}{env}-db-{role}", "database", owner_team=team, environment=environment,
                           status="in_production" if role == "primary" else replica_status,
                           reason="" if role == "primary" else "Minor version upgrade to 16.4",
                           location=SITES[site][0], attributes={
                               "engine": engine, "version": version, "size_gb": size,
                               "port": 5432 if engine == "postgresql" else 6379})
            self.rel(name, "runs-on", host)
            self.rel(name, "member-of", cluster)
        return cluster

    def server(self, name: str, site: str, team: str | None, *, os=RHEL, cpu: int = 32, memory: int = 256,
               disk: int = 960, vendor=("Dell", "PowerEdge R750", 14000), ports: str = "22",
               status: str = "in_production", age_days=(200, 1400), warranty_years: int = 5, **data) -> str:
        self.ci(name, "server", owner_team=team, status=status, **self.addressed(name, site, "infra", racked=True),
                **self.asset(vendor[0], vendor[1], cost=vendor[2], age_days=age_days,
                             warranty_years=warranty_years, serial="CN" if vendor[0] == "Dell" else "CZ"),
                attributes={"os": os[0], "os_version": os[1], "cpu_count": cpu, "memory_gb": memory,
                            "disk_gb": disk, "open_ports": ports}, **data)
        if status not in ("in_stock", "ordered", "planned", "disposed"):
            self.rel(name, "depends-on", self.next_of(f"tors-{site}", self.tors[site]))
        if os in OS_LICENCES:
            self.rel(name, "licensed-by", OS_LICENCES[os])
        return name

    def certificate(self, common_name: str, team: str, *, expires_in: tuple[int, int], issuer: str = "Sectigo RSA "
                    "Domain Validation Secure Server CA", environment: str = "production", **data) -> str:
        return self.ci(common_name, "certificate", owner_team=team, environment=environment,
                       expires_on=self.days(*expires_in), attributes={"common_name": common_name, "issuer": issuer,
                                                                      "san": common_name}, **data)

    def licence(self, name: str, product: str, team: str, seats: int, *, expires_in, vendor: str, cost: int,
                **data) -> str:
        return self.ci(name, "software-licence", owner_team=team, vendor=vendor, model_name=product,
                       purchase_date=self.today - datetime.timedelta(days=self.rng.randint(200, 700)),
                       purchase_cost=cost, expires_on=self.days(*expires_in), asset_tag=self._tag(),
                       attributes={"product": product, "seats": seats, "licence_key_ref": f"vault:licences/{name}"},
                       **data)

    def _tag(self) -> str:
        self._asset_tags += 1
        return f"OPS-{self._asset_tags:05d}"


def build(today: datetime.date) -> Plan:
    plan = Plan(today)
    _licences(plan)
    _network(plan)
    _compute_and_storage(plan)
    _kubernetes(plan)
    _data(plan)
    _stacks(plan)
    _non_production(plan)
    _lifecycle(plan)
    return plan


def _licences(p: Plan) -> None:
    for name, product, team, seats, expires_in, vendor, cost in (
            ("lic-vsphere-fra1", "VMware vSphere Enterprise Plus", "platform", 28, (40, 50), "Broadcom", 96000),
            ("lic-vsphere-ams1", "VMware vSphere Standard", "platform", 12, (300, 330), "Broadcom", 21000),
            ("lic-rhel", "Red Hat Enterprise Linux Server (premium)", "platform", 150, (190, 220), "Red Hat", 54000),
            ("lic-ubuntu-pro", "Ubuntu Pro (Infra)", "platform", 120, (150, 170), "Canonical", 30000),
            ("lic-windows-server", "Windows Server 2022 Datacenter", "workplace", 16, (280, 320), "Microsoft", 18500),
            ("lic-exchange", "Exchange Server 2019 Standard CALs", "workplace", 400, (18, 24), "Microsoft", 31000),
            ("lic-panos-threat", "PAN-OS Threat Prevention", "network", 4, (70, 80), "Palo Alto Networks", 16800),
            ("lic-f5-best", "F5 BIG-IP Best bundle support", "network", 10, (380, 420), "F5", 22000)):
        p.licence(name, product, team, seats, expires_in=expires_in, vendor=vendor, cost=cost)


def _network(p: Plan) -> None:
    for site, tors in (("fra1", 6), ("ams1", 2)):
        label = SITES[site][0]
        for layer, role, vendor, model, cost, tech in (
                ("edge", "router", "Juniper", "MX204", 28000, "VRRP router pair"),
                ("fw", "firewall", "Palo Alto Networks", "PA-3220", 24000, "PAN-OS HA active/passive"),
                ("core", "switch", "Cisco", "Nexus 9336C-FX2", 19000, "vPC pair")):
            pair = p.cluster(f"{layer}-{site}", tech, team="network", minimum=1, location=label,
                             services_=("network-core",), tags=["dmz"] if layer != "core" else [])
            for number in (1, 2):
                name = f"{layer}-{site}-{number:02d}"
                p.ci(name, "network-device", owner_team="network", redundancy_min=1,
                     description="Redundant links: stays up while one neighbour is up.",
                     **p.addressed(name, site, "mgmt", racked=True), **p.asset(vendor, model, cost=cost, serial="FOC"),
                     attributes={"device_role": role, "firmware": {"router": "Junos 23.2R1", "firewall":
                                 "PAN-OS 11.1.2", "switch": "NX-OS 10.3(4a)"}[role],
                                 "management_ip": p.ip(site, "mgmt"), "port_count": 36 if role == "switch" else 8})
                p.rel(name, "member-of", pair)
                if role == "firewall":
                    p.rel(name, "licensed-by", "lic-panos-threat")
        for number in (1, 2):
            p.rel(f"fw-{site}-{number:02d}", "connected-to", f"edge-{site}-01", f"edge-{site}-02",
                  f"core-{site}-01", f"core-{site}-02")
        p.rel(f"core-{site}-01", "connected-to", f"core-{site}-02")
        for number in range(1, tors + 1):
            name = f"tor-{site}-b{number:02d}"
            p.ci(name, "network-device", owner_team="network", redundancy_min=1,
                 description="Top-of-rack switch with uplinks to both core switches.",
                 **p.addressed(name, site, "mgmt", racked=True),
                 **p.asset("Cisco", "Nexus 93180YC-FX3", cost=11000, serial="FDO"),
                 attributes={"device_role": "switch", "firmware": "NX-OS 10.3(4a)",
                             "management_ip": p.ip(site, "mgmt"), "port_count": 54})
            p.rel(name, "connected-to", f"core-{site}-01", f"core-{site}-02")
            p.tors[site].append(name)
    p.rel("edge-fra1-01", "connected-to", "edge-ams1-01")  # the DCI link
    p.rel("edge-fra1-02", "connected-to", "edge-ams1-02")
    # The Berlin office: one WAN router and firewall, two access switches, four access points.
    for name, role, vendor, model, uplinks in (
            ("edge-ber-01", "router", "Juniper", "SRX380", ["edge-fra1-01", "edge-fra1-02"]),
            ("fw-ber-01", "firewall", "Palo Alto Networks", "PA-440", ["edge-ber-01"]),
            ("sw-ber-01", "switch", "Cisco", "Catalyst 9300-48P", ["fw-ber-01"]),
            ("sw-ber-02", "switch", "Cisco", "Catalyst 9300-48P", ["fw-ber-01", "sw-ber-01"]),
            *((f"ap-ber-{n:02d}", "access-point", "Cisco", "Catalyst 9120AXI", [f"sw-ber-{(n + 1) // 2:02d}"])
              for n in range(1, 5))):
        p.ci(name, "network-device", owner_team="network", redundancy_min=1, location="Berlin office / floor 3",
             ip_addresses=[f"10.30.1.{len(p.cis) % 200 + 10}"], hostnames=[f"{name}.ber.example.net"],
             **p.asset(vendor, model, cost=2500 if role == "access-point" else 7000, serial="FJC"),
             attributes={"device_role": role, "port_count": 48 if role == "switch" else 8})
        p.rel(name, "connected-to", *uplinks)


def _compute_and_storage(p: Plan) -> None:
    for name, team, vendor, model, cost, capacity, protocol in (
            ("san-fra1-01", "platform", "NetApp", "AFF A400", 180000, 240, "iscsi"),
            ("san-ams1-01", "platform", "Pure Storage", "FlashArray//X20", 120000, 90, "iscsi"),
            ("nas-fra1-01", "platform", "NetApp", "FAS2750", 42000, 120, "nfs"),
            ("backup-store-fra1", "data", "Dell", "PowerProtect DD6900", 95000, 400, "nfs")):
        site = "ams1" if "ams1" in name else "fra1"
        p.ci(name, "storage", owner_team=team, **p.addressed(name, site, "infra", racked=True),
             **p.asset(vendor, model, cost=cost, serial=vendor[:2].upper()), redundancy_min=1,
             description="Dual-homed: reachable while one of its two switches is up.",
             attributes={"capacity_tb": capacity, "protocol": protocol})
        p.rel(name, "depends-on", *(p.next_of(f"tors-{site}", p.tors[site]) for _ in (1, 2)))
    for name, provider, region, resource, cost in (
            ("s3-shop-media", "aws", "eu-central-1", "arn:aws:s3:::example-shop-media", 412),
            ("s3-backups-offsite", "aws", "eu-west-1", "arn:aws:s3:::example-backups-offsite", 1890),
            ("gcs-dwh-exports", "gcp", "europe-west3", "projects/example-dwh/buckets/exports", 230)):
        p.ci(name, "cloud-resource", owner_team="data" if "shop" not in name else "payments",
             location=f"{provider} {region}", attributes={"provider": provider, "region": region,
                                                          "resource_id": resource, "monthly_cost": cost})
    p.rel("backup-store-fra1", "depends-on", "s3-backups-offsite")
    for site, count, old in (("fra1", 14, ()), ("ams1", 6, (1, 2, 3))):
        p.cluster(f"vsphere-{site}", "VMware vSphere 8 HA/DRS", team="platform", minimum=50, mode="percent",
                  location=SITES[site][0])
        for number in range(1, count + 1):
            name = f"esx-{site}-{number:02d}"
            unowned = site == "ams1" and number in (4, 5) or name == "esx-fra1-14"
            p.server(name, site, None if unowned else "platform", os=("VMware ESXi", "8.0 U2"), cpu=64,
                     memory=768 if site == "fra1" else 384, disk=480, ports="22,443,902",
                     vendor=("HPE", "ProLiant DL380 Gen9", 16000) if number in old
                     else ("Dell", "PowerEdge R750", 19000),
                     age_days=(2300, 2500) if number in old else (300, 1200),
                     warranty_years=5, status="maintenance" if name == "esx-fra1-07" else "in_production",
                     reason="Replacing a failed DIMM (vendor case 5012-7731)" if name == "esx-fra1-07" else "")
            p.rel(name, "member-of", f"vsphere-{site}")
            p.rel(name, "depends-on", f"san-{site}-01")
            p.rel(name, "licensed-by", f"lic-vsphere-{site}")
            if name != "esx-fra1-07":
                p.hosts[site].append(name)
    p.vm("vcenter-01", "fra1", "platform", os=("VMware Photon OS", "5.0"), cpu=8, memory=37, disk=700, ports="22,443")
    p.rel(p.ci("vcenter", "application", owner_team="platform", location="FRA1", attributes={
        "version": "8.0.2", "language": "VMware vCenter Server appliance"}), "runs-on", "vcenter-01")
    p.rel("vcenter", "licensed-by", "lic-vsphere-fra1")


def _kubernetes(p: Plan) -> None:
    for cluster, site, workers, containers in (
            ("k8s-eu1", "fra1", 8, ("ingress-nginx", "coredns", "cert-manager", "external-dns")),
            ("k8s-eu2", "ams1", 4, ("ingress-nginx", "coredns"))):
        p.cluster(cluster, "Kubernetes 1.29 (kubeadm)", team="platform", services_=("kubernetes",),
                  location=SITES[site][0])
        p.cluster(f"{cluster}-control-plane", "etcd quorum, 3 control-plane nodes", team="platform", minimum=2)
        p.cluster(f"{cluster}-workers", "worker node pool", team="platform", minimum=50, mode="percent")
        for number in (1, 2, 3):
            p.vm(f"{cluster}-cp-{number:02d}", site, "platform", cpu=4, memory=16, ports="22,6443,2379",
                 member_of=f"{cluster}-control-plane")
        for number in range(1, workers + 1):
            p.vm(f"{cluster}-node-{number:02d}", site, "platform", cpu=16, memory=64, disk=200,
                 ports="22,10250", member_of=f"{cluster}-workers")
        p.rel(cluster, "depends-on", f"{cluster}-control-plane", f"{cluster}-workers")
        for container in containers:
            name = p.ci(f"{cluster}-{container}", "container", owner_team="platform", location=SITES[site][0],
                        attributes={"image": f"registry.k8s.io/{container}:stable", "replicas": 2,
                                    "namespace": "kube-system" if container == "coredns" else container})
            p.rel(name, "runs-on", cluster)
        p.rel(cluster, "depends-on", f"{cluster}-coredns")
    for container, image, replicas in (("prometheus", "prom/prometheus:v2.53.0", 2),
                                       ("alertmanager", "prom/alertmanager:v0.27.0", 3),
                                       ("grafana", "grafana/grafana:11.1.0", 2), ("loki", "grafana/loki:3.1.0", 3)):
        name = p.ci(f"monitoring-{container}", "container", owner_team="platform", services=["monitoring"],
                    location="FRA1", attributes={"image": image, "replicas": replicas, "namespace": "monitoring"})
        p.rel(name, "runs-on", "k8s-eu1")
        p.rel(name, "depends-on", "nas-fra1-01" if container in ("prometheus", "loki") else "k8s-eu1-ingress-nginx")
    for container, image in (("kafka-connect", "confluentinc/cp-kafka-connect:7.6.1"),
                             ("schema-registry", "confluentinc/cp-schema-registry:7.6.1")):
        name = p.ci(container, "container", owner_team="data", services=["kafka"], location="FRA1",
                    attributes={"image": image, "replicas": 2, "namespace": "kafka"})
        p.rel(name, "runs-on", "k8s-eu1")
        p.rel(name, "depends-on", "kafka-prod")
    p.certificate("grafana.example.com", "platform", expires_in=(70, 90), issuer="Let's Encrypt R11")
    p.rel("monitoring-grafana", "depends-on", "grafana.example.com", "service:identity")


def _data(p: Plan) -> None:
    p.db_cluster("pg-main", "fra1", "data", size=1800, physical=True, services_=("postgres",))
    p.server("pg-main-db-03", "ams1", "data", cpu=64, memory=512, disk=7680, vendor=("Dell", "PowerEdge R660", 21000),
             ports="22,5432")
    p.ci("pg-main-db-replica-ams1", "database", owner_team="data", location="AMS1",
         description="Asynchronous disaster-recovery replica.",
         attributes={"engine": "postgresql", "version": "16.3", "size_gb": 1800, "port": 5432})
    p.rel("pg-main-db-replica-ams1", "runs-on", "pg-main-db-03")
    p.rel("pg-main-db-replica-ams1", "member-of", "pg-main-db-cluster")
    kafka = p.cluster("kafka-prod", "Apache Kafka 3.7 (KRaft), replication factor 3", team="data", minimum=2,
                      services_=("kafka",), location="FRA1")
    for number in (1, 2, 3):
        p.vm(f"kafka-{number:02d}", "fra1", "data", os=RHEL, cpu=8, memory=32, disk=2000, ports="22,9092,9093",
             member_of=kafka)
    etl = p.tier("dwh", "etl", 2, "fra1", "data", app="dwh-etl", version="2.9.2", language="Python / Airflow",
                 minimum=1, services_=("data-warehouse",), os=UBUNTU, cpu=8, memory=32)
    p.server("dwh-srv-01", "fra1", "data", cpu=96, memory=1024, disk=30720, vendor=("Dell", "PowerEdge R760", 36000),
             ports="22,5432")
    p.ci("dwh-db", "database", owner_team="data", services=["data-warehouse"], location="FRA1",
         attributes={"engine": "postgresql", "version": "16.3", "size_gb": 14200, "port": 5432})
    p.rel("dwh-db", "runs-on", "dwh-srv-01")
    p.rel(etl, "depends-on", "dwh-db", "pg-main-db-cluster", kafka, "gcs-dwh-exports")
    p.rel("backup-store-fra1", "backs-up", "pg-main-db-primary", "dwh-db")


def _stacks(p: Plan) -> None:
    # Online shop: web and app tiers, its own database and cache, media in S3.
    p.certificate("www.example-shop.com", "payments", expires_in=(10, 14))
    backend = p.tier("shop", "app", 8, "fra1", "payments", app="shop-backend", version="5.14.2",
                     language="Java 21 / Spring Boot", minimum=50, mode="percent", cpu=8, memory=32, os=RHEL,
                     ports="22,8080")
    frontend = p.tier("shop", "web", 6, "fra1", "payments", app="shop-frontend", version="5.14.0",
                      language="TypeScript / Next.js", minimum=3, services_=("online-shop",), ports="22,443")
    p.rel(frontend, "depends-on", backend)
    shop_db = p.db_cluster("shop", "fra1", "payments", size=640)
    p.vm("shop-cache-01", "fra1", "payments", memory=32, ports="22,6379")
    p.vm("shop-cache-02", "fra1", "payments", memory=32, ports="22,6379")
    p.ci("shop-redis", "database", owner_team="payments", redundancy_min=1, location="FRA1",
         description="Redis with Sentinel: stays up while one node is up.",
         attributes={"engine": "redis", "version": "7.2.5", "size_gb": 24, "port": 6379})
    p.rel("shop-redis", "runs-on", "shop-cache-01", "shop-cache-02")
    p.rel(backend, "depends-on", shop_db, "shop-redis", "kafka-prod", "s3-shop-media", "service:identity", "pay-api")
    p.lb_pair("shop", "fra1", "network", backend=frontend, certificate="www.example-shop.com", service="online-shop")
    p.rel("backup-store-fra1", "backs-up", "shop-db-primary")

    # Payments API: PCI zone, databases on dedicated servers, HSM pair.
    p.certificate("api.pay.example.com", "payments", expires_in=(22, 27), issuer="DigiCert Global G2 TLS RSA SHA256 "
                  "2020 CA1", tags=["pci"])
    api = p.tier("pay", "app", 4, "fra1", "payments", app="pay-api", version="3.8.1", language="Java 21 / Quarkus",
                 minimum=2, services_=("payments-api",), os=RHEL, cpu=8, memory=32, ports="22,8443", tags=["pci"])
    gateway = p.tier("pay", "web", 3, "fra1", "payments", app="pay-gateway", version="1.22.0", language="Go 1.22",
                     minimum=2, ports="22,443", tags=["pci"])
    p.rel(gateway, "depends-on", api)
    pay_db = p.db_cluster("pay", "fra1", "payments", size=950, physical=True, replica_status="maintenance")
    p.vm("pay-cache-01", "fra1", "payments", memory=16, ports="22,6379", tags=["pci"])
    p.ci("pay-redis", "database", owner_team="payments", location="FRA1", tags=["pci"],
         attributes={"engine": "redis", "version": "7.2.5", "size_gb": 8, "port": 6379})
    p.rel("pay-redis", "runs-on", "pay-cache-01")
    p.cluster("pay-hsm", "Thales Luna HA group", team="payments", minimum=1, location="FRA1", tags=["pci"])
    for number in (1, 2):
        name = p.ci(f"pay-hsm-{number:02d}", "network-device", owner_team="payments", tags=["pci"],
                    **p.addressed(f"pay-hsm-{number:02d}", "fra1", "mgmt"),
                    **p.asset("Thales", "Luna Network HSM 7", cost=42000, serial="LN"),
                    attributes={"device_role": "other", "firmware": "7.8.4", "port_count": 4})
        p.rel(name, "member-of", "pay-hsm")
        p.rel(name, "depends-on", p.next_of("tors-fra1", p.tors["fra1"]))
    p.rel(api, "depends-on", pay_db, "pay-redis", "pay-hsm", "kafka-prod")
    p.lb_pair("pay", "fra1", "network", backend=gateway, certificate="api.pay.example.com",
              service="payments-api")
    p.rel("backup-store-fra1", "backs-up", "pay-db-primary")

    # Customer portal, identity, email and HR.
    p.certificate("portal.example.com", "platform", expires_in=(120, 160), issuer="Let's Encrypt R11")
    worker = p.tier("portal", "worker", 2, "fra1", "platform", app="portal-worker", version="2024.6.1",
                    language="Python / Celery", minimum=1)
    portal = p.tier("portal", "web", 3, "fra1", "platform", app="portal", version="2024.6.1",
                    language="Python / Django", minimum=1, services_=("customer-portal",), ports="22,443")
    p.rel(portal, "depends-on", worker, "pg-main-db-cluster", "service:identity")
    p.rel(worker, "depends-on", "pg-main-db-cluster", "kafka-prod")
    p.lb_pair("portal", "fra1", "network", backend=portal, certificate="portal.example.com", service="customer-portal",
              vendor=("HAProxy Technologies", "ALOHA 5000", 9000))

    p.certificate("sso.example.com", "workplace", expires_in=(55, 65))
    ad = p.ci("active-directory", "application", owner_team="workplace", redundancy_min=1, location="FRA1",
              description="Two domain controllers; either can serve the domain.",
              attributes={"version": "2016 functional level", "language": "Windows"})
    for number in (1, 2):
        p.vm(f"ad-dc-{number:02d}", "fra1", "workplace", os=WINDOWS, cpu=4, memory=16, ports="53,88,389,636")
        p.rel(ad, "runs-on", f"ad-dc-{number:02d}")
    sso = p.tier("sso", "app", 3, "fra1", "workplace", app="keycloak", version="24.0.5", language="Java / Keycloak",
                 minimum=2, services_=("identity",), os=RHEL, ports="22,8443")
    p.rel(sso, "depends-on", "pg-main-db-cluster", ad)
    p.lb_pair("sso", "fra1", "network", backend=sso, certificate="sso.example.com", service="identity",
              vendor=("HAProxy Technologies", "ALOHA 5000", 9000))

    p.certificate("mail.example.com", "workplace", expires_in=(180, 220))
    exchange = p.tier("mail", "mbx", 4, "fra1", "workplace", app="exchange", version="2019 CU14",
                      language="Microsoft Exchange", minimum=2, services_=("email",), os=WINDOWS, cpu=8, memory=64,
                      disk=2000, ports="25,443,587")
    relay = p.tier("mail", "relay", 2, "fra1", "workplace", app="mail-relay", version="3.8.6", language="Postfix",
                   minimum=1, ports="22,25")
    p.rel(exchange, "depends-on", ad, relay)
    p.rel(exchange, "licensed-by", "lic-exchange")
    p.lb_pair("mail", "fra1", "network", backend=exchange, certificate="mail.example.com", service="email",
              vendor=("HAProxy Technologies", "ALOHA 5000", 9000))

    p.certificate("hr.example.com", "workplace", expires_in=(-6, -2), issuer="Example Corp Internal CA")
    hr = p.tier("hr", "app", 2, "fra1", "workplace", app="hr-portal", version="8.3.2", language="PHP 8.3 / Laravel",
                minimum=1, services_=("hr-portal",), ports="22,443")
    p.rel(hr, "depends-on", "pg-main-db-cluster", "service:identity", "hr.example.com")

    dns = p.ci("internal-dns", "application", owner_team="network", redundancy_min=1, services=["network-core"],
               location="FRA1", attributes={"version": "9.18.24", "language": "BIND"})
    for number in (1, 2):
        p.rel(dns, "runs-on", p.vm(f"dns-{number:02d}", "fra1", "network", os=RHEL, cpu=2, memory=4, ports="22,53"))
    p.rel("backup-store-fra1", "backs-up", "ad-dc-01", "ad-dc-02", "gitlab-01", "dns-01",
          *(f"mail-mbx-{n:02d}" for n in range(1, 5)))
    p.certificate("*.example.net", "network", expires_in=(300, 340), issuer="Example Corp Internal CA")
    p.certificate("vpn.example.com", "network", expires_in=(4, 6))
    p.rel("fw-fra1", "depends-on", "vpn.example.com")


def _non_production(p: Plan) -> None:
    for env in ("staging", "test", "dev"):
        big = env == "staging"
        backend = p.tier("shop", "app", 2 if big else 1, "ams1", "payments", app="shop-backend", version="5.15.0-rc1",
                         language="Java 21 / Spring Boot", environment=env, minimum=1, os=RHEL, cpu=4, memory=16)
        frontend = p.tier("shop", "web", 2 if big else 1, "ams1", "payments", app="shop-frontend",
                          version="5.15.0-rc1", language="TypeScript / Next.js", environment=env, minimum=1)
        p.rel(frontend, "depends-on", backend)
        api = p.tier("pay", "app", 2 if big else 1, "ams1", "payments", app="pay-api", version="3.9.0-rc2",
                     language="Java 21 / Quarkus", environment=env, minimum=1, os=RHEL, cpu=4, memory=16)
        portal = p.tier("portal", "web", 1, "ams1", "platform", app="portal", version="2024.7.0-dev",
                        language="Python / Django", environment=env)
        if big:
            p.rel(backend, "depends-on", p.db_cluster("shop", "ams1", "payments", environment="staging", size=120))
            p.rel(api, "depends-on", p.db_cluster("pay", "ams1", "payments", environment="staging", size=80))
            p.rel(portal, "depends-on", "pg-main-db-replica-ams1")
    p.certificate("staging.example-shop.com", "payments", expires_in=(-12, -9), environment="staging",
                  issuer="Let's Encrypt R11")
    p.rel("shop-frontend-stg", "depends-on", "staging.example-shop.com")
    runners = p.cluster("ci-runners", "GitLab Runner autoscaling group", team="platform", minimum=1,
                        environment="dev", location="AMS1")
    for number in range(1, 7):
        p.vm(f"ci-runner-{number:02d}", "ams1", "platform", environment="dev", cpu=8, memory=16, member_of=runners)
    gitlab = p.vm("gitlab-01", "fra1", "platform", cpu=8, memory=32, disk=1000, ports="22,443")
    p.rel(p.ci("gitlab", "application", owner_team="platform", location="FRA1",
               attributes={"version": "17.1.1", "language": "Ruby / GitLab"}), "runs-on", gitlab)
    p.rel("gitlab", "depends-on", "service:identity", "pg-main-db-cluster")
    for number in (1, 2):
        p.vm(f"bastion-{number:02d}", "fra1" if number == 1 else "ams1", None, cpu=2, memory=4)


def _lifecycle(p: Plan) -> None:
    # Product search (a planned service): hardware on order, the software planned.
    for number in (1, 2, 3):
        p.server(f"search-data-{number:02d}", "fra1", "platform", status="ordered", cpu=48, memory=384, disk=15360,
                 vendor=("Dell", "PowerEdge R760", 24000), age_days=(5, 20), ports="22,9200,9300")
    p.cluster("search-data", "OpenSearch 2.15", team="platform", minimum=2, status="planned", services_=("search",))
    for number in (1, 2, 3):
        p.rel(f"search-data-{number:02d}", "member-of", "search-data")
    p.ci("search-api", "container", owner_team="platform", status="planned", services=["search"], location="FRA1",
         attributes={"image": "registry.example.com/search/api:0.9.0", "replicas": 3, "namespace": "search"})
    p.rel("search-api", "runs-on", "k8s-eu2")
    p.rel("search-api", "depends-on", "search-data")
    p.certificate("search.example-shop.com", "platform", expires_in=(85, 90), status="planned")
    # Spares in stock.
    for name in ("esx-spare-01", "esx-spare-02"):
        p.server(name, "fra1", "platform", status="in_stock", os=("VMware ESXi", "8.0 U2"), age_days=(30, 60))
    p.ci("tor-spare-01", "network-device", owner_team="network", status="in_stock", location="FRA1 / store room",
         **p.asset("Cisco", "Nexus 93180YC-FX3", cost=11000, serial="FDO", age_days=(60, 90)),
         attributes={"device_role": "switch", "port_count": 54})
    # Legacy billing (a retired service): the old stack is retired, its oldest server disposed.
    retired = {"status": "retired", "reason": "Legacy Billing replaced by the Payments API"}
    p.server("billing-srv-01", "fra1", "payments", os=("AIX", "7.2"), vendor=("IBM", "Power S922", 48000),
             age_days=(2900, 3100), ports="22,1521", services=["legacy-billing"], **retired)
    p.server("billing-srv-00", "fra1", "payments", os=("AIX", "6.1"), vendor=("IBM", "Power 720", 39000),
             age_days=(4000, 4200), status="disposed", reason="End of life")
    p.ci("billing-db", "database", owner_team="payments", location="FRA1", **retired,
         attributes={"engine": "oracle", "version": "12.2", "size_gb": 420, "port": 1521})
    p.ci("billing-app", "application", owner_team="payments", location="FRA1", services=["legacy-billing"],
         attributes={"version": "4.2", "language": "COBOL / Java"}, **retired)
    p.rel("billing-db", "runs-on", "billing-srv-01")
    p.rel("billing-app", "runs-on", "billing-srv-01")
    p.rel("billing-app", "depends-on", "billing-db")
    p.licence("lic-oracle-billing", "Oracle Database Enterprise Edition", "payments", 8, expires_in=(-400, -300),
              vendor="Oracle", cost=190000, **retired)
    p.rel("billing-db", "licensed-by", "lic-oracle-billing")
    p.vm("shop-web-00", "fra1", "payments", status="retired", reason="Replaced by shop-web-06")


# --- loading -------------------------------------------------------------------------------------------

def load(actor: Actor) -> int:
    created = 0
    reltypes = {t.slug: t for t in RelationshipType.objects.all()}
    if LICENSED_BY["slug"] not in reltypes:
        reltypes[LICENSED_BY["slug"]] = services.create_relationship_type(actor=actor, data=LICENSED_BY)
        created += 1
    plan = build(timezone.localdate())
    classes = {c.slug: c for c in CIClass.objects.all()}
    teams = {t.slug: t for t in Team.objects.all()}
    catalogue = {s.slug: s for s in Service.objects.all()}
    cis = {c.name: c for c in ConfigurationItem.objects.filter(name__in=list(plan.cis)).select_related("ci_class")}
    new: list[str] = []
    for name, spec in plan.cis.items():
        if name in cis:
            continue
        data = {k: v for k, v in spec["data"].items() if v not in (None, [], "")}
        data["owner_team"] = teams.get(spec["data"].get("owner_team"))
        data["services"] = [catalogue[s] for s in data.get("services", []) if s in catalogue]
        data["attributes"] = {k: cis[v].pk if isinstance(v, Ref) else v for k, v in data.get("attributes", {}).items()}
        cis[name] = services.create_ci(actor=actor, data={"name": name, "ci_class": classes[spec["cls"]], **data})
        new.append(name)
    created += len(new)
    created += _relate(plan, cis, reltypes, catalogue, actor)
    approver = get_user_model().objects.filter(role__in=["manager", "admin"], is_active=True).order_by(
        "username").first()
    for name in new:
        spec = plan.cis[name]
        for step in PATHS[spec["status"]]:
            if step == "dispose" and approver is None:
                break
            data = {"reason": spec["reason"]} if step in ("start_maintenance", "retire") else {}
            if step == "dispose":
                data = {"disposal_method": "recycled", "disposal_reference": "WEEE certificate 2023-0412",
                        "approved_by": approver.username, "reason": spec["reason"]}
            cis[name] = services.transition_ci(cis[name], step, actor=actor, data=data)
    if new and not AuditRun.objects.exists():
        # A first audit, so the audit dashboard shows the planted findings rather than an empty page.
        from .auditing import run_audit

        run_audit(actor=actor, trigger="manual")
    return created


def _relate(plan: Plan, cis: dict, reltypes: dict, catalogue: dict, actor: Actor) -> int:
    ids = [ci.pk for ci in cis.values()]
    current = set(Relationship.objects.filter(ended_at__isnull=True, source_id__in=ids)
                  .values_list("source_id", "type_id", "target_id", "target_service_id"))
    created = 0
    for source_name, slug, target_name in plan.relations:
        source, reltype = cis[source_name], reltypes[slug]
        target = target_service = None
        if target_name.startswith("service:"):
            target_service = catalogue.get(target_name.removeprefix("service:"))
            if target_service is None or target_service.status == "retired":
                continue
        else:
            target = cis[target_name]
        key = (source.pk, reltype.pk, target.pk if target else None, target_service.pk if target_service else None)
        if key in current or source.status == "disposed" or (target is not None and target.status == "disposed"):
            continue
        services.relate(source, reltype, actor=actor, target=target, target_service=target_service)
        current.add(key)
        created += 1
    return created
