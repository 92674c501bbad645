"""Seed a database with the incident history of the size under test, for benchmarks/incidents.py.

Incidents and SLA timers go in with plain INSERTs (SQLite: executemany; PostgreSQL: COPY), not the
service layer: seeding speed is not the subject, and a million incidents through
`create_incident` would take hours. Users, teams and services go in with bulk_create; categories,
the priority matrix, calendars and SLA policies are the shipped ones (installed by migration). Ids
are assigned in one block and the INC number sequence set to match, as the write path would leave it.

Shape (fixed random seed, so runs compare; the counts are for the default 1,000,000):

- created over the last two years before `now` (the moment of seeding), weekdays three times as
  busy as weekend days and office hours busier than nights; ids and numbers in order of creation;
- impact and urgency drawn per incident (impact 1/2/3: 5/20/75 %, urgency 10/30/60 %), priority from
  the shipped matrix (0.5 % P1, 3.5 % P2, 16.5 % P3, 34.5 % P4, 45 % P5); 40 teams with a skew
  (the busiest gets 16.5 %), 400 responders (10 per team), 300 services, the shipped categories;
  3.9 % have "ledger" in the title (the search term: 2 % drawn, the rest from service names);
  a fifth of P1 and P2 are major;
- about 100,000 open (new 12 %, acknowledged 18 %, in progress 55 %, on hold 15 %), the newer the more
  likely: 98 % of those of the last day, half of those a month old and 5 % of those older than a
  year; the rest resolved (the last 7 days), closed or cancelled (3 %); acknowledged after a
  log-normal delay (median 5 min for P1 to 4 h for P5), resolved after a further 2 h (P1) to 7 days (P5);
- SLA timers for the open incidents, as the engine leaves them: the policy of their priority
  (P1/P2 on the 24x7 calendar, P3-P5 on office hours), "acknowledge" running (new) or stopped (at
  the acknowledgement), "resolve" running or paused (on hold), due dates and threshold instants
  computed by `add_business_seconds`, thresholds already announced up to `now - sweep_lag` (so a sweep at
  `now` has a few minutes of work, as after a short stop of the sweeper), `sla_due_at` filled;
  resolved and closed incidents keep no timers here (the engine's breach reports are not measured).

On PostgreSQL the seed ends with VACUUM ANALYZE (what autovacuum does after a bulk load); on SQLite
nothing (the product never runs ANALYZE there).
"""

from __future__ import annotations

import datetime
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field

from seed import FILLER, WORDS

SEED_FORMAT = 1  # bump when the data's shape changes: a kept database of another format is seeded again
SEARCH_TERM = "ledger"
SYMPTOMS = ["answers 502", "is slow", "times out", "returns errors", "is unreachable", "login fails",
            "disk almost full", "certificate expired", "queue backlog growing", "replication lag",
            "high CPU", "memory leak", "jobs stuck", "DNS lookups fail", "emails not delivered"]
OPEN_STATES = [("new", 12), ("acknowledged", 18), ("in_progress", 55), ("on_hold", 15)]
HOLD_REASONS = ["awaiting_customer", "awaiting_vendor", "awaiting_change", "awaiting_problem"]
RESOLUTION_CODES = ["fixed", "fixed", "fixed", "workaround", "restarted", "config_change", "rolled_back",
                    "vendor_fix", "no_fault_found", "duplicate", "user_error", "other"]
SOURCES = [("manual", 35), ("email", 20), ("alert", 35), ("api", 10)]
ACK_MEDIAN_MINUTES = {"P1": 5, "P2": 10, "P3": 30, "P4": 90, "P5": 240}
RESOLVE_MEDIAN_HOURS = {"P1": 2, "P2": 6, "P3": 24, "P4": 72, "P5": 168}
AUTO_CLOSE_DAYS = 7
BATCH = 20_000


@dataclass
class IncidentsSeeded:
    n_incidents: int
    n_open: int
    n_timers: int
    now: str  # ISO, UTC: the moment the data was made for
    sweep_lag_seconds: int
    by_status: dict[str, int]
    by_priority: dict[str, int]
    busiest_team_id: int
    busiest_team_slug: str
    format: int = SEED_FORMAT
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def now_at(self) -> datetime.datetime:
        return datetime.datetime.fromisoformat(self.now)

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


