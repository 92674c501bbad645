"""The one write path of the knowledge base: articles with versions, reviews, feedback and view
counts, review reminders, and the prefills that turn a resolved incident or a known error into a
draft article (KCS: capture knowledge in the flow of work)."""

from __future__ import annotations

import datetime
import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import events, people, records
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed

from .models import Article, ArticleCategory, ArticleFeedback, ArticleReview, ArticleVersion
from .workflows import ARTICLE_WORKFLOW

CONTENT_FIELDS = ("title", "summary", "body")
# Fields that may change while an article is in review or published (they do not change what it says).
METADATA_FIELDS = {"category", "tags", "services", "cis", "known_errors", "incidents", "owner_team", "reviewers",
                   "review_by"}
AUDITED = ["title", "summary", "body", "category", "tags", "services", "cis", "known_errors", "incidents",
           "owner_team", "author", "reviewers", "status", "status_reason", "version", "published_at", "review_by",
           "source_incident", "source_known_error"]
RESOLVED_INCIDENT_STATES = ("resolved", "closed")


# --- articles -------------------------------------------------------------------------------------------

def _version(article: Article, *, actor: Actor, note: str = "") -> ArticleVersion:
    return ArticleVersion.objects.create(article=article, number=article.version, title=article.title,
                                         summary=article.summary, body=article.body, note=note[:300],
                                         author=actor.user, actor_label=actor.label[:200])


def create_article(*, actor: Actor, data: dict) -> Article:
    """A draft article, version 1. The author is the acting user unless `data` names one."""
    fields = dict(data)
    fields.setdefault("author", actor.user)
    note = fields.pop("note", "") or _("First version")
    if not str(fields.get("body") or "").strip():
        raise ValidationError({"body": _("Write the article's text.")})
    with transaction.atomic():
        article = records.create_record(Article, actor=actor, fields=fields, workflow=ARTICLE_WORKFLOW,
                                        audited=AUDITED)
        _version(article, actor=actor, note=note)
    return article


def update_article(article: Article, *, actor: Actor, data: dict, note: str = "") -> Article:
    """Edit an article. A change of title, summary or body makes a new version, and only a draft's
    text may change (a published article is revised first); related records, category, reviewers
    and the review date may change in review or published too. A retired article is read-only."""
    fields = dict(data)
    note = fields.pop("note", note) or ""

    def check(locked: Article, fields: dict) -> None:
        if locked.status == "retired":
            raise TransitionNotAllowed(_("%(a)s is retired: restore it as a draft to edit it.") % {"a": locked})
        changed = [name for name in CONTENT_FIELDS if name in fields and fields[name] != getattr(locked, name)]
        if changed and locked.status != "draft":
            raise TransitionNotAllowed(
                _("%(a)s is %(state)s: its text changes only as a draft. Revise it (or take it back to draft) "
                  "first.") % {"a": locked, "state": locked.get_status_display()})
        unknown = [name for name in fields if name not in METADATA_FIELDS and name not in CONTENT_FIELDS]
        if unknown:
            raise ValidationError({name: _("This field cannot be changed here.") for name in unknown})
        if "body" in fields and not str(fields["body"] or "").strip():
            raise ValidationError({"body": _("Write the article's text.")})
        if changed:
            fields["version"] = locked.version + 1
        if "review_by" in fields and fields["review_by"] != locked.review_by:
            fields["review_reminded_at"] = None  # a new review period: remind again when it is due

    fields.pop("version", None)
    with transaction.atomic():
        before = Article.objects.only("version").get(pk=article.pk).version
        article = records.update_record(article, actor=actor, fields=fields, audited=AUDITED, check=check,
                                        protected=("status", "number", "version", "view_count", "helpful_count",
                                                   "not_helpful_count", "published_at"))
        if article.version != before:
            _version(article, actor=actor, note=note)
    return article


def _apply_transition_fields(article: Article, transition, data: dict) -> None:
    if transition.name == "submit" and not article.reviewers.exclude(pk=article.author_id).exists():
        raise ValidationError({"reviewers": _("Name at least one reviewer (not the author) before submitting.")})
    if transition.name == "publish":
        article.published_at = timezone.now()
        article.status_reason = str(data.get("comment") or "")[:500]
    elif transition.name == "retire":
        article.status_reason = str(data.get("reason") or "")[:500]
    elif transition.name in ("revise", "restore", "submit", "withdraw"):
        article.status_reason = ""


