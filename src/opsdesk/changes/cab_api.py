"""CAB meetings in the API, under /api/v1/changes/:

- cab-meetings/                          list (viewer), create (manager), retrieve with the agenda, PATCH (manager)
- POST cab-meetings/<id>/hold/, cancel/  {"reason"} for cancel (responder; CAB_MEETING_WORKFLOW)
- POST cab-meetings/<id>/generate-agenda/              the changes awaiting the CAB (responder)
- POST cab-meetings/<id>/items/<item_id>/decide/       {"decision": approved|rejected|deferred, "notes"}: an
       approval or rejection is the acting member's OWN approval of the change's current stage (403 otherwise)
- GET  cab-meetings/<id>/minutes.md                    the minutes (saved text, else generated) as Markdown
- PUT  cab-meetings/<id>/minutes/                      {"minutes": "..."} (a manager or an attendee)
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet

from . import cab
from .models import CABAgendaItem, CABMeeting
from .workflows import CAB_MEETING_WORKFLOW


class AgendaItemSerializer(serializers.ModelSerializer):
    change = serializers.SlugRelatedField(slug_field="number", read_only=True)
    change_title = serializers.CharField(source="change.title", read_only=True)
    change_status = serializers.CharField(source="change.status", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CABAgendaItem
        fields = ["id", "order", "change", "change_id", "change_title", "change_status", "summary", "decision",
                  "notes", "decided_by", "decided_at"]
        read_only_fields = fields


class MeetingSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    board = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False,
                                         allow_null=True)
    attendees = serializers.SlugRelatedField(slug_field="username", many=True, required=False,
                                             queryset=get_user_model().objects.filter(is_active=True))

    class Meta:
        model = CABMeeting
        fields = ["id", "number", "url", "title", "starts_at", "ends_at", "location", "board", "emergency",
                  "attendees", "status", "status_reason", "created_at", "updated_at"]
        read_only_fields = ["id", "number", "url", "status", "status_reason", "created_at", "updated_at"]

    def validate(self, data):
        starts = data.get("starts_at", getattr(self.instance, "starts_at", None))
        ends = data.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts and ends and ends <= starts:
            raise serializers.ValidationError({"ends_at": _("The end must come after the start.")})
        return data


class MeetingDetailSerializer(MeetingSerializer):
    items = AgendaItemSerializer(many=True, read_only=True)

    class Meta(MeetingSerializer.Meta):
        fields = [*MeetingSerializer.Meta.fields, "minutes", "items"]
        read_only_fields = [*MeetingSerializer.Meta.read_only_fields, "minutes", "items"]


DECIDE_REQUEST = inline_serializer("CABItemDecideRequest", {
    "decision": serializers.ChoiceField(choices=cab.ITEM_DECISIONS),
    "notes": serializers.CharField(required=False, allow_blank=True, max_length=2000)})


class CABMeetingViewSet(RecordViewSet):
    """CAB meetings with their agenda, decisions and minutes."""

    queryset = CABMeeting.objects.select_related("board").prefetch_related("attendees")
    serializer_class = MeetingSerializer
    workflow = CAB_MEETING_WORKFLOW
    create_service = staticmethod(cab.create_meeting)
    update_service = staticmethod(cab.update_meeting)
    transition_service = staticmethod(cab.transition_meeting)
    action_roles = {"generate_agenda": "responder", "decide": "viewer",
                    "minutes": "viewer"}  # the service decides: a manager or an attendee
    ordering = ["-starts_at", "-id"]
    ordering_fields = ["starts_at", "id"]
    search_fields = ["title", "number"]

    def get_queryset(self):
        rows = super().get_queryset()
        if self.action == "retrieve":
            rows = rows.prefetch_related(Prefetch("items", queryset=CABAgendaItem.objects.select_related(
                "change", "decided_by").order_by("order", "id")))
        return rows

    def get_serializer_class(self):
        return MeetingDetailSerializer if self.action == "retrieve" else MeetingSerializer

    @extend_schema(summary="Generate the agenda: the changes awaiting the CAB", request=None,
                   responses=AgendaItemSerializer(many=True))
    @action(detail=True, methods=["post"], url_path="generate-agenda")
    def generate_agenda(self, request, pk=None):
        meeting = self.get_object()
        items = cab.generate_agenda(meeting, actor=Actor.from_request(request))
        return Response(AgendaItemSerializer(items, many=True).data)

    @extend_schema(summary="Record the CAB decision on an agenda item (your own approval)", request=DECIDE_REQUEST,
                   responses=AgendaItemSerializer)
    @action(detail=True, methods=["post"], url_path=r"items/(?P<item_id>\d+)/decide")
    def decide(self, request, pk=None, item_id=None):
        meeting = self.get_object()
        item = get_object_or_404(CABAgendaItem, pk=item_id, meeting=meeting)
        data = request.data if isinstance(request.data, dict) else {}
        decision = data.get("decision")
        notes = data.get("notes", "")
        if decision not in cab.ITEM_DECISIONS:
            raise exceptions.ValidationError({"decision": _("Choose approved, rejected or deferred.")})
        if not isinstance(notes, str):
            raise exceptions.ValidationError({"notes": _("Give text.")})
        try:
            item = cab.record_decision(item, actor=Actor.from_request(request), decision=decision, notes=notes)
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc) or None)
        item = CABAgendaItem.objects.select_related("change", "decided_by").get(pk=item.pk)
        return Response(AgendaItemSerializer(item).data)

    @extend_schema(summary="Save the minutes (Markdown)", request=inline_serializer(
        "CABMinutesRequest", {"minutes": serializers.CharField(allow_blank=True)}),
        responses=inline_serializer("CABMinutesResponse", {"minutes": serializers.CharField()}))
    @action(detail=True, methods=["put"])
    def minutes(self, request, pk=None):
        meeting = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        text = data.get("minutes")
        if not isinstance(text, str):
            raise exceptions.ValidationError({"minutes": _("Give the minutes as text.")})
        try:
            meeting = cab.save_minutes(meeting, actor=Actor.from_request(request), text=text)
        except DjangoPermissionDenied as exc:  # a manager or an attendee of the meeting
            raise exceptions.PermissionDenied(str(exc) or None)
        return Response({"minutes": meeting.minutes})


class MinutesMarkdownView(APIView):
    action = "retrieve"

    @extend_schema(summary="The minutes as Markdown (saved text, else generated)",
                   responses={(200, "text/markdown"): OpenApiTypes.STR})
    def get(self, request, pk):
        meeting = get_object_or_404(CABMeeting, pk=pk)
        response = HttpResponse(meeting.minutes or cab.generate_minutes(meeting),
                                content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{meeting.number}-minutes.md"'
        return response


urlpatterns = [
    path("cab-meetings/<int:pk>/minutes.md", MinutesMarkdownView.as_view(), name="cabmeeting-minutes-md"),
]


def register_routes(router) -> None:
    router.register("cab-meetings", CABMeetingViewSet, basename="cabmeeting")
