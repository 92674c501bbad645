"""Impact analysis over the CMDB: which CIs and services a failure impacts (downstream), or whose
failure could impact a CI (upstream), with the path to each and iTop-style redundancy.

The graph has two kinds of node, CIs and services, and these impact edges ("if X fails, Y is impacted"):

- a current relationship (ended_at empty) from a source CI to a target CI or service, in the direction
  its type declares: `target_to_source`, `source_to_target`, `both` (one edge each way) or `none`;
- a CI supports a service (ConfigurationItem.services): CI -> service;
- a service depends on another (Service.depends_on): if B fails, the services that depend on B are
  impacted (B -> A).

Retired and disposed CIs and retired services are out of service: they are not nodes, so they neither
pass a failure on nor count as members of a redundant CI. Every other status takes part (a planned CI
shows in the service map and in the analysis).

Redundancy (downstream only): a CI with `redundancy_min` N stays up while at least N (mode "count") or
N% (mode "percent", rounded up) of its members are up; its members are the nodes with an impact edge
into it. A CI without `redundancy_min` is impacted as soon as one of its members is.

The walk is breadth-first, level by level: per level one bulk `values_list` query per edge kind (IN
lists chunked at 5,000 ids), never one per node and no model instances, and one final query per node
kind for the display fields. Cycles end at nodes already seen; `depth` bounds the path length.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import zip_longest

from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import NoReverseMatch, reverse
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _

from opsdesk.services.models import Service
from opsdesk.services.workflows import SERVICE_WORKFLOW

from .models import CIClass, ConfigurationItem, Relationship, RelationshipType
from .workflows import CI_WORKFLOW

CI, SERVICE = "ci", "service"
Key = tuple[str, int]  # ("ci", 12) or ("service", 3)

DIRECTIONS = ("downstream", "upstream")
DEFAULT_DEPTH = 10
MAX_DEPTH = 50
CHUNK = 5000
GONE_CI_STATES = frozenset({"retired", "disposed"})
RETIRED_SERVICE = "retired"
GONE_SERVICE_STATES = frozenset({RETIRED_SERVICE})

_CI_SERVICES = ConfigurationItem.services.through
_SERVICE_DEPENDS = Service.depends_on.through


# The names of the links that are not relationships, read in either direction.
SUPPORTS, SUPPORTED_BY = gettext_noop("supports"), gettext_noop("is supported by")
DEPENDS_ON, NEEDED_BY = gettext_noop("depends on"), gettext_noop("is needed by")
_translations: dict[tuple[str, str], str] = {}


def translate(text: str, language: str) -> str:
    """gettext, remembered: relationship type and class names are translated on every analysis (the
    shipped ones have catalog entries), and gettext costs more than the walk of a small graph."""
    key = (language, text)
    if key not in _translations:
        if len(_translations) > 10_000:  # admin-defined names are unbounded in principle
            _translations.clear()
        _translations[key] = _(text)
    return _translations[key]


@dataclass(slots=True)
class Impact:
    """How a node was reached: its distance from a root, the node before it on the path and the
    relationship between them (read in the direction of the walk), and for a redundant CI the member
    count that tipped it."""

    depth: int
    parent: Key
    via: str
    redundancy: dict | None = None


@dataclass
class ImpactResult:
    direction: str
    depth: int
    roots: list[Key]
    impacted: dict[Key, Impact] = field(default_factory=dict)  # in the order the walk reached them
    # Redundant CIs that lost members but stay up: key -> {"mode", "min", "required", "members", "down"}
    degraded: dict[Key, dict] = field(default_factory=dict)
    # Impact edges met on the way, for maps: (failing node, impacted node, relationship read that way).
    edges: set[tuple[Key, Key, str]] = field(default_factory=set)
    details: dict[Key, dict] = field(default_factory=dict)
    _paths: dict[Key, list[dict]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def impacted_ci_ids(self) -> list[int]:
        return [pk for kind, pk in self.impacted if kind == CI]

    @property
    def impacted_service_ids(self) -> list[int]:
        return [pk for kind, pk in self.impacted if kind == SERVICE]

    def path(self, key: Key) -> list[dict]:
        """From a root to `key`: [{kind, id, number, name, via}], `via` naming the relationship that
        leads to that node from the one before (None for the root). A node's step is the same on every
        path through it (its parent is fixed), so steps and paths are built once and shared: treat them
        as read-only."""
        if key in self._paths:
            return self._paths[key]
        impact = self.impacted.get(key)
        d = self.details.get(key, {})
        step = {"kind": key[0], "id": key[1], "number": d.get("number", ""), "name": d.get("name", ""),
                "via": impact.via if impact else None}
        path = [*self.path(impact.parent), step] if impact else [step]
        self._paths[key] = path
        return path

    def ordered(self, kind: str) -> list[Key]:
        """Impacted nodes of one kind, nearest first, then by name (stable on every database)."""
        keys = [k for k in self.impacted if k[0] == kind]
        return sorted(keys, key=lambda k: (self.impacted[k].depth, self.details.get(k, {}).get("name", ""), k[1]))

    def node(self, key: Key, *, with_path: bool = True) -> dict:
        data = dict(self.details.get(key) or {"kind": key[0], "id": key[1]})
        impact = self.impacted.get(key)
        if impact is not None:
            data["depth"] = impact.depth
            if with_path:
                data["path"] = self.path(key)
            if key[0] == CI:
                data["redundancy"] = impact.redundancy
        elif key in self.degraded:
            data["redundancy"] = self.degraded[key]
        return data

    def impacted_services_by_criticality(self) -> list[dict]:
        """The impacted services, most critical first (tier, then criticality): what incidents and
        changes ask for."""
        rank = {value: i for i, (value, _label) in enumerate(Service.CRITICALITIES)}
        nodes = [self.node(k) for k in self.ordered(SERVICE)]
        return sorted(nodes, key=lambda n: (n.get("tier", 9), rank.get(n.get("criticality"), 9), n["depth"]))


def analyse(cis: Iterable = (), *, services: Iterable = (), direction: str = "downstream",
            depth: int = DEFAULT_DEPTH, redundancy: bool = True, collect_edges: bool = False,
            details: bool = True) -> ImpactResult:
    """What the failure of `cis` (and `services`) impacts (downstream), or what they depend on (upstream).

    `cis` and `services` hold ids or model instances; several fail at once. Unknown ids are left out
    of `roots`. `redundancy=False` follows every edge (the reach of a node, as the service map draws
    it). `collect_edges` records the impact edges met; `details` loads the display fields of the roots
    and of the nodes found.
    """
    if direction not in DIRECTIONS:
        raise ValidationError({"direction": _("One of: downstream, upstream.")})
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValidationError({"depth": _("A whole number from 1 to %(max)s.") % {"max": MAX_DEPTH}})
    graph = _Graph(direction)
    ci_ids = _ids(cis, ConfigurationItem)
    graph.load_cis(ci_ids)
    service_status = _service_statuses(_ids(services, Service))
    roots = [(CI, pk) for pk in ci_ids if pk in graph.rows]
    roots += [(SERVICE, pk) for pk in service_status]
    result = ImpactResult(direction=direction, depth=depth, roots=roots)
    visited: set[Key] = set(roots)
    frontier = [k for k in roots if k not in graph.gone
                and (k[0] == CI or service_status[k[1]] not in GONE_SERVICE_STATES)]
    use_redundancy = redundancy and direction == "downstream"
    down: dict[Key, dict[Key, str]] = {}  # redundant CI -> {member that is down: via}, in the order seen
    members: dict[Key, set[Key]] = {}
    level = 0
    while frontier and level < depth:
        level += 1
        edges = list(graph.expand(frontier))
        graph.load_cis({v[1] for _u, v, _via, _back in edges if v[0] == CI and v not in visited})
        following: list[Key] = []
        touched: dict[Key, None] = {}  # redundant CIs that lost a member at this level, in order
        for u, v, via, back in edges:
            if v in graph.gone:
                continue
            if collect_edges:  # in the direction a failure travels, read that way
                result.edges.add((u, v, via) if direction == "downstream" else (v, u, back))
            if v in visited:
                continue
            if use_redundancy and v in graph.redundancy:
                down.setdefault(v, {}).setdefault(u, via)
                touched[v] = None
                continue
            visited.add(v)
            result.impacted[v] = Impact(level, u, via)
            following.append(v)
        if touched:
            _load_members([v for v in touched if v not in members], graph, members)
            for v in touched:
                tipped = _tipping_member(down[v], members[v], graph.redundancy[v])
                if tipped is None:
                    continue
                member, info = tipped
                visited.add(v)
                result.impacted[v] = Impact(level, member, down[v][member], info)
                following.append(v)
        frontier = following
    for v, seen in down.items():
        if v not in result.impacted:
            result.degraded[v] = _redundancy_info(graph.redundancy[v], members[v], len(seen))
    if details:
        # Every node on an edge met is a root, impacted or degraded: nothing else to load for maps.
        result.details = load_details([*roots, *result.impacted, *result.degraded], ci_rows=graph.rows)
    return result


def _ids(items: Iterable, model) -> list[int]:
    return list(dict.fromkeys(item.pk if isinstance(item, model) else int(item) for item in items))


def _service_statuses(ids: list[int]) -> dict[int, str]:
    """Read from the database (an instance's status may be stale), in the given order; unknown ids left out."""
    if not ids:
        return {}
    found = dict(Service.objects.filter(pk__in=ids).order_by().values_list("pk", "status"))
    return {pk: found[pk] for pk in ids if pk in found}


def _required(spare: tuple[int, str], total: int) -> int:
    minimum, mode = spare
    return math.ceil(minimum * total / 100) if mode == "percent" else minimum


def _redundancy_info(spare: tuple[int, str], members: set[Key], down: int) -> dict:
    return {"mode": spare[1], "min": spare[0], "required": _required(spare, len(members)),
            "members": len(members), "down": down}


def _tipping_member(seen: dict[Key, str], members: set[Key], spare) -> tuple[Key, dict] | None:
    """The member whose failure left the CI with fewer members up than it needs, or None if it stays up."""
    total = len(members | seen.keys())
    required = _required(spare, total)
    for count, member in enumerate(seen, start=1):
        if total - count < required:
            return member, {"mode": spare[1], "min": spare[0], "required": required, "members": total,
                            "down": count}
    return None


def _load_members(keys: list[Key], graph: _Graph, members: dict[Key, set[Key]]) -> None:
    """A redundant CI's members: every live node with an impact edge into it (one step upstream)."""
    if not keys:
        return
    for key in keys:
        members[key] = set()
    edges = list(graph.expand(keys, "upstream"))
    graph.load_cis({member[1] for _v, member, _via, _back in edges if member[0] == CI})
    for v, member, _via, _back in edges:
        if member not in graph.gone:
            members[v].add(member)


# The edge queries, one per kind of edge, each answering (part, frontier id, CI id, service id, type id).
# A level runs the parts it needs as one UNION ALL statement, the frontier's ids passed as one parameter.
# Raw SQL rather than the ORM: a walk runs tens of them, and the ORM's compile time would dominate the
# small walks.
BY_TARGET, BY_SOURCE, BY_SERVICE, SUPPORTS_OF_CI, SUPPORTERS_OF_SERVICE, DEPENDENTS, DEPENDENCIES = range(7)
CI_PARTS = {"downstream": (BY_TARGET, BY_SOURCE, SUPPORTS_OF_CI), "upstream": (BY_SOURCE, BY_TARGET)}
SERVICE_PARTS = {"downstream": (DEPENDENTS, BY_SERVICE), "upstream": (SUPPORTERS_OF_SERVICE, DEPENDENCIES, BY_SERVICE)}
_NULL = "CAST(NULL AS BIGINT)"
_PARTS = {
    # {types}: the relationship types that spread a failure that way, in the query (the (target, type) and
    # (source, type) indexes then skip the others).
    BY_TARGET: "SELECT {kind}, r.target_id, r.source_id, {null}, r.type_id FROM {rel} r "
               "WHERE r.ended_at IS NULL AND {ids:r.target_id} AND r.type_id IN ({types})",
    BY_SOURCE: "SELECT {kind}, r.source_id, r.target_id, r.target_service_id, r.type_id FROM {rel} r "
               "LEFT JOIN {svc} s ON s.id = r.target_service_id WHERE r.ended_at IS NULL AND {ids:r.source_id} "
               "AND r.type_id IN ({types}) AND (s.status IS NULL OR s.status <> %s)",
    # No (service, type) index: with a type filter, SQLite without statistics would scan the type index.
    # The types are checked in Python.
    BY_SERVICE: "SELECT {kind}, r.target_service_id, r.source_id, {null}, r.type_id FROM {rel} r "
                "WHERE r.ended_at IS NULL AND {ids:r.target_service_id}",
    SUPPORTS_OF_CI: "SELECT {kind}, m.configurationitem_id, {null}, m.service_id, {null} FROM {m2m} m "
                    "INNER JOIN {svc} s ON s.id = m.service_id WHERE {ids:m.configurationitem_id} AND s.status <> %s",
    SUPPORTERS_OF_SERVICE: "SELECT {kind}, m.service_id, m.configurationitem_id, {null}, {null} FROM {m2m} m "
                           "WHERE {ids:m.service_id}",
    DEPENDENTS: "SELECT {kind}, d.to_service_id, {null}, d.from_service_id, {null} FROM {dep} d "
                "INNER JOIN {svc} s ON s.id = d.from_service_id WHERE {ids:d.to_service_id} AND s.status <> %s",
    DEPENDENCIES: "SELECT {kind}, d.from_service_id, {null}, d.to_service_id, {null} FROM {dep} d "
                  "INNER JOIN {svc} s ON s.id = d.to_service_id WHERE {ids:d.from_service_id} AND s.status <> %s",
}


class _In:
    """`column IN (ids)` with one parameter however many ids: an array on PostgreSQL, a JSON array on
    SQLite (which then neither binds thousands of parameters nor parses a new statement each time)."""

    def __init__(self, vendor: str):
        self.vendor = vendor

    def __format__(self, column: str) -> str:
        if self.vendor == "postgresql":
            return f"{column} = ANY(%s)"
        return f"{column} IN (SELECT value FROM json_each(%s))"

    def param(self, ids):
        return list(ids) if self.vendor == "postgresql" else json.dumps(list(ids))


class _Statements:
    """The statements of one walk, built once per shape (direction, CIs and/or services in the frontier)."""

    def __init__(self, t2s: set[int], s2t: set[int]):
        quote = connection.ops.quote_name
        self.ids = _In(connection.vendor)
        self.names = {"rel": quote(Relationship._meta.db_table), "svc": quote(Service._meta.db_table),
                      "m2m": quote(_CI_SERVICES._meta.db_table), "dep": quote(_SERVICE_DEPENDS._meta.db_table),
                      "ci": quote(ConfigurationItem._meta.db_table), "null": _NULL, "ids": self.ids}
        self.t2s, self.s2t = t2s, s2t
        self.cache: dict[tuple, tuple[str, list[bool]]] = {}

    def edges(self, direction: str, ci_ids, service_ids) -> tuple[str, list] | None:
        shape = (direction, bool(ci_ids), bool(service_ids))
        if shape not in self.cache:
            downstream = direction == "downstream"
            types = {BY_TARGET: self.t2s if downstream else self.s2t, BY_SOURCE: self.s2t if downstream else self.t2s}
            parts, spec = [], []  # spec: per part, whether its ids are the CIs (else the services)
            for kinds, is_ci in ((CI_PARTS[direction], True), (SERVICE_PARTS[direction], False)):
                if not (ci_ids if is_ci else service_ids):
                    continue
                for kind in kinds:
                    if kind in types and not types[kind]:
                        continue  # no relationship type spreads a failure that way
                    type_list = ", ".join(str(int(pk)) for pk in sorted(types.get(kind, ())))
                    part = _PARTS[kind].format(kind=kind, types=type_list, **self.names)
                    parts.append(part)
                    spec.append((is_ci, part.count("%s") - 1))  # the other parameters: the retired status
            self.cache[shape] = (" UNION ALL ".join(parts), spec)
        sql, spec = self.cache[shape]
        if not sql:
            return None
        ci_param = self.ids.param(ci_ids) if ci_ids else None
        service_param = self.ids.param(service_ids) if service_ids else None
        params = []
        for is_ci, retired in spec:
            params.append(ci_param if is_ci else service_param)
            params += [RETIRED_SERVICE] * retired
        return sql, params

    def services(self, ids) -> tuple[str, list]:
        return (f"SELECT id, number, name, slug, tier, criticality, status FROM {self.names['svc']} "
                f"WHERE {self.ids:id}", [self.ids.param(ids)])

    def cis(self, ids) -> tuple[str, list]:
        return (f"SELECT id, number, name, ci_class_id, status, environment, redundancy_min, redundancy_mode "
                f"FROM {self.names['ci']} WHERE {self.ids:id}", [self.ids.param(ids)])


class _Graph:
    """The edge queries and what is known of the CIs met. `expand(frontier)` yields (from, to, via, back):
    `via` names the relationship read from `from` to `to` ("runs on"), `back` read the other way ("runs").

    Per level: one query for the edges of the frontier (all kinds at once), one for the status and
    redundancy of the CIs met for the first time. The edge query joins no CI, so a CI costs one lookup
    however many edges lead to it. Services are few and their table small: retired services are
    filtered in the edge query itself.
    """

    def __init__(self, direction: str):
        self.direction = direction
        language = get_language() or ""
        self.name, self.reverse_name = {}, {}
        # Type ids whose failure spreads target -> source / source -> target.
        self.t2s, self.s2t = set(), set()
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, impact, name, reverse_name FROM "
                           + connection.ops.quote_name(RelationshipType._meta.db_table))
            for pk, impact, name, reverse_name in cursor.fetchall():
                self.name[pk], self.reverse_name[pk] = translate(name, language), translate(reverse_name, language)
                if impact in ("target_to_source", "both"):
                    self.t2s.add(pk)
                if impact in ("source_to_target", "both"):
                    self.s2t.add(pk)
        self.sql = _Statements(self.t2s, self.s2t)
        self.rows: dict[int, tuple] = {}  # CIs read so far: id -> (number, name, class id, status, environment)
        self.gone: set[Key] = set()  # retired or disposed CIs: not nodes
        self.redundancy: dict[Key, tuple[int, str]] = {}  # CIs with redundancy: (min, mode)
        self.supports, self.supported_by = translate(SUPPORTS, language), translate(SUPPORTED_BY, language)
        self.depends_on, self.needed_by = translate(DEPENDS_ON, language), translate(NEEDED_BY, language)

    def load_cis(self, ids) -> None:
        """Read the CIs met for the first time: status and redundancy for the walk, and the display
        fields too, so that the result needs no second lookup per CI."""
        ids = sorted(pk for pk in ids if pk not in self.rows)
        for pk, number, name, class_id, status, environment, minimum, mode in _ci_rows(ids, self.sql):
            key = (CI, pk)
            self.rows[pk] = (number, name, class_id, status, environment)
            if status in GONE_CI_STATES:
                self.gone.add(key)
            elif minimum is not None:
                self.redundancy[key] = (minimum, mode)

    def expand(self, frontier: list[Key], direction: str | None = None):
        direction = direction or self.direction
        ci_ids = sorted(pk for kind, pk in frontier if kind == CI)  # sorted: neighbouring index pages
        service_ids = sorted(pk for kind, pk in frontier if kind == SERVICE)
        with connection.cursor() as cursor:
            for ci_chunk, service_chunk in zip_longest(_chunks(ci_ids), _chunks(service_ids), fillvalue=()):
                statement = self.sql.edges(direction, ci_chunk, service_chunk)
                if statement is not None:
                    cursor.execute(*statement)
                    yield from self._edges(cursor.fetchall(), direction)

    def _edges(self, rows, direction):
        downstream = direction == "downstream"
        # Downstream a relationship is followed where its type spreads a failure from the frontier node:
        # from the target for target_to_source, from the source for source_to_target; upstream, the reverse.
        from_target, from_source = (self.t2s, self.s2t) if downstream else (self.s2t, self.t2s)
        name, reverse_name = self.name, self.reverse_name
        for part, node, ci, service, type_id in rows:
            if part == BY_TARGET:  # the frontier CI is the target; the source CI is next
                if type_id in from_target:
                    yield (CI, node), (CI, ci), reverse_name[type_id], name[type_id]
            elif part == BY_SOURCE:  # the frontier CI is the source; the target CI or service is next
                if type_id in from_source:
                    yield (CI, node), (CI, ci) if ci is not None else (SERVICE, service), name[type_id], \
                        reverse_name[type_id]
            elif part == BY_SERVICE:  # the frontier service is the target; the source CI is next
                if type_id in from_target:
                    yield (SERVICE, node), (CI, ci), reverse_name[type_id], name[type_id]
            elif part == SUPPORTS_OF_CI:
                yield (CI, node), (SERVICE, service), self.supports, self.supported_by
            elif part == SUPPORTERS_OF_SERVICE:
                yield (SERVICE, node), (CI, ci), self.supported_by, self.supports
            elif part == DEPENDENTS:
                yield (SERVICE, node), (SERVICE, service), self.needed_by, self.depends_on
            else:  # DEPENDENCIES
                yield (SERVICE, node), (SERVICE, service), self.depends_on, self.needed_by


