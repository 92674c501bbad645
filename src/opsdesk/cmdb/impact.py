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

The walk is breadth-first, level by level, over the graph held in memory (impact_graph.py: one query
per analysis checks that it is current). Cycles end at nodes already seen; `depth` bounds the path
length. Then one query per node kind loads the display fields: of every node found, or with `limit`
only of the nodes an answer cut at `limit` shows (and of the nodes on their paths).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import NoReverseMatch, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from opsdesk.services.models import Service
from opsdesk.services.workflows import SERVICE_WORKFLOW

from . import impact_graph
from .impact_graph import GONE_CI_STATES, RETIRED_SERVICE, ImpactGraph
from .models import CIClass, ConfigurationItem
from .workflows import CI_WORKFLOW

CI, SERVICE = "ci", "service"
Key = tuple[str, int]  # ("ci", 12) or ("service", 3)

DIRECTIONS = ("downstream", "upstream")
DEFAULT_DEPTH = 10
MAX_DEPTH = 50
GONE_SERVICE_STATES = frozenset({RETIRED_SERVICE})
MAX_ID = 2**63 - 1  # ids beyond a 64-bit integer exist nowhere (and PostgreSQL refuses them as parameters)

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


class Impact(NamedTuple):
    """How a node was reached: its distance from a root, the node before it on the path and the
    relationship between them (read in the direction of the walk), and for a redundant CI the member
    count that tipped it. A tuple: the walk makes one per node found, tens of thousands for a core switch."""

    depth: int
    parent: Key
    via: str
    redundancy: dict | None = None


_impact = tuple.__new__  # _impact(Impact, (...)): an Impact without the Python-level __new__ (the walk's hot path)


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
    # With `limit`: per kind, the nodes shown (with display fields) and the others, nearest first.
    _cut: dict[str, tuple[list[Key], list[Key]]] = field(default_factory=dict, repr=False, compare=False)

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
        """Impacted nodes of one kind, nearest first, then by name (stable on every database). After an
        analysis with `limit`, the first `limit` are in that order and have display fields; the others
        follow nearest first, in the order the walk met them."""
        def by_name(k):
            return self.impacted[k].depth, self.details.get(k, {}).get("name", ""), k[1]

        if kind in self._cut:
            shown, rest = self._cut[kind]
            return sorted(shown, key=by_name) + rest
        return sorted((k for k in self.impacted if k[0] == kind), key=by_name)

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
            details: bool = True, limit: int | None = None) -> ImpactResult:
    """What the failure of `cis` (and `services`) impacts (downstream), or what they depend on (upstream).

    `cis` and `services` hold ids or model instances; several fail at once. Unknown ids are left out
    of `roots`. `redundancy=False` follows every edge (the reach of a node, as the service map draws
    it). `collect_edges` records the impact edges met; `details` loads the display fields of the roots
    and of the nodes found. `limit` (for answers that list at most that many impacted CIs, services and
    degraded CIs, as the API does): display fields only of those and of the nodes on their paths; the
    walk, the counts and `impacted` stay complete.
    """
    if direction not in DIRECTIONS:
        raise ValidationError({"direction": _("One of: downstream, upstream.")})
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValidationError({"depth": _("A whole number from 1 to %(max)s.") % {"max": MAX_DEPTH}})
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError({"limit": _("A whole number of at least 1.")})
    graph = impact_graph.get_graph(connection.alias)
    roots, frontier = _roots(graph, _ids(cis, ConfigurationItem), _ids(services, Service))
    result = ImpactResult(direction=direction, depth=depth, roots=[_key(n) for n in roots])
    with _without_gc_pauses():
        _walk(graph, result, roots, frontier, use_redundancy=redundancy and direction == "downstream",
              collect_edges=collect_edges)
        if details:
            if limit is None:
                result.details = load_details([*result.roots, *result.impacted, *result.degraded])
            else:
                result.details = load_details(_shown(result, limit))
    return result


