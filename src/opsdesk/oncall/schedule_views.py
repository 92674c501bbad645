"""Pages of the on-call schedules: who is on call, the schedule list, a schedule with its calendar of
final shifts (gaps in red), its layers, overrides and swaps, the forms to change them, the swaps list,
"my shifts", and the iCal feeds (no login: the secret in the address is the credential).

Views are thin: they parse, call one service, and show the service's errors next to the fields."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from opsdesk.core.actors import Actor
from opsdesk.core.permissions import RANK, best_role
from opsdesk.core.views import safe_next
from opsdesk.core.workflow import TransitionNotAllowed

from . import ical, schedules, selectors
from .models import CalendarFeed, Layer, Override, Schedule, ShiftSwap
from .schedule_forms import AssignForm, LayerForm, OverrideForm, ScheduleForm, SwapForm, local_initial

User = get_user_model()
CALENDAR_WEEKS = 2
MAX_CALENDAR_WEEKS = 8
PALETTE = 8  # shift colours .oc-c0 .. .oc-c7 in oncall.css
OPEN_SWAPS = 20
WEEK_CHOICES = [1, 2, 4, 8]


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _people():
    return User.objects.filter(is_active=True).order_by("username")


def _may_respond(user) -> bool:
    role = best_role(user)
    return role is not None and RANK[role] >= RANK["responder"]


# --- the calendar -----------------------------------------------------------------------------------------

class Colours:
    """A stable colour per person within one page."""

    def __init__(self):
        self.by_user: dict[int, int] = {}

    def __call__(self, users) -> str:
        if not users:
            return "oc-gap"
        first = users[0].pk
        if first not in self.by_user:
            self.by_user[first] = len(self.by_user) % PALETTE
        return f"oc-c{self.by_user[first]}"


def calendar_days(timeline, tz: ZoneInfo, first_day: datetime.date, days: int, colours: Colours) -> list[dict]:
    """Rows of the calendar: per local day, its bars (shifts and gaps) as percentages of the day, which
    lasts 23 or 25 hours on a DST change."""
    pieces = [(s.start, s.end, s.users, s.source) for s in timeline.shifts] + \
             [(start, end, (), "") for start, end in timeline.gaps]
    pieces.sort(key=lambda p: p[0])
    rows = []
    for offset in range(days):
        day = first_day + datetime.timedelta(days=offset)
        # In UTC: the difference of two times of one zone is wall-clock time in Python (always 24 hours).
        day_start = datetime.datetime.combine(day, datetime.time(), tzinfo=tz).astimezone(datetime.UTC)
        day_end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(),
                                            tzinfo=tz).astimezone(datetime.UTC)
        length = (day_end - day_start).total_seconds()
        bars = []
        for start, end, users, source in pieces:
            lo, hi = max(start, day_start), min(end, day_end)
            if lo >= hi:
                continue
            bars.append({
                "left": round((lo - day_start).total_seconds() / length * 100, 3),
                "width": round((hi - lo).total_seconds() / length * 100, 3),
                "start": lo.astimezone(tz), "end": hi.astimezone(tz), "ends_next_day": hi == day_end,
                "users": users, "source": source, "gap": not users, "colour": colours(users),
            })
        rows.append({"day": day, "bars": bars, "hours": round(length / 3600),
                     "has_gap": any(bar["gap"] for bar in bars), "today": day == timezone.now().astimezone(tz).date()})
    return rows


def _int_param(request, name: str, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(int(request.GET.get(name, default)), hi))
    except (TypeError, ValueError):
        return default


# --- who is on call and the schedule list ------------------------------------------------------------------

class WhoView(LoginRequiredMixin, View):
    """Who is on call in every schedule, now or at a chosen instant."""

    def get(self, request):
        at, error = timezone.now(), ""
        raw = request.GET.get("at", "").strip()
        if raw:
            parsed = parse_datetime(raw)
            if parsed is None:
                error = _("Give a date and time like 2026-03-29 14:30.")
            else:
                at = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
        rows = list(selectors.with_layers(Schedule.objects.select_related("team")).order_by("name"))
        now = selectors.on_call_now(rows, at)
        return render(request, "oncall/schedule_who.html", {
            "rows": [(s, now[s.pk]) for s in rows], "at": at, "at_input": raw, "error": error,
        }, status=400 if error else 200)


class ScheduleListView(LoginRequiredMixin, View):
    def get(self, request):
        rows = list(selectors.with_layers(Schedule.objects.select_related("team")).order_by("name"))
        now = selectors.on_call_now(rows)
        open_swaps = dict.fromkeys([s.pk for s in rows], 0)
        for schedule_id in ShiftSwap.objects.filter(status="requested", ends_at__gt=timezone.now()).values_list(
                "schedule_id", flat=True):
            open_swaps[schedule_id] = open_swaps.get(schedule_id, 0) + 1
        return render(request, "oncall/schedule_list.html", {
            "rows": [(s, now[s.pk], open_swaps.get(s.pk, 0)) for s in rows],
            "may_create": best_role(request.user) in ("manager", "admin"),
        })


# --- one schedule ------------------------------------------------------------------------------------------

class ScheduleDetailView(LoginRequiredMixin, View):
    def get(self, request, pk):
        schedule = get_object_or_404(selectors.with_layers(Schedule.objects.select_related("team")), pk=pk)
        tz = ZoneInfo(schedule.time_zone)
        weeks = _int_param(request, "weeks", CALENDAR_WEEKS, 1, MAX_CALENDAR_WEEKS)
        today = timezone.now().astimezone(tz).date()
        try:
            first_day = datetime.date.fromisoformat(request.GET.get("from", ""))
        except ValueError:
            first_day = today - datetime.timedelta(days=today.weekday())  # this week's Monday
        start = datetime.datetime.combine(first_day, datetime.time(), tzinfo=tz)
        end = datetime.datetime.combine(first_day + datetime.timedelta(weeks=weeks), datetime.time(), tzinfo=tz)
        timeline = selectors.timeline(schedule, start, end)
        colours = Colours()
        days = calendar_days(timeline, tz, first_day, weeks * 7, colours)
        actor = Actor.for_user(request.user)

        who, who_error, at_input = None, "", request.GET.get("at", "").strip()
        if at_input:
            parsed = parse_datetime(at_input)
            if parsed is None:
                who_error = _("Give a date and time like 2026-03-29 14:30.")
            else:
                at = parsed.replace(tzinfo=tz) if timezone.is_naive(parsed) else parsed
                who = {"at": at.astimezone(tz), "users": selectors.on_call_at(schedule, at)}
        now = timezone.now()
        overrides = list(Override.objects.filter(schedule=schedule, ends_at__gt=now)
                         .select_related("user", "swap").order_by("starts_at")[:50])
        swaps = list(ShiftSwap.objects.filter(schedule=schedule, status="requested", ends_at__gt=now)
                     .select_related("requester", "proposed_to").order_by("starts_at")[:OPEN_SWAPS])
        names = dict(User.objects.filter(pk__in={uid for layer in schedule.layers.all() for uid in layer.users})
                     .values_list("pk", "username"))
        layers = [(layer, [names.get(uid, f"#{uid}") for uid in layer.users], describe_layer(layer))
                  for layer in schedule.layers.all()]
        may_manage = schedules.may_manage(actor, schedule)
        return render(request, "oncall/schedule_detail.html", {
            "schedule": schedule, "days": days, "weeks": weeks, "first_day": first_day, "week_choices": WEEK_CHOICES,
            "previous": first_day - datetime.timedelta(weeks=weeks),
            "next": first_day + datetime.timedelta(weeks=weeks),
            "gaps": timeline.gaps, "now_shift": selectors.on_call_now([schedule])[schedule.pk],
            "who": who, "who_error": who_error,
            "at_input": at_input or local_initial(now, tz).strftime("%Y-%m-%dT%H:%M"),
            "layers": layers, "overrides": overrides, "swaps": swaps, "may_manage": may_manage,
            "may_respond": _may_respond(request.user), "tz": tz,
            "legend": [(colour, user) for user, colour in _legend(timeline, colours)],
            "ical_url": request.build_absolute_uri(reverse("oncall:schedule_ical",
                                                           args=[schedule.slug, schedule.ical_token])),
        }, status=400 if who_error else 200)


def describe_layer(layer) -> str:
    """"Turns of 1 week from Mon 2 Mar 2026 09:00 · Mon 09:00 – Fri 17:00", in the schedule's time zone."""
    count = layer.turn_count
    unit = {"hours": ngettext("%(n)s hour", "%(n)s hours", count), "days": ngettext("%(n)s day", "%(n)s days", count),
            "weeks": ngettext("%(n)s week", "%(n)s weeks", count)}[layer.turn_unit] % {"n": count}
    tz = ZoneInfo(layer.schedule.time_zone)
    text = _("Turns of %(unit)s from %(start)s") % {
        "unit": unit, "start": date_format(layer.rotation_start.astimezone(tz), "D j M Y H:i")}
    restrictions = layer.restrictions or {}
    if restrictions.get("ranges"):
        if restrictions.get("kind") == "weekly":
            ranges = [f"{WEEKDAYS_ABBR[r['start_day']]} {r['start']} – {WEEKDAYS_ABBR[r['end_day']]} {r['end']}"
                      for r in restrictions["ranges"]]
            text += " · " + _("weekly: %(r)s") % {"r": ", ".join(ranges)}
        else:
            text += " · " + _("daily: %(r)s") % {"r": ", ".join(f"{r['start']}–{r['end']}"
                                                              for r in restrictions["ranges"])}
    if layer.starts_at or layer.ends_at:
        text += " · " + _("active %(start)s – %(end)s") % {
            "start": date_format(layer.starts_at.astimezone(tz), "j M Y H:i") if layer.starts_at else "…",
            "end": date_format(layer.ends_at.astimezone(tz), "j M Y H:i") if layer.ends_at else "…"}
    return text


