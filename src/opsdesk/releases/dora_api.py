"""The DORA figures API, under /api/v1/releases/:

- GET dora/?months=6&service=<slug>   the four figures per month, overall and per service, with their bands (viewer)

Bad parameters answer 400 naming the field, in the core error format.
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.core.permissions import RolePermission
from opsdesk.services.models import Service

from . import dora


class DoraQuerySerializer(serializers.Serializer):
    months = serializers.IntegerField(min_value=1, max_value=dora.MAX_MONTHS, required=False,
                                      default=dora.DEFAULT_MONTHS,
                                      help_text=gettext_lazy("How many months, the current one last."))
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), required=False,
                                           allow_null=True,
                                           help_text=gettext_lazy("A service's key: only its figures."))


class DoraView(APIView):
    permission_classes = [RolePermission]

    @extend_schema(operation_id="releases_dora", parameters=[
        OpenApiParameter("months", int, description="1 to 24 (default 6)"),
        OpenApiParameter("service", str, description="a service's key")], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        query = DoraQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = dora.report(query.validated_data["months"], query.validated_data.get("service"))
        return Response(report.as_dict())


urlpatterns = [
    path("dora/", DoraView.as_view(), name="releases-dora-api"),
]


def register_routes(router) -> None:
    """No viewsets: the DORA figures are one read-only view (urlpatterns)."""
