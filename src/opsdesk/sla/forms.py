"""Forms of the SLA pages. Working hours, holidays and extra days are typed as text ("mon-fri
09:00-17:00", one holiday per line), which is quicker than a grid and reads the same in the config file."""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from opsdesk.core import weekly_hours
from opsdesk.core.forms import CommaListField, RecordForm

from . import rules
from .models import BusinessCalendar, SLAPolicy, SLATarget


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class CalendarForm(RecordForm):
    hours = forms.CharField(label=_("Working hours"), help_text=_("For example “mon-fri 09:00-17:00; sat 10:00-14:00” "
                                                                  "or “24x7”."))
    custom_holidays = forms.CharField(
        label=_("Custom holidays"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One a line: date and name, e.g. “2026-12-24 Christmas Eve”."))
    extra_days = forms.CharField(
        label=_("Extra working days"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One a line: date, hours and name, e.g. “2026-12-19 09:00-13:00 Year-end release”. They work "
                    "even on a weekend or a holiday."))

    class Meta:
        model = BusinessCalendar
        fields = ["name", "slug", "time_zone", "hours", "holiday_country", "holiday_subdivision", "custom_holidays",
                  "extra_days", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        calendar = self.instance
        if calendar.pk:
            self.initial["hours"] = calendar.hours_text
            self.initial["custom_holidays"] = "\n".join(f"{h['date']} {h.get('name', '')}".strip()
                                                        for h in calendar.custom_holidays or [])
            self.initial["extra_days"] = "\n".join(
                f"{d['date']} {','.join(f'{s}-{e}' for s, e in d.get('hours') or [])} {d.get('name', '')}".strip()
                for d in calendar.extra_days or [])
        self.fields["time_zone"].validators = [weekly_hours.validate_time_zone]

    def clean_hours(self):
        try:
            return weekly_hours.parse(self.cleaned_data.get("hours", ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_custom_holidays(self):
        items = []
        for line in _lines(self.cleaned_data.get("custom_holidays")):
            date, _space, name = line.partition(" ")
            items.append({"date": date, "name": name.strip()})
        try:
            return rules.clean_custom_holidays(items)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_extra_days(self):
        items = []
        for line in _lines(self.cleaned_data.get("extra_days")):
            parts = line.split(None, 2)
            items.append({"date": parts[0], "hours": parts[1] if len(parts) > 1 else "",
                          "name": parts[2] if len(parts) > 2 else ""})
        try:
            return rules.clean_extra_days(items)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class IntListField(CommaListField):
    def __init__(self, *, minimum: int, maximum: int, **kwargs):
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kwargs)

    def convert(self, items):
        try:
            values = sorted({int(item) for item in items})
        except ValueError:
            raise ValidationError(_("Whole numbers separated by commas.")) from None
        if any(not self.minimum <= v <= self.maximum for v in values):
            raise ValidationError(_("Numbers from %(min)s to %(max)s.") % {"min": self.minimum, "max": self.maximum})
        return values


class PolicyForm(RecordForm):
    """Conditions as one field each (empty: any), targets as one goal per metric (empty: no target)."""

    record_type = forms.ChoiceField(label=_("Record type"), choices=SLAPolicy.RECORD_TYPES)
    priorities = CommaListField(label=_("Priorities"), help_text=_("e.g. P1, P2; empty matches every priority"))
    service_tiers = IntListField(label=_("Service tiers"), minimum=1, maximum=4,
                                 help_text=_("Tiers of the affected service, e.g. 1, 2; empty matches any"))
    categories = CommaListField(label=_("Categories"), help_text=_("Category or subcategory keys, e.g. network"))
    ci_classes = CommaListField(label=_("CI classes"), help_text=_("Class keys of the affected CIs, e.g. server"))
    pause_states = CommaListField(label=_("Paused in states"), help_text=_("State keys, e.g. on_hold"))
    warn_percentages = IntListField(label=_("Warn at (%)"), minimum=1, maximum=99,
                                    help_text=_("e.g. 50, 75; the breach at 100 % is always announced"))

    class Meta:
        model = SLAPolicy
        fields = ["name", "slug", "record_type", "order", "active", "calendar", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for metric, label in SLATarget.METRICS:
            self.fields[f"{metric}_minutes"] = forms.IntegerField(
                label=_("%(metric)s (minutes)") % {"metric": label}, required=False, min_value=1, max_value=525600,
                widget=forms.NumberInput(attrs={"class": "form-control"}),
                help_text=_("Empty: no target for this metric"))
            self.fields[f"{metric}_business_time"] = forms.BooleanField(
                label=_("%(metric)s counts business time only") % {"metric": label}, required=False, initial=True,
                widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))
        policy = self.instance
        conditions = policy.conditions or {}
        self.initial.setdefault("priorities", conditions.get("priority", []))
        self.initial.setdefault("service_tiers", conditions.get("service_tier", []))
        self.initial.setdefault("categories", conditions.get("category", []))
        self.initial.setdefault("ci_classes", conditions.get("ci_class", []))
        self.initial.setdefault("pause_states", policy.pause_states if policy.pk else ["on_hold"])
        self.initial.setdefault("warn_percentages", policy.warn_percentages)
        if policy.pk:
            for target in policy.targets.all():
                self.initial[f"{target.metric}_minutes"] = target.goal_minutes
                self.initial[f"{target.metric}_business_time"] = target.business_time
        self.order_fields(["name", "slug", "record_type", "order", "active", "calendar", "priorities",
                           "service_tiers", "categories", "ci_classes",
                           *(f"{m}_{s}" for m, _label in SLATarget.METRICS for s in ("minutes", "business_time")),
                           "pause_states", "warn_percentages", "description"])

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(f"{metric}_minutes") for metric, _label in SLATarget.METRICS):
            raise ValidationError(_("Give at least one target, e.g. time to resolve in 240 minutes."))
        return cleaned

    def service_data(self) -> dict:
        c = self.cleaned_data
        data = {name: c[name] for name in ("name", "slug", "record_type", "order", "active", "calendar",
                                           "description", "pause_states", "warn_percentages")}
        data["conditions"] = {"priority": c["priorities"], "service_tier": c["service_tiers"],
                              "category": c["categories"], "ci_class": c["ci_classes"]}
        data["targets"] = [{"metric": metric, "goal_minutes": c[f"{metric}_minutes"],
                            "business_time": c[f"{metric}_business_time"]}
                           for metric, _label in SLATarget.METRICS if c.get(f"{metric}_minutes")]
        return data


class DueForm(forms.Form):
    """The calculator on a calendar's page: when is a goal used up, counted from a start."""

    start = forms.DateTimeField(label=_("Start (in the calendar's time zone)"),
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local", "class": "form-control"},
                                                           format="%Y-%m-%dT%H:%M"),
                                input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
    minutes = forms.IntegerField(label=_("Goal (business minutes)"), min_value=1, max_value=525600 * 5,
                                 widget=forms.NumberInput(attrs={"class": "form-control"}))

    def __init__(self, *args, calendar: BusinessCalendar, **kwargs):
        super().__init__(*args, **kwargs)
        self.calendar = calendar

    def clean_start(self):
        import zoneinfo

        start = self.cleaned_data["start"]
        naive = start.replace(tzinfo=None) if isinstance(start, datetime.datetime) else start
        return naive.replace(tzinfo=zoneinfo.ZoneInfo(self.calendar.time_zone))