def _legend(timeline, colours: Colours):
    seen = {}
    for shift in timeline.shifts:
        if shift.users and shift.users[0].pk not in seen:
            seen[shift.users[0].pk] = (shift.users[0], colours(shift.users))
    return list(seen.values())


class FormPage(LoginRequiredMixin, View):
    """A form page whose submit calls one service; errors go next to the fields (422)."""

    template = "oncall/schedule_form.html"
    title = ""

    def render_form(self, form, status=200, **context):
        return render(self.request, self.template, {"form": form, "title": self.title, "wide_fields": ("ranges",),
                                                    **context}, status=status)

    def run(self, form, call, success: str, **context):
        """`call()` runs the service and returns the address to go to."""
        try:
            target = call()
        except ValidationError as exc:
            _add_errors(form, exc)
            return self.render_form(form, status=422, **context)
        except PermissionDenied as exc:
            form.add_error(None, str(exc) or _("Your role does not allow this."))
            return self.render_form(form, status=403, **context)
        messages.success(self.request, success)
        return redirect(target)


class ScheduleFormView(FormPage):
    def get_record(self, pk):
        return get_object_or_404(Schedule, pk=pk) if pk else None

    def context(self, record):
        back = record.get_absolute_url() if record else reverse("oncall:schedule_list")
        return {"record": record, "back": back, "kind": "schedule"}

    def get(self, request, pk=None):
        record = self.get_record(pk)
        self.title = _("Edit %(s)s") % {"s": record} if record else _("New schedule")
        if not schedules.may_manage(Actor.for_user(request.user), record) and not (
                record is None and best_role(request.user) in ("manager", "admin")):
            raise PermissionDenied
        return self.render_form(ScheduleForm(instance=record), **self.context(record))

    def post(self, request, pk=None):
        record = self.get_record(pk)
        self.title = _("Edit %(s)s") % {"s": record} if record else _("New schedule")
        form = ScheduleForm(request.POST, instance=record or Schedule())
        if not form.is_valid():
            return self.render_form(form, status=422, **self.context(record))
        actor = Actor.for_user(request.user)

        def call():
            if record is None:
                return schedules.create_schedule(actor=actor, data=form.service_data()).get_absolute_url()
            return schedules.update_schedule(record, actor=actor, data=form.service_data()).get_absolute_url()

        return self.run(form, call, _("The schedule was saved."), **self.context(record))


