"""The recurrence check: did the fix keep the problem from coming back?

When a problem is resolved, `start_watch` opens a RecurrenceCheck for `watch_days`. Every new incident
is compared with the watched problems (`on_incident`, a core.records listener): one sharing a CI with
the problem, matching one of its known errors' error patterns, or with a title similar to the
problem's or its incidents' titles is a recurrence: it is added to the check at once, the owner (or the
owner team's managers) is notified, and the verdict becomes "not effective" (an evaluated check whose
period holds the incident is reopened).

At `ends_at` the sweeper (`evaluate_due_checks`, beat every 15 minutes, rows taken with
select_for_update(skip_locked=True)) records the evaluation: matching incidents in the same length of
time before the resolution and during the watch, the mean time between incidents before and after, and
a verdict with a sentence that explains it.
"""

from __future__ import annotations

import datetime
import logging

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from opsdesk.core import audit, events, patterns, people, search
from opsdesk.core.actors import Actor
from opsdesk.incidents.models import Incident

from .configuration import problem_settings
from .models import Problem, RecurrenceCheck
from .trends import normalise, similarity

log = logging.getLogger(__name__)
SYSTEM = Actor.system("recurrence check")
SWEEP_BATCH = 100
# Whether any watch is open, in the shared cache: most incidents are created while no problem is watched,
# and then the listener costs no query. Cleared when a watch opens; a stale "none" lasts at most
# WATCHING_TTL seconds and loses nothing but the early notice (the evaluation counts every incident).
WATCHING_KEY = "problems:recurrence:watching"
WATCHING_TTL = 3600
SEARCH_LIMIT = 200  # incidents asked of full-text search per reference title
MATCH_TEXT_CHARS = 20000  # the start of an incident's texts is matched against patterns
REFERENCE_TITLES = 10  # the problem's title and this many of its incidents' titles are the text to match


# --- the watch ----------------------------------------------------------------------------------------


def start_watch(problem: Problem, *, actor: Actor) -> RecurrenceCheck:
    """Open the watch from the problem's resolution for `watch_days` (the open watch, if one exists)."""
    with transaction.atomic():
        existing = RecurrenceCheck.objects.select_for_update().filter(problem=problem, status="watching").first()
        if existing is not None:
            return existing
        started = problem.resolved_at or timezone.now()
        days = problem_settings().watch_days
        check = RecurrenceCheck.objects.create(problem=problem, started_at=started,
                                               ends_at=started + datetime.timedelta(days=days))
        _watches_changed()
        audit.record(problem, actor=actor, action="recurrence_watch",
                     changes={"recurrence_watch": [None, f"{started:%Y-%m-%d} + {days} d"]})
    return check


def _watches_changed() -> None:
    cache.delete(WATCHING_KEY)
    transaction.on_commit(lambda: cache.delete(WATCHING_KEY))


def _anything_watched(at: datetime.datetime) -> bool:
    watched = cache.get(WATCHING_KEY)
    if watched is None:
        watched = RecurrenceCheck.objects.filter(Q(status="watching") | Q(status="evaluated", ends_at__gt=at)).exists()
        cache.set(WATCHING_KEY, watched, WATCHING_TTL)
    return watched


def cancel_watch(problem: Problem, *, actor: Actor) -> int:
    """Stop the open watch (the problem was reopened or cancelled); returns how many were stopped."""
    with transaction.atomic():
        stopped = RecurrenceCheck.objects.filter(problem=problem, status="watching").update(status="cancelled")
        if stopped:
            audit.record(problem, actor=actor, action="recurrence_watch_cancelled",
                         changes={"recurrence_watch": ["watching", "cancelled"]})
    return stopped


def wire() -> None:
    from opsdesk.core import records

    records.listen(Incident, on_incident)


# --- what matches a problem -----------------------------------------------------------------------------


