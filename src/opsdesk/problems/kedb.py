"""The known error database: known errors (KE-n) written through core.records, the matching of an
incident against the active known errors (same CI, CI class, service, error pattern, similar text),
and the workaround applied to an incident (recorded on both, counted on the known error).

`wire()` registers the known errors' search indexer, the "Known errors" panel on the incident page
and the "Create known error" button on the problem page."""

from __future__ import annotations

from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit, comments, events, patterns, records, search
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import KnownError, Problem, WorkaroundApplication
from .workflows import KNOWN_ERROR_WORKFLOW

SEARCH_KIND = "knownerror"
AUDITED = ["title", "symptom", "root_cause", "workaround", "permanent_solution", "error_pattern", "cis",
           "ci_classes", "services", "software_versions", "problem", "status", "status_reason"]
EDITABLE = {"title", "symptom", "root_cause", "workaround", "permanent_solution", "error_pattern", "cis",
            "ci_classes", "services", "software_versions", "problem"}
READ_ONLY_STATES = ("retired",)
MAX_PATTERN = 300
# Incident statuses in which a workaround is no longer applied (the apply button is not shown).
NO_APPLY_STATES = ("closed", "cancelled")

# How much each kind of likeness counts: the same CI says most, then a logged error code.
WEIGHTS = {"ci": 8.0, "pattern": 6.0, "ci_class": 4.0, "service": 3.0, "text": 2.0}
MATCH_TEXT_CHARS = 20000  # of the incident's title, description and symptoms searched for patterns
MAX_PATTERN_ROWS = 2000  # active known errors with a pattern tried per incident (newest first)
MAX_LINK_ROWS = 500  # CI / class / service links read per incident
TEXT_HITS = 20
MIN_SHARED_WORDS = 2  # a text hit must share this many words with the incident (or all, if fewer)
_REGEX_CHARS = set("\\^$.|?*+()[]{}")


class Match(NamedTuple):
    known_error: KnownError
    reasons: list[str]
    score: float


# --- validation -------------------------------------------------------------------------------------

def is_regex(pattern: str) -> bool:
    """A plain code (ORA-00600, E1234) holds no regular-expression characters; anything else is one."""
    return any(char in _REGEX_CHARS for char in pattern)


def compiled_pattern(pattern: str):
    """The pattern as matched: a plain code literally, a regular expression as written; both ignore case.
    RE2 (core.patterns): linear time, so no pattern can stall the incident page or a worker."""
    return patterns.compile(pattern if is_regex(pattern) else patterns.escape(pattern), ignore_case=True)


def validate_error_pattern(pattern) -> str:
    """An error code or log pattern as stored ("" for none), or ValidationError on `error_pattern`:
    bounded length, a regular expression that compiles, and none that could take very long to match."""
    pattern = str(pattern or "").strip()
    if not pattern:
        return ""
    if len(pattern) > MAX_PATTERN:
        raise ValidationError({"error_pattern": _("The error pattern is limited to %(n)s characters.")
                               % {"n": MAX_PATTERN}})
    if "\n" in pattern or "\r" in pattern:
        raise ValidationError({"error_pattern": _("The error pattern is one line.")})
    if is_regex(pattern):
        error = patterns.error(pattern, ignore_case=True)
        if error:
            raise ValidationError({"error_pattern": _(
                "%(p)s is not a valid regular expression (%(e)s). A plain code such as ORA-00600 needs no "
                "special characters; escape them with \\ to match them literally. Back-references and "
                "look-arounds are not supported.") % {"p": pattern[:100], "e": error}})
        if compiled_pattern(pattern).search(""):
            raise ValidationError({"error_pattern": _(
                "%(p)s matches an empty text, so it would match every incident; make it need some characters.")
                % {"p": pattern[:100]}})
    return pattern


def _clean_data(data: dict, *, partial: bool) -> dict:
    data = dict(data or {})
    unknown = sorted(set(data) - EDITABLE)
    if unknown:
        raise ValidationError({name: _("This field cannot be set here.") for name in unknown})
    if "error_pattern" in data:
        data["error_pattern"] = validate_error_pattern(data["error_pattern"])
    for name in ("title", "symptom", "root_cause", "workaround", "permanent_solution", "software_versions"):
        if name in data:
            data[name] = str(data[name] or "").strip()
    if not partial:
        errors = {name: _("This field is required.") for name in ("title", "symptom") if not data.get(name)}
        if errors:
            raise ValidationError(errors)
    for name in ("title", "symptom"):
        if partial and name in data and not data[name]:
            raise ValidationError({name: _("This field is required.")})
    return data


