from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from opsdesk.core.actors import Actor
from opsdesk.core.api import RecordViewSet

from . import services
from .models import ApiToken, Membership, Team, User


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "email", "role", "is_active"]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Membership
        fields = ["user", "role"]


class TeamSerializer(serializers.ModelSerializer):
    lead = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), required=False,
                                        allow_null=True)
    members = MembershipSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "description", "email", "lead", "members", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class TeamViewSet(RecordViewSet):
    queryset = Team.objects.select_related("lead").prefetch_related("memberships__user")
    serializer_class = TeamSerializer
    search_fields = ["name", "slug", "description"]
    ordering_fields = ["name", "slug"]
    ordering = ["name"]
    filterset_fields = ["slug"]
    action_roles = {"create": "admin"}

    create_service = staticmethod(services.create_team_from)
    update_service = staticmethod(services.update_team_from)


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = User.objects.filter(is_active=True)
    serializer_class = UserSerializer
    search_fields = ["username", "first_name", "last_name", "email"]
    ordering_fields = ["username"]
    ordering = ["username"]
    filterset_fields = ["role"]

    @extend_schema(summary="The user the request is authenticated as")
    @action(detail=False, methods=["get"])
    def me(self, request):
        return Response(self.get_serializer(request.user).data)


class TokenSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_id", "scope", "expires_at", "revoked_at", "last_used_at", "created_at", "state"]
        read_only_fields = ["key_id", "revoked_at", "last_used_at", "created_at"]


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text=_("Shown once: store it now."))

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   viewsets.GenericViewSet):
    """Your own API tokens. The token text is returned once, on creation."""

    serializer_class = TokenSerializer
    action_roles = {"create": "viewer", "revoke": "viewer"}
    ordering = ["-created_at"]

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(request=TokenSerializer, responses={201: NewTokenSerializer})
    def create(self, request):
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        caller = request.auth if isinstance(request.auth, ApiToken) else None
        if caller is not None and caller.expires_at:
            expires = serializer.validated_data.get("expires_at")
            if expires is None or expires > caller.expires_at:
                raise serializers.ValidationError(
                    {"expires_at": _("A token created with a token must expire no later than that token.")})
        token, plaintext = services.create_token(request.user, actor=Actor.from_request(request),
                                                 name=serializer.validated_data["name"],
                                                 scope=serializer.validated_data.get("scope", "write"),
                                                 expires_at=serializer.validated_data.get("expires_at"))
        data = TokenSerializer(token).data
        data["token"] = plaintext
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.revoke_token(self.get_object(), actor=Actor.from_request(request))
        return Response(TokenSerializer(token).data)
