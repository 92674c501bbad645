"""The impact graph held in memory: one copy per process and database, checked against the database
on every analysis and rebuilt when it changed (opsdesk.cmdb.impact walks it).

Every write that changes the graph (relationships, a CI's services, redundancy or status, a
relationship type's direction or names, a service's dependencies or status) bumps the version stamp
`core.versions.IMPACT_GRAPH` in its own transaction. `get_graph()` reads that stamp (one indexed
query) and returns the copy built under the same token, or builds a new one. So a process never
answers from a graph older than what its connection sees, a rolled-back write leaves no trace (its
token is never seen again), and nothing another process needs lives only in this one's memory.

A build reads the whole graph with a handful of bulk queries (no model instances): about a second
for 100,000 CIs and 200,000 relationships; see docs/benchmarks.md for figures. One thread builds
while the others wait for it (gunicorn gthread); a built graph is never changed, so a reader keeps
using the copy it got even when another thread replaces it.

Nodes are ints: a CI is its id, a service minus its id. An edge u -> v reads "if u fails, v is
impacted"; `down[u]` and `up[v]` hold it as a flat tuple (v, pair, v, pair, ...) / (u, pair, ...),
`pair` indexing `pairs`, the names of the link read the way a failure travels and back
("hosts", "hosted on"). Edges touching a retired or disposed CI or a retired service are left out:
those are not nodes at all.
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_left

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.translation import gettext_noop

from opsdesk.core import versions
from opsdesk.services.models import Service

from .models import ConfigurationItem, Relationship, RelationshipType

GONE_CI_STATES = frozenset({"retired", "disposed"})
RETIRED_SERVICE = "retired"
VERSION_KEY = versions.IMPACT_GRAPH

# The names of the links that are not relationships, read in either direction (translated by the analysis).
SUPPORTS, SUPPORTED_BY = gettext_noop("supports"), gettext_noop("is supported by")
DEPENDS_ON, NEEDED_BY = gettext_noop("depends on"), gettext_noop("is needed by")
SUPPORTS_PAIR, NEEDED_BY_PAIR = 0, 1  # CI -> service it supports; service -> service that depends on it

BUILDS = 0  # graphs this process has built (tests check that an unchanged database is not read again)
_cache: dict[str, tuple[str, ImpactGraph]] = {}  # database alias -> (token, graph)
_lock = threading.Lock()


class ImpactGraph:
    """The impact edges and the node states the analysis needs. Never changed once built (`translated`
    only memoises the labels per language)."""

    __slots__ = ("ci_ids", "services", "gone", "redundancy", "members", "down", "up", "pairs", "edges", "seconds",
                 "translated")

    def __init__(self, *, ci_ids: array, services: dict[int, str], gone: frozenset[int],
                 redundancy: dict[int, tuple[int, str]], down: dict[int, tuple[int, ...]],
                 up: dict[int, tuple[int, ...]], pairs: tuple[tuple[str, str], ...], edges: int, seconds: float):
        self.ci_ids = ci_ids  # every CI's id, sorted (8 bytes each): which roots exist
        self.services = services  # service id -> status
        self.gone = gone  # retired/disposed CIs and retired services, as nodes
        self.redundancy = redundancy  # live CI -> (redundancy_min, redundancy_mode)
        # A redundant CI's members: every node with an impact edge into it (gone ones are no nodes).
        self.members = {node: len(set(up.get(node, ())[::2])) for node in redundancy}
        self.down, self.up = down, up
        self.pairs = pairs  # (name read downstream, name read upstream), untranslated
        self.edges = edges
        self.seconds = seconds  # how long the build took
        self.translated: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}

    def has_ci(self, pk: int) -> bool:
        index = bisect_left(self.ci_ids, pk)
        return index < len(self.ci_ids) and self.ci_ids[index] == pk


def get_graph(using: str | None = None) -> ImpactGraph:
    """The impact graph as the connection `using` sees it now: the cached copy when the version stamp
    has not changed since it was built, else a new one (built by one thread at a time)."""
    alias = using or DEFAULT_DB_ALIAS
    token = versions.current(VERSION_KEY, using=alias)
    cached = _cache.get(alias)
    if token and cached is not None and cached[0] == token:
        return cached[1]
    with _lock:
        cached = _cache.get(alias)  # another thread may have built it while this one waited
        if token and cached is not None and cached[0] == token:
            return cached[1]
        graph = build(alias)
        # Cache it only when no write committed during the build (the queries may each have seen a newer
        # state than the token: the copy would mix states). Never without a token: the state is unknown.
        if token and versions.current(VERSION_KEY, using=alias) == token:
            _cache[alias] = (token, graph)
        return graph


def forget(using: str | None = None) -> None:
    """Drop the cached copies (of one database, or all): the next analysis builds anew."""
    with _lock:
        if using is None:
            _cache.clear()
        else:
            _cache.pop(using, None)


def build(using: str = DEFAULT_DB_ALIAS) -> ImpactGraph:
    """Read the whole impact graph: CIs, services, relationship types, current relationships, the
    services CIs support and the dependencies between services, one query each."""
    global BUILDS
    started = time.perf_counter()
    connection = connections[using]
    quote = connection.ops.quote_name
    table = {model: quote(model._meta.db_table) for model in (
        ConfigurationItem, Service, RelationshipType, Relationship, ConfigurationItem.services.through,
        Service.depends_on.through)}
    gone: set[int] = set()
    redundancy: dict[int, tuple[int, str]] = {}
    canonical: dict[int, int] = {}  # one int object per node, shared by every tuple that holds it
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, status, redundancy_min, redundancy_mode FROM {table[ConfigurationItem]}")
        ids = []
        for pk, status, minimum, mode in _rows(cursor):
            ids.append(pk)
            if status in GONE_CI_STATES:
                gone.add(pk)
            elif minimum is not None:
                redundancy[canonical.setdefault(pk, pk)] = (minimum, mode)
        ci_ids = array("q", sorted(ids))
        del ids

        cursor.execute(f"SELECT id, status FROM {table[Service]}")
        services = dict(cursor.fetchall())
        gone.update(-pk for pk, status in services.items() if status == RETIRED_SERVICE)

        # Pairs 0 and 1: supports, needed by; then two per relationship type, read target -> source
        # and source -> target.
        pairs: list[tuple[str, str]] = [(SUPPORTS, SUPPORTED_BY), (NEEDED_BY, DEPENDS_ON)]
        t2s: dict[int, int] = {}  # type id -> its pair, for the types that spread a failure target -> source
        s2t: dict[int, int] = {}
        cursor.execute(f"SELECT id, impact, name, reverse_name FROM {table[RelationshipType]} ORDER BY id")
        for pk, impact, name, reverse_name in cursor.fetchall():
            if impact in ("target_to_source", "both"):
                t2s[pk] = len(pairs)
                pairs.append((reverse_name, name))  # "host hosts vm"
            if impact in ("source_to_target", "both"):
                s2t[pk] = len(pairs)
                pairs.append((name, reverse_name))  # "node member of cluster"

        down: dict[int, list[int] | tuple[int, ...]] = {}
        up: dict[int, list[int] | tuple[int, ...]] = {}
        intern = canonical.setdefault
        for u, v, pair in _edges(cursor, table, t2s, s2t):  # inlined: 200,000 function calls cost 0.3 s
            if u in gone or v in gone:
                continue
            u, v = intern(u, u), intern(v, v)
            row = down.get(u)
            if row is None:
                down[u] = [v, pair]
            else:
                row += (v, pair)
            row = up.get(v)
            if row is None:
                up[v] = [u, pair]
            else:
                row += (u, pair)

    edges = sum(len(row) for row in down.values()) // 2
    for adjacency in (down, up):  # lists to tuples in place: each list is freed as its tuple is made
        for node, row in adjacency.items():
            adjacency[node] = tuple(row)
    graph = ImpactGraph(
        ci_ids=ci_ids, services=services, gone=frozenset(gone), redundancy=redundancy, down=down, up=up,
        pairs=tuple(pairs), edges=edges, seconds=time.perf_counter() - started)
    BUILDS += 1
    return graph


def _rows(cursor, size: int = 10_000):
    """The rows of the last query, fetched in batches: no list of 200,000 rows at once, and no Python
    call per row (iterating Django's cursor wrapper is a generator)."""
    while rows := cursor.fetchmany(size):
        yield from rows


def _edges(cursor, table: dict, t2s: dict[int, int], s2t: dict[int, int]):
    """(u, v, pair) per impact edge, in a fixed order: relationships, then CIs supporting services,
    then service dependencies, each by id."""
    if t2s or s2t:
        types = ", ".join(str(int(pk)) for pk in sorted({*t2s, *s2t}))
        cursor.execute(f"SELECT source_id, target_id, target_service_id, type_id FROM {table[Relationship]} "
                       f"WHERE ended_at IS NULL AND type_id IN ({types}) ORDER BY id")
        for source, target, service, type_id in _rows(cursor):
            other = target if target is not None else -service
            pair = t2s.get(type_id)
            if pair is not None:
                yield other, source, pair
            pair = s2t.get(type_id)
            if pair is not None:
                yield source, other, pair
    cursor.execute(f"SELECT configurationitem_id, service_id FROM {table[ConfigurationItem.services.through]} "
                   "ORDER BY id")
    for ci, service in _rows(cursor):
        yield ci, -service, SUPPORTS_PAIR
    cursor.execute(f"SELECT to_service_id, from_service_id FROM {table[Service.depends_on.through]} ORDER BY id")
    for needed, dependent in _rows(cursor):
        yield -needed, -dependent, NEEDED_BY_PAIR
