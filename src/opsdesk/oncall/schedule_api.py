"""The schedules API under /api/v1/oncall/: schedules (with their layers), layers, overrides, shift
swaps and their actions, who is on call (one schedule at an instant, all schedules now), the final
shifts and gaps of a period, and the caller's own shifts.

Who may write is decided by the services (`oncall.schedules`): a team's managers edit its schedules,
a responder puts themself on call or offers their own shift. Viewers read everything."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet

from . import schedules, selectors
from .models import Layer, Override, Schedule, ShiftSwap

User = get_user_model()
MAX_PERIOD = datetime.timedelta(days=93)
DEFAULT_PERIOD = datetime.timedelta(weeks=4)
# Writes are open to every role at the door; the services decide (team managers, the person themself).
SERVICE_DECIDES = {"create": "viewer", "update": "viewer", "partial_update": "viewer", "destroy": "viewer"}


# --- parameters -------------------------------------------------------------------------------------------

def instant_param(request, name: str, default=None) -> datetime.datetime | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    value = parse_datetime(raw.replace(" ", "+"))  # a "+" in a query string arrives as a space
    if value is None:
        raise exceptions.ValidationError({name: _("Give a date and time in ISO 8601, e.g. 2026-03-29T02:30:00+01:00.")})
    if timezone.is_naive(value):
        raise exceptions.ValidationError({name: _("Give the time with its UTC offset (or Z).")})
    return value.astimezone(datetime.UTC)  # answers are in UTC, like the shifts


def period_params(request, default_length=DEFAULT_PERIOD) -> tuple[datetime.datetime, datetime.datetime]:
    start = instant_param(request, "start", timezone.now())
    end = instant_param(request, "end", start + default_length)
    if end <= start:
        raise exceptions.ValidationError({"end": _("The end must be after the start.")})
    if end - start > MAX_PERIOD:
        raise exceptions.ValidationError({"end": _("Ask for at most %(d)s days at a time.") % {"d": MAX_PERIOD.days}})
    return start, end


# --- people by id, loaded once per response ---------------------------------------------------------------

class PeopleNames:
    """Usernames of user ids, loaded in one query for everything a response shows."""

    def __init__(self):
        self.names: dict[int, str] = {}

    def load(self, ids) -> None:
        missing = {i for i in ids if i not in self.names}
        if missing:
            self.names.update(dict(User.objects.filter(pk__in=missing).values_list("pk", "username")))

    def __call__(self, ids) -> list[str]:
        self.load(ids)
        return [self.names.get(i, str(i)) for i in ids]


def person(user) -> dict:
    return {"id": user.pk, "username": user.username, "name": user.get_full_name() or user.username}


def shift_data(shift) -> dict:
    return {"start": shift.start, "end": shift.end, "source": shift.source, "users": [person(u) for u in shift.users]}


# --- serializers ------------------------------------------------------------------------------------------

class PeopleField(serializers.ListField):
    """People in rotation order: usernames (or ids) in, usernames out."""

    child = serializers.CharField(max_length=150)

    def to_representation(self, value):
        people = self.context.get("people") or PeopleNames()
        return people(value or [])


class LayerSerializer(serializers.ModelSerializer):
    schedule = serializers.PrimaryKeyRelatedField(queryset=Schedule.objects.all())
    users = PeopleField(help_text=gettext_lazy("Usernames in rotation order; a person may appear twice."))
    restrictions = serializers.JSONField(required=False, help_text=gettext_lazy(
        '{} (none), {"kind": "daily", "ranges": [{"start": "09:00", "end": "17:00"}]} or {"kind": "weekly", '
        '"ranges": [{"start_day": 0, "start": "09:00", "end_day": 4, "end": "17:00"}]} (Monday = 0)'))

    class Meta:
        model = Layer
        fields = ["id", "schedule", "name", "order", "users", "rotation_start", "turn_unit", "turn_count",
                  "restrictions", "starts_at", "ends_at"]
        extra_kwargs = {"order": {"required": False}}

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["schedule"].read_only = True
        return fields


class NestedLayerSerializer(LayerSerializer):
    class Meta(LayerSerializer.Meta):
        fields = [f for f in LayerSerializer.Meta.fields if f != "schedule"]


class ScheduleSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), allow_null=True,
                                        required=False)
    layers = NestedLayerSerializer(many=True, read_only=True)
    ical_url = serializers.SerializerMethodField(help_text=gettext_lazy(
        "The iCal feed of the final shifts; the address is the credential: share it with care."))

    class Meta:
        model = Schedule
        fields = ["id", "url", "name", "slug", "description", "team", "time_zone", "layers", "ical_url",
                  "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"slug": {"required": False}}

    def get_url(self, schedule) -> str:
        return schedule.get_absolute_url()

    def get_ical_url(self, schedule) -> str:
        from django.urls import reverse

        path = reverse("oncall:schedule_ical", args=[schedule.slug, schedule.ical_token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class OverrideSerializer(serializers.ModelSerializer):
    schedule = serializers.PrimaryKeyRelatedField(queryset=Schedule.objects.all())
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())
    swap = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Override
        fields = ["id", "schedule", "user", "starts_at", "ends_at", "reason", "swap", "created_by", "created_at"]
        read_only_fields = ["created_at"]


class SwapSerializer(serializers.ModelSerializer):
    schedule = serializers.PrimaryKeyRelatedField(queryset=Schedule.objects.all())
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True)
    proposed_to = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), allow_null=True,
                                               required=False, help_text=gettext_lazy("Empty: offered to anyone."))
    taken_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ShiftSwap
        fields = ["id", "schedule", "requester", "starts_at", "ends_at", "proposed_to", "taken_by", "status", "note",
                  "created_at", "updated_at"]
        read_only_fields = ["status", "created_at", "updated_at"]


class AssignSerializer(serializers.Serializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())


SHIFT = inline_serializer(name="OnCallShift", fields={
    "start": serializers.DateTimeField(), "end": serializers.DateTimeField(), "source": serializers.CharField(),
    "users": serializers.ListField(child=serializers.DictField())})
ON_CALL = inline_serializer(name="OnCallAt", fields={
    "schedule": serializers.DictField(), "at": serializers.DateTimeField(), "shift": SHIFT,
    "users": serializers.ListField(child=serializers.DictField())})
SHIFTS = inline_serializer(name="ScheduleShifts", fields={
    "start": serializers.DateTimeField(), "end": serializers.DateTimeField(),
    "shifts": serializers.ListField(child=SHIFT), "gaps": serializers.ListField(child=serializers.DictField())})
AT = OpenApiParameter("at", str, description="ISO 8601 with an offset; default now")
START = OpenApiParameter("start", str, description="ISO 8601 with an offset; default now")
END = OpenApiParameter("end", str, description="ISO 8601 with an offset; default start + 4 weeks (at most 93 days)")


# --- viewsets ---------------------------------------------------------------------------------------------

class PeopleContextMixin:
    def get_serializer_context(self):
        context = super().get_serializer_context()
        context.setdefault("people", getattr(self, "_people", None) or PeopleNames())
        self._people = context["people"]
        return context

    def preload_people(self, layers) -> None:
        self._people = getattr(self, "_people", None) or PeopleNames()
        self._people.load({uid for layer in layers for uid in layer.users or []})


class ScheduleViewSet(PeopleContextMixin, RecordViewSet):
    """On-call schedules with their layers; `on-call` and `shifts` read the final schedule."""

    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    queryset = Schedule.objects.select_related("team").prefetch_related(
        Prefetch("layers", queryset=Layer.objects.order_by("order", "id")))
    serializer_class = ScheduleSerializer
    search_fields = ["name", "slug", "description"]
    ordering_fields = ["id", "name", "slug", "created_at"]
    ordering = ["name"]
    filterset_fields = {"team__slug": ["exact"], "slug": ["exact"]}
    action_roles = {"destroy": "manager", "on_call": "viewer", "shifts": "viewer", "rotate_ical_token": "manager"}
    create_service = staticmethod(schedules.create_schedule)
    update_service = staticmethod(schedules.update_schedule)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None and self.action == "list":
            self.preload_people([layer for schedule in page for layer in schedule.layers.all()])
        return page

    def perform_destroy(self, instance):
        schedules.delete_schedule(instance, actor=Actor.from_request(self.request))

    @extend_schema(summary="Who is on call at an instant", parameters=[AT], responses=ON_CALL)
    @action(detail=True, methods=["get"], url_path="on-call")
    def on_call(self, request, pk=None):
        schedule = self.get_object()
        at = instant_param(request, "at", timezone.now())
        shift = selectors.on_call_now([schedule], at)[schedule.pk]
        return Response({"schedule": {"id": schedule.pk, "slug": schedule.slug, "name": schedule.name}, "at": at,
                         "users": [person(u) for u in shift.users] if shift else [],
                         "shift": shift_data(shift) if shift else None})

    @extend_schema(summary="The final shifts and the gaps of a period", parameters=[START, END], responses=SHIFTS)
    @action(detail=True, methods=["get"])
    def shifts(self, request, pk=None):
        schedule = self.get_object()
        start, end = period_params(request)
        timeline = selectors.timeline(schedule, start, end)
        return Response({"start": start, "end": end, "shifts": [shift_data(s) for s in timeline.shifts],
                         "gaps": [{"start": s, "end": e} for s, e in timeline.gaps]})

    @extend_schema(summary="Replace the secret of the schedule's iCal feed", request=None,
                   responses=ScheduleSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-ical-token")
    def rotate_ical_token(self, request, pk=None):
        schedule = schedules.rotate_ical_token(self.get_object(), actor=Actor.from_request(request))
        return Response(self.get_serializer(schedule).data)


class LayerViewSet(PeopleContextMixin, viewsets.ModelViewSet):
    """Layers of schedules (`?schedule=<id>`); writes by the schedule team's managers."""

    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    queryset = Layer.objects.select_related("schedule").order_by("schedule__name", "order", "id")
    serializer_class = LayerSerializer
    filterset_fields = ["schedule"]
    ordering_fields = ["id", "order"]
    action_roles = SERVICE_DECIDES

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None and self.action == "list":
            self.preload_people(page)
        return page

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        schedule = data.pop("schedule")
        serializer.instance = schedules.add_layer(schedule, actor=Actor.from_request(self.request), data=data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("schedule", None)
        serializer.instance = schedules.update_layer(serializer.instance, actor=Actor.from_request(self.request),
                                                     data=data)

    def perform_destroy(self, instance):
        schedules.remove_layer(instance, actor=Actor.from_request(self.request))


class OverrideViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Overrides (`?schedule=<id>&user=<username>&ends_after=<iso>`): a manager of the schedule's team puts
    anyone on call; a responder puts themself on call."""

    queryset = Override.objects.select_related("schedule", "user", "created_by").order_by("starts_at", "id")
    serializer_class = OverrideSerializer
    filterset_fields = {"schedule": ["exact"], "user__username": ["exact"], "ends_at": ["gt"], "starts_at": ["lt"]}
    ordering_fields = ["id", "starts_at"]
    action_roles = SERVICE_DECIDES

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        schedule = data.pop("schedule")
        serializer.instance = schedules.add_override(schedule, actor=Actor.from_request(self.request), data=data)

    def perform_destroy(self, instance):
        schedules.remove_override(instance, actor=Actor.from_request(self.request))


class SwapViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  viewsets.GenericViewSet):
    """Shift swaps: the person on call asks (POST), the person asked accepts or declines, the requester
    cancels, a manager assigns."""

    queryset = ShiftSwap.objects.select_related("schedule", "requester", "proposed_to", "taken_by")
    serializer_class = SwapSerializer
    filterset_fields = {"schedule": ["exact"], "status": ["exact"], "requester__username": ["exact"],
                        "proposed_to__username": ["exact"]}
    ordering_fields = ["id", "starts_at"]
    action_roles = {**SERVICE_DECIDES, "accept": "viewer", "decline": "viewer", "cancel": "viewer",
                    "assign": "viewer"}

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = schedules.request_swap(
            data["schedule"], actor=Actor.from_request(self.request), starts_at=data["starts_at"],
            ends_at=data["ends_at"], proposed_to=data.get("proposed_to"), note=data.get("note", ""))

    def _act(self, request, func, **kwargs):
        swap = func(self.get_object(), actor=Actor.from_request(request), **kwargs)
        return Response(self.get_serializer(swap).data)

    @extend_schema(summary="Take the shift (the person asked, or anyone when nobody was asked)", request=None)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return self._act(request, schedules.accept_swap)

    @extend_schema(summary="Say no (the person asked)", request=None)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        return self._act(request, schedules.decline_swap)

    @extend_schema(summary="Withdraw the request (the requester)", request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(request, schedules.cancel_swap)

    @extend_schema(summary="Give the shift to someone (a manager of the schedule's team)", request=AssignSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._act(request, schedules.assign_swap, user=serializer.validated_data["user"])


class OnCallNowViewSet(viewsets.ViewSet):
    """Who is on call now (or `?at=`) in every schedule."""

    action_roles = {"list": "viewer"}

    @extend_schema(summary="Who is on call in every schedule", parameters=[AT],
                   responses=inline_serializer(name="OnCallEverywhere", fields={
                       "at": serializers.DateTimeField(), "results": serializers.ListField(child=ON_CALL)}))
    def list(self, request):
        at = instant_param(request, "at", timezone.now())
        rows = list(selectors.with_layers(Schedule.objects.select_related("team")).order_by("name"))
        now = selectors.on_call_now(rows, at)
        results = []
        for schedule in rows:
            shift = now[schedule.pk]
            results.append({"schedule": {"id": schedule.pk, "slug": schedule.slug, "name": schedule.name,
                                         "team": schedule.team.slug if schedule.team_id else None},
                            "at": at, "users": [person(u) for u in shift.users] if shift else [],
                            "shift": shift_data(shift) if shift else None})
        return Response({"at": at, "results": results})


class MyShiftsViewSet(viewsets.ViewSet):
    """The caller's own final shifts across schedules (default: now to 4 weeks ahead)."""

    action_roles = {"list": "viewer"}

    @extend_schema(summary="My on-call shifts", parameters=[START, END],
                   responses=inline_serializer(name="MyShifts", fields={
                       "start": serializers.DateTimeField(), "end": serializers.DateTimeField(),
                       "results": serializers.ListField(child=serializers.DictField())}))
    def list(self, request):
        start, end = period_params(request)
        found = selectors.user_shifts(request.user, start, end)
        return Response({"start": start, "end": end, "results": [
            {"schedule": {"id": s.pk, "slug": s.slug, "name": s.name}, **shift_data(shift)} for s, shift in found]},
            status=status.HTTP_200_OK)


def _router():
    from rest_framework.routers import DefaultRouter

    router = DefaultRouter()
    router.include_root_view = False
    router.register("schedules", ScheduleViewSet, basename="oncall-schedule")
    router.register("layers", LayerViewSet, basename="oncall-layer")
    router.register("overrides", OverrideViewSet, basename="oncall-override")
    router.register("swaps", SwapViewSet, basename="oncall-swap")
    router.register("on-call", OnCallNowViewSet, basename="oncall-now")
    router.register("my-shifts", MyShiftsViewSet, basename="oncall-my-shifts")
    return router


urlpatterns = _router().urls
