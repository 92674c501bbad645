"""Forms of the problem pages. They never save: `service_data()` hands model instances to
problems/services.py, which owns the priority matrix, the flow and the links to incidents."""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Team
from opsdesk.core.forms import CommaListField, RecordForm
from opsdesk.incidents import services as incident_services
from opsdesk.incidents.forms import CIsField, ServiceKeyField, level_choices
from opsdesk.incidents.models import Category, Incident

from .models import Countermeasure, Problem
from .services import normalize_change_numbers

MAX_INCIDENTS = 500


class IncidentsField(CommaListField):
    """Incidents typed as numbers, "INC-12, INC-14": one query however many."""

    def shown(self, incident) -> str:
        return incident.number

    def convert(self, items):
        if len(items) > MAX_INCIDENTS:
            raise ValidationError(_("At most %(n)s incidents.") % {"n": MAX_INCIDENTS})
        numbers = []
        for item in items:
            key = item.upper()
            numbers.append(key if not key.isdigit() else f"INC-{key}")
        found = {i.number: i for i in Incident.objects.filter(number__in=numbers)}
        missing = [n for n in numbers if n not in found]
        if missing:
            raise ValidationError(_("No incident with the number %(items)s.") % {"items": ", ".join(missing)})
        return list({found[n].pk: found[n] for n in numbers}.values())


class ChangeNumbersField(CommaListField):
    def convert(self, items):
        try:
            return normalize_change_numbers(items)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["change_numbers"]) from None


class ProblemForm(RecordForm):
    service = ServiceKeyField(label=_("Service"), help_text=_("Its name, key or number, e.g. online-shop or SVC-7"))
    cis = CIsField(label=_("CIs"), help_text=_("Numbers or names, comma separated, e.g. CI-12, shop-frontend"))
    impact = forms.TypedChoiceField(label=_("Impact"), coerce=int)
    urgency = forms.TypedChoiceField(label=_("Urgency"), coerce=int)
    change_numbers = ChangeNumbersField(label=_("Linked changes"), help_text=_("Change numbers, e.g. CHG-12, CHG-40"))
    incidents = IncidentsField(label=_("Linked incidents"),
                               help_text=_("Incident numbers, comma separated, e.g. INC-12, INC-14"))

    class Meta:
        model = Problem
        fields = ["title", "description", "service", "cis", "category", "impact", "urgency", "owner_team", "owner",
                  "incidents", "change_numbers", "impact_summary", "root_cause", "workaround", "fix_description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4}),
                   "impact_summary": forms.Textarea(attrs={"rows": 2}),
                   "root_cause": forms.Textarea(attrs={"rows": 3}), "workaround": forms.Textarea(attrs={"rows": 3}),
                   "fix_description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, prefill: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        config = incident_services.incident_settings()
        self.fields["impact"].choices = level_choices(config.impact_levels)
        self.fields["urgency"].choices = level_choices(config.urgency_levels)
        self.fields["category"].queryset = Category.objects.filter(parent=None, active=True)
        self.fields["owner_team"].queryset = Team.objects.order_by("name")
        self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["owner"].help_text = _("A member of the owner team.")
        self.fields["title"].widget.attrs.setdefault("autofocus", True)
        if self.instance.pk:
            self.initial["cis"] = self.instance.cis.only("number")
            self.initial["incidents"] = self.instance.incidents.only("number")
            self.initial["change_numbers"] = self.instance.change_numbers
        else:
            self.initial.setdefault("impact", max(incident_services.level_values(config.impact_levels)))
            self.initial.setdefault("urgency", max(incident_services.level_values(config.urgency_levels)))
            for name, value in (prefill or {}).items():
                if name in self.fields and value not in (None, "", []):
                    self.initial[name] = getattr(value, "pk", value) if name in ("category", "owner_team") \
                        else value

    def service_data(self) -> dict:
        data = super().service_data()
        if self.instance.pk is None and not data.get("incidents"):
            data.pop("incidents", None)
        return data


class CountermeasureForm(RecordForm):
    change_number = forms.CharField(label=_("Change request"), required=False, max_length=32,
                                    help_text=_("Optional, e.g. CHG-12"))

    class Meta:
        model = Countermeasure
        fields = ["title", "kind", "owner", "due_date", "change_number", "description"]
        widgets = {"due_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                   "description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")

    def clean_change_number(self):
        value = (self.cleaned_data.get("change_number") or "").strip().upper()
        if value:
            try:
                normalize_change_numbers([value])
            except ValidationError:
                raise ValidationError(_("A change number looks like CHG-12.")) from None
        return value


class PublishForm(forms.Form):
    text = forms.CharField(label=_("Text"), max_length=20000, widget=forms.Textarea(
        attrs={"rows": 5, "class": "form-control"}))


class LinkIncidentsForm(forms.Form):
    incidents = IncidentsField(label=_("Incidents"), required=True,
                               help_text=_("Incident numbers, comma separated, e.g. INC-12, INC-14"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["incidents"].widget.attrs.setdefault("class", "form-control")


class ResolveProblemForm(forms.Form):
    """Both fields are required in the dialog (the browser says so); the service checks them again and
    falls back to what the problem already holds."""

    root_cause = forms.CharField(label=_("Root cause"), required=False, max_length=20000,
                                 widget=forms.Textarea(attrs={"rows": 3, "class": "form-control", "required": True}))
    fix_description = forms.CharField(label=_("Fix"), required=False, max_length=20000,
                                      widget=forms.Textarea(attrs={"rows": 3, "class": "form-control",
                                                                   "required": True}))