class Matcher:
    """What an incident must share with a problem to count as its recurrence."""

    def __init__(self, problem: Problem, threshold: float | None = None):
        self.problem = problem
        self.threshold = problem_settings().trend_text_similarity if threshold is None else threshold
        self.ci_ids = set(problem.cis.values_list("pk", flat=True))
        self.incident_ids = set(problem.incidents.values_list("pk", flat=True))
        if not self.ci_ids and self.incident_ids:  # no CI on the problem: its incidents' CIs
            self.ci_ids = set(Incident.cis.through.objects.filter(incident_id__in=self.incident_ids)
                              .values_list("configurationitem_id", flat=True))
        self.patterns = [p.strip() for p in problem.known_errors.exclude(status="retired")
                         .values_list("error_pattern", flat=True) if p and p.strip()]
        titles = [problem.title, *problem.incidents.order_by("-created_at").values_list("title", flat=True)
                  [:REFERENCE_TITLES]]
        self.references = [words for words in {normalise(t) for t in titles} if len(words) >= 2]

    # one incident (the listener)
    def reasons(self, incident: Incident) -> list[str]:
        reasons = []
        shared = self.ci_ids & set(incident.cis.values_list("pk", flat=True)) if self.ci_ids else set()
        if shared:
            reasons.append("ci")
        text = "\n".join([incident.title, incident.description or "", incident.symptoms or ""])
        if any(self._pattern_matches(p, text) for p in self.patterns):
            reasons.append("known_error")
        words = normalise(incident.title)
        if any(similarity(words, ref) >= self.threshold for ref in self.references):
            reasons.append("text")
        return reasons

    def _pattern_matches(self, pattern: str, text: str) -> bool:
        try:
            return self._compiled(pattern).search(text[:MATCH_TEXT_CHARS]) is not None
        except patterns.PatternError:  # written past validation: matches nothing
            return False

    # a window of time (the evaluation): ids of matching incidents created in [start, end)
    def incidents_between(self, start: datetime.datetime, end: datetime.datetime) -> set[int]:
        window = Incident.objects.filter(created_at__gte=start, created_at__lt=end)
        condition = Q(pk__in=self.incident_ids) if self.incident_ids else Q(pk__in=[])
        if self.ci_ids:
            condition |= Q(cis__in=self.ci_ids)
        found = set(window.filter(condition).values_list("pk", flat=True).distinct())
        return found | self.like_problem_between(start, end)

    def like_problem_between(self, start: datetime.datetime, end: datetime.datetime) -> set[int]:
        """The strong matches of a window: incidents that match a known error's pattern or whose title is
        like the problem's incidents (not merely on the same CI)."""
        return self._pattern_window(start, end) | self._similar_window(start, end)

    def _pattern_window(self, start: datetime.datetime, end: datetime.datetime) -> set[int]:
        """Incidents of the window whose text matches a known error's pattern. Matched here with RE2
        (linear time), not by the database's regular expressions, which backtrack on SQLite (Python's
        `re`) and are not bounded on PostgreSQL; the window's texts are read in chunks."""
        if not self.patterns:
            return set()
        compiled = []
        for pattern in self.patterns:
            try:
                compiled.append(self._compiled(pattern))
            except patterns.PatternError:  # written past validation: matches nothing
                continue
        found = set()
        rows = Incident.objects.filter(created_at__gte=start, created_at__lt=end)\
            .values_list("pk", "title", "description", "symptoms").order_by()
        for pk, title, description, symptoms in rows.iterator(chunk_size=2000):
            text = "\n".join(part for part in (title, description, symptoms) if part)[:MATCH_TEXT_CHARS]
            if any(regex.search(text) for regex in compiled):
                found.add(pk)
        return found

    @staticmethod
    def _compiled(pattern: str):
        from .kedb import compiled_pattern  # the known error database's reading of a pattern

        return compiled_pattern(pattern)

    def _similar_window(self, start, end) -> set[int]:
        """Incidents with a similar title: full-text search proposes, the title similarity decides."""
        proposed: set[int] = set()
        for words in self.references:
            proposed |= {hit.object_id for hit in search.query(" ".join(sorted(words)), kinds=["incident"],
                                                               limit=SEARCH_LIMIT)}
        if not proposed:
            return set()
        rows = Incident.objects.filter(pk__in=proposed, created_at__gte=start, created_at__lt=end)\
            .values_list("pk", "title")
        return {pk for pk, title in rows
                if any(similarity(normalise(title), ref) >= self.threshold for ref in self.references)}