class ScheduleDeleteView(LoginRequiredMixin, View):
    def post(self, request, pk):
        schedule = get_object_or_404(Schedule, pk=pk)
        try:
            schedules.delete_schedule(schedule, actor=Actor.for_user(request.user))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(schedule.get_absolute_url())
        messages.success(request, _("%(s)s was deleted.") % {"s": schedule.name})
        return redirect("oncall:schedule_list")


class RotateIcalView(LoginRequiredMixin, View):
    def post(self, request, pk):
        schedule = schedules.rotate_ical_token(get_object_or_404(Schedule, pk=pk), actor=Actor.for_user(request.user))
        messages.success(request, _("The schedule's calendar address was replaced; the old one no longer works."))
        return redirect(schedule.get_absolute_url())


# --- layers and overrides ---------------------------------------------------------------------------------

class LayerFormView(FormPage):
    def objects(self, pk, layer_pk):
        if layer_pk:
            layer = get_object_or_404(Layer.objects.select_related("schedule"), pk=layer_pk)
            return layer.schedule, layer
        return get_object_or_404(Schedule, pk=pk), None

    def context(self, schedule, layer):
        self.title = _("Edit layer %(l)s") % {"l": layer.name} if layer else _("New layer")
        return {"schedule": schedule, "record": layer, "back": schedule.get_absolute_url(), "kind": "layer",
                "tz_name": schedule.time_zone}

    def get(self, request, pk=None, layer_pk=None):
        schedule, layer = self.objects(pk, layer_pk)
        if not schedules.may_manage(Actor.for_user(request.user), schedule):
            raise PermissionDenied
        return self.render_form(LayerForm(instance=layer or Layer(schedule=schedule), schedule=schedule),
                                **self.context(schedule, layer))

    def post(self, request, pk=None, layer_pk=None):
        schedule, layer = self.objects(pk, layer_pk)
        context = self.context(schedule, layer)
        form = LayerForm(request.POST, instance=layer or Layer(schedule=schedule), schedule=schedule)
        if not form.is_valid():
            return self.render_form(form, status=422, **context)
        actor = Actor.for_user(request.user)

        def call():
            if layer is None:
                schedules.add_layer(schedule, actor=actor, data=form.service_data())
            else:
                schedules.update_layer(layer, actor=actor, data=form.service_data())
            return schedule.get_absolute_url()

        return self.run(form, call, _("The layer was saved."), **context)


