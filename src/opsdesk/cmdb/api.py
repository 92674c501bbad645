"""The CMDB API: configuration items, classes with their attributes, attribute definitions,
relationship types and relationships, under /api/v1/cmdb/."""

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet, TagListField
from opsdesk.core.permissions import RANK, RolePermission, best_role, can
from opsdesk.services.models import Service

from . import selectors, services
from .filters import AttributeFilterSet, CIClassFilterSet, CIFilterSet, RelationshipFilterSet, RelationshipTypeFilterSet
from .models import AttributeDefinition, CIClass, ConfigurationItem, Relationship, RelationshipType
from .workflows import CI_WORKFLOW

# --- classes and attributes --------------------------------------------------------------------------


class AttributeDefinitionSerializer(serializers.ModelSerializer):
    ci_class = serializers.SlugRelatedField(slug_field="slug", queryset=CIClass.objects.all(), allow_null=True,
                                            required=False, help_text=_("Empty: a custom attribute of every class."))
    reference_class = serializers.SlugRelatedField(slug_field="slug", queryset=CIClass.objects.all(),
                                                   allow_null=True, required=False)

    class Meta:
        model = AttributeDefinition
        fields = ["id", "ci_class", "key", "label", "type", "required", "choices", "reference_class", "help_text",
                  "tracked", "order"]


class NestedAttributeSerializer(AttributeDefinitionSerializer):
    class Meta(AttributeDefinitionSerializer.Meta):
        fields = ["key", "label", "type", "required", "choices", "reference_class", "help_text", "tracked", "order"]


class CIClassSerializer(serializers.ModelSerializer):
    attributes = NestedAttributeSerializer(many=True, required=False, source="attribute_definitions",
                                           help_text=_("On create and update: attributes to add or change "
                                                       "(matched by key); none are removed."))
    url = serializers.SerializerMethodField()

    class Meta:
        model = CIClass
        fields = ["id", "url", "slug", "name", "description", "icon", "is_asset", "expiry_reminder_days", "builtin",
                  "attributes", "created_at", "updated_at"]
        read_only_fields = ["builtin", "created_at", "updated_at"]

    def get_url(self, ci_class) -> str:
        return ci_class.get_absolute_url()

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        if "attribute_definitions" in values:
            values["attributes"] = [dict(a) for a in values.pop("attribute_definitions")]
        return values


class CIClassViewSet(RecordViewSet):
    """CI classes and their typed attributes. Admins define classes; everyone may read them."""

    queryset = CIClass.objects.prefetch_related(
        Prefetch("attribute_definitions", queryset=AttributeDefinition.objects.select_related("reference_class")))
    serializer_class = CIClassSerializer
    filterset_class = CIClassFilterSet
    search_fields = ["slug", "name", "description"]
    ordering_fields = ["name", "slug", "created_at"]
    ordering = ["name"]
    action_roles = {"create": "admin", "update": "admin", "partial_update": "admin"}
    create_service = staticmethod(services.create_class)
    update_service = staticmethod(services.update_class)


class AttributeDefinitionViewSet(RecordViewSet):
    """Typed attributes of classes, and custom attributes every class has (`ci_class` empty)."""

    queryset = AttributeDefinition.objects.select_related("ci_class", "reference_class")
    serializer_class = AttributeDefinitionSerializer
    filterset_class = AttributeFilterSet
    search_fields = ["key", "label"]
    ordering_fields = ["key", "order", "created_at"]
    ordering = ["ci_class__name", "order", "key"]
    action_roles = {"create": "admin", "update": "admin", "partial_update": "admin"}
    create_service = staticmethod(services.create_attribute)
    update_service = staticmethod(services.update_attribute)


class RelationshipTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = RelationshipType
        fields = ["id", "slug", "name", "reverse_name", "impact", "description", "builtin", "created_at",
                  "updated_at"]
        read_only_fields = ["builtin", "created_at", "updated_at"]


class RelationshipTypeViewSet(RecordViewSet):
    """Kinds of relationship and the direction in which a failure spreads along them."""

    queryset = RelationshipType.objects.all()
    serializer_class = RelationshipTypeSerializer
    filterset_class = RelationshipTypeFilterSet
    search_fields = ["slug", "name", "reverse_name"]
    ordering_fields = ["name", "slug"]
    ordering = ["name"]
    action_roles = {"create": "admin", "update": "admin", "partial_update": "admin"}
    create_service = staticmethod(services.create_relationship_type)
    update_service = staticmethod(services.update_relationship_type)


# --- configuration items -----------------------------------------------------------------------------


class CISerializer(serializers.ModelSerializer):
    ci_class = serializers.SlugRelatedField(slug_field="slug", queryset=CIClass.objects.all(),
                                            help_text=_("The class key, e.g. server."))
    owner_team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), allow_null=True,
                                              required=False)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                            queryset=Service.objects.all())
    tags = TagListField(required=False)
    ip_addresses = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    hostnames = serializers.ListField(child=serializers.CharField(max_length=253), required=False, max_length=100)
    attributes = serializers.DictField(required=False, help_text=_(
        "Values of the class's typed attributes by key; on update they are merged, and null removes one."))
    disposal_approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    change_reference = serializers.CharField(write_only=True, required=False, max_length=100, help_text=_(
        "The change request that covers this change (production CIs' tracked fields)."))
    url = serializers.SerializerMethodField()

    class Meta:
        model = ConfigurationItem
        fields = ["id", "number", "url", "name", "ci_class", "status", "environment", "owner_team", "services",
                  "location", "ip_addresses", "hostnames", "description", "tags", "attributes", "serial_number",
                  "asset_tag", "vendor", "model_name", "purchase_date", "purchase_cost", "warranty_end", "expires_on",
                  "redundancy_min", "redundancy_mode", "discovery_source", "last_seen_at", "missing_from_discovery",
                  "status_reason", "disposed_on", "disposal_method", "disposal_reference", "disposal_approved_by",
                  "change_reference", "created_at", "updated_at"]
        read_only_fields = ["number", "status", "status_reason", "last_seen_at", "missing_from_discovery",
                            "disposed_on", "disposal_method", "disposal_reference", "created_at", "updated_at"]

    def get_url(self, ci) -> str:
        # One reverse() per page, not per row (measured: a fifth of serializing 50 CIs).
        pattern = self.context.setdefault("_ci_url", reverse("cmdb:detail", args=[0]).replace("/0/", "/{}/"))
        return pattern.format(ci.pk)