@contextlib.contextmanager
def _without_gc_pauses():
    """A big analysis creates some 100,000 objects that all stay alive until it returns: the cyclic
    garbage collector would run full passes over the whole process (tens of ms each) several times and
    free nothing. Reference counting still frees everything meanwhile. Restores the previous state, so
    overlapping analyses in threads leave the collector on, and a collector someone turned off, off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _key(node: int) -> Key:
    return (CI, node) if node > 0 else (SERVICE, -node)


def _ids(items: Iterable, model) -> list[int]:
    return list(dict.fromkeys(item.pk if isinstance(item, model) else int(item) for item in items))


def _roots(graph: ImpactGraph, ci_ids: list[int], service_ids: list[int]) -> tuple[list[int], list[int]]:
    """The roots that exist, as nodes (CIs first, in the given order), and those that can fail (not
    retired). A CI the graph does not know was created after it was built by a write that changed no
    edge (a new CI has none): read from the database, in one query per kind, only for those."""
    unknown_cis = [pk for pk in ci_ids if 0 < pk <= MAX_ID and not graph.has_ci(pk)]
    unknown_services = [pk for pk in service_ids if 0 < pk <= MAX_ID and pk not in graph.services]
    new_cis = _statuses(ConfigurationItem, unknown_cis)
    new_services = _statuses(Service, unknown_services)
    roots, frontier = [], []
    for pk in ci_ids:
        if pk in new_cis:
            gone = new_cis[pk] in GONE_CI_STATES
        elif 0 < pk <= MAX_ID and graph.has_ci(pk):
            gone = pk in graph.gone
        else:
            continue
        roots.append(pk)
        if not gone:
            frontier.append(pk)
    for pk in service_ids:
        status = new_services.get(pk) or (graph.services.get(pk) if pk > 0 else None)
        if status is None:
            continue
        roots.append(-pk)
        if status not in GONE_SERVICE_STATES:
            frontier.append(-pk)
    return roots, frontier


def _statuses(model, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(model.objects.filter(pk__in=ids).order_by().values_list("pk", "status"))


def _labels(graph: ImpactGraph, direction: str) -> tuple[tuple[str, str], ...]:
    """Per edge label pair: (name read the way the walk goes, name read back), translated."""
    language = get_language() or ""
    labels = graph.translated.get((language, direction))
    if labels is None:
        pairs = graph.pairs if direction == "downstream" else [(back, via) for via, back in graph.pairs]
        labels = tuple((translate(via, language), translate(back, language)) for via, back in pairs)
        graph.translated[(language, direction)] = labels
    return labels


def _walk(graph: ImpactGraph, result: ImpactResult, roots: list[int], frontier: list[int], *,
          use_redundancy: bool, collect_edges: bool) -> None:
    """Breadth-first from the roots; fills result.impacted, degraded and edges. Nodes are the graph's
    ints (a CI's id, minus a service's id) until they go into the result."""
    downstream = result.direction == "downstream"
    adjacency = graph.down if downstream else graph.up
    labels = _labels(graph, result.direction)
    vias = [via for via, _back in labels]
    spare = graph.redundancy if use_redundancy else {}
    members = graph.members
    keys = {node: _key(node) for node in roots}
    visited = set(roots)
    impacted, edges = result.impacted, result.edges
    down: dict[int, dict[int, int]] = {}  # redundant CI -> {member that is down: label pair}, in the order seen
    level = 0
    while frontier and level < result.depth:
        level += 1
        following: list[int] = []
        touched: dict[int, None] = {}  # redundant CIs that lost a member at this level, in order
        for u in frontier:
            row = adjacency.get(u)
            if row is None:
                continue
            ku = keys[u]
            pairs = iter(row)
            for v, pair in zip(pairs, pairs, strict=True):
                if collect_edges:  # in the direction a failure travels, read that way
                    kv = keys.get(v) or _key(v)
                    edges.add((ku, kv, labels[pair][0]) if downstream else (kv, ku, labels[pair][1]))
                if v in visited:
                    continue
                if v in spare:
                    seen = down.get(v)
                    if seen is None:
                        down[v] = seen = {}
                    if u not in seen:
                        seen[u] = pair
                    touched[v] = None
                    continue
                visited.add(v)
                keys[v] = kv = (CI, v) if v > 0 else (SERVICE, -v)
                impacted[kv] = _impact(Impact, (level, ku, vias[pair], None))
                following.append(v)
        for v in touched:
            tipped = _tipping_member(down[v], members[v], spare[v])
            if tipped is None:
                continue
            member, info = tipped
            visited.add(v)
            keys[v] = kv = _key(v)
            impacted[kv] = Impact(level, keys[member], vias[down[v][member]], info)
            following.append(v)
        frontier = following
    for v, seen in down.items():
        if v not in visited:
            result.degraded[_key(v)] = _redundancy_info(spare[v], members[v], len(seen))


def _required(spare: tuple[int, str], total: int) -> int:
    minimum, mode = spare
    return math.ceil(minimum * total / 100) if mode == "percent" else minimum


def _redundancy_info(spare: tuple[int, str], members: int, down: int) -> dict:
    return {"mode": spare[1], "min": spare[0], "required": _required(spare, members), "members": members,
            "down": down}


def _tipping_member(seen: dict, members: int, spare) -> tuple[int, dict] | None:
    """The member whose failure left the CI with fewer of its `members` up than it needs, or None if
    it stays up. `seen`: the members down so far, in the order they went down (each is a member: both
    come from the same edges)."""
    required = _required(spare, members)
    count = max(1, members - required + 1)  # the first count for which members - count < required
    if count > len(seen):
        return None
    member = next(islice(seen, count - 1, None))
    return member, {"mode": spare[1], "min": spare[0], "required": required, "members": members, "down": count}


def _shown(result: ImpactResult, limit: int) -> list[Key]:
    """The nodes an answer cut at `limit` shows: the roots, per kind the first `limit` impacted nodes
    (nearest first, then by name), the first `limit` degraded CIs (by id), and every node on their
    paths. Records the cut in `result._cut` so that `ordered()` puts the shown ones first.

    The walk found the nodes level by level, so the cut falls in one level: the nodes before it are
    all shown; of that level, the first by name, found by the database (one query for that level)."""
    shown: dict[Key, None] = dict.fromkeys(result.roots)
    by_kind: dict[str, list[Key]] = {CI: [], SERVICE: []}
    for key in result.impacted:  # in the walk's order: nondecreasing depth
        by_kind[key[0]].append(key)
    for kind, keys in by_kind.items():
        if len(keys) > limit:
            depths = [result.impacted[k].depth for k in keys]
            first = bisect_left(depths, depths[limit - 1])  # the level the cut falls in: keys[first:last]
            last = bisect_right(depths, depths[limit - 1])
            level = keys[first:last]
            chosen = [(kind, pk) for pk in _first_by_name(kind, [k[1] for k in level], limit - first)]
            kept = set(chosen)
            result._cut[kind] = (keys[:first] + chosen, [k for k in level if k not in kept] + keys[last:])
            keys = result._cut[kind][0]
        shown.update(dict.fromkeys(keys))
    shown.update(dict.fromkeys(sorted(result.degraded)[:limit]))
    for key in list(shown):  # the nodes on the paths: every step's parent, up to a root
        impact = result.impacted.get(key)
        while impact is not None and impact.parent not in shown:
            shown[impact.parent] = None
            impact = result.impacted.get(impact.parent)
    return list(shown)


# --- display fields ---------------------------------------------------------------------------------------

def _in(column: str) -> str:
    """`column IN (ids)` with one parameter however many ids: an array literal on PostgreSQL, a JSON
    array on SQLite (which then neither binds thousands of parameters nor parses a new statement each
    time). Both are one string: psycopg would otherwise adapt (and, binding on the client, quote) each
    id of a list on its own, which costs more than the query for a few hundred ids."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])"
    return f"{column} IN (SELECT value FROM json_each(%s))"


