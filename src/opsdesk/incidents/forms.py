"""Forms of the incident pages. They never save: `service_data()` hands model instances to
incidents/services.py, which owns the priority matrix, the SLA clocks and assignment.

The dependent choices (subcategories of the chosen category, members of the chosen team) and the
priority preview are refreshed by htmx from small endpoints in views.py: no script of our own."""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse_lazy
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.forms import CommaListField, RecordForm
from opsdesk.services.models import Service

from . import services
from .models import PRIORITIES, Category, Incident

MAX_CIS = 50
# The form's htmx requests run one after the other, in order: a late answer for an older choice must not
# overwrite the answer for the newer one (impact, then urgency, changed quickly).
SYNC = "closest form:queue all"


def level_choices(levels: list[dict]) -> list[tuple[int, str]]:
    return [(int(level["value"]), f"{level['value']} – {_(level['label'])}") for level in levels]


class ServiceInput(forms.TextInput):
    """A text box with the active services offered as suggestions (a <datalist>, at most
    DATALIST_MAX), so a responder can type a service's name, key or number."""

    DATALIST_MAX = 300

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or name}-options"
        self.attrs["list"] = list_id
        box = super().render(name, value, attrs, renderer)
        options = Service.objects.exclude(status="retired").order_by("name").values_list("slug", "name", "number")
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, format_html_join(
            "", '<option value="{}">{} ({})</option>', options[: self.DATALIST_MAX]))


class ServiceKeyField(forms.CharField):
    """One service typed as its key, number or name ("online-shop", "SVC-7", "Online Shop")."""

    widget = ServiceInput

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 150)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int):
            value = Service.objects.filter(pk=value).only("slug").first()
        return getattr(value, "slug", value)

    def clean(self, value):
        key = (super().clean(value) or "").strip()
        if not key:
            return None
        found = list(Service.objects.filter(Q(slug=key) | Q(number__iexact=key) | Q(name__iexact=key))[:2])
        if len(found) != 1:
            raise ValidationError(_("No service with the key, number or name “%(key)s”.") % {"key": key})
        return found[0]


class CIsField(CommaListField):
    """Affected CIs typed as numbers or names, "CI-12, db-orders-1": one query however many."""

    def shown(self, ci) -> str:
        return ci.number

    def convert(self, items):
        if len(items) > MAX_CIS:
            raise ValidationError(_("At most %(n)s CIs.") % {"n": MAX_CIS})
        numbers = {item.upper() for item in items}
        names = {item.lower() for item in items}
        found = list(ConfigurationItem.objects.annotate(lname=Lower("name"))
                     .filter(Q(number__in=numbers) | Q(lname__in=names)).only("id", "number", "name"))
        chosen, missing, ambiguous = {}, [], []
        for item in items:
            by_number = [ci for ci in found if ci.number == item.upper()]
            by_name = [ci for ci in found if ci.name.lower() == item.lower()]
            matches = by_number or by_name
            if not matches:
                missing.append(item)
            elif len(matches) > 1:
                ambiguous.append(item)
            else:
                chosen[matches[0].pk] = matches[0]
        if missing:
            raise ValidationError(_("No CI with the number or name %(items)s.") % {"items": ", ".join(missing)})
        if ambiguous:
            raise ValidationError(_("Several CIs are called %(items)s: give their numbers.")
                                  % {"items": ", ".join(ambiguous)})
        return list(chosen.values())


def _picked(form, name: str, model):
    """The record chosen in the submitted data, or the instance's: the dependent choices follow it."""
    if form.is_bound:
        value = form.data.get(form.add_prefix(name))
        return model.objects.filter(pk=value).first() if str(value or "").isdigit() else None
    if form.initial.get(name):
        value = form.initial[name]
        return value if isinstance(value, model) else model.objects.filter(pk=value).first()
    return getattr(form.instance, name, None) if form.instance.pk else None


def members_of(team):
    users = get_user_model().objects.filter(is_active=True).order_by("username")
    return users.filter(memberships__team=team) if team is not None else users


