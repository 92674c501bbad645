"""The impact analysis API under /api/v1/cmdb/:

- GET  cis/{id}/impact/?direction=downstream|upstream&depth=N&limit=N  one CI;
- POST impact/  {"cis": [id or number, ...], "direction", "depth", "limit"}  several CIs failing at once.

Both only read, so every role may call them. The POST is a query with a body (a list of CIs does not
fit a URL well), not a write: a read-only API token may call it too.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from opsdesk.core.permissions import RANK, RolePermission, role_for

from .impact import CI, DEFAULT_DEPTH, DIRECTIONS, MAX_DEPTH, SERVICE, ImpactResult, analyse
from .models import ConfigurationItem

DEFAULT_LIMIT = 1000
MAX_LIMIT = 50_000
MAX_CIS = 1000


class ImpactQuerySerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=DIRECTIONS, default="downstream",
                                        help_text=gettext_lazy("downstream: what a failure impacts; upstream: "
                                                               "whose failure could impact it."))
    depth = serializers.IntegerField(min_value=1, max_value=MAX_DEPTH, default=DEFAULT_DEPTH,
                                     help_text=gettext_lazy("Longest path followed."))
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT,
                                     help_text=gettext_lazy("Most impacted CIs (and services) listed, nearest "
                                                            "first; `counts` has the totals."))


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "example": "CI-12"}]})
class CIReferenceField(serializers.Field):
    """A CI by id (a number, or digits) or by its number ("CI-12")."""

    default_error_messages = {"invalid": gettext_lazy("A CI id or number (CI-12).")}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            return data
        if isinstance(data, str) and data.strip():
            text = data.strip()
            return int(text) if text.isdigit() else text.upper()
        self.fail("invalid")

    def to_representation(self, value):
        return value


class MultiImpactSerializer(ImpactQuerySerializer):
    cis = serializers.ListField(child=CIReferenceField(), allow_empty=False, max_length=MAX_CIS,
                                help_text=gettext_lazy("The CIs that fail together: ids or numbers."))


class PathStepSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[CI, SERVICE])
    id = serializers.IntegerField()
    number = serializers.CharField()
    name = serializers.CharField()
    via = serializers.CharField(allow_null=True, help_text=gettext_lazy(
        "The relationship from the step before, read in the direction of the analysis; null for the root."))


class RedundancySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ConfigurationItem.REDUNDANCY_MODES)
    min = serializers.IntegerField()
    required = serializers.IntegerField(help_text=gettext_lazy("Members that must be up."))
    members = serializers.IntegerField()
    down = serializers.IntegerField()


class ImpactedCISerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    name = serializers.CharField()
    ci_class = serializers.CharField()
    class_name = serializers.CharField()
    status = serializers.CharField()
    environment = serializers.CharField()
    url = serializers.CharField()
    depth = serializers.IntegerField()
    path = PathStepSerializer(many=True)
    redundancy = RedundancySerializer(allow_null=True, help_text=gettext_lazy(
        "For a redundant CI: its members, how many were down when it went down, and how many it needs."))

    def get_fields(self):  # "class" is a keyword in Python
        fields = super().get_fields()
        fields["class"] = fields.pop("ci_class")
        return fields


class ImpactedServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    name = serializers.CharField()
    slug = serializers.CharField()
    tier = serializers.IntegerField()
    criticality = serializers.CharField()
    status = serializers.CharField()
    url = serializers.CharField()
    depth = serializers.IntegerField()
    path = PathStepSerializer(many=True)


IMPACT_RESPONSE = inline_serializer("ImpactAnalysis", {
    "root": inline_serializer("ImpactRoot", {"id": serializers.IntegerField(), "number": serializers.CharField(),
                                             "name": serializers.CharField(), "status": serializers.CharField(),
                                             "url": serializers.CharField()}, many=True),
    "direction": serializers.ChoiceField(choices=DIRECTIONS),
    "depth": serializers.IntegerField(),
    "impacted_cis": ImpactedCISerializer(many=True),
    "impacted_services": ImpactedServiceSerializer(many=True),
    "degraded_cis": inline_serializer("DegradedCI", {
        "id": serializers.IntegerField(), "number": serializers.CharField(), "name": serializers.CharField(),
        "url": serializers.CharField(), "redundancy": RedundancySerializer()}, many=True),
    "counts": inline_serializer("ImpactCounts", {"cis": serializers.IntegerField(),
                                                 "services": serializers.IntegerField(),
                                                 "degraded_cis": serializers.IntegerField()}),
    "truncated": serializers.BooleanField(help_text=gettext_lazy("More impacted nodes than `limit`.")),
})
ERRORS = {400: OpenApiResponse(description="Bad direction, depth, limit or CI list (error format)"),
          401: OpenApiResponse(description="Not authenticated")}


def impact_body(result: ImpactResult, limit: int) -> dict:
    """The API's answer: the roots, the impacted CIs and services (nearest first, at most `limit` of
    each, with their paths), the redundant CIs that lost members but stay up, and the totals."""
    cis, services = result.ordered(CI), result.ordered(SERVICE)
    body = {
        "root": [_root(result.details.get(key, {})) for key in result.roots],
        "direction": result.direction,
        "depth": result.depth,
        "impacted_cis": [_ci(result, key) for key in cis[:limit]],
        "impacted_services": [_service(result, key) for key in services[:limit]],
        "degraded_cis": [_degraded(result, key) for key in sorted(result.degraded)[:limit]],
        "counts": {"cis": len(cis), "services": len(services), "degraded_cis": len(result.degraded)},
        "truncated": max(len(cis), len(services), len(result.degraded)) > limit,
    }
    return body


def _root(d: dict) -> dict:
    return {"id": d.get("id"), "number": d.get("number"), "name": d.get("name"), "status": d.get("status"),
            "url": d.get("url")}


def _ci(result: ImpactResult, key) -> dict:
    d, impact = result.details.get(key, {}), result.impacted[key]
    return {"id": key[1], "number": d.get("number"), "name": d.get("name"), "class": d.get("class"),
            "class_name": d.get("class_name"), "status": d.get("status"), "environment": d.get("environment"),
            "url": d.get("url"), "depth": impact.depth, "path": result.path(key), "redundancy": impact.redundancy}


def _service(result: ImpactResult, key) -> dict:
    d, impact = result.details.get(key, {}), result.impacted[key]
    return {"id": key[1], "number": d.get("number"), "name": d.get("name"), "slug": d.get("slug"),
            "tier": d.get("tier"), "criticality": d.get("criticality"), "status": d.get("status"),
            "url": d.get("url"), "depth": impact.depth, "path": result.path(key)}


def _degraded(result: ImpactResult, key) -> dict:
    d = result.details.get(key, {})
    return {"id": key[1], "number": d.get("number"), "name": d.get("name"), "url": d.get("url"),
            "redundancy": result.degraded[key]}


class ReadQueryPermission(RolePermission):
    """Any role (viewer and up), also through a read-only token: the POST only reads."""

    def has_permission(self, request, view) -> bool:
        role = role_for(request.user)
        return role is not None and RANK[role] >= RANK["viewer"]


class CIImpactView(APIView):
    """What a failure of this CI impacts (downstream), or whose failure could impact it (upstream)."""

    @extend_schema(
        summary="Impact analysis of one CI",
        parameters=[ImpactQuerySerializer, OpenApiParameter("id", int, OpenApiParameter.PATH)],
        responses={200: IMPACT_RESPONSE, 404: OpenApiResponse(description="No such CI"), **ERRORS},
    )
    def get(self, request, pk: int):
        query = ImpactQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if pk > 2**63 - 1:
            raise exceptions.NotFound(_("No such record."))
        result = analyse([pk], direction=query.validated_data["direction"], depth=query.validated_data["depth"],
                         limit=query.validated_data["limit"])
        if not result.roots:
            raise exceptions.NotFound(_("No such record."))
        return Response(impact_body(result, query.validated_data["limit"]))


class MultiImpactView(APIView):
    """Several CIs failing at once: what their failure impacts together (a redundant cluster goes down
    when enough of its members are among them), or what any of them depends on."""

    permission_classes = [ReadQueryPermission]

    @extend_schema(
        summary="Impact analysis of several CIs failing at once",
        request=MultiImpactSerializer,
        responses={200: IMPACT_RESPONSE, **ERRORS},
    )
    def post(self, request):
        query = MultiImpactSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        ids = _resolve(data["cis"])
        result = analyse(ids, direction=data["direction"], depth=data["depth"], limit=data["limit"])
        return Response(impact_body(result, data["limit"]))


def _resolve(references: list) -> list[int]:
    """CI ids for the given ids and numbers, in the given order; unknown ones are a 400 naming them."""
    ids = [r for r in references if isinstance(r, int) and r <= 2**63 - 1]
    numbers = [r for r in references if isinstance(r, str)]
    found = ConfigurationItem.objects.filter(Q(pk__in=ids) | Q(number__in=numbers)).order_by().values_list(
        "pk", "number")
    by_id, by_number = {}, {}
    for pk, number in found:
        by_id[pk], by_number[number] = pk, pk
    unknown = [str(r) for r in references if (by_id if isinstance(r, int) else by_number).get(r) is None]
    if unknown:
        raise exceptions.ValidationError({"cis": _("No such CI: %(cis)s.") % {"cis": ", ".join(unknown[:20])}})
    return [by_id[r] if isinstance(r, int) else by_number[r] for r in references]
