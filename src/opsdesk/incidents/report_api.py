"""The incident report API, under /api/v1/incidents/incidents/<pk>/report/:

- GET                 the report with its sections, timeline and action items (viewer);
- PUT / PATCH         {"sections": {key: markdown}, "timeline": [{"at", "text"}]} (responder; draft only);
- POST start/         create it from the template, impact and timeline pre-filled (201; 200 if it exists);
- POST complete/      make it final (400 naming the required sections still empty);
- POST reopen/        back to draft;
- GET/POST action-items/, PATCH action-items/<id>/   (owner by username, due_date, status);
- GET pdf/, markdown/  the rendered document.

Writes need the responder role on the incident (its team counts). Errors come in the core error format.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.core.actors import Actor
from opsdesk.core.permissions import can

from . import report_render, reports
from .models import ActionItem, Incident, IncidentReport

VIEW_ROLE = "viewer"
EDIT_ROLE = "responder"


# --- serializers ----------------------------------------------------------------------------------------

class TimelineRowSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    text = serializers.CharField(max_length=reports.MAX_TIMELINE_TEXT)


class ActionItemSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", allow_null=True, required=False,
                                         queryset=get_user_model().objects.filter(is_active=True),
                                         help_text=gettext_lazy("The owner's username."))
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = ActionItem
        fields = ["id", "title", "owner", "due_date", "status", "overdue", "overdue_notified_at", "created_at",
                  "updated_at"]
        read_only_fields = ["id", "overdue", "overdue_notified_at", "created_at", "updated_at"]

    def get_overdue(self, item) -> bool:
        return reports.is_overdue(item)


class SectionSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    hint = serializers.CharField()
    required = serializers.BooleanField()
    text = serializers.CharField()


class ReportSerializer(serializers.ModelSerializer):
    incident = serializers.SerializerMethodField()
    template = serializers.SerializerMethodField(help_text=gettext_lazy(
        "The report's sections in template order, with their text and whether completing needs them."))
    timeline = TimelineRowSerializer(many=True)
    action_items = ActionItemSerializer(many=True)
    missing_sections = serializers.SerializerMethodField()

    class Meta:
        model = IncidentReport
        fields = ["id", "incident", "status", "sections", "template", "missing_sections", "timeline", "action_items",
                  "completed_at", "created_at", "updated_at"]

    def get_incident(self, report) -> dict:
        return {"id": report.incident_id, "number": report.incident.number}

    @extend_schema_field(SectionSerializer(many=True))
    def get_template(self, report) -> list[dict]:
        return SectionSerializer(reports.report_sections(report), many=True).data

    def get_missing_sections(self, report) -> list[str]:
        return [s["key"] for s in reports.missing_sections(report)]


class ReportWriteSerializer(serializers.Serializer):
    sections = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False,
                                                                max_length=reports.MAX_SECTION_CHARS),
                                     required=False, help_text=gettext_lazy("Section key -> Markdown text; "
                                                                            "sections not given stay as they are."))
    timeline = TimelineRowSerializer(many=True, required=False, max_length=reports.MAX_TIMELINE_ROWS,
                                     help_text=gettext_lazy("Replaces the whole timeline."))


# --- views ----------------------------------------------------------------------------------------------

class PDFRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`; an error is still written as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return json.dumps(data).encode()


class MarkdownRenderer(PDFRenderer):
    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"


class ReportAPIView(APIView):
    """The incident from the URL with the role the method needs; a read-only token cannot write."""

    permission_classes = [IsAuthenticated]
    write_role = EDIT_ROLE

    def get_incident(self, pk) -> Incident:
        incident = get_object_or_404(Incident.objects.select_related("service", "assignment_group"), pk=pk)
        writing = self.request.method not in SAFE_METHODS
        if writing and getattr(self.request.auth, "scope", "write") == "read":
            raise exceptions.PermissionDenied(_("This API token is read-only."))
        needed = self.write_role if writing else VIEW_ROLE
        if not can(self.request.user, needed, incident):
            raise exceptions.PermissionDenied(_("Your role does not allow this on %(inc)s.") % {"inc": incident.number})
        return incident

    def get_report(self, pk) -> IncidentReport:
        incident = self.get_incident(pk)
        report = IncidentReport.objects.filter(incident=incident).select_related("incident").first()
        if report is None:
            raise exceptions.NotFound(_("%(inc)s has no incident report yet; POST …/report/start/ to start it.")
                                      % {"inc": incident.number})
        return report

    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    @staticmethod
    def body(report: IncidentReport) -> dict:
        report = IncidentReport.objects.select_related("incident").prefetch_related("action_items__owner") \
            .get(pk=report.pk)
        return ReportSerializer(report).data


class ReportView(ReportAPIView):
    @extend_schema(summary="The incident's report", responses={200: ReportSerializer})
    def get(self, request, pk):
        return Response(self.body(self.get_report(pk)))

    def _write(self, request, pk):
        report = self.get_report(pk)
        serializer = ReportWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        report = reports.update_report(report, actor=self.actor(), sections=data.get("sections"),
                                       timeline=data.get("timeline"))
        return Response(self.body(report))

    @extend_schema(summary="Change sections and/or the timeline", request=ReportWriteSerializer,
                   responses={200: ReportSerializer, 409: OpenApiResponse(description="The report is final")})
    def patch(self, request, pk):
        return self._write(request, pk)

    @extend_schema(summary="Change sections and/or the timeline", request=ReportWriteSerializer,
                   responses={200: ReportSerializer, 409: OpenApiResponse(description="The report is final")})
    def put(self, request, pk):
        return self._write(request, pk)


class ReportStartView(ReportAPIView):
    @extend_schema(summary="Start the report", request=None, responses={201: ReportSerializer, 200: ReportSerializer})
    def post(self, request, pk):
        incident = self.get_incident(pk)
        existed = IncidentReport.objects.filter(incident=incident).exists()
        report = reports.start_report(incident, actor=self.actor())
        return Response(self.body(report), status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)


class ReportCompleteView(ReportAPIView):
    @extend_schema(summary="Complete the report (final)", request=None, responses={
        200: ReportSerializer, 400: OpenApiResponse(description="Required sections are empty (named in fields)"),
        409: OpenApiResponse(description="Already final")})
    def post(self, request, pk):
        return Response(self.body(reports.complete_report(self.get_report(pk), actor=self.actor())))


class ReportReopenView(ReportAPIView):
    @extend_schema(summary="Put a final report back to draft", request=None, responses={200: ReportSerializer})
    def post(self, request, pk):
        return Response(self.body(reports.reopen_report(self.get_report(pk), actor=self.actor())))


class ActionItemListView(ReportAPIView):
    @extend_schema(summary="The report's action items", responses={200: ActionItemSerializer(many=True)})
    def get(self, request, pk):
        report = self.get_report(pk)
        return Response(ActionItemSerializer(report.action_items.select_related("owner"), many=True).data)

    @extend_schema(summary="Add an action item", request=ActionItemSerializer, responses={201: ActionItemSerializer})
    def post(self, request, pk):
        report = self.get_report(pk)
        serializer = ActionItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = reports.add_action_item(report, actor=self.actor(), data=dict(serializer.validated_data))
        return Response(ActionItemSerializer(item).data, status=status.HTTP_201_CREATED)


class ActionItemView(ReportAPIView):
    def get_item(self, pk, item_id) -> ActionItem:
        report = self.get_report(pk)
        return get_object_or_404(ActionItem.objects.select_related("owner"), pk=item_id, report=report)

    @extend_schema(summary="One action item", responses={200: ActionItemSerializer})
    def get(self, request, pk, item_id):
        return Response(ActionItemSerializer(self.get_item(pk, item_id)).data)

    @extend_schema(summary="Change an action item (owner, due date, status, title)", request=ActionItemSerializer,
                   responses={200: ActionItemSerializer})
    def patch(self, request, pk, item_id):
        item = self.get_item(pk, item_id)
        serializer = ActionItemSerializer(item, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        item = reports.update_action_item(item, actor=self.actor(), data=dict(serializer.validated_data))
        return Response(ActionItemSerializer(item).data)


class ReportPDFView(ReportAPIView):
    renderer_classes = [PDFRenderer, JSONRenderer]

    @extend_schema(summary="The report as PDF (A4)", responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        report = self.get_report(pk)
        response = HttpResponse(report_render.to_pdf(report), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{report_render.filename(report, "pdf")}"'
        return response


class ReportMarkdownView(ReportAPIView):
    renderer_classes = [MarkdownRenderer, JSONRenderer]

    @extend_schema(summary="The report as Markdown", responses={(200, "text/markdown"): OpenApiTypes.STR})
    def get(self, request, pk):
        report = self.get_report(pk)
        return HttpResponse(report_render.to_markdown(report), content_type="text/markdown; charset=utf-8")


PREFIX = "incidents/<int:pk>/report/"
urlpatterns = [
    path(PREFIX, ReportView.as_view(), name="incident-report"),
    path(f"{PREFIX}start/", ReportStartView.as_view(), name="incident-report-start"),
    path(f"{PREFIX}complete/", ReportCompleteView.as_view(), name="incident-report-complete"),
    path(f"{PREFIX}reopen/", ReportReopenView.as_view(), name="incident-report-reopen"),
    path(f"{PREFIX}action-items/", ActionItemListView.as_view(), name="incident-report-action-items"),
    path(f"{PREFIX}action-items/<int:item_id>/", ActionItemView.as_view(), name="incident-report-action-item"),
    path(f"{PREFIX}pdf/", ReportPDFView.as_view(), name="incident-report-pdf"),
    path(f"{PREFIX}markdown/", ReportMarkdownView.as_view(), name="incident-report-markdown"),
]
