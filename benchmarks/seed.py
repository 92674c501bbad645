"""Seed a throwaway database with a catalog of the size under test.

Services, teams, tags, tag links and dependencies go in with bulk_create (seeding speed is not the
subject). The change log goes through `core.audit.record`, the product's own write path, so the
hash chain is real and `opsdesk audit verify` can check it; its speed is reported as a figure.

Shape of the data (fixed random seed, so runs are comparable):
- teams: one per 500 services (5 to 200); tags: 150, used with a Zipf-like skew (0-4 per service);
- services: 70 % active, 20 % planned, 10 % retired; tiers 1-4; 3 % mention "ledger" in their
  description (the search term); 0-3 dependencies on older services;
- service 1 is a hub ("Identity Platform"): 10 % of all services depend on it;
- change log: a "create" row for the first services (at most half of the rows), then "update" rows;
- service 2 is hot ("Payments API"): it gets 10 % of the update rows of the change log (up to
  2,000) and 40 comments, for the timeline and history tabs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

WORDS = (
    "account alert api archive audit backup batch billing broker cache catalog cdn checkout cluster config "
    "customer dashboard data delivery directory dns email export feed gateway graph identity import index "
    "inventory invoice kafka ledger login mail metrics mobile monitor network notify order partner payment "
    "portal pricing profile proxy queue report search session shipping storage stream sync tax tenant ticket "
    "token tracking upload user vault warehouse web worker"
).split()
FILLER = (
    "handles serves stores sends the for customers orders in region eu us with nightly jobs and a replica "
    "owned by team runs on kubernetes behind load balancer depends on postgres redis used by support staff"
).split()
KINDS = ["technical"] * 3 + ["business"]
CRITICALITIES = ["critical", "high", "medium", "low"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
OFFICE_HOURS = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
ALWAYS = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SEARCH_TERM = "ledger"
AUDIT_ROWS_PER_TRANSACTION = 250


@dataclass
class Seeded:
    admin: object
    n_services: int
    n_audit_rows: int
    hub_id: int
    hot_id: int
    typical_id: int
    popular_tag: str
    popular_tag_services: int
    team_id: int
    team_slug: str
    dependency_slugs: list[str]
    seconds: dict[str, float]


def _description(rng: random.Random) -> str:
    words = [rng.choice(FILLER if rng.random() < 0.6 else WORDS) for _ in range(rng.randint(12, 30))]
    if rng.random() < 0.03:
        words.insert(rng.randint(0, len(words)), SEARCH_TERM)
    return " ".join(words).capitalize() + "."


def seed(n_services: int, n_audit_rows: int, *, log=print, seed_value: int = 42) -> Seeded:
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction
    from django.utils import timezone

    from opsdesk.accounts.models import Team
    from opsdesk.accounts.services import create_user
    from opsdesk.core import audit
    from opsdesk.core.actors import Actor
    from opsdesk.core.models import Comment, NumberSequence, Tag
    from opsdesk.services.models import Service

    rng = random.Random(seed_value)
    seconds: dict[str, float] = {}
    system = Actor.system("bench-seed")
    admin = create_user(actor=system, username="admin", role="admin", is_superuser=True, first_name="Bench",
                        last_name="Admin")

    t0 = time.perf_counter()
    n_teams = max(5, min(200, n_services // 500))
    Team.objects.bulk_create([Team(name=f"Team {i:03d}", slug=f"team-{i:03d}", created_by=admin, updated_by=admin)
                              for i in range(1, n_teams + 1)])
    team_ids = list(Team.objects.order_by("id").values_list("id", flat=True))
    tag_names = sorted({f"{a}-{b}" for a in WORDS for b in ("prod", "pci", "gdpr", "edge", "core")})
    tag_names = rng.sample(tag_names, 150)
    Tag.objects.bulk_create([Tag(name=name) for name in tag_names])
    tag_ids = dict(Tag.objects.values_list("name", "id"))
    weights = [1 / (rank + 1) for rank in range(len(tag_names))]

    now = timezone.now()
    services = []
    for i in range(1, n_services + 1):
        if i == 1:
            label = "Identity Platform"
        elif i == 2:
            label = "Payments API"
        else:
            label = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {i:07d}"
        slug = label.lower().replace(" ", "-")
        status = "active" if i <= 2 else rng.choices(["active", "planned", "retired"], [70, 20, 10])[0]
        kind = rng.choice(KINDS)
        services.append(Service(
            number=f"SVC-{i}", name=label, slug=slug, kind=kind, description=_description(rng),
            owner_team_id=rng.choice(team_ids), tier=rng.choices([1, 2, 3, 4], [5, 20, 50, 25])[0],
            criticality=rng.choice(CRITICALITIES), status=status,
            support_hours=rng.choice([{}, OFFICE_HOURS, ALWAYS]), support_time_zone=rng.choice(ZONES),
            runbook_url=f"https://wiki.example.com/runbooks/{slug}",
            dashboard_url=f"https://grafana.example.com/d/{slug}",
            repository_url=f"https://git.example.com/ops/{slug}" if kind == "technical" else "",
            status_reason="Replaced" if status == "retired" else "",
            retired_at=now if status == "retired" else None, created_by=admin, updated_by=admin,
        ))
    with transaction.atomic():
        for start in range(0, len(services), 2000):
            Service.objects.bulk_create(services[start:start + 2000])
        NumberSequence.objects.update_or_create(prefix="SVC", defaults={"last_value": n_services})
    ids = list(Service.objects.order_by("id").values_list("id", flat=True))
    hub_id, hot_id = ids[0], ids[1]

    tag_links, dep_links = [], []
    tag_count: dict[str, int] = {}
    for index, service_id in enumerate(ids):
        for name in set(rng.choices(tag_names, weights, k=rng.randint(0, 4))):
            tag_links.append(Service.tags.through(service_id=service_id, tag_id=tag_ids[name]))
            tag_count[name] = tag_count.get(name, 0) + 1
        if index == 0:
            continue
        targets = {ids[rng.randrange(1, index)] for _ in range(rng.randint(0, 3))} if index > 1 else set()
        if rng.random() < 0.10:
            targets.add(hub_id)
        targets.discard(service_id)
        dep_links += [Service.depends_on.through(from_service_id=service_id, to_service_id=t) for t in targets]
    with transaction.atomic():
        Service.tags.through.objects.bulk_create(tag_links, batch_size=5000)
        Service.depends_on.through.objects.bulk_create(dep_links, batch_size=5000)
    seconds["bulk seed (services, tags, dependencies)"] = time.perf_counter() - t0
    log(f"  seeded {n_services:,} services, {n_teams} teams, {len(tag_names)} tags, {len(tag_links):,} tag links, "
        f"{len(dep_links):,} dependencies in {seconds['bulk seed (services, tags, dependencies)']:.1f} s")

    # The change log, through the product's write path (hash chain included).
    light = list(Service.objects.only("id", "number", "name").order_by("id"))
    by_id = {s.pk: s for s in light}
    plan: list[tuple[object, str, dict]] = [
        (service, "create", {"name": [None, service.name], "status": [None, "planned"]})
        for service in light[:n_audit_rows // 2]
    ]
    n_updates = max(0, n_audit_rows - len(plan))
    hot_updates = min(2000, n_updates // 10)
    updates = []
    for k in range(n_updates):
        service = by_id[hot_id] if k < hot_updates else rng.choice(light)
        if rng.random() < 0.5:
            before, after = rng.sample([1, 2, 3, 4], 2)
            updates.append((service, "update", {"tier": [before, after]}))
        else:
            updates.append((service, "update", {"description": [_description(rng), _description(rng)]}))
    rng.shuffle(updates)  # the hot service's rows are spread over the log, as in real life
    plan += updates
    t0 = time.perf_counter()
    # 250 rows per transaction: on PostgreSQL every row updates the one chain-head row, and a
    # transaction that updates a row thousands of times slows down with each update (see the docs).
    label = f"audit.record (serial, {AUDIT_ROWS_PER_TRANSACTION} per transaction)"
    for start in range(0, len(plan), AUDIT_ROWS_PER_TRANSACTION):
        with transaction.atomic():
            for service, action, changes in plan[start:start + AUDIT_ROWS_PER_TRANSACTION]:
                audit.record(service, actor=system, action=action, changes=changes)
    seconds[label] = time.perf_counter() - t0
    log(f"  recorded {len(plan):,} change-log rows through core.audit.record in {seconds[label]:.1f} s")

    service_ct = ContentType.objects.get_for_model(Service)
    Comment.objects.bulk_create([
        Comment(content_type=service_ct, object_id=hot_id, author=admin, actor_label=admin.username,
                body=f"Deploy note {k}: rolled out build {1000 + k}.",
                body_html=f"<p>Deploy note {k}: rolled out build {1000 + k}.</p>")
        for k in range(40)
    ])

    popular_tag = max(tag_count, key=tag_count.get)
    team = Team.objects.order_by("id").first()
    dependency_slugs = list(Service.objects.filter(status="active").exclude(pk__in=[hub_id, hot_id])
                            .order_by("id").values_list("slug", flat=True)[:2])
    return Seeded(admin=admin, n_services=n_services, n_audit_rows=len(plan), hub_id=hub_id, hot_id=hot_id,
                  typical_id=ids[len(ids) // 2], popular_tag=popular_tag, popular_tag_services=tag_count[popular_tag],
                  team_id=team.pk, team_slug=team.slug, dependency_slugs=dependency_slugs, seconds=seconds)
