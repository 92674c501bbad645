"""The "Root-cause analysis" tab of a problem and its pages under /problems/<pk>/rca/: add and edit an
analysis (5 Whys, fishbone, timeline) in a row editor, delete it, copy a 5 Whys' root cause to the
problem, and edit the contributing factors. Viewers read; responders of the problem's team write.
Views are thin: they authorize, parse the rows and call `rca`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from opsdesk.core.actors import Actor
from opsdesk.core.permissions import can
from opsdesk.core.workflow import TransitionNotAllowed

from . import rca
from .models import Problem, RootCauseAnalysis

VIEW_ROLE = "viewer"
EDIT_ROLE = "responder"
BLANK_ROWS = 2


def tab_url(problem_pk: int) -> str:
    return reverse("problems:detail", args=[problem_pk]) + "?tab=rca"


def rendered(analysis: RootCauseAnalysis, labels: dict[str, str]) -> dict:
    """What the page and the report show of one analysis."""
    item = {"analysis": analysis, "pk": analysis.pk, "method": analysis.method,
            "method_label": rca.METHODS.get(analysis.method, analysis.method), "title": analysis.title,
            "data": analysis.data or {}}
    if analysis.method == "fishbone":
        item["svg"] = rca.fishbone_svg(analysis, labels)
        item["bones"] = rca.fishbone_bones(analysis, labels)
    elif analysis.method == "timeline":
        item["events"] = rca.timeline_events(analysis)
    return item


def tab_context(record: Problem, request) -> dict:
    """What _tab_rca.html shows: every analysis rendered, the factors, and what the user may do."""
    from .report_views import report_urls

    labels = rca.category_labels()
    analyses = [rendered(a, labels) for a in record.analyses.all()]
    editable = record.status not in rca.READ_ONLY_STATES
    return {
        "rca_analyses": analyses,
        "rca_methods": list(rca.METHODS.items()),
        "rca_factors": list(record.contributing_factors or []),
        "rca_factors_text": "\n".join(record.contributing_factors or []),
        "rca_can_edit": editable and can(request.user, EDIT_ROLE, record),
        "rca_read_only": not editable,
        "rca_report_urls": report_urls(record.pk),
        "rca_max_factors": rca.MAX_FACTORS,
    }


class ProblemPageBase(LoginRequiredMixin, View):
    """Finds the problem, checks the role on it (its team counts) and gives the actor for writes."""

    role = EDIT_ROLE

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.problem = get_object_or_404(Problem, pk=kwargs["pk"])
        if not can(request.user, self.role, self.problem):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def actor(self) -> Actor:
        return Actor.for_user(self.request.user)

    def back(self):
        return redirect(tab_url(self.problem.pk))

    def get_analysis(self, analysis_pk) -> RootCauseAnalysis:
        return get_object_or_404(RootCauseAnalysis.objects.select_related("problem"), pk=analysis_pk,
                                 problem=self.problem)


# --- the row editor: form fields <-> analysis data ------------------------------------------------------

def _count(post, prefix: str, limit: int) -> int:
    try:
        return max(0, min(int(post.get(f"{prefix}-count", "0")), limit + 50))
    except ValueError:
        return 0


def rows_from_post(method: str, post) -> tuple[dict, list[dict]]:
    """The analysis data from the form, and the rows to show again (with their form index)."""
    rows = []
    if method == "five_whys":
        for i in range(_count(post, "whys", rca.MAX_WHYS)):
            q, a = post.get(f"whys-{i}-question"), post.get(f"whys-{i}-answer")
            if q is None and a is None or post.get(f"whys-{i}-remove"):
                continue
            if (q or "").strip() or (a or "").strip():
                rows.append({"question": q or "", "answer": a or ""})
        data = {"problem": post.get("problem", ""), "root_cause": post.get("root_cause", ""),
                "whys": [{"question": r["question"], "answer": r["answer"]} for r in rows]}
    elif method == "fishbone":
        for i in range(_count(post, "causes", rca.MAX_CAUSES)):
            text = post.get(f"causes-{i}-text")
            if text is None or post.get(f"causes-{i}-remove"):
                continue
            sub = post.get(f"causes-{i}-sub", "")
            if text.strip() or sub.strip():
                rows.append({"category": post.get(f"causes-{i}-category", ""), "text": text, "sub_text": sub})
        data = {"effect": post.get("effect", ""),
                "causes": [{"category": r["category"], "text": r["text"],
                            "sub": [line.strip() for line in r["sub_text"].splitlines() if line.strip()]}
                           for r in rows]}
    else:
        for i in range(_count(post, "events", rca.MAX_EVENTS)):
            text = post.get(f"events-{i}-text")
            if text is None or post.get(f"events-{i}-remove"):
                continue
            at = post.get(f"events-{i}-at", "")
            if text.strip() or at.strip():
                rows.append({"at": at, "text": text, "kind": post.get(f"events-{i}-kind", "note")})
        data = {"events": [dict(r) for r in rows]}
    return data, rows


def rows_from_data(method: str, data: dict) -> list[dict]:
    if method == "five_whys":
        return [dict(w) for w in data.get("whys") or []]
    if method == "fishbone":
        return [{"category": c.get("category", ""), "text": c.get("text", ""),
                 "sub_text": "\n".join(c.get("sub") or [])} for c in data.get("causes") or []]
    rows = []
    for event in data.get("events") or []:
        moment = rca.parse_moment(event.get("at"))
        rows.append({"at": timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M") if moment else event.get("at", ""),
                     "text": event.get("text", ""), "kind": event.get("kind", "note")})
    return rows


ROW_KEY = {"five_whys": "whys", "fishbone": "causes", "timeline": "events"}


def _attach_errors(method: str, rows: list[dict], errors: dict[str, list[str]]) -> dict[str, str]:
    """Puts `whys[2].answer` errors on row 2's answer; returns the errors left for the whole form."""
    key = ROW_KEY[method]
    general = {}
    for where, messages_ in errors.items():
        if where.startswith(f"{key}[") and "]" in where:
            index_text, _sep, rest = where[len(key) + 1:].partition("]")
            field = rest.lstrip(".").split("[")[0] or "row"
            if field == "sub":
                field = "sub_text"
            if index_text.isdigit() and int(index_text) < len(rows):
                rows[int(index_text)].setdefault("errors", {})[field] = " ".join(messages_)
                continue
        general[where] = " ".join(messages_)
    return general