class LayerDeleteView(LoginRequiredMixin, View):
    def post(self, request, layer_pk):
        layer = get_object_or_404(Layer.objects.select_related("schedule"), pk=layer_pk)
        schedules.remove_layer(layer, actor=Actor.for_user(request.user))
        messages.success(request, _("The layer %(l)s was removed.") % {"l": layer.name})
        return redirect(layer.schedule.get_absolute_url())


def _period_initial(request, tz) -> dict:
    initial = {}
    for name in ("starts_at", "ends_at"):
        parsed = parse_datetime(request.GET.get(name, "") or "")
        if parsed is not None:
            initial[name] = local_initial(parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=tz), tz)
    return initial


class OverrideFormView(FormPage):
    def context(self, schedule):
        self.title = _("Put someone on call in %(s)s") % {"s": schedule.name}
        return {"schedule": schedule, "back": schedule.get_absolute_url(), "kind": "override",
                "tz_name": schedule.time_zone}

    def people(self, schedule):
        if schedules.may_manage(Actor.for_user(self.request.user), schedule):
            return _people()
        return User.objects.filter(pk=self.request.user.pk)

    def get(self, request, pk):
        schedule = get_object_or_404(Schedule, pk=pk)
        tz = ZoneInfo(schedule.time_zone)
        form = OverrideForm(schedule=schedule, people=self.people(schedule),
                            initial={"user": request.user.pk, **_period_initial(request, tz)})
        return self.render_form(form, **self.context(schedule))

    def post(self, request, pk):
        schedule = get_object_or_404(Schedule, pk=pk)
        form = OverrideForm(request.POST, schedule=schedule, people=self.people(schedule))
        context = self.context(schedule)
        if not form.is_valid():
            return self.render_form(form, status=422, **context)

        def call():
            schedules.add_override(schedule, actor=Actor.for_user(request.user), data=form.service_data())
            return schedule.get_absolute_url()

        return self.run(form, call, _("The override was saved."), **context)


class OverrideDeleteView(LoginRequiredMixin, View):
    def post(self, request, override_pk):
        override = get_object_or_404(Override.objects.select_related("schedule"), pk=override_pk)
        schedules.remove_override(override, actor=Actor.for_user(request.user))
        messages.success(request, _("The override was removed."))
        return redirect(override.schedule.get_absolute_url())


