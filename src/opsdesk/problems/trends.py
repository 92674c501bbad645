"""Trend detection: incidents that recur become problem candidates.

`detect()` (beat, hourly) proposes one open candidate per key where
- the same CI, service or category has at least N incidents in the last M days (ProblemSettings), counted
  by the database (GROUP BY over the indexed created_at range, nothing loaded per incident), or
- at least `trend_text_count` incidents of the last `trend_text_days` days have similar titles: titles are
  normalised (lower case, numbers and host names collapsed, stop words dropped) and compared by Jaccard
  similarity of their word sets; only that window's titles are read, and only pairs sharing two words are
  ever compared (two word sets as similar as the threshold always share two words).

A key already covered by a problem (not cancelled) linking most of its incidents, or dismissed within
`dismiss_days`, is not proposed; an open candidate of the same key is updated when more incidents come.
`accept_candidate` creates the problem through `services.create_problem_from_incidents`.
"""

from __future__ import annotations

import datetime
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events
from opsdesk.core.actors import Actor
from opsdesk.core.search import STOPWORDS
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.incidents.models import Incident

from .configuration import problem_settings
from .models import Problem, ProblemCandidate

SYSTEM = Actor.system("trend detection")
IN_CHUNK = 500  # ids per IN (...) list
MAX_CANDIDATE_INCIDENTS = 500  # a candidate lists at most this many (the newest) incidents
COVERED_SHARE = 0.5  # a problem linking more than this share of a key's incidents covers the key
DUPLICATE_SHARE = 0.8  # a pattern whose incidents are mostly another one's of this run is not proposed
MAX_TEXT_TITLES = 100000  # the newest titles of the text window that are clustered (bounds time and memory)
BUCKET_COMPARE = 12  # in one word-pair bucket, a title is compared with at most this many before it

# Words that say nothing about what went wrong, on top of search's stop words.
TREND_STOPWORDS = STOPWORDS | frozenset("""again all any because being been can cannot could did does down error
errors failed failing fails from get got issue issues now out over please problem since some still up very
we our us you your""".split())
# IP addresses, dotted names (db-01.example.com) and names holding a digit (pg-main-db-03, web03, eu-2).
HOST = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|[a-z0-9-]+(?:\.[a-z0-9-]+)+|[a-z][a-z0-9_-]*\d[a-z0-9_-]*)\b")
NUMBER = re.compile(r"\b\d+(?:[.,:]\d+)*\b")
TOKEN = re.compile(r"[a-z][a-z0-9_]+")


def normalise(title: str) -> frozenset[str]:
    """The significant words of a title: lower case; IP addresses, host names (db-01, web03.example.com)
    and numbers collapsed away; stop words and one-letter words dropped."""
    text = (title or "").lower()
    text = HOST.sub(" ", text)
    text = NUMBER.sub(" ", text)
    return frozenset(w for w in TOKEN.findall(text) if w not in TREND_STOPWORDS)