def transition_article(article: Article, name: str, *, actor: Actor, data: dict | None = None) -> Article:
    """submit (needs a reviewer), withdraw, publish (managers, without review), revise, retire (reason),
    restore."""
    return records.transition_record(article, name, actor=actor, workflow=ARTICLE_WORKFLOW, data=data,
                                     apply_fields=_apply_transition_fields)


def review_article(article: Article, *, actor: Actor, decision: str, comment: str = "") -> ArticleReview:
    """A reviewer's verdict on the version in review: "approved" publishes the article,
    "changes_requested" sends it back to draft (a comment saying what to change is required). The
    author is notified either way."""
    if decision not in dict(ArticleReview.DECISIONS):
        raise ValidationError({"decision": _("Choose approved or changes_requested.")})
    comment = (comment or "").strip()
    if decision == "changes_requested" and not comment:
        raise ValidationError({"comment": _("Say what should change.")})
    user = actor.user
    with transaction.atomic():
        locked = Article.objects.select_for_update().get(pk=article.pk)
        if locked.status != "in_review":
            raise TransitionNotAllowed(_("%(a)s is %(state)s: only an article in review can be reviewed.")
                                       % {"a": locked, "state": locked.get_status_display()})
        if user is None or not locked.reviewers.filter(pk=user.pk).exists():
            raise ValidationError({"reviewer": _("Only a reviewer named on the article can review it.")})
        if locked.author_id == user.pk:
            raise ValidationError({"reviewer": _("Authors do not review their own articles.")})
        review = ArticleReview.objects.create(article=locked, version=locked.version, reviewer=user,
                                              decision=decision, comment=comment)
        name = "publish" if decision == "approved" else "withdraw"
        # The transition as the service's, with the reviewer's role checked by the caller (a reviewer
        # approves by being named, not by being a manager).
        locked = records.transition_record(locked, name, actor=actor, workflow=ARTICLE_WORKFLOW,
                                           data={"comment": comment}, apply_fields=_apply_transition_fields)
        events.emit("article.reviewed", locked, actor=actor,
                    payload={"decision": decision, "version": review.version, "comment": comment[:500]},
                    recipients=[locked.author_id] if locked.author_id else None)
    return review


# --- feedback and views ---------------------------------------------------------------------------------

def record_feedback(article: Article, *, user, helpful: bool, comment: str = "") -> ArticleFeedback:
    """One vote per person: a second vote replaces the first and the counters move with it, in the
    database (F expressions), so concurrent votes never lose a count."""
    if article.status != "published":
        raise TransitionNotAllowed(_("Feedback is for published articles."))
    helpful = bool(helpful)
    comment = (comment or "").strip()[:1000]
    with transaction.atomic():
        existing = ArticleFeedback.objects.select_for_update().filter(article=article, user=user).first()
        if existing is None:
            feedback = ArticleFeedback.objects.create(article=article, user=user, helpful=helpful, comment=comment)
            counter = "helpful_count" if helpful else "not_helpful_count"
            Article.objects.filter(pk=article.pk).update(**{counter: F(counter) + 1})
        else:
            if existing.helpful != helpful:
                up, down = ("helpful_count", "not_helpful_count") if helpful else ("not_helpful_count", "helpful_count")
                Article.objects.filter(pk=article.pk).update(**{up: F(up) + 1, down: F(down) - 1})
            existing.helpful, existing.comment = helpful, comment or existing.comment
            existing.save(update_fields=["helpful", "comment", "updated_at"])
            feedback = existing
    return feedback


def record_view(article: Article, *, user) -> bool:
    """Count a view (one UPDATE with F()); the author's own views do not count. The page calls this once
    per article and browser session. Returns whether it counted."""
    if user is not None and getattr(user, "pk", None) is not None and user.pk == article.author_id:
        return False
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)
    return True


# --- review reminders -----------------------------------------------------------------------------------