class CIViewSet(RecordViewSet):
    """Configuration items. Filters: every field (see the parameters) and class attributes as
    `attr.<key>[__lt|__lte|__gt|__gte|__ne|__in|__icontains|__isnull]=value`.
    Transitions: order, receive, deploy, start-maintenance (reason), end-maintenance, retire (reason),
    reinstate (reason), dispose (disposal_method, disposal_reference, approved_by, disposed_on)."""

    queryset = ConfigurationItem.objects.select_related("ci_class", "owner_team", "disposal_approved_by") \
        .prefetch_related(Prefetch("services", queryset=Service.objects.only("id", "slug")), "tags")
    serializer_class = CISerializer
    filterset_class = CIFilterSet
    search_fields = ["number", "name", "serial_number", "asset_tag", "identifiers", "description"]
    ordering_fields = ["id", "name", "status", "environment", "ci_class__name", "location", "warranty_end",
                       "expires_on", "last_seen_at", "created_at", "updated_at"]
    ordering = ["name"]
    workflow = CI_WORKFLOW
    create_service = staticmethod(services.create_ci)
    update_service = staticmethod(services.update_ci)
    transition_service = staticmethod(services.transition_ci)

    @extend_schema(summary="The CI as it was at a past time, from the change log",
                   parameters=[OpenApiParameter("at", str, required=True,
                                                description="A date (end of that day, UTC) or an ISO date-time")])
    @action(detail=True, methods=["get"], url_path="as-of")
    def as_of(self, request, pk=None):
        ci = self.get_object()
        when = selectors.parse_moment(request.query_params.get("at", ""))
        if when is None:
            raise exceptions.ValidationError({"at": _("A date (YYYY-MM-DD) or date-time (ISO 8601).")})
        view = selectors.ci_as_of(ci, when)
        if view is None:
            raise exceptions.NotFound(_("%(ci)s did not exist then.") % {"ci": ci})
        return Response(view)


# --- relationships -----------------------------------------------------------------------------------


class RelationshipSerializer(serializers.ModelSerializer):
    source = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.all())
    type = serializers.SlugRelatedField(slug_field="slug", queryset=RelationshipType.objects.all())
    target = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.all(), allow_null=True,
                                                required=False)
    target_service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(),
                                                  allow_null=True, required=False)
    source_number = serializers.CharField(source="source.number", read_only=True)
    target_number = serializers.CharField(source="target.number", read_only=True, default=None)

    class Meta:
        model = Relationship
        fields = ["id", "source", "source_number", "type", "target", "target_number", "target_service", "note",
                  "created_at", "ended_at"]
        read_only_fields = ["created_at", "ended_at"]
        validators = []  # uniqueness of current relationships is checked by services.relate, under lock


class ManagerSomewhere(BasePermission):
    """Relating CIs needs manager in some team (or globally); the source CI's team is then checked."""

    message = _("Managers may relate CIs.")

    def has_permission(self, request, view) -> bool:
        if getattr(view, "action", None) not in {"create", "end"}:
            return True
        role = best_role(request.user)
        return role is not None and RANK[role] >= RANK["manager"]


class RelationshipViewSet(RecordViewSet):
    """Relationships between CIs, and from CIs to services. Create one with POST; end one with
    POST …/{id}/end/ (it stays, ended, for the "as of" view). Managers of the source CI's team may
    do both."""

    http_method_names = ["get", "post", "head", "options"]
    queryset = Relationship.objects.select_related("source", "target", "target_service", "type")
    serializer_class = RelationshipSerializer
    filterset_class = RelationshipFilterSet
    search_fields = []
    ordering_fields = ["id", "created_at"]
    ordering = ["id"]
    # The role is checked against the source CI's team (perform_create, end) after ManagerSomewhere.
    action_roles = {"create": "viewer", "end": "viewer"}
    permission_classes = [RolePermission, ManagerSomewhere]

    def perform_create(self, serializer):
        data = serializer.validated_data
        source = data["source"]
        if not can(self.request.user, "manager", source):
            raise exceptions.PermissionDenied(_("Your role does not allow this for that CI."))
        serializer.instance = services.relate(source, data["type"], actor=Actor.from_request(self.request),
                                              target=data.get("target"), target_service=data.get("target_service"),
                                              note=data.get("note", ""))

    @extend_schema(summary="End the relationship", request=None, responses=RelationshipSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        relationship = get_object_or_404(self.get_queryset(), pk=pk)
        if not can(request.user, "manager", relationship.source):
            raise exceptions.PermissionDenied(_("Your role does not allow this for that CI."))
        relationship = services.unrelate(relationship, actor=Actor.from_request(request))
        return Response(self.get_serializer(relationship).data, status=status.HTTP_200_OK)


