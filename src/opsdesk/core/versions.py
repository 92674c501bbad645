"""Version stamps: "has this changed since I last looked?" for state that a process derives from the
database and keeps in memory (the CMDB's impact graph), answered by one indexed query.

A writer that changes such state calls `bump(key)` inside its own transaction; a reader compares
`current(key)` with the token it built its copy under and rebuilds when they differ. The token is a
random uuid4, not a counter: when a transaction that bumped rolls back, its token is never seen
again, so no two different committed states can ever share a token (with a counter, the next writer
would commit the same number over a different state, and a process that had read the rolled-back
state under that number would keep it). For the same reason a restored backup is safe: its token
names exactly the state it was written with.

`current()` answers "" when the key was never bumped: the state is then unknown (a database just
migrated, or filled with bulk inserts that bypass the services), and readers must not cache.

Bumping updates one row, so concurrent writers of one key queue on that row until the first commits;
the writes that bump are short and bump last, after their own row locks.
"""

from __future__ import annotations

import uuid

from django.db import DEFAULT_DB_ALIAS, transaction

from .models import VersionStamp

# The CMDB's impact graph. It spans CIs (cmdb) and services (the catalog), and the services app must not
# import the CMDB, so the key is defined here, neutrally, for both to bump.
IMPACT_GRAPH = "impact-graph"


def bump(key: str, *, using: str | None = None) -> str:
    """Give `key` a new random token, in the caller's transaction (call it inside the atomic block of
    the write). Returns the token."""
    alias = using or DEFAULT_DB_ALIAS
    token = uuid.uuid4().hex
    with transaction.atomic(using=alias):
        stamps = VersionStamp.objects.using(alias)
        if not stamps.filter(key=key).update(token=token):
            # The first bump of this key: update_or_create copes with a concurrent first bump.
            stamps.update_or_create(key=key, defaults={"token": token})
    return token


def current(key: str, *, using: str | None = None) -> str:
    """The token of `key` as this connection sees it (its own uncommitted bump included); "" if never bumped."""
    alias = using or DEFAULT_DB_ALIAS
    tokens = list(VersionStamp.objects.using(alias).filter(key=key).values_list("token", flat=True)[:1])
    return tokens[0] if tokens else ""