def remind_reviews(now: datetime.datetime | None = None) -> int:
    """Notify the author (or, without an active one, the owner team's managers: `core.people`) of each
    published article whose review date has come, once per review period: `review_reminded_at` is set,
    and cleared when the review date moves. A fixed number of queries for the batch (the managers of
    every team concerned in one, one update, the events in one insert), however many are due. Returns
    how many were reminded."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    actor = Actor.system("knowledge.remind_reviews")
    with transaction.atomic():
        due = list(Article.objects.select_for_update(skip_locked=True, of=("self",)).select_related("author")
                   .filter(status="published", review_by__lte=today, review_reminded_at__isnull=True)
                   .order_by("review_by", "id")[:500])
        managers = people.team_members({a.owner_team_id for a in due if a.owner_team_id})
        items = []
        for article in due:
            payload = {"review_by": article.review_by.isoformat()}
            recipients = people.responsible(article.author, article.owner_team_id, members=managers)
            if recipients:  # as events.emit addresses them
                payload["recipients"] = sorted(set(recipients))
            items.append(("article.review_due", article, payload))
        Article.objects.filter(pk__in=[a.pk for a in due]).update(review_reminded_at=now)
        events.emit_many(items, actor=actor)
    return len(due)


# --- prefills (KCS) -------------------------------------------------------------------------------------

# A resolution note that only points elsewhere ("Service restored; see the timeline.") says nothing an
# article could reuse: the prefill then quotes the incident's last notes that carry text.
STUB_NOTES = re.compile(r"\bsee\s+(the\s+)?(timeline|comments?|notes|updates|ticket|above|below|log)\b", re.I)
STUB_MAX_CHARS = 160
PREFILL_NOTES = 5  # the incident's last notes quoted under Solution when the resolution notes are a stub
PREFILL_NOTE_CHARS = 1000


def _section(title: str, text: str, hint: str = "") -> str:
    """A Markdown section; an empty one holds a hint in italics saying what to write (never an ellipsis)."""
    text = (text or "").strip() or (f"_{hint}_" if hint else "")
    return f"## {title}\n\n{text}\n" if text else f"## {title}\n"


def is_stub(notes: str) -> bool:
    notes = (notes or "").strip()
    return not notes or (len(notes) <= STUB_MAX_CHARS and bool(STUB_NOTES.search(notes)))


def _last_notes(incident) -> list[str]:
    """The incident's last comments and communication updates that carry text, oldest first, as
    Markdown list items ("2026-03-01 14:20, Dana: restarted the pods")."""
    from opsdesk.core.comments import comments_for

    rows = [(c.created_at, c.pk, c.actor_label, c.body)
            for c in comments_for(incident).exclude(body="").order_by("-created_at", "-id")[:PREFILL_NOTES]]
    rows += [(u.created_at, u.pk, u.author_label, u.body)
             for u in incident.updates.exclude(body="").order_by("-created_at", "-id")[:PREFILL_NOTES]]
    rows = sorted((row for row in rows if (row[3] or "").strip()), key=lambda row: (row[0], row[1]))[-PREFILL_NOTES:]
    items = []
    for at, _pk, who, body in rows:
        text = " ".join(body.split())
        text = text if len(text) <= PREFILL_NOTE_CHARS else text[:PREFILL_NOTE_CHARS - 1] + "…"
        when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M")
        items.append(f"- {when}, {who}: {text}" if who else f"- {when}: {text}")
    return items


def _solution(incident) -> str:
    """The resolution code's label and the resolution notes; when the notes are a stub, the incident's
    last notes with text after them."""
    parts = []
    if incident.resolution_code:
        parts.append(_("Resolution: %(code)s.") % {"code": incident.get_resolution_code_display()})
    notes = (incident.resolution_notes or "").strip()
    if notes:
        parts.append(notes)
    if is_stub(notes):
        items = _last_notes(incident)
        if items:
            parts.append(_("From the incident's last notes:") + "\n\n" + "\n".join(items))
    return "\n\n".join(parts)


def _cause(incident) -> str:
    """The root cause of a problem the incident is linked to (the newest one that has one)."""
    problem = (incident.problems.exclude(root_cause="").order_by("-id").only("number", "root_cause").first())
    if problem is None:
        return ""
    return f"{problem.root_cause.strip()}\n\n" + _("(Root cause of %(problem)s.)") % {"problem": problem.number}


def prefill_from_incident(incident) -> dict:
    """A draft article from a resolved incident: its title, symptoms as the problem, the resolution (code,
    notes, and the last notes of the incident when the resolution notes only point to them) as the
    solution, the root cause of a linked problem as the cause, its service and CIs, the incident linked
    as the source. A section with nothing to say holds a hint of what to write."""
    symptoms, description = (incident.symptoms or "").strip(), (incident.description or "").strip()
    # Descriptions often repeat the symptoms (a form copies them): say it once.
    problem = description if symptoms and symptoms in description else "\n\n".join(filter(None, [symptoms,
                                                                                                   description]))
    cis = list(incident.cis.all())
    body = "\n".join([
        _section(_("Problem"), problem, _("What did users see? Error messages, affected functions.")),
        _section(_("Environment"), ", ".join(filter(None, [str(incident.service or "")] + [ci.name for ci in cis])),
                 _("Which services, systems and versions are concerned?")),
        _section(_("Solution"), _solution(incident), _("The steps that resolved it, in order.")),
        _section(_("Cause"), _cause(incident),
                 _("Not known yet: say why it happened once a problem investigation finds the root cause.")),
    ])
    return {"title": incident.title, "summary": (incident.symptoms or incident.description or "").strip()[:500],
            "body": body, "services": [incident.service] if incident.service_id else [],
            "cis": cis, "incidents": [incident], "owner_team": incident.assignment_group,
            "source_incident": incident}


def prefill_from_known_error(known_error) -> dict:
    """A draft article from a known error: symptom, cause, workaround and solution as sections, its CIs
    and services, the known error linked as the source."""
    body = "\n".join([
        _section(_("Symptom"), known_error.symptom, _("What did users see? Error messages, affected functions.")),
        _section(_("Cause"), known_error.root_cause, _("Why it happens.")),
        _section(_("Workaround"), known_error.workaround, _("How to restore service until the fix.")),
        _section(_("Solution"), known_error.permanent_solution or _("No permanent solution yet.")),
    ])
    return {"title": known_error.title, "summary": (known_error.symptom or "").strip()[:500], "body": body,
            "cis": list(known_error.cis.all()), "services": list(known_error.services.all()),
            "known_errors": [known_error], "source_known_error": known_error}


# --- categories ----------------------------------------------------------------------------------------

CATEGORY_AUDITED = ["name", "slug", "description", "order"]


def create_category(*, actor: Actor, data: dict) -> ArticleCategory:
    return records.create_record(ArticleCategory, actor=actor, fields=data, audited=CATEGORY_AUDITED)


def update_category(category: ArticleCategory, *, actor: Actor, data: dict) -> ArticleCategory:
    return records.update_record(category, actor=actor, fields=data, audited=CATEGORY_AUDITED,
                                 protected=("id",))


# --- search ---------------------------------------------------------------------------------------------

def search_document(article: Article):
    """What the full-text index keeps of an article (core.search): title, summary, body and tags."""
    from opsdesk.core.search import Document

    tags = " ".join(tag.name for tag in article.tags.all())
    body = "\n".join(t for t in (article.summary, article.body, tags) if t)
    return Document(title=article.title, body=body, state=article.status, number=article.number)


def _incident_link(incident) -> str:
    from django.urls import reverse

    if incident.status not in RESOLVED_INCIDENT_STATES:
        return ""
    return f"{reverse('knowledge:create')}?incident={incident.pk}"


def _known_error_link(known_error) -> str:
    from django.urls import reverse

    return f"{reverse('knowledge:create')}?known_error={known_error.pk}"


def wire() -> None:
    """The article search indexer and the "Write an article" buttons on incidents and known errors."""
    from django.utils.translation import gettext_lazy

    from opsdesk.core import registry, search
    from opsdesk.incidents.models import Incident
    from opsdesk.problems.models import KnownError

    search.register(Article, kind="article", label=gettext_lazy("Articles"), document=search_document,
                    prefetch=("tags",), answers=("published",))
    registry.register_record_link(Incident, registry.RecordLink(gettext_lazy("Write an article"), _incident_link,
                                                                icon="journal-plus", role="responder"))
    registry.register_record_link(KnownError, registry.RecordLink(
        gettext_lazy("Write an article"), _known_error_link, icon="journal-plus", role="responder"))


def articles_for_review(user):
    """Articles in review naming `user` as a reviewer (their review queue)."""
    return Article.objects.filter(status="in_review", reviewers=user).filter(~Q(author=user))