def _ids_param(ids: list[int]) -> str:
    text = ",".join(str(int(pk)) for pk in ids)
    return f"{{{text}}}" if connection.vendor == "postgresql" else f"[{text}]"


def _rows(sql: str, ids: list[int]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [_ids_param(ids)])
        return cursor.fetchall()


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _first_by_name(kind: str, ids: list[int], count: int) -> list[int]:
    """The first `count` of these records by name, then id, in the order Python sorts strings (by code
    point, as `ImpactResult.ordered` does): PostgreSQL's "C" collation, SQLite's default (BINARY)."""
    table = _table(ConfigurationItem if kind == CI else Service)
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE {_in('id')} ORDER BY name{collate}, id LIMIT %s",
                       [_ids_param(ids), count])
        return [row[0] for row in cursor.fetchall()]


def _url_parts(name: str) -> tuple[str, str]:
    """One reverse() per analysis, not one per node: the URL of a record, split where its id goes
    (("", "") when the page does not exist (yet): no link rather than a crash)."""
    marker = "987654321"
    try:
        url = reverse(name, args=[int(marker)])
    except NoReverseMatch:
        return "", ""
    before, _marker, after = url.partition(marker)
    return before, after


_STATES = {CI: CI_WORKFLOW, SERVICE: SERVICE_WORKFLOW}