# --- writes -----------------------------------------------------------------------------------------

def create_known_error(*, actor: Actor, data: dict) -> KnownError:
    data = _clean_data(data, partial=False)
    return records.create_record(KnownError, actor=actor, fields=data, workflow=KNOWN_ERROR_WORKFLOW,
                                 audited=AUDITED)


def update_known_error(known_error: KnownError, *, actor: Actor, data: dict) -> KnownError:
    data = _clean_data(data, partial=True)

    def check(locked: KnownError, fields: dict) -> None:
        if locked.status in READ_ONLY_STATES:
            raise TransitionNotAllowed(_("%(ke)s is retired and read-only; reactivate it to change it.")
                                       % {"ke": locked.number})

    return records.update_record(known_error, actor=actor, fields=data, audited=AUDITED, check=check)


def transition_known_error(known_error: KnownError, name: str, *, actor: Actor, data: dict | None = None) -> KnownError:
    """mark_fixed (optionally with `permanent_solution`), retire (reason), reactivate (reason)."""
    data = dict(data or {})

    def apply_fields(record, transition, given):
        reason = str(given.get("reason") or "").strip()[:500]
        record.status_reason = reason
        solution = str(given.get("permanent_solution") or "").strip()
        if transition.name == "mark_fixed" and solution:
            record.permanent_solution = solution

    return records.transition_record(known_error, name, actor=actor, workflow=KNOWN_ERROR_WORKFLOW, data=data,
                                     apply_fields=apply_fields)


def prefill_from_problem(problem: Problem) -> dict:
    """What a known error written from `problem` starts with: its title, description as the symptom, root
    cause, workaround, fix as the permanent solution, CIs and service, and the link to it."""
    return {
        "title": problem.title,
        "symptom": problem.description or problem.title,
        "root_cause": problem.root_cause,
        "workaround": problem.workaround,
        "permanent_solution": problem.fix_description,
        "cis": list(problem.cis.all()),
        "services": [problem.service] if problem.service_id else [],
        "problem": problem,
    }


def create_known_error_from_problem(problem: Problem, *, actor: Actor, data: dict | None = None) -> KnownError:
    fields = prefill_from_problem(problem)
    fields.update(data or {})
    return create_known_error(actor=actor, data=fields)


def apply_workaround(known_error: KnownError, incident, *, actor: Actor) -> WorkaroundApplication:
    """Record that the known error's workaround was applied to the incident: once per incident, as a
    comment on the incident's timeline, in the change log of both, counted on the known error."""
    with transaction.atomic():
        known_error = KnownError.objects.select_for_update().get(pk=known_error.pk)
        if known_error.status != "active":
            raise TransitionNotAllowed(_("%(ke)s is %(state)s: its workaround is no longer offered.")
                                       % {"ke": known_error.number,
                                          "state": known_error.get_status_display().lower()})
        if not known_error.workaround.strip():
            raise TransitionNotAllowed(_("%(ke)s has no workaround to apply.") % {"ke": known_error.number})
        if incident.status in NO_APPLY_STATES:
            raise TransitionNotAllowed(_("%(inc)s is %(state)s: a workaround is no longer applied to it.")
                                       % {"inc": incident.number, "state": incident.get_status_display().lower()})
        earlier = WorkaroundApplication.objects.filter(known_error=known_error, incident=incident).first()
        if earlier is not None:
            raise TransitionNotAllowed(_already_applied(known_error, incident, earlier))
        now = timezone.now()
        try:
            with transaction.atomic():
                application = WorkaroundApplication.objects.create(
                    known_error=known_error, incident=incident, applied_by=actor.user, actor_label=actor.label,
                    applied_at=now)
        except IntegrityError:  # applied by someone else a moment ago
            earlier = WorkaroundApplication.objects.get(known_error=known_error, incident=incident)
            raise TransitionNotAllowed(_already_applied(known_error, incident, earlier)) from None
        KnownError.objects.filter(pk=known_error.pk).update(times_applied=F("times_applied") + 1, last_applied_at=now)
        count = known_error.times_applied
        comments.add_comment(incident, actor=actor, body=_comment_body(known_error))
        audit.record(incident, actor=actor, action="apply_workaround",
                     changes={"known_error": [None, known_error.number]})
        audit.record(known_error, actor=actor, action="apply_workaround",
                     changes={"incident": [None, incident.number], "times_applied": [count, count + 1]})
        events.emit("knownerror.workaround_applied", known_error, actor=actor,
                    payload={"incident": incident.number, "incident_id": incident.pk})
    return application