def similarity(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass
class Pattern:
    kind: str
    key: str
    incident_ids: list[int]
    window_start: datetime.datetime
    window_end: datetime.datetime
    title: str
    reason: str
    refs: dict = field(default_factory=dict)  # ci / service / category instance


def _chunks(items, size=IN_CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- the patterns -------------------------------------------------------------------------------------


def _grouped(kind: str, count: int, days: int, now: datetime.datetime) -> list[Pattern]:
    """Keys of one kind with at least `count` incidents created in the last `days` days."""
    if count <= 0 or days <= 0:
        return []
    since = now - datetime.timedelta(days=days)
    if kind == "ci":
        through = Incident.cis.through
        window = through.objects.filter(incident__created_at__gte=since, incident__created_at__lte=now)
        column, incident_column = "configurationitem_id", "incident_id"
    else:
        window = Incident.objects.filter(created_at__gte=since, created_at__lte=now, **{f"{kind}__isnull": False})
        column, incident_column = f"{kind}_id", "id"
    keys = dict(window.values_list(column).annotate(n=Count(incident_column, distinct=True)).filter(n__gte=count)
                .values_list(column, "n"))
    if not keys:
        return []
    members: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(sorted(keys)):
        for key_id, incident_id in window.filter(**{f"{column}__in": chunk}).values_list(column, incident_column):
            members[key_id].append(incident_id)
    refs = _refs(kind, list(members))
    patterns = []
    for key_id, ids in sorted(members.items()):
        ids = sorted(set(ids), reverse=True)
        name = str(refs.get(key_id, key_id))
        values = {"n": len(ids), "name": name, "days": days}
        title = {"ci": _("%(n)s incidents on %(name)s in %(days)s days"),
                 "service": _("%(n)s incidents on service %(name)s in %(days)s days"),
                 "category": _("%(n)s incidents in category %(name)s in %(days)s days")}[kind] % values
        reason = {"ci": _("CI %(name)s had %(n)s incidents in the last %(days)s days (threshold %(count)s)."),
                  "service": _("Service %(name)s had %(n)s incidents in the last %(days)s days (threshold %(count)s)."),
                  "category": _("Category %(name)s had %(n)s incidents in the last %(days)s days "
                                "(threshold %(count)s).")}[kind] % {**values, "count": count}
        patterns.append(Pattern(kind, f"{kind}:{key_id}", ids, since, now, title[:300], reason[:500],
                                {kind: refs.get(key_id)}))
    return patterns


def _refs(kind: str, ids: list[int]) -> dict:
    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.incidents.models import Category
    from opsdesk.services.models import Service

    model = {"ci": ConfigurationItem, "service": Service, "category": Category}[kind]
    return model.objects.in_bulk(ids)


def text_clusters(titles: dict[int, str], *, similarity_threshold: float,
                  minimum: int) -> list[tuple[list[int], list[str]]]:
    """Clusters (incident ids, key words) of at least `minimum` titles linked by Jaccard similarity >=
    the threshold (single linkage). Titles with the same significant words are one unit; units are
    compared only within buckets of a shared pair of rare words: two titles that similar (threshold 0.5
    or more) always share one."""
    units: dict[frozenset, list[int]] = defaultdict(list)  # word set -> incidents
    for pk, title in titles.items():
        words = normalise(title)
        if len(words) >= 2:
            units[words].append(pk)
    sets = list(units)
    parent = list(range(len(sets)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Prefix filtering: with the words of every title ordered rarest first, two titles sharing at least
    # `a` words share two of their first len - a + 2; so only pairs of those few rare words are buckets.
    frequency = Counter(w for ws in sets for w in ws)
    buckets: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, ws in enumerate(sets):
        ordered = sorted(ws, key=lambda w: (frequency[w], w))
        prefix = len(ordered) - max(2, math.ceil(similarity_threshold * len(ordered))) + 2
        for pair in combinations(sorted(ordered[:prefix]), 2):
            buckets[pair].append(i)
    for members in buckets.values():
        if len(members) < 2:
            continue
        for index in range(1, len(members)):
            i = members[index]
            a, size = sets[i], len(sets[i])
            for j in members[max(0, index - BUCKET_COMPARE):index]:
                b = sets[j]
                if min(size, len(b)) < similarity_threshold * max(size, len(b)):
                    continue  # sizes too far apart to be this similar
                if len(a & b) >= similarity_threshold * len(a | b):
                    ri, rj = root(i), root(j)
                    if ri != rj:
                        parent[ri] = rj
                    break
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(sets)):
        groups[root(i)].append(i)
    clusters = []
    for members in groups.values():
        ids = [pk for i in members for pk in units[sets[i]]]
        if len(ids) < minimum:
            continue
        counts = Counter()
        for i in members:
            for w in sets[i]:
                counts[w] += len(units[sets[i]])
        key_words = sorted(w for w, n in counts.items() if n * 2 >= len(ids)) or sorted(counts)[:5]
        clusters.append((sorted(ids, reverse=True), key_words))
    return clusters


def _text_patterns(config, now: datetime.datetime) -> list[Pattern]:
    if config.trend_text_count <= 1 or config.trend_text_days <= 0:
        return []
    since = now - datetime.timedelta(days=config.trend_text_days)
    titles = dict(Incident.objects.filter(created_at__gte=since, created_at__lte=now).order_by("-created_at")
                  .values_list("id", "title")[:MAX_TEXT_TITLES])
    patterns = []
    for ids, key_words in text_clusters(titles, similarity_threshold=config.trend_text_similarity,
                                        minimum=config.trend_text_count):
        phrase = " ".join(key_words[:8])
        values = {"n": len(ids), "words": phrase, "days": config.trend_text_days}
        patterns.append(Pattern(
            "text", f"text:{' '.join(key_words)}"[:300], ids, since, now,
            (_("%(n)s incidents about “%(words)s” in %(days)s days") % values)[:300],
            (_("%(n)s incidents of the last %(days)s days have similar titles (shared words: %(words)s).")
             % values)[:500]))
    return patterns


# --- detection ----------------------------------------------------------------------------------------


def _covered_keys(patterns: list[Pattern]) -> set[str]:
    """Keys whose incidents a problem (open, or resolved and watched, or closed: any but cancelled) already
    links for the most part: they are that problem's business, not a new one."""
    owner: dict[int, list[Pattern]] = defaultdict(list)
    for pattern in patterns:
        for pk in pattern.incident_ids:
            owner[pk].append(pattern)
    linked: dict[int, set[int]] = defaultdict(set)  # problem -> incidents
    through = Problem.incidents.through
    for chunk in _chunks(owner):
        rows = through.objects.filter(incident_id__in=chunk).exclude(problem__status="cancelled")
        for problem_id, incident_id in rows.values_list("problem_id", "incident_id"):
            linked[problem_id].add(incident_id)
    covered = set()
    for pattern in patterns:
        ids = set(pattern.incident_ids)
        if any(len(ids & incidents) > COVERED_SHARE * len(ids) for incidents in linked.values()):
            covered.add(pattern.key)
    return covered


def detect(*, now: datetime.datetime | None = None) -> list[ProblemCandidate]:
    """Find the recurring patterns and write their candidates; returns the candidates created or updated."""
    now = now or timezone.now()
    config = problem_settings()
    patterns = [
        *_grouped("ci", config.trend_ci_count, config.trend_ci_days, now),
        *_grouped("service", config.trend_service_count, config.trend_service_days, now),
        *_grouped("category", config.trend_category_count, config.trend_category_days, now),
        *_text_patterns(config, now),
    ]
    if not patterns:
        return []
    covered = _covered_keys(patterns)
    dismissed_since = now - datetime.timedelta(days=config.dismiss_days)
    dismissed = set(ProblemCandidate.objects.filter(status="dismissed", decided_at__gte=dismissed_since,
                                                    key__in=[p.key for p in patterns]).values_list("key", flat=True))
    # Dismissed text clusters, by their incidents: the key words of a cluster may shift as incidents come.
    dismissed_text: dict[int, set[int]] = defaultdict(set)
    for candidate_id, incident_id in ProblemCandidate.incidents.through.objects.filter(
            problemcandidate__status="dismissed", problemcandidate__kind="text",
            problemcandidate__decided_at__gte=dismissed_since).values_list("problemcandidate_id", "incident_id"):
        dismissed_text[candidate_id].add(incident_id)
    open_candidates = {c.key: c for c in ProblemCandidate.objects.filter(status="open")}
    open_members: dict[int, set[int]] = defaultdict(set)
    through = ProblemCandidate.incidents.through
    for candidate_id, incident_id in through.objects.filter(
            problemcandidate__status="open").values_list("problemcandidate_id", "incident_id"):
        open_members[candidate_id].add(incident_id)
    written: list[ProblemCandidate] = []
    kept: list[set[int]] = []  # incident sets of this run's patterns, to drop duplicates of them
    for pattern in patterns:
        ids = set(pattern.incident_ids)
        if pattern.key in covered or pattern.key in dismissed:
            continue
        if pattern.kind == "text" and any(len(ids & members) * 2 >= len(ids) for members in dismissed_text.values()):
            continue
        candidate = open_candidates.get(pattern.key)
        if candidate is None and pattern.kind == "text":
            # A text cluster's key words may shift as incidents come: the open text candidate sharing
            # most of its incidents is the same pattern.
            candidate = next((c for c in open_candidates.values() if c.kind == "text"
                              and len(open_members[c.pk] & ids) * 2 >= len(ids)), None)
        if candidate is None and any(len(ids & other) >= DUPLICATE_SHARE * len(ids) for other in kept):
            continue  # the same incidents as a pattern already proposed (five titles alike on one CI)
        if candidate is None and any(len(ids & members) >= DUPLICATE_SHARE * len(ids)
                                     for members in open_members.values()):
            continue
        kept.append(ids)
        written_candidate = _write(pattern, candidate, open_members)
        if written_candidate is not None:
            written.append(written_candidate)
    return written


def _write(pattern: Pattern, candidate: ProblemCandidate | None, open_members) -> ProblemCandidate | None:
    ids = sorted(set(pattern.incident_ids), reverse=True)
    with transaction.atomic():
        if candidate is not None:
            candidate = ProblemCandidate.objects.select_for_update().filter(pk=candidate.pk, status="open").first()
        if candidate is not None:
            new = set(ids) - open_members[candidate.pk]
            if not new and candidate.incident_count == len(open_members[candidate.pk]):
                return None
            members = sorted(open_members[candidate.pk] | set(ids), reverse=True)[:MAX_CANDIDATE_INCIDENTS]
            candidate.title, candidate.reason = pattern.title, pattern.reason
            candidate.window_end = pattern.window_end
            candidate.window_start = min(candidate.window_start, pattern.window_start)
            candidate.incident_count = len(members)
            candidate.save()
            candidate.incidents.set(members)
            return candidate
        members = ids[:MAX_CANDIDATE_INCIDENTS]
        try:
            with transaction.atomic():
                candidate = ProblemCandidate.objects.create(
                    kind=pattern.kind, key=pattern.key, title=pattern.title, reason=pattern.reason,
                    incident_count=len(members), window_start=pattern.window_start, window_end=pattern.window_end,
                    **{k: v for k, v in pattern.refs.items() if v is not None})
        except IntegrityError:  # another detection run wrote the open candidate of this key meanwhile
            return None
        candidate.incidents.set(members)
        events.emit("problemcandidate.created", candidate, actor=SYSTEM,
                    payload={"kind": pattern.kind, "incidents": len(members)})
    return candidate


# --- decisions ----------------------------------------------------------------------------------------


def _locked_open(candidate: ProblemCandidate) -> ProblemCandidate:
    locked = ProblemCandidate.objects.select_for_update().get(pk=candidate.pk)
    if locked.status != "open":
        raise TransitionNotAllowed(_("This candidate was already %(state)s.")
                                   % {"state": locked.get_status_display().lower()})
    return locked


def problem_prefill(candidate: ProblemCandidate, incidents) -> dict:
    """The title and description of the problem a candidate becomes: a problem statement ("Recurring:
    <the most common incident title> on <the CI, service or category>"); the detection label, its reason
    and the list of incidents go to the description."""
    incidents = list(incidents)
    titles = [i.title.strip() for i in incidents if i.title.strip()]
    common = max(titles, key=lambda t: (titles.count(t), -titles.index(t))) if titles else candidate.title
    subject = candidate.ci or candidate.service or candidate.category
    if subject is not None:
        title = _("Recurring: %(title)s on %(subject)s") % {"title": common, "subject": subject.name}
    else:
        title = _("Recurring: %(title)s") % {"title": common}
    lines = [f"- {i.number} {i.title}" for i in incidents[:50]]
    if len(incidents) > 50:
        lines.append(_("- and %(n)s more") % {"n": len(incidents) - 50})
    description = "\n\n".join(part for part in (candidate.title, candidate.reason, "\n".join(lines)) if part)
    return {"title": title[:300], "description": description[:20000]}


def accept_candidate(candidate: ProblemCandidate, *, actor: Actor, data: dict | None = None) -> Problem:
    """Create the problem from the candidate's incidents (prefilled with its title, CI, service and
    category; `data` overrides) and mark the candidate accepted."""
    from . import services

    data = dict(data or {})
    with transaction.atomic():
        candidate = _locked_open(candidate)
        incidents = list(candidate.incidents.order_by("created_at", "id"))
        for name, value in problem_prefill(candidate, incidents).items():
            if not data.get(name):
                data[name] = value
        if candidate.service_id and "service" not in data:
            data["service"] = candidate.service
        if candidate.category_id and "category" not in data:
            data["category"] = candidate.category
        if candidate.ci_id and "cis" not in data:
            data["cis"] = [candidate.ci]
        data["source"] = "trend"
        problem = services.create_problem_from_incidents(incidents, actor=actor, data=data)
        # The service marks problems made from incidents as such; this one came from trend detection.
        Problem.objects.filter(pk=problem.pk).update(source="trend")
        problem.source = "trend"
        before = {"status": candidate.status}
        candidate.status, candidate.problem = "accepted", problem
        candidate.decided_by, candidate.decided_at = actor.user, timezone.now()
        candidate.save(update_fields=["status", "problem", "decided_by", "decided_at", "updated_at"])
        audit.record(candidate, actor=actor, action="accept",
                     changes={"status": [before["status"], "accepted"], "problem": [None, problem.number]})
        events.emit("problemcandidate.accepted", candidate, actor=actor, payload={"problem": problem.number})
    return problem


def dismiss_candidate(candidate: ProblemCandidate, *, actor: Actor, reason: str) -> ProblemCandidate:
    """Dismiss with a reason; the same key is not proposed again for `dismiss_days`."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the candidate is dismissed.")})
    if len(reason) > 500:
        raise ValidationError({"reason": _("At most 500 characters.")})
    with transaction.atomic():
        candidate = _locked_open(candidate)
        candidate.status, candidate.dismiss_reason = "dismissed", reason
        candidate.decided_by, candidate.decided_at = actor.user, timezone.now()
        candidate.save(update_fields=["status", "dismiss_reason", "decided_by", "decided_at", "updated_at"])
        audit.record(candidate, actor=actor, action="dismiss",
                     changes={"status": ["open", "dismissed"], "dismiss_reason": [None, reason]})
        events.emit("problemcandidate.dismissed", candidate, actor=actor)
    return candidate
