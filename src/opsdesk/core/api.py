"""API bases: the record viewset every module extends, pagination, `?q=` search, ETags, the
error format of CONVENTIONS §6 and the transition actions generated from a module's workflow."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import audit
from .actors import Actor
from .comments import add_comment, comments_for
from .models import AuditEntry, Comment
from .pagination import Pagination, QuerySearchFilter  # noqa: F401  (re-exported)
from .permissions import can
from .workflow import TransitionNotAllowed, Workflow


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = gettext_lazy("The request body is too large.")
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = gettext_lazy("The record is not in a state that allows this.")
    default_code = "conflict"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = gettext_lazy("The record has changed since you read it (ETag mismatch).")
    default_code = "precondition_failed"


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail):
    if isinstance(detail, list):
        return " ".join(str(d) for d in detail)
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    return str(detail)


CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(_("The request body is larger than the limit of %(mb)s MB.")
                              % {"mb": settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)})
    elif isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {}
        if any(getattr(e, "code", "") == "too_large" for errors in getattr(exc, "error_dict", {}).values()
               for e in errors):
            exc = PayloadTooLarge(" ".join(" ".join(v) for v in fields.values()))
        else:
            exc = exceptions.ValidationError(fields or {"non_field_errors": exc.messages})
    elif isinstance(exc, TransitionNotAllowed):
        exc = Conflict(str(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(_("No such record."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in CODES.items() if isinstance(exc, cls)), getattr(exc, "default_code", "error"))
    fields = {}
    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten(exc.detail)
        if isinstance(detail, dict):
            non_field = detail.pop("non_field_errors", "")
            fields = detail
            message = non_field or _("Some fields are not valid.")
        else:
            message = detail
    else:
        message = _flatten(exc.detail) if not isinstance(exc.detail, dict) else json.dumps(exc.detail)
    response.data = error_body(code, str(message), fields)
    return response


def json_error(request, status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


class AuditEntrySerializer(serializers.ModelSerializer):
    record_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = ["id", "timestamp", "action", "actor_kind", "actor_label", "token_key_id", "request_id",
                  "record_type", "object_id", "object_repr", "changes", "hash"]

    def get_record_type(self, entry) -> str:
        return f"{entry.content_type.app_label}.{entry.content_type.model}"


class CommentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Comment
        fields = ["id", "actor_label", "body", "body_html", "created_at"]
        read_only_fields = ["id", "actor_label", "body_html", "created_at"]


def _transition_request_serializer(model_name: str, transition):
    fields = {name: serializers.CharField(max_length=2000) for name in transition.requires}
    fields["comment"] = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    return inline_serializer(name=f"{model_name}{transition.name.title().replace('_', '')}Request", fields=fields)


def _make_transition_action(transition, model_name: str, response_serializer):
    def run_transition(self, request, pk=None):
        self.current_transition = transition
        record = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        record = self.transition_service(record, transition.name, actor=Actor.from_request(request), data=data)
        return Response(self.get_serializer(record).data)

    # DRF maps the HTTP method to the function's name, so name it before decorating.
    run_transition.__name__ = transition.name
    run_transition = action(detail=True, methods=["post"], url_path=transition.name.replace("_", "-"),
                            url_name=transition.name)(run_transition)
    return extend_schema(
        summary=str(transition.label),
        request=_transition_request_serializer(model_name, transition),
        responses={200: response_serializer, 409: OpenApiResponse(description="Not allowed in the current state"),
                   400: OpenApiResponse(description="A required field is missing")},
    )(run_transition)


class RecordViewSet(viewsets.ModelViewSet):
    """List, retrieve, create, update, history, comments and transitions for one record type.

    A module declares `queryset`, `serializer_class`, `filterset_class`, `search_fields`, `workflow`
    and its service functions; writes go through them, never through serializer.save().
    """

    http_method_names = ["get", "post", "patch", "put", "head", "options"]
    workflow: Workflow | None = None
    action_roles: dict[str, str] = {}
    create_service = None
    update_service = None
    transition_service = None
    ordering = ["-id"]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.workflow is not None and cls.serializer_class is not None:
            model_name = cls.serializer_class.Meta.model.__name__
            for transition in cls.workflow.transitions:
                if transition.internal:
                    continue
                setattr(cls, transition.name, _make_transition_action(transition, model_name, cls.serializer_class))

    # --- permissions ---------------------------------------------------------------------------------
    def permission_for(self, action: str) -> str:
        from .permissions import DEFAULT_ACTION_ROLES

        return {**DEFAULT_ACTION_ROLES, **self.action_roles}.get(action, "admin")

    def check_team_role(self, team, needed: str = "manager"):
        if not can(self.request.user, needed, None) and not (
            team is not None and can(self.request.user, needed, _TeamProxy(team))
        ):
            raise exceptions.PermissionDenied(_("Your role does not allow this for that team."))

    # --- writes through the service layer --------------------------------------------------------------
    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        team_field = getattr(serializer.Meta.model, "TEAM_FIELD", None)
        self.check_team_role(data.get(team_field) if team_field else None, self.permission_for("create"))
        serializer.instance = type(self).create_service(actor=Actor.from_request(self.request), data=data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        team_field = getattr(serializer.Meta.model, "TEAM_FIELD", None)
        if team_field and team_field not in (None, "self") and team_field in data:
            self.check_team_role(data[team_field], self.permission_for("update"))
        with transaction.atomic():
            # If-Match is compared with the locked row, so two clients cannot both win.
            locked = type(serializer.instance).objects.select_for_update().get(pk=serializer.instance.pk)
            self.check_etag(locked)
            serializer.instance = type(self).update_service(locked, actor=Actor.from_request(self.request),
                                                            data=data)

    def update(self, request, *args, **kwargs):
        if isinstance(request.data, dict) and "status" in request.data:
            raise exceptions.ValidationError(
                {"status": _("The status is changed by transitions (POST …/{id}/<transition>/), not by editing.")}
            )
        return super().update(request, *args, **kwargs)

    # --- ETag ----------------------------------------------------------------------------------------
    @staticmethod
    def etag_for(data) -> str:
        return '"' + hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32] + '"'

    def check_etag(self, instance):
        expected = self.request.headers.get("If-Match")
        if expected and expected != "*" and expected != self.etag_for(self.get_serializer(instance).data):
            raise PreconditionFailed()

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        data = self.get_serializer(instance).data
        etag = self.etag_for(data)
        if request.headers.get("If-None-Match") == etag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(data, headers={"ETag": etag})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "action", None) in {"update", "partial_update"} and response.status_code == 200:
            response["ETag"] = self.etag_for(response.data)
        return response

    # --- history and comments -----------------------------------------------------------------------
    @extend_schema(summary="Change log of the record", responses=AuditEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        record = self.get_object()
        page = self.paginate_queryset(audit.history_for(record).select_related("content_type"))
        return self.get_paginated_response(AuditEntrySerializer(page, many=True).data)

    @extend_schema(summary="Comments on the record", request=CommentSerializer,
                   responses=CommentSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def comments(self, request, pk=None):
        record = self.get_object()
        if request.method == "POST":
            if not can(request.user, "responder", record):
                raise exceptions.PermissionDenied(_("Responders and above may comment."))
            serializer = CommentSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            comment = add_comment(record, actor=Actor.from_request(request), body=serializer.validated_data["body"])
            return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(comments_for(record))
        return self.get_paginated_response(CommentSerializer(page, many=True).data)


class _TeamProxy:
    """Lets `can()` check a role against a team that has no record yet (on create)."""

    TEAM_FIELD = "team"

    def __init__(self, team):
        self.team_id = getattr(team, "pk", team)


class TagListField(serializers.ListField):
    child = serializers.SlugField(max_length=64)

    def to_representation(self, value):
        return [tag.name for tag in value.all()]