# --- writing rows fast --------------------------------------------------------------------------------
class RowWriter:
    """Rows of one model as dicts by attribute name (a missing field takes its default), written with
    COPY on PostgreSQL and executemany on SQLite: the database's own speed, without the ORM's per-value
    work. The plan is made once from the model, so fields added later by a migration are filled too."""

    def __init__(self, model, *, with_id: bool = True):
        from django.db import connection

        self.connection = connection
        self.fields = [f for f in model._meta.concrete_fields if with_id or f.attname != "id"]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in self.fields)
        self.table = quote(model._meta.db_table)
        self.copy_sql = f"COPY {self.table} ({columns}) FROM STDIN"
        self.insert_sql = f"INSERT INTO {self.table} ({columns}) VALUES ({', '.join(['%s'] * len(self.fields))})"
        self.plan = [(f.attname, self._default(f), self._adapter(f)) for f in self.fields]
        self.pending: list[tuple] = []
        self.written = 0

    @staticmethod
    def _default(f):
        if f.has_default():
            return f.get_default()
        return None if f.null else ""

    def _adapter(self, f):
        kind = f.get_internal_type()
        ops = self.connection.ops
        if kind == "JSONField":
            return json.dumps
        if self.connection.vendor == "postgresql":
            return None  # psycopg adapts dates, booleans and numbers itself
        if kind == "DateTimeField":
            return ops.adapt_datetimefield_value
        if kind == "DateField":
            return ops.adapt_datefield_value
        return None

    def add(self, row: dict) -> None:
        line = []
        for name, default, adapt in self.plan:
            value = row.get(name, default)
            line.append(adapt(value) if adapt is not None and value is not None else value)
        self.pending.append(tuple(line))
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for line in self.pending:
                        copy.write_row(line)
            else:
                cursor.executemany(self.insert_sql, self.pending)
        self.written += len(self.pending)
        self.pending = []


def reset_sequences(models) -> None:
    """After rows were inserted with their ids: PostgreSQL's id sequences continue after the highest."""
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)


# --- the SLA policies, as the engine would match them ----------------------------------------------------
@dataclass
class _Target:
    policy_id: int
    calendar_id: int
    metric: str
    goal_seconds: int
    business_time: bool
    spec: object
    thresholds: list[int]


def calendar_spec(calendar):
    """The calendar's arithmetic form, as the engine builds it (sla.specs, cached per process)."""
    from opsdesk.sla import specs

    return specs.for_calendar(calendar)


def sla_targets() -> dict[str, list[_Target]]:
    """priority -> the targets of the first active incident policy whose priority condition matches
    (the shipped policies match on priority only)."""
    from opsdesk.sla import business_time
    from opsdesk.sla.models import SLAPolicy

    by_priority: dict[str, list[_Target]] = {}
    policies = list(SLAPolicy.objects.filter(record_type="incident", active=True)
                    .select_related("calendar").prefetch_related("targets").order_by("order", "name"))
    for priority in ("P1", "P2", "P3", "P4", "P5"):
        for policy in policies:
            wanted = (policy.conditions or {}).get("priority")
            if wanted and priority not in wanted:
                continue
            spec = calendar_spec(policy.calendar)
            thresholds = sorted({int(p) for p in (policy.warn_percentages or [])} | {100})
            by_priority[priority] = [
                _Target(policy.pk, policy.calendar_id, t.metric, t.goal_minutes * 60, t.business_time,
                        spec if t.business_time else business_time.ALWAYS_SPEC, thresholds)
                for t in policy.targets.all()]
            break
    return by_priority


# --- the data -------------------------------------------------------------------------------------------
def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return lambda: rng.choices(values, weights)[0]


