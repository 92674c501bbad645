"""The root-cause analysis and problem report API, under /api/v1/problems/problems/<pk>/:

- GET  analyses/                      the problem's analyses (viewer)
- POST analyses/                      {"method", "title", "data"} (responder of the problem's team)
- GET / PATCH / PUT / DELETE analyses/<id>/     (PATCH/PUT: {"title"?, "data"}; the method is fixed)
- POST analyses/<id>/use-as-root-cause/         copy a 5 Whys' root cause to the problem
- GET  analyses/<id>/fishbone.svg               the fishbone diagram (image/svg+xml)
- GET / PUT contributing-factors/     {"factors": ["...", ...]}
- GET  report/markdown/, report/html/, report/pdf/   the problem report

A bad `data` shape is a 400 naming each path (`whys[2].answer`); a closed or cancelled problem is read-only
(409). Errors come in the core error format.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.core.actors import Actor
from opsdesk.core.api import PayloadTooLarge
from opsdesk.core.permissions import can
from opsdesk.incidents.report_api import MarkdownRenderer, PDFRenderer

from . import rca, report
from .models import Problem, RootCauseAnalysis

VIEW_ROLE = "viewer"
EDIT_ROLE = "responder"


class AnalysisSerializer(serializers.ModelSerializer):
    problem = serializers.SerializerMethodField()
    method_label = serializers.SerializerMethodField()

    class Meta:
        model = RootCauseAnalysis
        fields = ["id", "problem", "method", "method_label", "title", "data", "order", "created_at", "updated_at"]
        read_only_fields = fields

    def get_problem(self, analysis) -> dict:
        return {"id": analysis.problem_id, "number": analysis.problem.number}

    def get_method_label(self, analysis) -> str:
        return str(rca.METHODS.get(analysis.method, analysis.method))


class AnalysisCreateSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=RootCauseAnalysis.METHODS)
    title = serializers.CharField(max_length=rca.MAX_TITLE, required=False, allow_blank=True, default="")
    data = serializers.JSONField(help_text=gettext_lazy(
        "five_whys: {problem, whys: [{question, answer}], root_cause}; fishbone: {effect, causes: "
        "[{category, text, sub: [..]}]}; timeline: {events: [{at, text, kind}]}"))


class AnalysisUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=rca.MAX_TITLE, required=False, allow_blank=True)
    data = serializers.JSONField(required=False)


class FactorsSerializer(serializers.Serializer):
    factors = serializers.ListField(child=serializers.CharField(max_length=rca.MAX_CAUSE_TEXT, allow_blank=True),
                                    max_length=rca.MAX_FACTORS)


class ProblemAPIView(APIView):
    """The problem from the URL with the role the method needs; a read-only token cannot write."""

    permission_classes = [IsAuthenticated]

    def get_problem(self, pk) -> Problem:
        problem = get_object_or_404(Problem, pk=pk)
        writing = self.request.method not in SAFE_METHODS
        if writing and getattr(self.request.auth, "scope", "write") == "read":
            raise exceptions.PermissionDenied(_("This API token is read-only."))
        if not can(self.request.user, EDIT_ROLE if writing else VIEW_ROLE, problem):
            raise exceptions.PermissionDenied(_("Your role does not allow this on %(number)s.")
                                              % {"number": problem.number})
        return problem

    def get_analysis(self, pk, analysis_id) -> RootCauseAnalysis:
        problem = self.get_problem(pk)
        analysis = get_object_or_404(RootCauseAnalysis, pk=analysis_id, problem=problem)
        analysis.problem = problem
        return analysis

    def actor(self) -> Actor:
        return Actor.from_request(self.request)


class AnalysisListView(ProblemAPIView):
    @extend_schema(summary="The problem's root-cause analyses", responses={200: AnalysisSerializer(many=True)})
    def get(self, request, pk):
        problem = self.get_problem(pk)
        analyses = list(problem.analyses.all())
        for analysis in analyses:
            analysis.problem = problem
        return Response(AnalysisSerializer(analyses, many=True).data)

    @extend_schema(summary="Add an analysis (5 Whys, fishbone or timeline)", request=AnalysisCreateSerializer,
                   responses={201: AnalysisSerializer, 409: OpenApiResponse(description="Closed or cancelled")})
    def post(self, request, pk):
        problem = self.get_problem(pk)
        serializer = AnalysisCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        analysis = rca.add_analysis(problem, actor=self.actor(), method=values["method"], data=values["data"],
                                    title=values.get("title", ""))
        return Response(AnalysisSerializer(analysis).data, status=status.HTTP_201_CREATED)


class AnalysisView(ProblemAPIView):
    @extend_schema(summary="One analysis", responses={200: AnalysisSerializer})
    def get(self, request, pk, analysis_id):
        return Response(AnalysisSerializer(self.get_analysis(pk, analysis_id)).data)

    def _write(self, request, pk, analysis_id, *, partial: bool):
        analysis = self.get_analysis(pk, analysis_id)
        serializer = AnalysisUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        if not partial and "data" not in values:
            raise exceptions.ValidationError({"data": [_("This field is required.")]})
        analysis = rca.update_analysis(analysis, actor=self.actor(), data=values.get("data", analysis.data),
                                       title=values.get("title"))
        return Response(AnalysisSerializer(analysis).data)

    @extend_schema(summary="Change an analysis (title and/or data)", request=AnalysisUpdateSerializer,
                   responses={200: AnalysisSerializer})
    def patch(self, request, pk, analysis_id):
        return self._write(request, pk, analysis_id, partial=True)

    @extend_schema(summary="Replace an analysis's data", request=AnalysisUpdateSerializer,
                   responses={200: AnalysisSerializer})
    def put(self, request, pk, analysis_id):
        return self._write(request, pk, analysis_id, partial=False)

    @extend_schema(summary="Delete an analysis (the change log keeps its content)", responses={204: None})
    def delete(self, request, pk, analysis_id):
        rca.delete_analysis(self.get_analysis(pk, analysis_id), actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class UseAsRootCauseView(ProblemAPIView):
    @extend_schema(summary="Copy this 5 Whys' root cause to the problem", request=None,
                   responses={200: OpenApiResponse(description="The problem's number and root cause")})
    def post(self, request, pk, analysis_id):
        problem = rca.use_as_root_cause(self.get_analysis(pk, analysis_id), actor=self.actor())
        return Response({"id": problem.pk, "number": problem.number, "root_cause": problem.root_cause})


class SVGRenderer(MarkdownRenderer):
    media_type = "image/svg+xml"
    format = "svg"


class FishboneSVGView(ProblemAPIView):
    renderer_classes = [JSONRenderer, SVGRenderer]  # errors as JSON

    @extend_schema(summary="The fishbone diagram as SVG", responses={(200, "image/svg+xml"): OpenApiTypes.STR})
    def get(self, request, pk, analysis_id):
        analysis = self.get_analysis(pk, analysis_id)
        if analysis.method != "fishbone":
            raise exceptions.NotFound(_("This analysis is not a fishbone."))
        response = HttpResponse(rca.fishbone_svg(analysis), content_type="image/svg+xml; charset=utf-8")
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return response


class FactorsView(ProblemAPIView):
    @extend_schema(summary="The problem's contributing factors", responses={200: FactorsSerializer})
    def get(self, request, pk):
        return Response({"factors": list(self.get_problem(pk).contributing_factors or [])})

    @extend_schema(summary="Replace the contributing factors", request=FactorsSerializer,
                   responses={200: FactorsSerializer})
    def put(self, request, pk):
        problem = self.get_problem(pk)
        serializer = FactorsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        problem = rca.set_contributing_factors(problem, serializer.validated_data["factors"], actor=self.actor())
        return Response({"factors": list(problem.contributing_factors or [])})


class ReportDownloadView(ProblemAPIView):
    format = "md"

    def get_renderers(self):
        # JSON first: an error (403, 404, 413) is JSON unless the client asked for the document type only.
        renderer = {"pdf": PDFRenderer, "md": MarkdownRenderer, "html": HTMLDocumentRenderer}[self.format]
        return [JSONRenderer(), renderer()]

    @extend_schema(summary="The problem report (Markdown, HTML or PDF)",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        problem = self.get_problem(pk)
        try:
            return report.download_response(problem, self.format)
        except report.DocumentTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from exc


class HTMLDocumentRenderer(MarkdownRenderer):
    media_type = "text/html"
    format = "html"


PREFIX = "problems/<int:pk>/"
urlpatterns = [
    path(f"{PREFIX}analyses/", AnalysisListView.as_view(), name="problem-analyses"),
    path(f"{PREFIX}analyses/<int:analysis_id>/", AnalysisView.as_view(), name="problem-analysis"),
    path(f"{PREFIX}analyses/<int:analysis_id>/use-as-root-cause/", UseAsRootCauseView.as_view(),
         name="problem-analysis-use-as-root-cause"),
    path(f"{PREFIX}analyses/<int:analysis_id>/fishbone.svg", FishboneSVGView.as_view(),
         name="problem-analysis-fishbone"),
    path(f"{PREFIX}contributing-factors/", FactorsView.as_view(), name="problem-contributing-factors"),
    path(f"{PREFIX}report/markdown/", ReportDownloadView.as_view(format="md"), name="problem-report-markdown"),
    path(f"{PREFIX}report/html/", ReportDownloadView.as_view(format="html"), name="problem-report-html"),
    path(f"{PREFIX}report/pdf/", ReportDownloadView.as_view(format="pdf"), name="problem-report-pdf"),
]


def register_routes(router) -> None:
    """Nothing on the router: these are explicit paths under a problem."""