class IncidentForm(RecordForm):
    service = ServiceKeyField(label=_("Affected service"),
                              help_text=_("Its name, key or number, e.g. Online Shop, online-shop or SVC-7"))
    cis = CIsField(label=_("Affected CIs"), help_text=_("Numbers or names, comma separated, e.g. CI-12, shop-frontend"))
    impact = forms.TypedChoiceField(label=_("Impact"), coerce=int)
    urgency = forms.TypedChoiceField(label=_("Urgency"), coerce=int)
    priority = forms.ChoiceField(label=_("Priority"), required=False,
                                 choices=[("", _("From the matrix")), *PRIORITIES])
    priority_reason = forms.CharField(label=_("Reason for setting the priority by hand"), required=False,
                                      max_length=500)

    class Meta:
        model = Incident
        fields = ["title", "description", "category", "subcategory", "service", "cis", "impact", "urgency",
                  "priority", "priority_reason", "assignment_group", "assignee", "reporter_contact", "symptoms"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4}), "symptoms": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = services.incident_settings()
        self.fields["impact"].choices = level_choices(config.impact_levels)
        self.fields["urgency"].choices = level_choices(config.urgency_levels)
        if not self.instance.pk:
            self.initial.setdefault("impact", max(services.level_values(config.impact_levels)))
            self.initial.setdefault("urgency", max(services.level_values(config.urgency_levels)))
        else:
            self.initial["cis"] = self.instance.cis.only("number")
            self.initial["priority"] = self.instance.priority if self.instance.priority_overridden else ""

        category = _picked(self, "category", Category)
        self.fields["category"].queryset = Category.objects.filter(parent=None, active=True)
        self.fields["subcategory"].queryset = Category.objects.filter(parent=category, active=True) \
            if category is not None else Category.objects.none()
        self.fields["subcategory"].label_from_instance = lambda c: c.name
        self.fields["category"].widget.attrs.update({
            "hx-get": reverse_lazy("incidents:form_subcategories"), "hx-target": "#id_subcategory",
            "hx-trigger": "change", "hx-swap": "innerHTML", "hx-sync": SYNC})

        team = _picked(self, "assignment_group", Team)
        self.fields["assignment_group"].queryset = Team.objects.order_by("name")
        self.fields["assignee"].queryset = members_of(team)
        self.fields["assignee"].help_text = _("Members of the assignment group.") if team is not None else ""
        self.fields["assignment_group"].widget.attrs.update({
            "hx-get": reverse_lazy("incidents:form_assignees"), "hx-target": "#id_assignee",
            "hx-include": "#id_assignee",  # kept when the new team has that person too
            "hx-trigger": "change", "hx-swap": "innerHTML", "hx-sync": SYNC})

        preview = {"hx-get": reverse_lazy("incidents:form_priority"), "hx-target": "#priority-preview",
                   "hx-trigger": "change", "hx-swap": "outerHTML", "hx-sync": SYNC,
                   "hx-include": "#id_impact, #id_urgency, #id_priority"}
        for name in ("impact", "urgency", "priority"):
            self.fields[name].widget.attrs.update(preview)
        impact, urgency = self._level("impact"), self._level("urgency")
        self.fields["priority"].help_text = priority_preview(impact, urgency, self._given_priority())
        self.fields["priority_reason"].help_text = _("Required when the priority differs from the matrix.")

    def _level(self, name: str):
        raw = self.data.get(self.add_prefix(name)) if self.is_bound else self.initial.get(
            name, getattr(self.instance, name, None))
        try:
            return int(raw)
        except (TypeError, ValueError):
            return None

    def _given_priority(self) -> str:
        if self.is_bound:
            return self.data.get(self.add_prefix("priority"), "")
        return self.initial.get("priority", "")

    def service_data(self) -> dict:
        data = super().service_data()
        if not data.get("priority"):
            data.pop("priority", None)
        if not data.get("priority_reason"):
            data.pop("priority_reason", None)
        return data


def priority_preview(impact, urgency, given: str = ""):
    """The priority the matrix gives, as the form shows it next to the override (an htmx target)."""
    from django.utils.html import format_html

    try:
        computed = services.priority_for(int(impact), int(urgency))
    except (TypeError, ValueError, ValidationError):
        computed = None
    if computed is None:
        text = _("The matrix gives no priority for these values.")
    elif given and given != computed:
        text = _("The matrix gives %(p)s; %(given)s set by hand needs a reason.") % {"p": computed, "given": given}
    else:
        text = _("The matrix gives %(p)s.") % {"p": computed}
    return format_html('<span id="priority-preview" aria-live="polite">{}</span>', text)


class BulkAssignForm(forms.Form):
    """Assign the ticked incidents to a team and/or a person; empty fields keep each incident's value."""

    assignment_group = forms.ModelChoiceField(label=_("Assignment group"), required=False,
                                              queryset=Team.objects.order_by("name"))
    assignee = forms.ModelChoiceField(label=_("Assignee"), required=False,
                                      queryset=get_user_model().objects.filter(is_active=True).order_by("username"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-select")

    def service_data(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value is not None}


class ResolveForm(forms.Form):
    """The quick resolve of the queue and the detail page's resolve dialog."""

    resolution_code = forms.ChoiceField(label=_("Resolution code"), choices=[("", "—"), *Incident.RESOLUTION_CODES],
                                        widget=forms.Select(attrs={"class": "form-select form-select-sm"}))
    resolution_notes = forms.CharField(label=_("Resolution notes"), max_length=5000, widget=forms.Textarea(
        attrs={"rows": 2, "class": "form-control form-control-sm"}))

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["class"] += " is-invalid"
