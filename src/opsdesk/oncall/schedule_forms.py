"""Forms of the schedule pages. Times are typed as local times of the schedule's time zone (a person
thinks "Monday 09:00 in Berlin"); `service_data()` turns them into aware datetimes for the services."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from functools import cache
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from opsdesk.core.forms import CommaListField, RecordForm

from .models import TURN_UNITS, Layer, Schedule

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAILY_RANGE = re.compile(r"^(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})$")
WEEKLY_RANGE = re.compile(r"^([a-z]{3})\s+(\d{2}:\d{2})\s*-\s*([a-z]{3})\s+(\d{2}:\d{2})$", re.IGNORECASE)
LOCAL_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


@cache
def zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


def local_field(label, required=True, help_text=""):
    return forms.DateTimeField(label=label, required=required, widget=LOCAL_INPUT, help_text=help_text,
                               input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])


def as_zone(value: datetime.datetime | None, tz: ZoneInfo) -> datetime.datetime | None:
    """A wall time typed in the form, in the schedule's zone (the form field may have made it aware in the
    server's zone: the wall time counts, not that zone)."""
    if value is None:
        return None
    return value.replace(tzinfo=None).replace(tzinfo=tz)


def local_initial(value: datetime.datetime | None, tz: ZoneInfo):
    return value.astimezone(tz).replace(tzinfo=None) if value else None


class PeopleField(CommaListField):
    """Usernames in order, comma separated (a person may appear twice)."""

    def shown(self, item) -> str:
        return getattr(item, "username", str(item))

    def convert(self, items):
        if not items:
            raise forms.ValidationError(_("Name at least one person."))
        found = {u.username: u for u in get_user_model().objects.filter(username__in=items)}
        missing = [item for item in items if item not in found]
        if missing:
            raise forms.ValidationError(_("No such person: %(names)s.") % {"names": ", ".join(missing)})
        return [found[item] for item in items]