def _comment_body(known_error: KnownError) -> str:
    body = _("Workaround of %(ke)s applied: %(text)s") % {"ke": known_error.number, "text": known_error.workaround}
    return body[:comments.MAX_COMMENT_CHARS]


def _already_applied(known_error, incident, earlier) -> str:
    return _("The workaround of %(ke)s was already applied to %(inc)s (%(when)s, by %(who)s).") % {
        "ke": known_error.number, "inc": incident.number, "who": earlier.actor_label,
        "when": timezone.localtime(earlier.applied_at).strftime("%Y-%m-%d %H:%M")}


# --- matching ---------------------------------------------------------------------------------------

def incident_text(incident) -> str:
    text = "\n".join(part for part in (incident.title, incident.description, incident.symptoms) if part)
    return text[:MATCH_TEXT_CHARS]


def _pattern_hits(text: str) -> dict[int, str]:
    """Active known errors whose error pattern occurs in `text` (one query), by id -> the pattern."""
    found = {}
    rows = (KnownError.objects.filter(status="active").exclude(error_pattern="").order_by("-id")
            .values_list("id", "error_pattern")[:MAX_PATTERN_ROWS])
    for pk, pattern in rows:
        try:
            if compiled_pattern(pattern).search(text):
                found[pk] = pattern
        except patterns.PatternError:  # written past validation: matches nothing
            continue
    return found


def _document_words(known_error: KnownError) -> set[str]:
    text = " ".join((known_error.title, known_error.symptom, known_error.root_cause, known_error.workaround,
                     known_error.error_pattern))
    return _stems(search.WORD.findall(text[:MATCH_TEXT_CHARS].lower()))


def _stems(words) -> set[str]:
    """A crude stem (the first six letters), so "connections" shares a word with "connection" as the
    full-text engines' stemming would have it."""
    return {word[:6] for word in words if word not in search.STOPWORDS}