# --- swaps ------------------------------------------------------------------------------------------------

class SwapFormView(FormPage):
    def context(self, schedule):
        self.title = _("Ask someone to take your shift in %(s)s") % {"s": schedule.name}
        return {"schedule": schedule, "back": reverse("oncall:my_shifts"), "kind": "swap",
                "tz_name": schedule.time_zone}

    def people(self):
        return _people().exclude(pk=self.request.user.pk)

    def get(self, request, pk):
        schedule = get_object_or_404(Schedule, pk=pk)
        form = SwapForm(schedule=schedule, people=self.people(),
                        initial=_period_initial(request, ZoneInfo(schedule.time_zone)))
        return self.render_form(form, **self.context(schedule))

    def post(self, request, pk):
        schedule = get_object_or_404(Schedule, pk=pk)
        form = SwapForm(request.POST, schedule=schedule, people=self.people())
        context = self.context(schedule)
        if not form.is_valid():
            return self.render_form(form, status=422, **context)
        data = form.cleaned_data

        def call():
            schedules.request_swap(schedule, actor=Actor.for_user(request.user), proposed_to=data.get("proposed_to"),
                                   note=data.get("note", ""), **form.period())
            return reverse("oncall:swap_list")

        return self.run(form, call, _("Your swap request was sent."), **context)


class SwapListView(LoginRequiredMixin, View):
    def get(self, request):
        show = request.GET.get("show", "open")
        rows = ShiftSwap.objects.select_related("schedule", "requester", "proposed_to", "taken_by")
        if show == "mine":
            rows = rows.filter(Q(requester=request.user) | Q(proposed_to=request.user) | Q(taken_by=request.user))
        elif show == "all":
            pass
        else:
            show = "open"
            rows = rows.filter(status="requested", ends_at__gt=timezone.now())
        rows = list(rows.order_by("starts_at", "id")[:100])
        actor = Actor.for_user(request.user)
        managed = {}
        items = []
        for swap in rows:
            if swap.schedule_id not in managed:
                managed[swap.schedule_id] = schedules.may_manage(actor, swap.schedule)
            is_open = swap.status == "requested" and swap.ends_at > timezone.now()
            mine = swap.requester_id == request.user.pk
            items.append({
                "swap": swap, "open": is_open,
                "may_accept": is_open and not mine and swap.proposed_to_id in (None, request.user.pk)
                and _may_respond(request.user),
                "may_decline": is_open and swap.proposed_to_id is not None
                and (swap.proposed_to_id == request.user.pk or managed[swap.schedule_id]),
                "may_cancel": is_open and (mine or managed[swap.schedule_id]),
                "may_assign": is_open and managed[swap.schedule_id],
            })
        return render(request, "oncall/swap_list.html", {
            "items": items, "show": show, "assign_form": AssignForm(people=_people()) if any(
                i["may_assign"] for i in items) else None})


class SwapActionView(LoginRequiredMixin, View):
    ACTIONS = {"accept": schedules.accept_swap, "decline": schedules.decline_swap, "cancel": schedules.cancel_swap}
    DONE = {"accept": _("You took the shift."), "decline": _("You declined the swap."),
            "cancel": _("The swap request was withdrawn."), "assign": _("The shift was given to %(u)s.")}

    def post(self, request, swap_pk, name):
        swap = get_object_or_404(ShiftSwap.objects.select_related("schedule"), pk=swap_pk)
        actor = Actor.for_user(request.user)
        try:
            if name == "assign":
                form = AssignForm(request.POST, people=_people())
                if not form.is_valid():
                    raise ValidationError(form.errors.get_json_data())
                schedules.assign_swap(swap, actor=actor, user=form.cleaned_data["user"])
                messages.success(request, self.DONE[name] % {"u": form.cleaned_data["user"].username})
            elif name in self.ACTIONS:
                self.ACTIONS[name](swap, actor=actor)
                messages.success(request, self.DONE[name])
            else:
                raise Http404
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages) if not hasattr(exc, "error_dict")
                           else " ".join(m for ms in exc.message_dict.values() for m in ms))
            return redirect("oncall:swap_list")
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect("oncall:swap_list")
        return redirect(safe_next(request, reverse("oncall:swap_list")))  # only pages of this site