# --- a new incident -------------------------------------------------------------------------------------


def recipients(problem: Problem) -> list:
    """Who hears of the problem's recurrence: its active owner, else the owner team's active managers."""
    return people.responsible(problem.owner_id, problem.owner_team_id)


def on_incident(incident: Incident, verb: str, *, actor: Actor) -> None:
    """Listener of core.records on incidents: a created incident, once committed, is checked against the
    watched problems by the worker (`tasks.check_recurrence`). Opening an incident (the alert path) thus
    costs no matching, and a matching error cannot roll the incident back. Should the task be lost
    (broker down), only the early notice is: the end-of-watch evaluation counts every incident."""
    if verb != "created" or not _anything_watched(incident.created_at or timezone.now()):
        return
    pk = incident.pk
    transaction.on_commit(lambda: events.enqueue("opsdesk.problems.tasks.check_recurrence", pk))


def check_incident(incident: Incident, *, actor: Actor = SYSTEM) -> int:
    """Record the incident as a recurrence of every watched problem it matches; returns how many."""
    at = incident.created_at
    checks = list(RecurrenceCheck.objects.select_related("problem")
                  .filter(Q(status="watching") | Q(status="evaluated", ends_at__gt=at), started_at__lte=at)
                  .exclude(recurrences=incident))
    found = 0
    for check in checks:
        reasons = Matcher(check.problem).reasons(incident)
        if reasons:
            record_recurrence(check, incident, reasons=reasons, actor=actor)
            found += 1
    return found


REASON_LABELS = {"ci": gettext_lazy("it shares a CI with the problem"),
                 "known_error": gettext_lazy("it matches a known error's pattern"),
                 "text": gettext_lazy("its title is like the problem's incidents")}


def _locked(check: RecurrenceCheck) -> RecurrenceCheck:
    """The check locked (not its problem or team: PostgreSQL locks no outer-joined row), problem loaded."""
    return RecurrenceCheck.objects.select_for_update(of=("self",)).select_related("problem__owner_team")\
        .get(pk=check.pk)


def record_recurrence(check: RecurrenceCheck, incident: Incident, *, reasons: list[str],
                      actor: Actor) -> RecurrenceCheck:
    now = timezone.now()
    with transaction.atomic():
        check = _locked(check)
        problem = check.problem
        check.recurrences.add(incident)
        count = check.recurrences.count()
        why = ", ".join(str(REASON_LABELS[r]) for r in reasons)
        check.verdict = "not_effective"
        check.explanation = ngettext("%(incident)s recurred during the watch (%(why)s): %(n)s recurrence so far.",
                                     "%(incident)s recurred during the watch (%(why)s): %(n)s recurrences so far.",
                                     count) % {"incident": incident.number, "why": why, "n": count}
        if check.status == "evaluated" and not RecurrenceCheck.objects.filter(
                problem=problem, status="watching").exclude(pk=check.pk).exists():
            check.status, check.evaluated_at = "watching", None  # the evaluation is reopened
            _watches_changed()
        check.owner_notified_at = now
        check.save()
        audit.record(problem, actor=actor, action="recurrence",
                     changes={"recurrences": [count - 1, count], "incident": [None, incident.number]})
        events.emit("problem.recurred", problem, actor=actor, recipients=recipients(problem), payload={
            "incident": incident.number, "reasons": reasons, "recurrences": count,
            "message": str(check.explanation)})
    return check


# --- the evaluation -------------------------------------------------------------------------------------


def mean_hours_between(count: int, start: datetime.datetime, end: datetime.datetime) -> float | None:
    """The mean time between incidents of a window: its length shared by its incidents (none: no figure)."""
    if count <= 0:
        return None
    return round((end - start).total_seconds() / 3600 / count, 1)