def _chunks(ids):
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _url_pattern(name: str) -> str:
    """One reverse() per analysis, not one per node: the URL of record 0, with a slot for the id."""
    marker = 987654321
    try:
        return reverse(name, args=[marker]).replace(str(marker), "{}")
    except NoReverseMatch:  # the page does not exist (yet): no link rather than a crash
        return ""


def _ci_rows(ids: list[int], statements: _Statements | None = None):
    """(id, number, name, class id, status, environment, redundancy min, redundancy mode) of these CIs."""
    statements = statements or _Statements(set(), set())
    with connection.cursor() as cursor:
        for chunk in _chunks(ids):
            cursor.execute(*statements.cis(chunk))
            yield from cursor.fetchall()


_STATES = {CI: CI_WORKFLOW, SERVICE: SERVICE_WORKFLOW}


@functools.lru_cache(maxsize=64)
def _state_labels(kind: str, language: str) -> dict[str, str]:
    return {state: str(label) for state, label in _STATES[kind].states.items()}


def load_details(keys: Iterable[Key], *, ci_rows: dict[int, tuple] | None = None) -> dict[Key, dict]:
    """Display fields of CIs and services: one query per kind (chunked), plus one for the classes.
    `ci_rows`: CIs already read by the walk, (number, name, class id, status, environment) by id."""
    ci_ids = sorted({pk for kind, pk in keys if kind == CI})
    service_ids = sorted({pk for kind, pk in keys if kind == SERVICE})
    details: dict[Key, dict] = {}
    if ci_ids:
        rows = ci_rows or {}
        missing = [pk for pk in ci_ids if pk not in rows]
        if missing:
            rows = {**rows, **{row[0]: row[1:6] for row in _ci_rows(missing)}}
        url = _url_pattern("cmdb:detail")
        language = get_language() or ""
        labels = _state_labels(CI, language)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, slug, name, icon FROM " + connection.ops.quote_name(CIClass._meta.db_table))
            classes = {pk: (slug, translate(name, language), icon) for pk, slug, name, icon in cursor.fetchall()}
        for pk in ci_ids:
            if pk not in rows:
                continue
            number, name, class_id, status, environment = rows[pk]
            class_slug, class_name, icon = classes[class_id]
            details[(CI, pk)] = {
                "kind": CI, "id": pk, "number": number, "name": name, "class": class_slug,
                "class_name": class_name, "icon": icon, "status": status,
                "status_label": labels.get(status, status), "environment": environment,
                "url": url.format(pk) if url else ""}
    if service_ids:
        url = _url_pattern("services:detail")
        labels = _state_labels(SERVICE, get_language() or "")
        sql = _Statements(set(), set())
        with connection.cursor() as cursor:
            for chunk in _chunks(service_ids):
                cursor.execute(*sql.services(chunk))
                for pk, number, name, slug, tier, criticality, status in cursor.fetchall():
                    details[(SERVICE, pk)] = {
                        "kind": SERVICE, "id": pk, "number": number, "name": name, "slug": slug, "tier": tier,
                        "criticality": criticality, "status": status, "status_label": labels.get(status, status),
                        "url": url.format(pk) if url else ""}
    return details
