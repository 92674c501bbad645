"""Forms of the change pages. They never save: `service_data()` hands model instances to
changes/services.py (changes) and changes/catalog.py (templates).

The plan is a list of step rows named `steps-<n>-<field>` (kind, who, action, minutes, verification);
rows are added and removed by a server round trip (the Add/Remove buttons submit the form with
`add_step` / `remove_step`), and choosing a template or a category loads its rows by htmx."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Team
from opsdesk.core.forms import CommaListField, RecordForm
from opsdesk.incidents.forms import CIsField
from opsdesk.problems.forms import IncidentsField
from opsdesk.problems.models import Problem
from opsdesk.services.models import Service

from . import services
from .models import ChangeCategory, ChangeRequest, ChangeTemplate

STEP_FIELDS = ("kind", "who", "action", "minutes", "verification")
STEP_NAME = re.compile(r"^steps-(\d{1,3})-(kind|who|action|minutes|verification)$")
MAX_LINKED = services.MAX_LINKED
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def step_rows_from(data) -> list[dict] | None:
    """The step rows posted (in row order), or None when the form carried no plan rows at all."""
    rows: dict[int, dict] = {}
    for key in data.keys():
        match = STEP_NAME.match(key)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = str(data.get(key) or "").strip()
    if not rows and not data.get("steps-present"):
        return None
    result = []
    for index in sorted(rows):
        row = {name: rows[index].get(name, "") for name in STEP_FIELDS}
        if not any(row[name] for name in ("who", "action", "minutes", "verification")):
            continue  # an empty row left in the editor
        row["kind"] = row["kind"] or "implementation"
        result.append(row)
    return result


def rows_for_editor(steps) -> list[dict]:
    """Rows for the steps editor from PlanStep objects or step dicts, implementation rows first."""
    rows = []
    for step in steps:
        get = step.get if isinstance(step, dict) else (lambda name, s=step: getattr(s, name, ""))
        rows.append({name: "" if get(name) is None else get(name) for name in STEP_FIELDS})
    rows.sort(key=lambda r: 0 if (r["kind"] or "implementation") == "implementation" else 1)
    return rows


def template_rows(template: ChangeTemplate | None) -> list[dict]:
    if template is None:
        return []
    return rows_for_editor([{**s, "kind": "implementation"} for s in template.plan_steps or []]
                           + [{**s, "kind": "backout"} for s in template.backout_steps or []])


class ServicesField(CommaListField):
    """Affected services typed as keys or numbers, "online-shop, SVC-7": one query however many."""

    def shown(self, service) -> str:
        return service.slug

    def convert(self, items):
        if len(items) > MAX_LINKED:
            raise ValidationError(_("At most %(n)s services.") % {"n": MAX_LINKED})
        found = list(Service.objects.filter(Q(slug__in=items) | Q(number__in=[i.upper() for i in items])))
        chosen, missing = {}, []
        for item in items:
            match = next((s for s in found if s.slug == item or s.number == item.upper()), None)
            if match is None:
                missing.append(item)
            else:
                chosen[match.pk] = match
        if missing:
            raise ValidationError(_("No service with the key or number %(items)s.") % {"items": ", ".join(missing)})
        return list(chosen.values())


class ProblemsField(CommaListField):
    def shown(self, problem) -> str:
        return problem.number

    def convert(self, items):
        if len(items) > MAX_LINKED:
            raise ValidationError(_("At most %(n)s problems.") % {"n": MAX_LINKED})
        numbers = [item.upper() if not item.isdigit() else f"PRB-{item}" for item in items]
        found = {p.number: p for p in Problem.objects.filter(number__in=numbers)}
        missing = [n for n in numbers if n not in found]
        if missing:
            raise ValidationError(_("No problem with the number %(items)s.") % {"items": ", ".join(missing)})
        return list({found[n].pk: found[n] for n in numbers}.values())


def template_choices():
    """The template picker: the standard catalog, then the plan templates of the categories."""
    standard, plans = [], []
    for template in ChangeTemplate.objects.filter(active=True).select_related("category").order_by("name"):
        label = f"{template.name} ({template.category.name})" if template.category_id else template.name
        (standard if template.change_type == "standard" else plans).append((template.pk, label))
    return [("", "---------"), (_("Standard changes (pre-approved)"), standard), (_("Plan templates"), plans)]


class ChangeForm(RecordForm):
    services = ServicesField(label=_("Affected services"), help_text=_("Service keys, comma separated, e.g. "
                                                                       "online-shop, billing"))
    cis = CIsField(label=_("Affected CIs"), help_text=_("Numbers or names, comma separated, e.g. CI-12, db-orders-1"))
    incidents = IncidentsField(label=_("Linked incidents"), help_text=_("Incident numbers, e.g. INC-12, INC-14"))
    problems = ProblemsField(label=_("Linked problems"), help_text=_("Problem numbers, e.g. PRB-3"))
    planned_start = forms.DateTimeField(label=_("Planned start"), required=False, input_formats=[DATETIME_FORMAT],
                                        widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                   format=DATETIME_FORMAT))
    planned_end = forms.DateTimeField(label=_("Planned end"), required=False, input_formats=[DATETIME_FORMAT],
                                      widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                 format=DATETIME_FORMAT))

    class Meta:
        model = ChangeRequest
        fields = ["change_type", "template", "title", "description", "reason", "category", "owner_team",
                  "implementer", "services", "cis", "planned_start", "planned_end", "expected_outage",
                  "outage_minutes", "test_plan", "communication_plan", "incidents", "problems"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3}), "reason": forms.Textarea(attrs={"rows": 2}),
                   "test_plan": forms.Textarea(attrs={"rows": 2}),
                   "communication_plan": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, prefill: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False  # a template may give it; the service says when it is missing
        self.fields["template"].queryset = ChangeTemplate.objects.filter(active=True)
        self.fields["template"].choices = template_choices()
        self.fields["template"].help_text = _("A standard change is made from the standard catalog; for a normal "
                                              "or emergency change the category's plan template is proposed.")
        self.fields["category"].queryset = ChangeCategory.objects.filter(active=True)
        self.fields["owner_team"].queryset = Team.objects.order_by("name")
        self.fields["implementer"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        rows_url = str(reverse_lazy("changes:plan_rows"))
        for name in ("template", "category"):
            self.fields[name].widget.attrs.update({
                "hx-get": rows_url, "hx-trigger": "change", "hx-target": "#plan-steps", "hx-swap": "outerHTML",
                "hx-include": "[name=template],[name=category]"})
        if self.instance.pk:
            for name in ("services", "cis", "incidents", "problems"):
                self.initial[name] = getattr(self.instance, name).all()
            if self.instance.status != "draft":
                self.fields["change_type"].disabled = True
        else:
            self.fields["change_type"].widget.attrs.setdefault("autofocus", True)
            for name, value in (prefill or {}).items():
                if name in self.fields and value not in (None, "", []):
                    self.initial[name] = getattr(value, "pk", value)

    def clean_title(self):
        return (self.cleaned_data.get("title") or "").strip()

    def clean(self):
        cleaned = super().clean()
        rows = step_rows_from(self.data) if self.is_bound else None
        self.step_rows = rows
        if rows is not None:
            try:
                cleaned["steps"] = services.clean_steps(rows)
            except ValidationError as exc:
                self.step_errors = exc.message_dict["steps"]
                self.add_error(None, _("The plan has mistakes: see the steps."))
        if not cleaned.get("title") and not cleaned.get("template"):
            self.add_error("title", _("Give the change a title (or choose a template that has one)."))
        start, end = cleaned.get("planned_start"), cleaned.get("planned_end")
        if start and end and end <= start:  # with the other field errors, not only once they are fixed
            self.add_error("planned_end", _("The planned end must be after the planned start."))
        if cleaned.get("expected_outage") and cleaned.get("outage_minutes") is None:
            self.add_error("outage_minutes", _("Say how many minutes the outage is expected to last."))
        return cleaned

    step_errors: list[str] = []
    step_rows: list[dict] | None = None

    def service_data(self) -> dict:
        data = super().service_data()
        if "steps" in self.cleaned_data:
            data["steps"] = self.cleaned_data["steps"]
        if not data.get("title"):
            data.pop("title", None)
        if self.fields["change_type"].disabled:
            data.pop("change_type", None)
        return data


class TemplateForm(RecordForm):
    """A catalog template; its plan rows are edited like a change's (the kind says which list)."""

    class Meta:
        model = ChangeTemplate
        fields = ["slug", "name", "change_type", "category", "title", "description", "test_plan",
                  "communication_plan", "expected_minutes", "risk_level", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3}), "test_plan": forms.Textarea(attrs={"rows": 2}),
                   "communication_plan": forms.Textarea(attrs={"rows": 2})}

    step_errors: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = ChangeCategory.objects.order_by("name")
        if self.instance.pk:
            self.fields["slug"].disabled = True

    def clean(self):
        cleaned = super().clean()
        rows = step_rows_from(self.data) or []
        self.step_rows = rows
        try:
            steps = services.clean_steps(rows)
        except ValidationError as exc:
            self.step_errors = exc.message_dict["steps"]
            raise ValidationError(_("The plan has mistakes: see the steps.")) from None
        keys = ("who", "action", "minutes", "verification")
        cleaned["plan_steps"] = [{k: s[k] for k in keys} for s in steps if s["kind"] == "implementation"]
        cleaned["backout_steps"] = [{k: s[k] for k in keys} for s in steps if s["kind"] == "backout"]
        return cleaned

    def service_data(self) -> dict:
        data = super().service_data()
        data["plan_steps"] = self.cleaned_data["plan_steps"]
        data["backout_steps"] = self.cleaned_data["backout_steps"]
        if self.instance.pk:
            data.pop("slug", None)
        return data


class TickForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, max_length=500,
                           widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}))