def judge(count_before: int, count_after: int, partial_reduction: float, like_problem_after: int = 0) -> str:
    """Effective: nothing matching came back. Not effective: an incident like the problem came back
    (its known error's pattern, or a title like its incidents'), whatever the counts. Partially
    effective: only other incidents on the same CIs came, at least `partial_reduction` fewer than before."""
    if count_after == 0:
        return "effective"
    if like_problem_after:
        return "not_effective"
    if count_before > 0 and count_after <= count_before * (1 - partial_reduction):
        return "partially_effective"
    return "not_effective"


def evaluate(check: RecurrenceCheck, *, now: datetime.datetime | None = None, actor: Actor = SYSTEM) -> RecurrenceCheck:
    """Record the evaluation of one check (locked by the caller or here) and notify the owner."""
    now = now or timezone.now()
    config = problem_settings()
    with transaction.atomic():
        check = _locked(check)
        problem = check.problem
        length = check.ends_at - check.started_at
        resolved = check.started_at
        matcher = Matcher(problem)
        before = matcher.incidents_between(resolved - length, resolved)
        end = min(check.ends_at, now)
        after = matcher.incidents_between(resolved, end) | set(check.recurrences.values_list("pk", flat=True))
        if after:
            check.recurrences.add(*after)
        check.count_before, check.count_after = len(before), len(after)
        check.mtbi_before_hours = mean_hours_between(len(before), resolved - length, resolved)
        check.mtbi_after_hours = mean_hours_between(len(after), resolved, resolved + length)
        like_problem = matcher.like_problem_between(resolved, end) if after else set()
        check.verdict = judge(len(before), len(after), config.partial_reduction, len(like_problem))
        days = max(1, round(length.total_seconds() / 86400))
        values = {"problem": problem.number, "days": days, "before": len(before), "after": len(after),
                  "share": round(config.partial_reduction * 100)}
        check.explanation = {
            "effective": _("No incident matching %(problem)s in the %(days)s days after its resolution "
                           "(%(before)s in the %(days)s days before): the fix held."),
            "partially_effective": _("Incidents matching %(problem)s in the %(days)s days after its resolution: "
                                     "%(after)s, against %(before)s before, all of them only on the same CIs: "
                                     "fewer by at least %(share)s%%, and none like the problem itself."),
            "not_effective": _("Incidents matching %(problem)s in the %(days)s days after its resolution: "
                               "%(after)s, against %(before)s before: the fix did not stop the recurrence."),
        }[check.verdict] % values
        check.status, check.evaluated_at, check.owner_notified_at = "evaluated", now, now
        check.save()
        audit.record(problem, actor=actor, action="recurrence_evaluated",
                     changes={"verdict": [None, check.verdict], "count_before": [None, len(before)],
                              "count_after": [None, len(after)]})
        events.emit("problem.recurrence_evaluated", problem, actor=actor, recipients=recipients(problem),
                    payload={"verdict": check.verdict, "count_before": len(before), "count_after": len(after),
                             "message": str(check.explanation)})
    return check


def evaluate_due_checks(now: datetime.datetime | None = None) -> int:
    """Evaluate the watches that have ended; safe on several workers at once (skip locked)."""
    now = now or timezone.now()
    done, failed = 0, []
    while True:
        with transaction.atomic():
            ids = list(RecurrenceCheck.objects.select_for_update(skip_locked=True)
                       .filter(status="watching", ends_at__lte=now).exclude(pk__in=failed).order_by("ends_at", "id")
                       .values_list("pk", flat=True)[:SWEEP_BATCH])
            for check_id in ids:
                try:
                    with transaction.atomic():
                        evaluate(RecurrenceCheck(pk=check_id), now=now)
                    done += 1
                except Exception:  # one check that fails must not stop the others; it stays due
                    failed.append(check_id)
                    log.exception("evaluating recurrence check %s failed", check_id)
        if len(ids) < SWEEP_BATCH:
            return done