def _created_times(rng: random.Random, n: int, now: datetime.datetime) -> list[datetime.datetime]:
    """n instants over the two years before now, sorted; weekdays and office hours busier."""
    days = 730
    first = (now - datetime.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    day_weights = []
    for d in range(days + 1):
        weekday = (first + datetime.timedelta(days=d)).weekday()
        day_weights.append(1.0 if weekday < 5 else 0.35)
    picks = rng.choices(range(days + 1), weights=day_weights, k=n)
    horizon = (now - first).total_seconds() - 60
    out = []
    for d in picks:
        if rng.random() < 0.7:
            second = rng.uniform(7 * 3600, 19 * 3600)
        else:
            second = rng.uniform(0, 86400)
        offset = min(d * 86400 + second, horizon)
        out.append(first + datetime.timedelta(seconds=offset))
    out.sort()
    return out


def _open_probability(ages_days: list[float], n_open: int) -> list[float]:
    """p(open | age) = min(0.98, k * (exp(-age / 30) + 0.04)), k chosen so that about n_open are open
    (found on a histogram of the ages in hundredths of a day: a million ages, forty bisection steps)."""
    base = [math.exp(-a / 30.0) + 0.04 for a in ages_days]
    histogram: dict[int, int] = {}
    for a in ages_days:
        histogram[int(a * 100)] = histogram.get(int(a * 100), 0) + 1
    buckets = [(math.exp(-(b + 0.5) / 3000.0) + 0.04, n) for b, n in histogram.items()]
    lo, hi = 0.0, 50.0
    for _ in range(40):
        k = (lo + hi) / 2
        if sum(min(0.98, k * b) * n for b, n in buckets) < n_open:
            lo = k
        else:
            hi = k
    k = (lo + hi) / 2
    return [min(0.98, k * b) for b in base]


def _lognormal_seconds(rng: random.Random, median_seconds: float, sigma: float) -> float:
    return median_seconds * math.exp(rng.gauss(0, sigma))


def _timer_rows(targets: list[_Target], *, ct_id: int, incident_id: int, created, status: str, acked,
                paused, swept_until) -> tuple[list[dict], datetime.datetime | None]:
    """The rows of one open incident's timers, and its sla_due_at (the earliest running due date)."""
    from opsdesk.sla.business_time import add_business_seconds, business_seconds_between

    rows = []
    earliest = None
    for t in targets:
        due = add_business_seconds(t.spec, created, t.goal_seconds)
        instants = [(p, add_business_seconds(t.spec, created, t.goal_seconds * p / 100)) for p in t.thresholds]
        row = {"content_type_id": ct_id, "object_id": incident_id, "metric": t.metric, "policy_id": t.policy_id,
               "calendar_id": t.calendar_id, "goal_seconds": t.goal_seconds, "business_time": t.business_time,
               "started_at": created, "thresholds": t.thresholds, "pause_count": 0}
        if t.metric == "acknowledge" and status != "new":
            done = [p for p, at in instants if at <= min(acked, swept_until)]
            row.update(state="stopped", resumed_at=None, stopped_at=acked, due_at=due, next_check_at=None,
                       elapsed_seconds=business_seconds_between(t.spec, created, acked), thresholds_done=done,
                       breached_at=due if 100 in done else None)
        elif status == "on_hold" and t.metric != "acknowledge":
            done = [p for p, at in instants if at <= min(paused, swept_until)]
            row.update(state="paused", resumed_at=None, paused_at=paused, due_at=None, next_check_at=None,
                       elapsed_seconds=business_seconds_between(t.spec, created, paused), thresholds_done=done,
                       breached_at=due if 100 in done else None, pause_count=1)
        else:
            done = [p for p, at in instants if at <= swept_until]
            pending = [at for p, at in instants if p not in done]
            row.update(state="running", resumed_at=created, due_at=due, elapsed_seconds=0.0, thresholds_done=done,
                       next_check_at=pending[0] if pending else None, breached_at=due if 100 in done else None)
            earliest = due if earliest is None or due < earliest else earliest
        rows.append(row)
    return rows, earliest


def seed(n_incidents: int, n_open: int, *, sweep_lag_seconds: int = 600, log=print,
         seed_value: int = 42) -> IncidentsSeeded:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.utils import timezone

    from opsdesk.accounts.models import Membership, Team, User
    from opsdesk.accounts.services import create_user
    from opsdesk.core.actors import Actor
    from opsdesk.core.models import NumberSequence
    from opsdesk.incidents.models import Category, Incident
    from opsdesk.services.models import Service
    from opsdesk.sla.models import SLATimer

    rng = random.Random(seed_value)
    seconds: dict[str, float] = {}
    now = timezone.now().replace(second=0, microsecond=0)
    swept_until = now - datetime.timedelta(seconds=sweep_lag_seconds)

    t0 = time.perf_counter()
    admin = create_user(actor=Actor.system("bench-seed"), username="admin", role="admin", is_superuser=True,
                        first_name="Bench", last_name="Admin")
    n_teams, per_team = 40, 10
    with transaction.atomic():
        Team.objects.bulk_create([Team(name=f"Team {i:02d}", slug=f"team-{i:02d}", created_by=admin,
                                       updated_by=admin) for i in range(n_teams)])
        teams = list(Team.objects.order_by("slug").values_list("id", flat=True))
        User.objects.bulk_create([User(username=f"responder{i:03d}", first_name="Responder", last_name=f"{i:03d}",
                                       role="responder", password="!") for i in range(n_teams * per_team)])
        users = list(User.objects.filter(username__startswith="responder").order_by("username")
                     .values_list("id", flat=True))
        members = {team: users[i * per_team:(i + 1) * per_team] for i, team in enumerate(teams)}
        Membership.objects.bulk_create([Membership(team_id=team, user_id=user, role="responder")
                                        for team, ids in members.items() for user in ids])
        services = []
        for i in range(300):
            label = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {i:03d}"
            services.append(Service(number=f"SVC-{i + 1}", name=label, slug=label.lower().replace(" ", "-"),
                                    owner_team_id=rng.choice(teams), tier=1 if i < 30 else rng.choice([2, 3, 3, 4]),
                                    created_by=admin, updated_by=admin))
        Service.objects.bulk_create(services)
        NumberSequence.objects.update_or_create(prefix="SVC", defaults={"last_value": len(services)})
    service_ids = list(Service.objects.order_by("id").values_list("id", flat=True))
    service_names = dict(Service.objects.values_list("id", "name"))
    categories = {c.pk: c for c in Category.objects.all()}
    tops = [c for c in categories.values() if c.parent_id is None]
    children = {c.pk: [k.pk for k in categories.values() if k.parent_id == c.pk] for c in tops}
    team_weights = [1 / (i + 1) ** 0.8 for i in range(n_teams)]
    service_weights = [1 / (i + 1) ** 0.7 for i in range(len(service_ids))]
    matrix = {"1": {"1": "P1", "2": "P2", "3": "P3"}, "2": {"1": "P2", "2": "P3", "3": "P4"},
              "3": {"1": "P3", "2": "P4", "3": "P5"}}
    try:
        from opsdesk.incidents.models import IncidentSettings

        matrix = IncidentSettings.objects.get(pk=1).matrix or matrix
    except Exception:  # noqa: BLE001,S110  (the shipped matrix is the default)
        pass
    targets = sla_targets()
    ct_id = ContentType.objects.get_for_model(Incident).pk
    seconds["users, teams, services"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    created_times = _created_times(rng, n_incidents, now)
    ages = [(now - c).total_seconds() / 86400 for c in created_times]
    p_open = _open_probability(ages, n_open)
    open_state = _weighted(rng, OPEN_STATES)
    source = _weighted(rng, SOURCES)
    impact_of = _weighted(rng, [(1, 5), (2, 20), (3, 75)])
    urgency_of = _weighted(rng, [(1, 10), (2, 30), (3, 60)])
    incidents = RowWriter(Incident)
    timers = RowWriter(SLATimer, with_id=False)
    by_status: dict[str, int] = {}
    by_priority: dict[str, int] = {}
    by_team: dict[int, int] = {}
    n_open_made = 0
    last_log = time.perf_counter()
    with transaction.atomic():
        for index, created in enumerate(created_times):
            pk = index + 1
            impact, urgency = impact_of(), urgency_of()
            priority = matrix[str(impact)][str(urgency)]
            team = rng.choices(teams, team_weights)[0]
            service = rng.choices(service_ids, service_weights)[0]
            top = rng.choice(tops)
            sub = rng.choice(children[top.pk]) if children[top.pk] and rng.random() < 0.8 else None
            word = SEARCH_TERM if rng.random() < 0.02 else service_names[service].split()[0]
            title = f"{word.capitalize()} {rng.choice(SYMPTOMS)}"
            is_open = rng.random() < p_open[index]
            status = open_state() if is_open else ("cancelled" if rng.random() < 0.03 else "resolved")
            ack_delay = _lognormal_seconds(rng, ACK_MEDIAN_MINUTES[priority] * 60, 1.0)
            work = _lognormal_seconds(rng, RESOLVE_MEDIAN_HOURS[priority] * 3600, 1.2)
            age = (now - created).total_seconds()
            acked = resolved = closed = paused = None
            if status == "resolved":
                if ack_delay + work >= age:  # it would still be open: squeeze it into the time there was
                    share = rng.uniform(0.3, 0.95)
                    ack_delay, work = min(ack_delay, age * share * 0.5), age * share * 0.5
                acked = created + datetime.timedelta(seconds=ack_delay)
                resolved = acked + datetime.timedelta(seconds=work)
                if resolved < now - datetime.timedelta(days=AUTO_CLOSE_DAYS):
                    status, closed = "closed", resolved + datetime.timedelta(days=AUTO_CLOSE_DAYS)
            elif status == "cancelled":
                closed = created + datetime.timedelta(seconds=min(ack_delay, age * 0.5))
            elif status != "new":
                acked = created + datetime.timedelta(seconds=min(ack_delay, age * rng.uniform(0.05, 0.5)))
                if status == "on_hold":
                    paused = acked + (now - acked) * rng.uniform(0.1, 0.9)
            assigned = status != "new" or rng.random() < 0.5
            row = {
                "id": pk, "number": f"INC-{pk}", "created_at": created,
                "updated_at": closed or resolved or paused or acked or created,
                "created_by_id": admin.pk, "updated_by_id": admin.pk, "title": title,
                "description": " ".join(rng.choice(FILLER) for _ in range(rng.randint(8, 20))).capitalize() + ".",
                "category_id": top.pk, "subcategory_id": sub, "service_id": service, "impact": impact,
                "urgency": urgency, "priority": priority, "source": source(),
                "reporter_id": rng.choice(users), "assignment_group_id": team,
                "assignee_id": rng.choice(members[team]) if assigned else None,
                "reassignment_count": rng.choice([0, 0, 0, 0, 1, 1, 2]), "status": status,
                "hold_reason": rng.choice(HOLD_REASONS) if status == "on_hold" else "",
                "detected_at": created, "acknowledged_at": acked, "resolved_at": resolved,
                "closed_at": closed,
                "major_status": "major" if priority in ("P1", "P2") and rng.random() < 0.2 else "",
            }
            if resolved is not None:
                row.update(resolution_code=rng.choice(RESOLUTION_CODES),
                           resolution_notes="Restarted the service and watched the error rate.")
            if status == "cancelled":
                row["status_reason"] = "Duplicate report"
            if is_open:
                n_open_made += 1
                rows, due = _timer_rows(targets.get(priority, []), ct_id=ct_id, incident_id=pk, created=created,
                                        status=status, acked=acked, paused=paused, swept_until=swept_until)
                row["sla_due_at"] = due
                for timer in rows:
                    timers.add(timer)
            row["sla_rank_at"] = Incident(status=status).sla_rank(row.get("sla_due_at"))  # as the engine keeps it
            incidents.add(row)
            by_status[status] = by_status.get(status, 0) + 1
            by_priority[priority] = by_priority.get(priority, 0) + 1
            by_team[team] = by_team.get(team, 0) + 1
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                log(f"    {pk:,} incidents ({pk / (last_log - t0):,.0f}/s)", flush=True)
        incidents.flush()
        timers.flush()
        NumberSequence.objects.update_or_create(prefix="INC", defaults={"last_value": n_incidents})
        reset_sequences([Incident, SLATimer])
    seconds["insert incidents and timers"] = time.perf_counter() - t0
    log(f"  inserted {incidents.written:,} incidents ({n_open_made:,} open) and {timers.written:,} SLA timers in "
        f"{seconds['insert incidents and timers']:.1f} s")
    if connection.vendor == "postgresql":
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            # What autovacuum does on a live system after this many inserts: statistics, and the
            # visibility map without which no count can be answered from an index alone.
            cursor.execute("VACUUM ANALYZE")
        seconds["vacuum analyze"] = time.perf_counter() - t0
    busiest = max(by_team, key=by_team.get)
    return IncidentsSeeded(
        n_incidents=incidents.written, n_open=n_open_made, n_timers=timers.written, now=now.isoformat(),
        sweep_lag_seconds=sweep_lag_seconds, by_status=by_status, by_priority=dict(sorted(by_priority.items())),
        busiest_team_id=busiest, busiest_team_slug=Team.objects.get(pk=busiest).slug, seconds=seconds)
