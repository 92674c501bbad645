"""The configuration audit pages under /cmdb/audits/: the dashboard (latest compliance per rule and
class, the trend), run details with their findings, accepting a finding as an exception, the rules and
the exceptions. Views are thin: they authorize and call `auditing`."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core import audit
from opsdesk.core.permissions import has_role
from opsdesk.core.views import RoleView
from opsdesk.core.workflow import TransitionNotAllowed

from . import audit_conditions, auditing
from .models import AuditException, AuditFinding, AuditResult, AuditRule, AuditRun

TREND_RUNS = 30
FINDINGS_PER_PAGE = 50


def _rule_totals(results) -> list[dict]:
    """Results of one run grouped by rule: totals and the per-class rows."""
    rules: dict[int, dict] = {}
    for result in results:
        row = rules.setdefault(result.rule_id, {"rule": result.rule, "classes": [], "checked": 0, "failing": 0,
                                                "excepted": 0})
        row["classes"].append(result)
        for name in ("checked", "failing", "excepted"):
            row[name] += getattr(result, name)
    for row in rules.values():
        row["compliance"] = auditing.compliance(row["checked"], row["failing"], row["excepted"])
    return sorted(rules.values(), key=lambda r: (r["compliance"], r["rule"].name))


def trend(limit: int = TREND_RUNS) -> dict:
    """Overall and per-rule compliance of the last `limit` completed runs, oldest first, for the chart."""
    runs = list(AuditRun.objects.filter(status="done").order_by("-id")[:limit])[::-1]
    sums = (AuditResult.objects.filter(run__in=runs).order_by().values("run_id", "rule_id")
            .annotate(checked=Sum("checked"), failing=Sum("failing"), excepted=Sum("excepted")))
    by_rule: dict[int, dict[int, float]] = {}
    for row in sums:
        value = auditing.compliance(row["checked"], row["failing"], row["excepted"])
        by_rule.setdefault(row["rule_id"], {})[row["run_id"]] = float(value)
    names = dict(AuditRule.objects.filter(pk__in=by_rule).values_list("pk", "name"))
    return {
        "labels": [f"{run.number} · {timezone.localtime(run.started_at):%d %b}" for run in runs],
        "overall": [float(run.compliance) if run.compliance is not None else None for run in runs],
        "overall_label": _("Overall compliance %"),
        "rules": [{"label": names[rule_id], "values": [values.get(run.pk) for run in runs]}
                  for rule_id, values in sorted(by_rule.items(), key=lambda item: names[item[0]])],
    }


class AuditDashboardView(RoleView):
    def get(self, request):
        latest_done = AuditRun.objects.filter(status="done").first()
        results = latest_done.results.select_related("rule", "ci_class") if latest_done else []
        return render(request, "cmdb/audit_dashboard.html", {
            "latest": AuditRun.objects.first(),
            "latest_done": latest_done,
            "failing": latest_done.findings_count - latest_done.excepted_count if latest_done else 0,
            "rules": _rule_totals(results),
            "trend": trend(),
            "recent_runs": AuditRun.objects.all()[:10],
            "active_exceptions": auditing.active_exceptions().count(),
            "can_start": has_role(request.user, "manager"),
        })


class AuditStartView(RoleView):
    role = "manager"

    def post(self, request):
        try:
            run = auditing.start_audit(actor=self.actor())
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect("cmdb:audit_dashboard")
        messages.success(request, _("%(run)s started; the page shows its findings when it has finished.")
                         % {"run": run})
        return redirect(run.get_absolute_url())


class AuditRunDetailView(RoleView):
    SHOW = {"all": Q(), "failing": Q(excepted=False), "excepted": Q(excepted=True)}

    def get(self, request, pk):
        run = get_object_or_404(AuditRun, pk=pk)
        results = list(run.results.select_related("rule", "ci_class"))
        rules = sorted({r.rule for r in results}, key=lambda r: r.name)
        rule_slug = request.GET.get("rule", "")
        show = request.GET.get("show", "all") if request.GET.get("show") in self.SHOW else "all"
        findings = run.findings.filter(self.SHOW[show]).select_related("rule", "ci").order_by("rule__name", "id")
        if rule_slug:
            findings = findings.filter(rule__slug=rule_slug)
        page = Paginator(findings, FINDINGS_PER_PAGE).get_page(request.GET.get("page"))
        accepted = _current_exceptions(page.object_list)
        rows = [{"finding": f, "exception": accepted.get((f.rule_id, f.ci_id, f.key)),
                 "can_accept": auditing.may_accept(request.user, f.ci), "differences": _differences(f)}
                for f in page.object_list]
        query = request.GET.copy()
        query.pop("page", None)
        return render(request, "cmdb/audit_detail.html", {
            "run": run, "rules": rules, "rule_rows": _rule_totals(results), "rule_slug": rule_slug, "show": show,
            "page": page, "rows": rows, "page_query": query.urlencode(),
        })


def _differences(finding) -> list[tuple]:
    """A drift finding's (field, recorded, discovered), as people read them."""
    return [(d.get("field"), auditing.shown(d.get("recorded")), auditing.shown(d.get("discovered")))
            for d in (finding.details or {}).get("differences", [])]


