"""Forms of the release pages. They never save: `service_data()` hands values to releases/services.py, which
validates work items, planned dates and the rollback procedure again (the API takes the same path).

Lists are typed one item a line, "OPS-12 | Fix the basket | https://git.example.com/mr/12", so the form
needs no script (CSP) and stays keyboard-friendly."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Team
from opsdesk.changes.models import ChangeRequest
from opsdesk.core.forms import CommaListField, RecordForm
from opsdesk.incidents.forms import CIsField
from opsdesk.services.forms import ServiceKeysField

from . import services
from .models import Deployment, Environment, Release

MAX_CHANGES = 100


class ChangesField(CommaListField):
    def shown(self, change) -> str:
        return change.number

    def convert(self, items):
        if len(items) > MAX_CHANGES:
            raise ValidationError(_("At most %(n)s changes.") % {"n": MAX_CHANGES})
        numbers = [item.upper() if not item.isdigit() else f"CHG-{item}" for item in items]
        found = {c.number: c for c in ChangeRequest.objects.filter(number__in=numbers)}
        missing = [n for n in numbers if n not in found]
        if missing:
            raise ValidationError(_("No change with the number %(n)s.") % {"n": ", ".join(missing)})
        return list({found[n].pk: found[n] for n in numbers}.values())


class LinesField(forms.CharField):
    """Rows typed one a line, cells split by "|" into `names`."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, *, names: tuple[str, ...], **kwargs):
        kwargs.setdefault("required", False)
        self.names = names
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(" | ".join("" if row.get(n) is None else str(row.get(n)) for n in self.names)
                             for row in value)
        return value

    def clean(self, value):
        text = super().clean(value) or ""
        rows = []
        for line in text.splitlines():
            if not line.strip():
                continue
            cells = [c.strip() for c in line.split("|")]
            if len(cells) > len(self.names):
                cells = cells[:len(self.names) - 1] + [" | ".join(cells[len(self.names) - 1:])]
            rows.append({name: cells[i] if i < len(cells) else "" for i, name in enumerate(self.names)})
        return rows


class ReleaseForm(RecordForm):
    services = ServiceKeysField(label=_("Services"), help_text=_("Service keys, comma separated, e.g. online-shop"))
    cis = CIsField(label=_("Application CIs"), help_text=_("Numbers or names, comma separated, e.g. CI-12"))
    changes = ChangesField(label=_("Changes"), help_text=_("Change numbers, comma separated, e.g. CHG-12"))
    work_items = LinesField(label=_("Work items"), names=("key", "title", "url"),
                            help_text=_("One a line: key | title | address, e.g. OPS-12 | Fix basket | "
                                        "https://git.example.com/mr/12"))
    rollback_steps = LinesField(label=_("Rollback procedure"), names=("who", "action", "minutes", "verification"),
                                help_text=_("One step a line: who | what | minutes | how to verify"))

    class Meta:
        model = Release
        fields = ["title", "version", "owner_team", "manager", "description", "notes", "services", "cis", "changes",
                  "work_items", "rollback_steps"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3}), "notes": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner_team"].queryset = Team.objects.order_by("name")
        self.fields["manager"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["title"].widget.attrs.setdefault("autofocus", True)
        self.fields["notes"].help_text = _("Markdown.")
        self.environments = list(Environment.objects.filter(active=True).order_by("order", "id"))
        planned = dict(self.instance.planned_dates or {}) if self.instance.pk else {}
        for environment in self.environments:
            name = f"planned_{environment.slug}"
            self.fields[name] = forms.DateField(
                label=_("Planned for %(env)s") % {"env": environment.name}, required=False,
                widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}))
            if environment.slug in planned:
                self.initial[name] = planned[environment.slug]
        if self.instance.pk:
            self.initial["services"] = self.instance.services.all()
            self.initial["cis"] = self.instance.cis.only("number")
            self.initial["changes"] = self.instance.changes.only("number")
            self.initial["work_items"] = self.instance.work_items
            self.initial["rollback_steps"] = self.instance.rollback_steps

    def service_data(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data}
        planned = dict(self.instance.planned_dates or {}) if self.instance.pk else {}
        for environment in self.environments:
            value = self.cleaned_data.get(f"planned_{environment.slug}")
            if value:
                planned[environment.slug] = value.isoformat()
            else:
                planned.pop(environment.slug, None)
        data["planned_dates"] = planned
        return data

    def clean(self):
        cleaned = super().clean()
        for name, check in (("work_items", services.clean_work_items), ("rollback_steps", services.clean_steps)):
            if name in cleaned:
                try:
                    cleaned[name] = check(cleaned[name])
                except ValidationError as exc:
                    self.add_error(name, exc.message_dict[name])
        return cleaned


class DeploymentForm(forms.Form):
    """Record a deployment by hand, on the release page (one form per environment)."""

    result = forms.ChoiceField(label=_("Result"), choices=Deployment.RESULTS, initial="succeeded",
                               widget=forms.Select(attrs={"class": "form-select form-select-sm"}))
    version = forms.CharField(label=_("Version"), max_length=100, required=False,
                              widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}))
    pipeline_url = forms.URLField(label=_("Pipeline run"), max_length=500, required=False, assume_scheme="https",
                                  widget=forms.URLInput(attrs={"class": "form-control form-control-sm"}))
    notes = forms.CharField(label=_("Notes"), max_length=5000, required=False,
                            widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}))


class RollbackForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}))
