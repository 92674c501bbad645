"""Full-text search over the records modules register: one interface, two engines.

A module registers an indexer per record type (`register(Model, kind=, label=, document=)`); the
core write path (`core.records`) keeps the record's `SearchEntry` up to date inside the record's own
transaction, so the index never lags behind a committed write and a rolled-back write leaves nothing.
`query()` ranks by relevance with PostgreSQL full-text search (weighted tsvector, GIN index, ts_rank)
or SQLite FTS5 (bm25), whichever database Opsdesk runs on (see migration core 0006).

The query is a list of words: records holding all of them come first (ranked), then, when those are
fewer than asked for, records holding any of them (ranked), so a query made of an incident's title
finds the article written about a similar incident even when a word differs. Each stage ranks at most
MAX_CANDIDATES matches, so one very common word costs tens of milliseconds, not seconds. Users' text
never reaches either engine as syntax (see `words()`). Design: docs/decisions/0009-full-text-search.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models.signals import post_delete
from django.utils import timezone

from .models import SearchEntry

MAX_BODY_CHARS = 20000  # PostgreSQL's tsvector is bounded (1 MB); the start of a long text is enough
MAX_QUERY_WORDS = 12
MAX_QUERY_CHARS = 1000  # a pasted log line or a whole description: its start says enough
# How many matching entries a stage ranks at most: a word found in 70,000 incidents would otherwise be
# ranked 70,000 times (seconds; docs/benchmarks.md, "Knowledge"). Queries of two or more specific words
# match fewer and are ranked whole.
MAX_CANDIDATES = 5000
# Words too common to say anything: PostgreSQL's English list (tsearch_data/english.stop), which its
# `english` configuration drops itself; FTS5 has none, so the query drops them on both databases alike.
STOPWORDS = frozenset("""i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
she her hers herself it its itself they them their theirs themselves what which who whom this that these those am
is are was were be been being have has had having do does did doing a an the and but if or because as until while
of at by for with about against between into through during before after above below to from up down in out on
off over under again further then once here there when where why how all any both each few more most other some
such no nor not only own same so than too very s t can will just don should now""".split())
WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: nothing a query syntax could read


@dataclass(frozen=True)
class Document:
    """What the index keeps of a record: number, title, text and a short state to filter on."""

    title: str
    body: str = ""
    state: str = ""
    number: str = ""


@dataclass(frozen=True)
class Indexer:
    model: type
    kind: str
    label: str
    # The record's document, or None when the record must not be found (it is then removed).
    document: Callable[[object], Document | None]
    # Related rows the document reads, loaded for a batch by `reindex` (prefetch_related names).
    prefetch: tuple[str, ...] = ()
    # The states in which the kind's records are knowledge that answers a question (a published
    # article, an active known error): the global search shows those first (`answers()`).
    answers: tuple[str, ...] = ()


@dataclass
class Hit:
    kind: str
    label: str
    object_id: int
    number: str
    title: str
    url: str
    state: str
    score: float
    snippet: str = ""
    entry_id: int = 0
    extra: dict = field(default_factory=dict)


_INDEXERS: dict[type, Indexer] = {}
_BY_KIND: dict[str, Indexer] = {}


def register(model, *, kind: str, label, document, prefetch: tuple[str, ...] = (),
             answers: tuple[str, ...] = ()) -> None:
    """Index `model` under `kind`: `document(record) -> Document | None` says what is searchable. Writes
    through core.records keep the entry current; a deleted record's entry goes with it (post_delete).
    `answers`: the states in which a record is knowledge to show first (see Indexer)."""
    indexer = Indexer(model, kind, label, document, prefetch, tuple(answers))
    _INDEXERS[model] = indexer
    _BY_KIND[kind] = indexer
    post_delete.connect(_deleted, sender=model, weak=False, dispatch_uid=f"core.search.{kind}")


def _deleted(sender, instance, **kwargs) -> None:
    remove(instance)


def indexers() -> list[Indexer]:
    return list(_INDEXERS.values())


def is_indexed(model) -> bool:
    return model in _INDEXERS


def _entry(record, indexer: Indexer) -> SearchEntry | None:
    document = indexer.document(record)
    if document is None:
        return None
    return SearchEntry(
        content_type=ContentType.objects.get_for_model(type(record)), object_id=record.pk, kind=indexer.kind,
        number=(document.number or getattr(record, "number", "") or "")[:32], title=(document.title or "")[:300],
        body=(document.body or "")[:MAX_BODY_CHARS], state=(document.state or "")[:20],
        url=record.get_absolute_url()[:300], updated_at=timezone.now())


UPDATED_FIELDS = ["kind", "number", "title", "body", "state", "url", "updated_at"]


def index(record) -> None:
    """Write (or remove) the record's entry: one statement. Call inside the record's transaction."""
    index_many([record])


def index_many(records: Iterable) -> None:
    records = list(records)
    if not records:
        return
    indexer = _INDEXERS.get(type(records[0]))
    if indexer is None:
        return
    entries, gone = [], []
    for record in records:
        entry = _entry(record, indexer)
        (gone if entry is None else entries).append(record.pk if entry is None else entry)
    if entries:
        SearchEntry.objects.bulk_create(entries, batch_size=500, update_conflicts=True,
                                        unique_fields=["content_type", "object_id"], update_fields=UPDATED_FIELDS)
    if gone:
        SearchEntry.objects.filter(content_type=ContentType.objects.get_for_model(indexer.model),
                                   object_id__in=gone).delete()


def remove(record) -> None:
    SearchEntry.objects.filter(content_type=ContentType.objects.get_for_model(type(record)),
                               object_id=record.pk).delete()


def reindex(kinds: Iterable[str] | None = None, *, batch: int = 1000) -> int:
    """Rebuild the entries of the given kinds (all by default) from the records, in batches of `batch`
    records a transaction each, and drop entries whose record is gone; returns how many were indexed."""
    count = 0
    kinds = set(kinds) if kinds is not None else None
    for indexer in indexers():
        if kinds is not None and indexer.kind not in kinds:
            continue
        SearchEntry.objects.filter(content_type=ContentType.objects.get_for_model(indexer.model)).exclude(
            object_id__in=indexer.model.objects.values("pk")).delete()
        last = 0
        while True:
            rows = list(indexer.model.objects.filter(pk__gt=last).order_by("pk")
                        .prefetch_related(*indexer.prefetch)[:batch])
            if not rows:
                break
            with transaction.atomic():
                index_many(rows)
            count += len(rows)
            last = rows[-1].pk
    return count


def words(text: str) -> list[str]:
    """The query's words: lower case, letters and digits only, without stop words and duplicates, at most
    MAX_QUERY_WORDS. Nothing of the engines' query syntax survives (quotes, `*`, `-`, `:`, parentheses),
    and a word is quoted when it reaches an engine, so NEAR, AND or OR are words like any other."""
    seen: list[str] = []
    for word in WORD.findall((text or "")[:MAX_QUERY_CHARS].lower()):
        if word not in STOPWORDS and word not in seen and (len(word) > 1 or word.isdigit()):
            seen.append(word)
    return seen[:MAX_QUERY_WORDS]


def _where(kinds, states, alias: str = "e") -> tuple[str, list]:
    """SQL conditions on core_searchentry (as `alias`): the kinds, and per kind the states it may be in."""
    clauses, params = [], []
    if kinds is not None:
        parts = []
        for kind in kinds:
            allowed = (states or {}).get(kind)
            if allowed:
                parts.append(f"({alias}.kind = %s AND {alias}.state IN (" + ", ".join(["%s"] * len(allowed)) + "))")
                params += [kind, *allowed]
            else:
                parts.append(f"{alias}.kind = %s")
                params.append(kind)
        clauses.append("(" + " OR ".join(parts) + ")" if parts else "1 = 0")
    return (" AND " + " AND ".join(clauses)) if clauses else "", params


def _skip(exclude: list[int]) -> str:
    return f" AND e.id NOT IN ({', '.join(['%s'] * len(exclude))})" if exclude else ""


def _postgres(terms: list[str], every: bool, where: str, params: list, limit: int, exclude: list[int],
              inner_where: str = ""):
    """Weighted tsvector (A: number and title, B: body) against a tsquery of the quoted words; ts_rank
    with normalisation 1 (divided by 1 + log of the length, so a long text does not win by being long).
    The entries ranked are the first MAX_CANDIDATES the GIN index gives (in table order): only a stage
    matching more entries than that (one very common word) ranks a sample."""
    tsquery = (" & " if every else " | ").join(f"'{t}'" for t in terms)  # terms are letters and digits only
    sql = (f"SELECT c.id, ts_rank(c.document, to_tsquery('english', %s), 1) AS score FROM ("
           f"SELECT e.id, e.document FROM core_searchentry e WHERE e.document @@ to_tsquery('english', %s)"
           f"{where}{_skip(exclude)} LIMIT %s) c ORDER BY score DESC, c.id DESC LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [tsquery, tsquery, *params, *exclude, MAX_CANDIDATES, limit])
        return cursor.fetchall()


def _sqlite(terms: list[str], every: bool, where: str, params: list, limit: int, exclude: list[int],
            inner_where: str = ""):
    """FTS5 with the porter stemmer; bm25 weighs the number and the title above the body. bm25 is worked
    out for every row the outer MATCH yields, so a scalar subquery first finds the rowid of the
    MAX_CANDIDATES-th newest matching entry (FTS5 walks its doclists newest first and stops there) and
    the ranked MATCH starts at that rowid: only the newest MAX_CANDIDATES matches are ranked."""
    fts_query = (" AND " if every else " OR ").join(f'"{t}"' for t in terms)  # quoted: never an operator
    # bm25 is lower for better matches; weights: number, title, body.
    sql = (f"SELECT e.id, -bm25(core_searchentry_fts, 10.0, 5.0, 1.0) AS score FROM core_searchentry_fts "
           f"JOIN core_searchentry e ON e.id = core_searchentry_fts.rowid "
           f"WHERE core_searchentry_fts MATCH %s{where}{_skip(exclude)} AND core_searchentry_fts.rowid >= coalesce(("
           f"SELECT c.rowid FROM core_searchentry_fts c JOIN core_searchentry b ON b.id = c.rowid "
           f"WHERE c.core_searchentry_fts MATCH %s{inner_where} ORDER BY c.rowid DESC LIMIT 1 OFFSET %s), 0) "
           f"ORDER BY score DESC, e.id DESC LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [fts_query, *params, *exclude, fts_query, *params, MAX_CANDIDATES - 1, limit])
        return cursor.fetchall()


def may_view(user, model) -> bool:
    """What the model's list page asks of a user (its RecordUI's view_role; viewer when it has none):
    the one rule of who may see a record type, for the global search, the KB search and `query(user=)`."""
    from .permissions import has_role
    from .views import UI_BY_MODEL

    ui = UI_BY_MODEL.get(model)
    return has_role(user, ui.view_role if ui is not None else "viewer")


def query(text: str, *, kinds: Iterable[str] | None = None, states: dict[str, Iterable[str]] | None = None,
          limit: int = 20, user=None) -> list[Hit]:
    """The best `limit` entries for `text`, best first. `kinds` limits the record types (an empty list
    finds nothing); `states` maps a kind to the states it may be in ({"incident": ["resolved", "closed"]});
    with `user`, the kinds whose records that user may not see (`may_view`) are left out.

    Two stages: the entries holding every word, ranked; then, when they are fewer than `limit` and the
    query has more than one word, the entries holding any of them, ranked (most words and title words
    first), after the first ones. Two or three statements in all; never raises on what a user typed."""
    terms = words(text)
    if not terms or limit <= 0:
        return []
    kinds = list(kinds) if kinds is not None else None
    if user is not None:
        visible = [i.kind for i in _INDEXERS.values() if may_view(user, i.model)]
        kinds = [k for k in kinds if k in visible] if kinds is not None else visible
    if kinds == []:
        return []
    states = {k: list(v) for k, v in (states or {}).items()}
    where, params = _where(kinds, states)
    inner_where = _where(kinds, states, alias="b")[0]
    engine = _postgres if connection.vendor == "postgresql" else _sqlite
    rows = list(engine(terms, True, where, params, limit, [], inner_where))
    if len(rows) < limit and len(terms) > 1:
        rows += engine(terms, False, where, params, limit - len(rows), [r[0] for r in rows], inner_where)
    if not rows:
        return []
    entries = SearchEntry.objects.in_bulk([r[0] for r in rows])
    hits = []
    for entry_id, score in rows:
        entry = entries.get(entry_id)
        if entry is None:
            continue
        indexer = _BY_KIND.get(entry.kind)
        hits.append(Hit(kind=entry.kind, label=str(indexer.label) if indexer else entry.kind,
                        object_id=entry.object_id, number=entry.number, title=entry.title, url=entry.url,
                        state=entry.state, score=float(score or 0), snippet=_snippet(entry.body, terms),
                        entry_id=entry.pk))
    return hits


# Markdown marks (headings, emphasis, code, quotes): a snippet is read as text, where they only get in the way.
MARKDOWN_MARKS = re.compile(r"(^|\s)#{1,6}\s|[*`]+|(^|\n)>\s")


def _snippet(body: str, terms: list[str], width: int = 200) -> str:
    """The part of the body around the first query word, as plain text, for the result list."""
    if not body:
        return ""
    lower = body.lower()
    positions = [p for p in (lower.find(t) for t in terms) if p >= 0]
    start = max(0, min(positions) - width // 4) if positions else 0
    text = " ".join(MARKDOWN_MARKS.sub(" ", body[start:start + width]).split())
    return ("…" if start else "") + text + ("…" if start + width < len(body) else "")


def answers(text: str, *, user, limit: int = 5) -> list[Hit]:
    """The knowledge that answers `text` (kinds registered with `answers` states, in those states, that
    `user` may see), best first: what the global search shows above everything else, so that searching
    for an incident's title offers the article written about a similar one before the tickets."""
    scope = {i.kind: list(i.answers) for i in _INDEXERS.values() if i.answers}
    if not scope:
        return []
    return query(text, kinds=list(scope), states=scope, limit=limit, user=user)