# --- my shifts and the iCal feeds --------------------------------------------------------------------------

class MyShiftsView(LoginRequiredMixin, View):
    def get(self, request):
        weeks = _int_param(request, "weeks", 4, 1, 26)
        now = timezone.now()
        found = selectors.user_shifts(request.user, now, now + datetime.timedelta(weeks=weeks))
        feed = CalendarFeed.objects.filter(user=request.user).first()
        swaps = list(ShiftSwap.objects.filter(Q(requester=request.user) | Q(proposed_to=request.user),
                                              status="requested", ends_at__gt=now)
                     .select_related("schedule", "requester", "proposed_to").order_by("starts_at")[:OPEN_SWAPS])
        return render(request, "oncall/my_shifts.html", {
            "shifts": found, "weeks": weeks, "week_choices": WEEK_CHOICES, "feed": feed, "swaps": swaps,
            "may_respond": _may_respond(request.user),
            "total_hours": round(sum((s.duration for _s, s in found), datetime.timedelta()).total_seconds() / 3600, 1),
            "ical_url": request.build_absolute_uri(reverse("oncall:my_ical", args=[feed.token])) if feed else "",
        })


class MyFeedView(LoginRequiredMixin, View):
    """Make (or replace, with rotate=1) the person's calendar feed address."""

    def post(self, request):
        schedules.calendar_feed(request.user, actor=Actor.for_user(request.user),
                                rotate=request.POST.get("rotate") == "1")
        messages.success(request, _("Your calendar address is ready; add it to your calendar app as a subscription."))
        return redirect("oncall:my_shifts")


def _ics(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=300"
    return response


def schedule_ical(request, slug: str, token: str):
    schedule = Schedule.objects.filter(slug=slug, ical_token=token).first() if token else None
    if schedule is None:
        raise Http404
    return _ics(ical.schedule_feed(schedule, _int_param(request, "weeks", ical.DEFAULT_WEEKS, 1, ical.MAX_WEEKS)),
                f"{schedule.slug}.ics")


def my_ical(request, token: str):
    feed = CalendarFeed.objects.select_related("user").filter(token=token).first() if token else None
    if feed is None or not feed.user.is_active:
        raise Http404
    return _ics(ical.user_feed(feed.user, _int_param(request, "weeks", ical.DEFAULT_WEEKS, 1, ical.MAX_WEEKS)),
                "my-on-call.ics")


urlpatterns = [
    path("", WhoView.as_view(), name="who"),
    path("schedules/", ScheduleListView.as_view(), name="schedule_list"),
    path("schedules/new/", ScheduleFormView.as_view(), name="schedule_create"),
    path("schedules/<int:pk>/", ScheduleDetailView.as_view(), name="schedule_detail"),
    path("schedules/<int:pk>/edit/", ScheduleFormView.as_view(), name="schedule_edit"),
    path("schedules/<int:pk>/delete/", ScheduleDeleteView.as_view(), name="schedule_delete"),
    path("schedules/<int:pk>/rotate-ical/", RotateIcalView.as_view(), name="schedule_rotate_ical"),
    path("schedules/<int:pk>/layers/new/", LayerFormView.as_view(), name="layer_create"),
    path("layers/<int:layer_pk>/edit/", LayerFormView.as_view(), name="layer_edit"),
    path("layers/<int:layer_pk>/delete/", LayerDeleteView.as_view(), name="layer_delete"),
    path("schedules/<int:pk>/overrides/new/", OverrideFormView.as_view(), name="override_create"),
    path("overrides/<int:override_pk>/delete/", OverrideDeleteView.as_view(), name="override_delete"),
    path("schedules/<int:pk>/swaps/new/", SwapFormView.as_view(), name="swap_create"),
    path("swaps/", SwapListView.as_view(), name="swap_list"),
    path("swaps/<int:swap_pk>/<str:name>/", SwapActionView.as_view(), name="swap_action"),
    path("my/", MyShiftsView.as_view(), name="my_shifts"),
    path("my/feed/", MyFeedView.as_view(), name="my_feed"),
    path("my/ical/<str:token>.ics", my_ical, name="my_ical"),
    path("schedules/<slug:slug>/ical/<str:token>.ics", schedule_ical, name="schedule_ical"),
]
