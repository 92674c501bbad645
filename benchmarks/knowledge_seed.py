"""Data for benchmarks/knowledge.py: 1,000,000 incidents (incidents_seed.py, as the incident benchmark
makes them), 100,000 published knowledge articles written about the same services and symptoms, and
the full-text index of both (core_searchentry) filled in bulk.

Fast because nothing goes through the ORM row by row: incidents and articles are written with COPY
(PostgreSQL) or executemany (SQLite) by incidents_seed.RowWriter, and the index rows with one
`INSERT INTO core_searchentry ... SELECT ... FROM <table>` per record type, the same document the
module's indexer writes (title; description, symptoms and resolution notes / summary and body). The
text index follows by itself: PostgreSQL computes the generated tsvector column and the GIN index, the
SQLite triggers fill the FTS5 table (see migration core 0006).
"""

from __future__ import annotations

import datetime
import random
import time
from dataclasses import asdict, dataclass, field

from incidents_seed import SYMPTOMS, RowWriter, reset_sequences
from incidents_seed import seed as seed_incidents
from seed import FILLER, WORDS

SEED_FORMAT = 1
STEPS = ["Check the dashboards of the service for the error rate", "Restart the pods one at a time",
         "Drain the node and reschedule the workload", "Rotate the certificate and reload the proxy",
         "Flush the resolver cache and check the upstream servers", "Grow the volume and clean old logs",
         "Scale the consumers and watch the queue depth", "Fail over to the replica and rebuild the primary",
         "Roll back the last deployment", "Raise the connection pool limit", "Check the SMTP relay logs"]


@dataclass
class KnowledgeSeeded:
    n_incidents: int
    n_articles: int
    n_entries: int
    now: str
    format: int = SEED_FORMAT
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def seed(n_incidents: int, n_articles: int, *, log=print, seed_value: int = 7) -> KnowledgeSeeded:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.utils import timezone

    from opsdesk.accounts.models import User
    from opsdesk.core.models import NumberSequence
    from opsdesk.incidents.models import Incident
    from opsdesk.knowledge.models import Article

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    incidents = seed_incidents(n_incidents, max(1, n_incidents // 10), log=log)
    seconds.update({f"incidents: {k}": v for k, v in incidents.seconds.items()})
    log(f"  {n_incidents:,} incidents in {time.perf_counter() - t0:.1f} s", flush=True)

    rng = random.Random(seed_value)
    admin = User.objects.get(username="admin")
    services = list(WORDS)
    now = timezone.now()
    t0 = time.perf_counter()
    writer = RowWriter(Article)
    with transaction.atomic():
        for index in range(n_articles):
            pk = index + 1
            word = rng.choice(services).capitalize()
            symptom = rng.choice(SYMPTOMS)
            title = rng.choice([f"{word} {symptom}: what to do", f"How to fix: {word} {symptom}",
                                f"Runbook: {word} {symptom}", f"{word} {symptom} after a deployment"])
            steps = rng.sample(STEPS, 3)
            body = "\n\n".join([
                f"## Symptom\n\n{word} {symptom}. " + " ".join(rng.choice(FILLER) for _ in range(25)) + ".",
                "## Steps\n\n" + "\n".join(f"{i + 1}. {s}." for i, s in enumerate(steps)),
                "## Background\n\n" + " ".join(rng.choice(FILLER) for _ in range(60)).capitalize() + "."])
            created = now - datetime.timedelta(days=rng.uniform(1, 900))
            writer.add({"id": pk, "number": f"KB-{pk}", "created_at": created, "updated_at": created,
                        "created_by_id": admin.pk, "updated_by_id": admin.pk, "title": title[:300],
                        "summary": f"What to do when {word} {symptom}.", "body": body, "status": "published",
                        "published_at": created, "author_id": admin.pk, "version": 1})
        writer.flush()
        NumberSequence.objects.update_or_create(prefix="KB", defaults={"last_value": n_articles})
        reset_sequences([Article])
    seconds["articles"] = time.perf_counter() - t0
    log(f"  {writer.written:,} articles in {seconds['articles']:.1f} s", flush=True)

    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for model, kind, body_columns, state in ((Incident, "incident", ("description", "symptoms", "resolution_notes"),
                                                  "status"),
                                                 (Article, "article", ("summary", "body"), "status")):
            marker = 987654321
            prefix, suffix = model(pk=marker).get_absolute_url().split(str(marker))
            body = " || %s || ".join(f"coalesce({c}, '')" for c in body_columns)
            cursor.execute(
                "INSERT INTO core_searchentry (content_type_id, object_id, kind, number, title, body, state, url, "
                f"updated_at) SELECT %s, id, %s, number, title, {body}, {state}, %s || CAST(id AS TEXT) || %s, "
                f"updated_at FROM {model._meta.db_table} ORDER BY id",
                [ContentType.objects.get_for_model(model).pk, kind, *["\n"] * (len(body_columns) - 1), prefix, suffix])
    seconds["search index"] = time.perf_counter() - t0
    from opsdesk.core.models import SearchEntry

    n_entries = SearchEntry.objects.count()
    log(f"  {n_entries:,} search entries (and the text index) in {seconds['search index']:.1f} s", flush=True)
    if connection.vendor == "postgresql":
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        seconds["vacuum analyze"] = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO core_searchentry_fts(core_searchentry_fts) VALUES ('optimize')")
        seconds["fts5 optimize"] = time.perf_counter() - t0
    return KnowledgeSeeded(n_incidents=n_incidents, n_articles=writer.written, n_entries=n_entries,
                           now=now.isoformat(), seconds=seconds)