def _current_exceptions(findings) -> dict:
    findings = list(findings)
    if not findings:
        return {}
    subjects = Q(ci_id__in={f.ci_id for f in findings if f.ci_id}) | Q(key__in={f.key for f in findings if f.key})
    rows = auditing.active_exceptions().filter(subjects, rule_id__in={f.rule_id for f in findings})
    return {(e.rule_id, e.ci_id, e.key): e for e in rows}


class AcceptForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
                             help_text=gettext_lazy("Why this is acceptable for now, e.g. the decommissioning "
                                                    "ticket."))
    expires_at = forms.DateField(label=gettext_lazy("Accepted until"),
                                 widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
                                 help_text=gettext_lazy("Through this day, at most a year ahead; then the finding "
                                                        "counts again."))


def _mark_invalid(form) -> None:
    for name in form.errors:
        if name in form.fields:
            form.fields[name].widget.attrs["class"] += " is-invalid"


def _add_errors(form, exc: ValidationError) -> None:
    for field, errors in (exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]):
        form.add_error(field if field in form.fields else None, errors)


class FindingAcceptView(RoleView):
    def get_finding(self, pk):
        finding = get_object_or_404(AuditFinding.objects.select_related("run", "rule", "ci"), pk=pk)
        if not auditing.may_accept(self.request.user, finding.ci):
            raise PermissionDenied
        return finding

    def render_form(self, finding, form, status=200):
        return render(self.request, "cmdb/audit_accept.html", {"finding": finding, "form": form}, status=status)

    def get(self, request, pk):
        finding = self.get_finding(pk)
        initial = {"expires_at": timezone.localdate() + datetime.timedelta(days=90)}
        return self.render_form(finding, AcceptForm(initial=initial))

    def post(self, request, pk):
        finding = self.get_finding(pk)
        form = AcceptForm(request.POST)
        if form.is_valid():
            try:
                auditing.accept_finding(finding, actor=self.actor(), **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            except TransitionNotAllowed as exc:
                form.add_error(None, str(exc))
                return self.render_form(finding, form, status=409)
            else:
                messages.success(request, _("The finding was accepted as an exception until %(date)s.")
                                 % {"date": form.cleaned_data["expires_at"]})
                return redirect(f"{finding.run.get_absolute_url()}?rule={finding.rule.slug}")
        _mark_invalid(form)
        return self.render_form(finding, form, status=422)


# --- rules -------------------------------------------------------------------------------------------


class RuleForm(forms.Form):
    slug = forms.SlugField(label=gettext_lazy("Key"), max_length=64,
                           help_text=gettext_lazy("Stable identifier, used by the API and the configuration file."))
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=AuditRule.KINDS)
    severity = forms.ChoiceField(label=gettext_lazy("Severity"), choices=AuditRule.SEVERITIES, initial="medium")
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)
    scope = forms.CharField(label=gettext_lazy("Applies to"), required=False,
                            widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
                            help_text=gettext_lazy("One condition per line: field operator value, e.g. "
                                                   "“status in in_production, maintenance”. Empty: every CI."))
    conditions = forms.CharField(label=gettext_lazy("Breaks the rule when"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
                                 help_text=gettext_lazy("Same form, e.g. “owner_team isnull true”."))

    def __init__(self, *args, rule: AuditRule | None = None, **kwargs):
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = {"name": rule.name, "description": rule.description, "severity": rule.severity,
                                 "enabled": rule.enabled, "scope": audit_conditions.format_lines(rule.scope),
                                 "conditions": audit_conditions.format_lines(rule.conditions)}
        super().__init__(*args, **kwargs)
        if rule is not None:  # the key and kind never change; a builtin rule keeps its definition
            for name in ("slug", "kind", *(("scope", "conditions") if rule.builtin else ())):
                del self.fields[name]
        for field in self.fields.values():
            css = "form-check-input" if isinstance(field.widget, forms.CheckboxInput) else (
                "form-select" if isinstance(field.widget, forms.Select) else "form-control")
            field.widget.attrs["class"] = f"{css} {field.widget.attrs.get('class', '')}".strip()

    def clean_scope(self):
        return audit_conditions.parse_lines(self.cleaned_data["scope"], key="scope")

    def clean_conditions(self):
        return audit_conditions.parse_lines(self.cleaned_data["conditions"], key="conditions")


def _field_reference() -> list[tuple[str, list]]:
    return [(audit_conditions.SUBJECT_LABELS[subject], [(f.name, f.type, ", ".join(f.ops)) for f in fields.values()])
            for subject, fields in audit_conditions.SUBJECTS.items()]


class RuleListView(RoleView):
    def get(self, request):
        latest_done = AuditRun.objects.filter(status="done").first()
        totals = {row["rule"].pk: row for row in _rule_totals(
            latest_done.results.select_related("rule", "ci_class") if latest_done else [])}
        rules = [{"rule": rule, "latest": totals.get(rule.pk)} for rule in AuditRule.objects.order_by("name")]
        return render(request, "cmdb/rule_list.html", {"rules": rules, "latest_done": latest_done,
                                                       "can_edit": has_role(request.user, "admin")})


class RuleDetailView(RoleView):
    def get(self, request, pk):
        rule = get_object_or_404(AuditRule, pk=pk)
        runs = list(AuditRun.objects.filter(results__rule=rule, status="done").distinct().order_by("-id")[:10])
        results = AuditResult.objects.filter(rule=rule, run__in=runs).select_related("rule", "ci_class", "run")
        by_run = {}
        for result in results:
            by_run.setdefault(result.run_id, []).append(result)
        history = [{"run": run, **_rule_totals(by_run.get(run.pk, []))[0]} for run in runs if by_run.get(run.pk)]
        return render(request, "cmdb/rule_detail.html", {
            "rule": rule, "scope_lines": audit_conditions.format_lines(rule.scope),
            "condition_lines": audit_conditions.format_lines(rule.conditions),
            "latest": history[0] if history else None, "history": history,
            "exceptions": auditing.active_exceptions().filter(rule=rule).select_related("ci")[:50],
            "changes": audit.history_for(rule)[:50], "can_edit": has_role(request.user, "admin"),
        })


class RuleFormView(RoleView):
    role = "admin"

    def render_form(self, form, rule=None, status=200):
        return render(self.request, "cmdb/rule_form.html", {"form": form, "rule": rule,
                                                            "reference": _field_reference()}, status=status)

    def get(self, request, pk=None):
        rule = get_object_or_404(AuditRule, pk=pk) if pk else None
        return self.render_form(RuleForm(rule=rule), rule)

    def post(self, request, pk=None):
        rule = get_object_or_404(AuditRule, pk=pk) if pk else None
        form = RuleForm(request.POST, rule=rule, initial={})
        if form.is_valid():
            try:
                if rule is None:
                    rule = auditing.create_rule(actor=self.actor(), data=form.cleaned_data)
                    messages.success(request, _("The rule “%(rule)s” was created.") % {"rule": rule})
                else:
                    rule = auditing.update_rule(rule, actor=self.actor(), data=form.cleaned_data)
                    messages.success(request, _("The rule “%(rule)s” was saved.") % {"rule": rule})
                return redirect(rule.get_absolute_url())
            except ValidationError as exc:
                _add_errors(form, exc)
        _mark_invalid(form)
        return self.render_form(form, rule, status=422)


class RuleDeleteView(RoleView):
    role = "admin"

    def post(self, request, pk):
        rule = get_object_or_404(AuditRule, pk=pk)
        try:
            auditing.delete_rule(rule, actor=self.actor())
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect(rule.get_absolute_url())
        messages.success(request, _("The rule “%(rule)s” was deleted.") % {"rule": rule})
        return redirect("cmdb:rule_list")


# --- exceptions --------------------------------------------------------------------------------------


class ExceptionListView(RoleView):
    STATES = {"active": gettext_lazy("Active"), "expired": gettext_lazy("Expired"),
              "revoked": gettext_lazy("Revoked"), "all": gettext_lazy("All")}

    def get(self, request):
        now = timezone.now()
        state = request.GET.get("state") if request.GET.get("state") in self.STATES else "active"
        exceptions = AuditException.objects.select_related("rule", "ci", "created_by").order_by("-id")
        exceptions = {
            "active": exceptions.filter(revoked_at__isnull=True, expires_at__gt=now),
            "expired": exceptions.filter(revoked_at__isnull=True, expires_at__lte=now),
            "revoked": exceptions.filter(revoked_at__isnull=False),
        }.get(state, exceptions)
        page = Paginator(exceptions, 50).get_page(request.GET.get("page"))
        rows = [{"exception": e, "state": auditing.exception_state(e, now),
                 "can_revoke": auditing.may_accept(request.user, e.ci)} for e in page.object_list]
        return render(request, "cmdb/audit_exceptions.html", {"page": page, "rows": rows, "state": state,
                                                              "states": self.STATES})


class ExceptionRevokeView(RoleView):
    def post(self, request, pk):
        exception = get_object_or_404(AuditException.objects.select_related("ci"), pk=pk)
        if not auditing.may_accept(request.user, exception.ci):
            raise PermissionDenied
        try:
            auditing.revoke_exception(exception, actor=self.actor())
            messages.success(request, _("The exception was revoked; the finding counts again from the next run."))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return redirect("cmdb:audit_exceptions")


urlpatterns = [
    path("audits/", AuditDashboardView.as_view(), name="audit_dashboard"),
    path("audits/run/", AuditStartView.as_view(), name="audit_start"),
    path("audits/<int:pk>/", AuditRunDetailView.as_view(), name="audit_detail"),
    path("audits/findings/<int:pk>/accept/", FindingAcceptView.as_view(), name="finding_accept"),
    path("audits/rules/", RuleListView.as_view(), name="rule_list"),
    path("audits/rules/new/", RuleFormView.as_view(), name="rule_create"),
    path("audits/rules/<int:pk>/", RuleDetailView.as_view(), name="rule_detail"),
    path("audits/rules/<int:pk>/edit/", RuleFormView.as_view(), name="rule_edit"),
    path("audits/rules/<int:pk>/delete/", RuleDeleteView.as_view(), name="rule_delete"),
    path("audits/exceptions/", ExceptionListView.as_view(), name="audit_exceptions"),
    path("audits/exceptions/<int:pk>/revoke/", ExceptionRevokeView.as_view(), name="exception_revoke"),
]
