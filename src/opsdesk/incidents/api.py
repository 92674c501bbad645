"""The incidents API under /api/v1/incidents/: incidents with their transitions (acknowledge, start,
hold, resume, resolve, close, reopen, cancel), escalate, the major-incident actions, the
communication log, and the categories of the taxonomy. Each incident carries its SLA state."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet
from opsdesk.core.permissions import can
from opsdesk.services.models import Service
from opsdesk.sla import services as sla

from . import escalation, major, services
from .filters import IncidentFilterSet
from .models import Category, CommunicationUpdate, Incident
from .workflows import INCIDENT_WORKFLOW

User = get_user_model()


class SLAStateSerializer(serializers.Serializer):
    metric = serializers.CharField()
    label = serializers.CharField()
    state = serializers.CharField()
    goal_seconds = serializers.IntegerField()
    elapsed_seconds = serializers.FloatField()
    remaining_seconds = serializers.FloatField()
    percent = serializers.FloatField()
    due_at = serializers.DateTimeField(allow_null=True)
    breached = serializers.BooleanField()
    breached_at = serializers.DateTimeField(allow_null=True)
    business_time = serializers.BooleanField()
    colour = serializers.CharField()
    policy = serializers.CharField()


class CategoryField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="slug", queryset=Category.objects.all(), allow_null=True, required=False,
                         **kwargs)


class IncidentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    category = CategoryField()
    subcategory = CategoryField()
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), allow_null=True,
                                           required=False)
    cis = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                       queryset=ConfigurationItem.objects.all())
    assignment_group = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), allow_null=True,
                                                    required=False)
    assignee = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), allow_null=True,
                                            required=False)
    reporter = serializers.SlugRelatedField(slug_field="username", read_only=True)
    priority = serializers.ChoiceField(choices=Incident._meta.get_field("priority").choices, required=False,
                                       help_text=_("Leave out for the matrix; another value needs priority_reason."))
    priority_reason = serializers.CharField(required=False, allow_blank=True, max_length=500)
    related = serializers.SlugRelatedField(slug_field="number", many=True, required=False,
                                           queryset=Incident.objects.all())
    parent = serializers.SlugRelatedField(slug_field="number", read_only=True)
    commander = serializers.SlugRelatedField(slug_field="username", read_only=True)
    communications_lead = serializers.SlugRelatedField(slug_field="username", read_only=True)
    scribe = serializers.SlugRelatedField(slug_field="username", read_only=True)
    sla = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = ["id", "number", "url", "title", "description", "category", "subcategory", "service", "cis",
                  "impact", "urgency", "priority", "priority_overridden", "priority_reason", "proposed_impact",
                  "proposed_impact_reason", "source", "reporter", "reporter_contact", "assignment_group", "assignee",
                  "reassignment_count", "symptoms", "status", "hold_reason", "resolution_code", "resolution_notes",
                  "status_reason", "detected_at", "acknowledged_at", "resolved_at", "closed_at", "reopen_count",
                  "related", "major_status", "major_reason", "commander", "communications_lead", "scribe", "parent",
                  "update_cadence_minutes", "next_update_due_at", "sla_due_at", "sla", "created_at", "updated_at"]
        read_only_fields = ["number", "priority_overridden", "proposed_impact", "proposed_impact_reason",
                            "reassignment_count", "status", "hold_reason", "resolution_code", "resolution_notes",
                            "status_reason", "acknowledged_at", "resolved_at", "closed_at", "reopen_count",
                            "major_status", "major_reason", "update_cadence_minutes", "next_update_due_at",
                            "sla_due_at", "created_at", "updated_at"]

    def get_url(self, incident) -> str:
        return incident.get_absolute_url()

    @extend_schema_field(SLAStateSerializer(many=True))
    def get_sla(self, incident) -> list:
        timers = self.context.get("sla_timers")
        if timers is None or incident.pk not in timers and not self.context.get("sla_complete"):
            timers = sla.timers_for([incident])
        now = self.context.get("now") or timezone.now()
        return [sla.timer_state(timer, now) for timer in timers.get(incident.pk, [])]

    def validate(self, attrs):
        settings = services.incident_settings()
        for name, levels in (("impact", settings.impact_levels), ("urgency", settings.urgency_levels)):
            if name in attrs and attrs[name] not in services.level_values(levels):
                raise serializers.ValidationError({name: _("Choose one of %(values)s.") % {
                    "values": ", ".join(map(str, services.level_values(levels)))}})
        return attrs


class CommunicationUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = CommunicationUpdate
        fields = ["id", "audience", "body", "author_label", "created_at"]
        read_only_fields = ["id", "author_label", "created_at"]


def _user(username):
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise exceptions.ValidationError({"user": _("No active user “%(u)s”.") % {"u": username}})
    return user


def _major_roles(data: dict) -> dict:
    """The roles and cadence named in a request: usernames to users ("" clears a role)."""
    roles = {}
    for name in ("commander", "communications_lead", "scribe"):
        if name in data:
            try:
                roles[name] = _user(data.get(name))
            except exceptions.ValidationError:
                raise exceptions.ValidationError({name: _("No active user “%(u)s”.") % {"u": data.get(name)}})
    if data.get("update_cadence_minutes") not in (None, ""):
        try:
            cadence = int(data["update_cadence_minutes"])
        except (TypeError, ValueError):
            raise exceptions.ValidationError({"update_cadence_minutes": _("A whole number of minutes.")})
        if not 1 <= cadence <= 1440:
            raise exceptions.ValidationError({"update_cadence_minutes": _("From 1 to 1440 minutes.")})
        roles["update_cadence_minutes"] = cadence
    return roles


class IncidentViewSet(RecordViewSet):
    """Incidents. Transitions: acknowledge, start, hold (hold_reason), resume, resolve (resolution_code,
    resolution_notes), close, reopen (reason), cancel (reason); plus escalate and the major-incident
    actions. Each incident carries `sla`: the state of its SLA clocks."""

    # Five joins for what every row names; the people of a major incident, the reporter and the parent by
    # a small query each. Ten joins cost PostgreSQL ~80 ms of planning per page (the query itself 1 ms).
    queryset = Incident.objects.select_related(
        "category", "subcategory", "service", "assignment_group", "assignee",
    ).prefetch_related(*(Prefetch(name, queryset=User.objects.only("id", "username"))
                         for name in ("reporter", "commander", "communications_lead", "scribe")),
                       Prefetch("parent", queryset=Incident.objects.only("id", "number")),
                       Prefetch("cis", queryset=ConfigurationItem.objects.only("id", "number")),
                       Prefetch("related", queryset=Incident.objects.only("id", "number")))
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilterSet
    search_fields = ["number", "title"]
    ordering_fields = ["id", "priority", "sla_due_at", "sla_rank_at", "created_at", "updated_at", "status",
                       "resolved_at"]
    # Time to breach: the never-NULL twin of sla_due_at, so incidents without a running clock come last
    # and one index serves the order on every database.
    ordering_aliases = {"sla_due_at": "sla_rank_at"}
    ordering = ["-id"]
    workflow = INCIDENT_WORKFLOW
    # Responders report incidents (their team role decides for team-scoped ones, see core.permissions).
    action_roles = {"create": "responder", "update": "responder", "partial_update": "responder",
                    "escalate": "responder", "propose_major": "responder", "promote_major": "manager",
                    "reject_major": "manager", "major_roles": "manager", "updates": "viewer",
                    "link_child": "responder", "unlink_child": "responder"}
    create_service = staticmethod(services.create_incident)
    update_service = staticmethod(services.update_incident)
    transition_service = staticmethod(services.transition_incident)

    def perform_create(self, serializer):
        serializer.validated_data.setdefault("source", "api")
        super().perform_create(serializer)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["now"] = timezone.now()
        return context

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = page if page is not None else list(queryset)
        context = self.get_serializer_context()
        context.update(sla_timers=sla.timers_for(rows), sla_complete=True)
        data = self.get_serializer_class()(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    # --- escalation and major incidents ---------------------------------------------------------------
    @extend_schema(summary="Escalate", request=inline_serializer("IncidentEscalateRequest", {
        "team": serializers.CharField(required=False, help_text=_("Team key: reassign to it (functional).")),
        "reason": serializers.CharField(required=False, allow_blank=True, max_length=500)}),
        responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="escalate")
    def escalate(self, request, pk=None):
        incident = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        team = None
        if data.get("team"):
            team = Team.objects.filter(slug=str(data["team"])).first()
            if team is None:
                raise exceptions.ValidationError({"team": _("No team with the key “%(k)s”.") % {"k": data["team"]}})
        incident = escalation.escalate_incident(incident, actor=Actor.from_request(request), team=team,
                                                reason=str(data.get("reason") or "")[:500])
        return Response(self.get_serializer(incident).data)

    @extend_schema(summary="Propose as a major incident", request=inline_serializer(
        "IncidentProposeMajorRequest", {"reason": serializers.CharField(max_length=500)}), responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="propose-major")
    def propose_major(self, request, pk=None):
        incident = self.get_object()
        reason = str((request.data or {}).get("reason") or "").strip()
        incident = major.propose_major(incident, actor=Actor.from_request(request), reason=reason)
        return Response(self.get_serializer(incident).data)

    @extend_schema(summary="Promote to a major incident (managers)", request=inline_serializer(
        "IncidentPromoteMajorRequest", {
            "commander": serializers.CharField(required=False), "communications_lead": serializers.CharField(
                required=False), "scribe": serializers.CharField(required=False),
            "update_cadence_minutes": serializers.IntegerField(required=False, min_value=5, max_value=1440),
            "reason": serializers.CharField(required=False, allow_blank=True)}), responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="promote-major")
    def promote_major(self, request, pk=None):
        incident = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        roles = _major_roles(data)
        roles.setdefault("update_cadence_minutes", None)
        incident = major.promote_major(incident, actor=Actor.from_request(request),
                                       reason=str(data.get("reason") or "")[:500], **roles)
        return Response(self.get_serializer(incident).data)

    @extend_schema(summary="Change the roles or the update cadence of a major incident (managers)",
                   request=inline_serializer("IncidentMajorRolesRequest", {
                       "commander": serializers.CharField(required=False, allow_blank=True),
                       "communications_lead": serializers.CharField(required=False, allow_blank=True),
                       "scribe": serializers.CharField(required=False, allow_blank=True),
                       "update_cadence_minutes": serializers.IntegerField(required=False, min_value=1,
                                                                          max_value=1440)}),
                   responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="major-roles")
    def major_roles(self, request, pk=None):
        incident = self.get_object()
        roles = _major_roles(request.data if isinstance(request.data, dict) else {})
        incident = major.set_roles(incident, actor=Actor.from_request(request), **roles)
        return Response(self.get_serializer(incident).data)

    @extend_schema(summary="Reject the major-incident proposal (managers)", request=inline_serializer(
        "IncidentRejectMajorRequest", {"reason": serializers.CharField(max_length=500)}), responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="reject-major")
    def reject_major(self, request, pk=None):
        incident = self.get_object()
        reason = str((request.data or {}).get("reason") or "").strip()
        incident = major.reject_major(incident, actor=Actor.from_request(request), reason=reason)
        return Response(self.get_serializer(incident).data)

    @extend_schema(summary="Communication log of a major incident", request=CommunicationUpdateSerializer,
                   responses=CommunicationUpdateSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def updates(self, request, pk=None):
        incident = self.get_object()
        if request.method == "POST":
            if not can(request.user, "responder", incident):
                raise exceptions.PermissionDenied(_("Responders and above post updates."))
            serializer = CommunicationUpdateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            update = major.post_update(incident, actor=Actor.from_request(request), **serializer.validated_data)
            return Response(CommunicationUpdateSerializer(update).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(incident.updates.all())
        return self.get_paginated_response(CommunicationUpdateSerializer(page, many=True).data)

    @extend_schema(summary="Link a child incident to this major incident", request=inline_serializer(
        "IncidentLinkChildRequest", {"child": serializers.CharField(help_text=_("Incident number"))}),
        responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="children")
    def link_child(self, request, pk=None):
        incident = self.get_object()
        number = str((request.data or {}).get("child") or "")
        child = get_object_or_404(Incident, number=number)
        if not can(request.user, "responder", child):
            raise exceptions.PermissionDenied()
        major.link_child(incident, child, actor=Actor.from_request(request))
        return Response(self.get_serializer(Incident.objects.get(pk=incident.pk)).data)

    @extend_schema(summary="Unlink a child incident from this major incident", request=inline_serializer(
        "IncidentUnlinkChildRequest", {"child": serializers.CharField(help_text=_("Incident number"))}),
        responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="unlink-child")
    def unlink_child(self, request, pk=None):
        incident = self.get_object()
        child = get_object_or_404(incident.children.all(), number=str((request.data or {}).get("child") or ""))
        if not can(request.user, "responder", child):
            raise exceptions.PermissionDenied()
        major.unlink_child(child, actor=Actor.from_request(request))
        return Response(self.get_serializer(Incident.objects.get(pk=incident.pk)).data)


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.filter(parent=None),
                                          allow_null=True, required=False)

    class Meta:
        model = Category
        fields = ["id", "slug", "name", "parent", "description", "order", "active", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        # (parent, name) is unique: the model's own check answers it (DRF's validator would require `parent`).
        validators = []


class CategoryViewSet(RecordViewSet):
    """The incident taxonomy: categories and their subcategories. Admins change it; everyone reads it."""

    queryset = Category.objects.select_related("parent")
    serializer_class = CategorySerializer
    search_fields = ["slug", "name"]
    ordering_fields = ["order", "name", "slug"]
    ordering = ["order", "name"]
    action_roles = {"create": "admin", "update": "admin", "partial_update": "admin"}
    create_service = staticmethod(services.create_category)
    update_service = staticmethod(services.update_category)
