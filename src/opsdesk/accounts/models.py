"""Users, teams with members and a lead, API tokens, login attempts."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opsdesk.core.models import BaseModel
from opsdesk.core.permissions import ROLES


class User(AbstractUser):
    role = models.CharField(_("global role"), max_length=16, choices=ROLES, default="viewer")
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")

    class Meta:
        ordering = ["username"]

    def __str__(self):
        return self.username

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Team(BaseModel):
    TEAM_FIELD = "self"  # a team's own managers manage it (see core.permissions.record_team)

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("key"), max_length=100, unique=True,
                            help_text=_("Stable identifier used by the API and configuration files."))
    description = models.TextField(_("description"), blank=True)
    email = models.EmailField(_("email"), blank=True)
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("lead"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="led_teams")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams",
                                     blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("accounts:team_detail", args=[self.pk])


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role in team"), max_length=16, choices=ROLES, default="responder")

    class Meta:
        unique_together = [("team", "user")]
        ordering = ["team__name", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"


TOKEN_PREFIX = "odt"


def hash_secret(secret: str) -> str:
    # Tokens are 256-bit random strings, so a fast hash is enough (as GitHub does): no dictionary to try.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    SCOPES = [("read", _("read")), ("write", _("read and write"))]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(_("scope"), max_length=8, choices=SCOPES, default="write")
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.key_id})"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        return key_id, secret, f"{TOKEN_PREFIX}_{key_id}_{secret}"

    @property
    def is_active(self) -> bool:
        if self.revoked_at:
            return False
        return not (self.expires_at and self.expires_at <= timezone.now())

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class LoginAttempt(models.Model):
    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    success = models.BooleanField(default=False)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.username} {'ok' if self.success else 'failed'}"