def _errors_of(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}


class AnalysisFormView(ProblemPageBase):
    """GET: the editor (new analysis of `method`, or an existing one). POST: save."""

    def page(self, method: str, analysis, *, title: str, data: dict, rows: list[dict], errors=None, status=200):
        errors = dict(errors or {})
        general = _attach_errors(method, rows, errors)
        blank = {"five_whys": {"question": "", "answer": ""}, "fishbone": {"category": "", "text": "", "sub_text": ""},
                 "timeline": {"at": "", "text": "", "kind": "note"}}[method]
        rows = rows + [dict(blank) for _ in range(BLANK_ROWS if len(rows) else BLANK_ROWS + 1)]
        context = {
            "problem": self.problem,
            "analysis": analysis,
            "method": method,
            "method_label": rca.METHODS[method],
            "title": title,
            "data": data,
            "rows": rows,
            "row_key": ROW_KEY[method],
            "errors": general,
            "has_errors": bool(errors),
            "categories": rca.category_labels(),
            "event_kinds": list(rca.EVENT_KINDS.items()),
            "limits": {"whys": rca.MAX_WHYS, "causes": rca.MAX_CAUSES, "events": rca.MAX_EVENTS},
            "tz_name": timezone.localtime().tzname(),
            "back_url": tab_url(self.problem.pk),
            "action": self.request.path,
        }
        return render(self.request, "problems/rca_form.html", context, status=status)

    def get(self, request, pk, method=None, analysis_pk=None):
        try:
            rca.check_editable(self.problem)
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
            return self.back()
        if analysis_pk:
            analysis = self.get_analysis(analysis_pk)
            return self.page(analysis.method, analysis, title=analysis.title, data=analysis.data,
                             rows=rows_from_data(analysis.method, analysis.data or {}))
        if method not in rca.METHODS:
            raise Http404
        return self.page(method, None, title="", data={}, rows=[])

    def post(self, request, pk, method=None, analysis_pk=None):
        analysis = self.get_analysis(analysis_pk) if analysis_pk else None
        method = analysis.method if analysis else method
        if method not in rca.METHODS:
            raise Http404
        data, rows = rows_from_post(method, request.POST)
        title = request.POST.get("title", "")
        try:
            if analysis is None:
                rca.add_analysis(self.problem, actor=self.actor(), method=method, data=data, title=title)
                messages.success(request, _("The analysis was added."))
            else:
                rca.update_analysis(analysis, actor=self.actor(), data=data, title=title)
                messages.success(request, _("The analysis was saved."))
        except ValidationError as exc:
            return self.page(method, analysis, title=title, data=data, rows=rows, errors=_errors_of(exc), status=422)
        except TransitionNotAllowed as exc:
            return self.page(method, analysis, title=title, data=data, rows=rows,
                             errors={"non_field_errors": [str(exc)]}, status=409)
        return self.back()


class AnalysisActionView(ProblemPageBase):
    """POST-only: delete an analysis, or copy a 5 Whys' root cause to the problem."""

    action = ""

    def post(self, request, pk, analysis_pk):
        analysis = self.get_analysis(analysis_pk)
        try:
            if self.action == "delete":
                rca.delete_analysis(analysis, actor=self.actor())
                messages.success(request, _("The analysis was deleted; the change log keeps its content."))
            else:
                rca.use_as_root_cause(analysis, actor=self.actor())
                messages.success(request, _("The problem's root cause is now this 5 Whys' root cause."))
        except ValidationError as exc:
            messages.error(request, " ".join(m for ms in _errors_of(exc).values() for m in ms))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return self.back()


class FactorsView(ProblemPageBase):
    """POST: the contributing factors, one per line."""

    def post(self, request, pk):
        factors = [line for line in request.POST.get("factors", "").splitlines() if line.strip()]
        try:
            rca.set_contributing_factors(self.problem, factors, actor=self.actor())
            messages.success(request, _("The contributing factors were saved."))
        except ValidationError as exc:
            messages.error(request, " ".join(f"{k}: {' '.join(v)}" for k, v in _errors_of(exc).items()))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return redirect(tab_url(self.problem.pk) + "#rca-factors")


urlpatterns = [
    path("<int:pk>/rca/add/<str:method>/", AnalysisFormView.as_view(), name="rca_add"),
    path("<int:pk>/rca/<int:analysis_pk>/edit/", AnalysisFormView.as_view(), name="rca_edit"),
    path("<int:pk>/rca/<int:analysis_pk>/delete/", AnalysisActionView.as_view(action="delete"), name="rca_delete"),
    path("<int:pk>/rca/<int:analysis_pk>/use-as-root-cause/", AnalysisActionView.as_view(action="root_cause"),
         name="rca_use_root_cause"),
    path("<int:pk>/rca/factors/", FactorsView.as_view(), name="rca_factors"),
]