def matching_known_errors(incident, *, limit: int = 5) -> list[Match]:
    """The active known errors that fit the incident, best first: the same CI, the CI's class, the
    incident's service, the error pattern found in its text, and a full-text match of its title and
    symptoms. Each match says why (reasons) and how well (score). A bounded number of queries (at most
    eight), however many known errors and links there are."""
    cis = list(incident.cis.all())  # prefetched on the incident page
    scores: dict[int, float] = {}
    reasons: dict[int, list[str]] = {}

    def add(pk: int, kind: str, reason: str, weight: float | None = None) -> None:
        scores[pk] = scores.get(pk, 0.0) + (WEIGHTS[kind] if weight is None else weight)
        if reason not in reasons.setdefault(pk, []):
            reasons[pk].append(reason)

    ci_names = {ci.pk: ci.name for ci in cis}
    if ci_names:
        links = (KnownError.cis.through.objects.filter(configurationitem_id__in=list(ci_names),
                                                       knownerror__status="active")
                 .values_list("knownerror_id", "configurationitem_id")[:MAX_LINK_ROWS])
        for pk, ci_id in links:
            add(pk, "ci", _("same CI %(ci)s") % {"ci": ci_names[ci_id]})
    class_ids = {ci.ci_class_id for ci in cis}
    if class_ids:
        links = (KnownError.ci_classes.through.objects.filter(ciclass_id__in=class_ids, knownerror__status="active")
                 .values_list("knownerror_id", "ciclass__name")[:MAX_LINK_ROWS])
        for pk, class_name in links:
            add(pk, "ci_class", _("CI class %(cls)s") % {"cls": class_name})
    if incident.service_id:
        links = (KnownError.services.through.objects.filter(service_id=incident.service_id,
                                                            knownerror__status="active")
                 .values_list("knownerror_id", "service__name")[:MAX_LINK_ROWS])
        for pk, service_name in links:
            add(pk, "service", _("service %(service)s") % {"service": service_name})
    for pk, pattern in _pattern_hits(incident_text(incident)).items():
        add(pk, "pattern", _("pattern %(p)s") % {"p": pattern[:60]})
    query_text = " ".join(part for part in (incident.title, incident.symptoms) if part)
    hits = search.query(query_text, kinds=[SEARCH_KIND], states={SEARCH_KIND: ["active"]}, limit=TEXT_HITS)
    text_rank = {hit.object_id: index for index, hit in enumerate(hits)}
    if not scores and not text_rank:
        return []
    # The best candidates only: a CI with hundreds of known errors must not load them all.
    candidate_ids = sorted(set(scores) | set(text_rank),
                           key=lambda pk: (-scores.get(pk, 0.0), text_rank.get(pk, TEXT_HITS), -pk))[:limit + TEXT_HITS]
    loaded = KnownError.objects.filter(pk__in=candidate_ids, status="active").select_related("problem").in_bulk()
    query_words = _stems(search.words(query_text))
    needed = min(MIN_SHARED_WORDS, len(query_words))
    for pk, rank in text_rank.items():
        known_error = loaded.get(pk)
        if known_error is None or not needed:
            continue
        if len(query_words & _document_words(known_error)) >= needed:
            # The better ranked, the more it counts: from the full weight down to half of it.
            add(pk, "text", _("similar text"), WEIGHTS["text"] * (1 - 0.5 * rank / max(1, len(text_rank))))
    matches = [Match(loaded[pk], reasons[pk], round(score, 3)) for pk, score in scores.items() if pk in loaded]
    matches.sort(key=lambda m: (-m.score, -m.known_error.times_applied, -m.known_error.pk))
    return matches[:limit]


# --- wiring -----------------------------------------------------------------------------------------

def search_document(known_error: KnownError) -> search.Document:
    body = "\n".join(part for part in (known_error.symptom, known_error.root_cause, known_error.workaround,
                                       known_error.error_pattern, known_error.permanent_solution) if part)
    return search.Document(title=known_error.title, body=body, state=known_error.status, number=known_error.number)


def panel_context(incident, user) -> dict | None:
    """The "Known errors" panel on the incident page: the matches, their workarounds, and whether this
    user may apply one (a responder for the incident's team, while it is not closed or cancelled)."""
    from opsdesk.core.permissions import can

    if not can(user, "viewer", incident):
        return None
    matches = matching_known_errors(incident)
    applied = set()
    if matches:
        applied = set(WorkaroundApplication.objects.filter(
            incident=incident, known_error_id__in=[m.known_error.pk for m in matches])
            .values_list("known_error_id", flat=True))
    return {
        "incident": incident,
        "matches": [{"known_error": m.known_error, "reasons": m.reasons, "score": m.score,
                     "applied": m.known_error.pk in applied,
                     "apply_url": reverse("problems:knownerror_apply", args=[m.known_error.pk, incident.pk])}
                    for m in matches],
        "can_apply": incident.status not in NO_APPLY_STATES and can(user, "responder", incident),
        "list_url": reverse("problems:knownerror_list"),
    }


def _new_known_error_url(problem) -> str:
    if problem.status == "cancelled":
        return ""
    return reverse("problems:knownerror_create") + f"?problem={problem.pk}"


def wire() -> None:
    from opsdesk.core import registry
    from opsdesk.incidents.models import Incident

    search.register(KnownError, kind=SEARCH_KIND, label=gettext_lazy("Known errors"), document=search_document,
                    answers=("active",))
    registry.register_record_panel(Incident, registry.RecordPanel(
        "known_errors", "problems/_panel_known_errors.html", panel_context, order=10))
    registry.register_record_link(Problem, registry.RecordLink(
        gettext_lazy("Create known error"), _new_known_error_url, icon="journal-plus", role="responder"))