class ScheduleForm(RecordForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=zone_choices, initial="UTC",
                                  help_text=_("Handoffs and restrictions are local times of this zone."))

    class Meta:
        model = Schedule
        fields = ["name", "slug", "team", "time_zone", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = _("Used in the API, configuration files and the iCal address. "
                                          "Empty: made from the name.")
        if self.instance.pk:
            self.fields["slug"].disabled = True

    def service_data(self) -> dict:
        data = super().service_data()
        if self.instance.pk or not data.get("slug"):
            data.pop("slug", None)
        return data


class LayerForm(RecordForm):
    users = PeopleField(label=_("People in rotation order"), required=True,
                        help_text=_("Usernames, comma separated: alice, bob, carol. Turn 1 is the first person's."))
    rotation_start = local_field(_("Rotation starts"), help_text=_(
        "The first handoff, in the schedule's time zone; later handoffs keep this wall time."))
    restriction_kind = forms.ChoiceField(label=_("Restrict to"), required=False, choices=[
        ("", _("No restriction: the whole turn")), ("daily", _("Daily time ranges")),
        ("weekly", _("Weekly time ranges"))])
    ranges = forms.CharField(label=_("Time ranges"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("One per line. Daily: 09:00-17:00 (22:00-06:00 crosses midnight). "
                                         "Weekly: mon 09:00 - fri 17:00."))
    starts_at = local_field(_("Active from"), required=False)
    ends_at = local_field(_("Active until"), required=False)

    class Meta:
        model = Layer
        fields = ["name", "order", "users", "rotation_start", "turn_unit", "turn_count", "restriction_kind", "ranges",
                  "starts_at", "ends_at"]

    def __init__(self, *args, schedule: Schedule, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = ZoneInfo(schedule.time_zone)
        self.fields["turn_unit"] = forms.ChoiceField(label=_("Turn unit"), choices=TURN_UNITS, initial="weeks",
                                                     widget=forms.Select(attrs={"class": "form-select"}))
        self.fields["order"].required = False
        self.fields["order"].help_text = _("Higher layers lie on top of lower ones. Empty: on top.")
        layer = self.instance
        if not layer.pk:
            self.initial["order"] = None  # empty: on top of the others
        if layer.pk:
            names = dict(get_user_model().objects.filter(pk__in=layer.users).values_list("pk", "username"))
            self.initial["users"] = ", ".join(names.get(uid, str(uid)) for uid in layer.users)
            for name in ("rotation_start", "starts_at", "ends_at"):
                self.initial[name] = local_initial(getattr(layer, name), self.tz)
            restrictions = layer.restrictions or {}
            self.initial["restriction_kind"] = restrictions.get("kind", "")
            self.initial["ranges"] = "\n".join(self.range_text(restrictions.get("kind"), rng)
                                               for rng in restrictions.get("ranges", []))

    @staticmethod
    def range_text(kind, rng) -> str:
        if kind == "weekly":
            return f"{DAYS[rng['start_day']]} {rng['start']} - {DAYS[rng['end_day']]} {rng['end']}"
        return f"{rng['start']}-{rng['end']}"

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("restriction_kind") or ""
        lines = [line.strip() for line in (cleaned.get("ranges") or "").splitlines() if line.strip()]
        ranges = []
        if kind and not lines:
            self.add_error("ranges", _("Give at least one time range, or choose no restriction."))
        for line in lines if kind else []:
            if kind == "daily":
                match = DAILY_RANGE.match(line)
                if not match:
                    self.add_error("ranges", _("%(l)r is not a daily range like 09:00-17:00.") % {"l": line})
                    continue
                ranges.append({"start": match.group(1), "end": match.group(2)})
            else:
                match = WEEKLY_RANGE.match(line)
                if not match or match.group(1).lower() not in DAYS or match.group(3).lower() not in DAYS:
                    self.add_error("ranges", _("%(l)r is not a weekly range like mon 09:00 - fri 17:00.") % {"l": line})
                    continue
                ranges.append({"start_day": DAYS.index(match.group(1).lower()), "start": match.group(2),
                               "end_day": DAYS.index(match.group(3).lower()), "end": match.group(4)})
        cleaned["restrictions"] = {"kind": kind, "ranges": ranges} if kind else {}
        return cleaned

    def service_data(self) -> dict:
        data = {name: self.cleaned_data.get(name) for name in ("name", "users", "turn_unit", "turn_count")}
        if self.cleaned_data.get("order") is not None:
            data["order"] = self.cleaned_data["order"]
        for name in ("rotation_start", "starts_at", "ends_at"):
            data[name] = as_zone(self.cleaned_data.get(name), self.tz)
        data["restrictions"] = self.cleaned_data.get("restrictions") or {}
        return data


class PeriodForm(forms.Form):
    """A period typed in the schedule's local time."""

    starts_at = local_field(_("Starts"))
    ends_at = local_field(_("Ends"))

    def __init__(self, *args, schedule: Schedule, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = ZoneInfo(schedule.time_zone)
        for field in self.fields.values():
            widget = field.widget
            widget.attrs.setdefault("class", "form-select" if isinstance(widget, forms.Select) else "form-control")

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["class"] += " is-invalid"

    def period(self) -> dict:
        return {name: as_zone(self.cleaned_data.get(name), self.tz) for name in ("starts_at", "ends_at")}


class OverrideForm(PeriodForm):
    user = forms.ModelChoiceField(label=_("On call"), queryset=get_user_model().objects.none())
    reason = forms.CharField(label=_("Reason"), required=False, max_length=300)
    field_order = ["user", "starts_at", "ends_at", "reason"]

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = people

    def service_data(self) -> dict:
        return {"user": self.cleaned_data["user"], "reason": self.cleaned_data.get("reason", ""), **self.period()}


class SwapForm(PeriodForm):
    proposed_to = forms.ModelChoiceField(label=_("Ask"), required=False, empty_label=_("Anyone"),
                                         queryset=get_user_model().objects.none(),
                                         help_text=_("Anyone: every responder may take it."))
    note = forms.CharField(label=_("Note"), required=False, max_length=300)

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["proposed_to"].queryset = people


class AssignForm(forms.Form):
    user = forms.ModelChoiceField(label=_("Give the shift to"), queryset=get_user_model().objects.none(),
                                  widget=forms.Select(attrs={"class": "form-select form-select-sm"}))

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = people