@functools.lru_cache(maxsize=64)
def _state_labels(kind: str, language: str) -> dict[str, str]:
    return {state: str(label) for state, label in _STATES[kind].states.items()}


def load_details(keys: Iterable[Key]) -> dict[Key, dict]:
    """Display fields of CIs (with their class) and services: one query per kind."""
    ci_ids = sorted({pk for kind, pk in keys if kind == CI and 0 < pk <= MAX_ID})
    service_ids = sorted({pk for kind, pk in keys if kind == SERVICE and 0 < pk <= MAX_ID})
    details: dict[Key, dict] = {}
    language = get_language() or ""
    if ci_ids:
        before, after = _url_parts("cmdb:detail")
        labels = _state_labels(CI, language)
        class_names: dict[str, str] = {}
        sql = (f"SELECT c.id, c.number, c.name, k.slug, k.name, k.icon, c.status, c.environment "
               f"FROM {_table(ConfigurationItem)} c INNER JOIN {_table(CIClass)} k ON k.id = c.ci_class_id "
               f"WHERE {_in('c.id')}")
        for pk, number, name, class_slug, class_name, icon, status, environment in _rows(sql, ci_ids):
            label = class_names.get(class_name)
            if label is None:
                label = class_names[class_name] = translate(class_name, language)
            details[(CI, pk)] = {
                "kind": CI, "id": pk, "number": number, "name": name, "class": class_slug, "class_name": label,
                "icon": icon, "status": status, "status_label": labels.get(status, status),
                "environment": environment, "url": f"{before}{pk}{after}" if before else ""}
    if service_ids:
        before, after = _url_parts("services:detail")
        labels = _state_labels(SERVICE, language)
        sql = (f"SELECT id, number, name, slug, tier, criticality, status FROM {_table(Service)} "
               f"WHERE {_in('id')}")
        for pk, number, name, slug, tier, criticality, status in _rows(sql, service_ids):
            details[(SERVICE, pk)] = {
                "kind": SERVICE, "id": pk, "number": number, "name": name, "slug": slug, "tier": tier,
                "criticality": criticality, "status": status, "status_label": labels.get(status, status),
                "url": f"{before}{pk}{after}" if before else ""}
    return details
