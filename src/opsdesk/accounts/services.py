"""Writes for users, teams, memberships and API tokens."""

from __future__ import annotations

import datetime
import hmac
import secrets

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit, events
from opsdesk.core.actors import Actor

from .models import TOKEN_PREFIX, ApiToken, LoginAttempt, Membership, Team, User, hash_secret

TEAM_FIELDS = ["name", "slug", "description", "email", "lead"]


# --- users ------------------------------------------------------------------------------------------
def create_user(*, actor: Actor, username: str, password: str | None = None, role: str = "viewer",
                email: str = "", first_name: str = "", last_name: str = "", is_superuser: bool = False) -> User:
    with transaction.atomic():
        user = User(username=username, email=email, first_name=first_name, last_name=last_name, role=role,
                    is_superuser=is_superuser, is_staff=is_superuser)
        if password:
            validate_password(password, user)
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        audit.record(user, actor=actor, action="create",
                     changes={"username": [None, username], "role": [None, role], "is_superuser": [None, is_superuser]})
    return user


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def set_time_zone(user: User, *, actor: Actor, name: str) -> User:
    from opsdesk.core.weekly_hours import validate_time_zone

    validate_time_zone(name)
    with transaction.atomic():
        before = user.time_zone
        user.time_zone = name
        user.save(update_fields=["time_zone"])
        if before != name:
            audit.record(user, actor=actor, action="update", changes={"time_zone": [before, name]})
    return user


# --- teams -----------------------------------------------------------------------------------------
def create_team(*, actor: Actor, **fields) -> Team:
    with transaction.atomic():
        team = Team(**fields, created_by=actor.user, updated_by=actor.user)
        team.full_clean()
        team.save()
        audit.record(team, actor=actor, action="create", changes=audit.diff({}, audit.snapshot(team, TEAM_FIELDS)))
        events.emit("team.created", team, actor=actor)
    return team


def update_team(team: Team, *, actor: Actor, **fields) -> Team:
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        before = audit.snapshot(team, TEAM_FIELDS)
        for name, value in fields.items():
            setattr(team, name, value)
        team.updated_by = actor.user
        team.full_clean()
        team.save()
        changes = audit.diff(before, audit.snapshot(team, TEAM_FIELDS))
        if changes:
            audit.record(team, actor=actor, action="update", changes=changes)
            events.emit("team.updated", team, actor=actor, payload={"changed": sorted(changes)})
    return team


def create_team_from(*, actor: Actor, data: dict) -> Team:
    """The (actor, data) form the generic views and viewsets call."""
    return create_team(actor=actor, **data)


def update_team_from(team: Team, *, actor: Actor, data: dict) -> Team:
    return update_team(team, actor=actor, **data)


def set_membership(team: Team, user: User, *, actor: Actor, role: str | None,
                   granted_by: User | None = None) -> Membership | None:
    """Add, change or (role=None) remove a member. A person (`granted_by`) can neither grant nor
    take away a role above their own role for this team."""
    from opsdesk.core.permissions import RANK, role_for

    with transaction.atomic():
        current = Membership.objects.select_for_update().filter(team=team, user=user).first()
        before = current.role if current else None
        if granted_by is not None:
            own = role_for(granted_by, team)
            highest = max((RANK[r] for r in (role, before) if r), default=-1)
            if own is None or RANK[own] < highest:
                raise ValidationError({"role": _("You cannot grant or change a role above your own (%(own)s).")
                                       % {"own": own}})
        if role is None:
            if current:
                current.delete()
            membership = None
        else:
            membership, _created = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
        if before != role:
            audit.record(team, actor=actor, action="membership", changes={f"member:{user.username}": [before, role]})
            events.emit("team.membership_changed", team, actor=actor,
                        payload={"user": user.username, "before": before, "after": role})
    return membership


# --- API tokens --------------------------------------------------------------------------------------
def create_token(user: User, *, actor: Actor, name: str, scope: str = "write",
                 expires_at: datetime.datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its plaintext, which is shown once and never stored."""
    if scope not in dict(ApiToken.SCOPES):
        raise ValidationError({"scope": _("Scope must be read or write.")})
    if expires_at and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    key_id, secret, plaintext = ApiToken.generate()
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, key_id=key_id, secret_hash=hash_secret(secret),
                                        scope=scope, expires_at=expires_at)
        audit.record(token, actor=actor, action="create",
                     changes={"name": [None, name], "scope": [None, scope], "user": [None, user.username],
                              "expires_at": [None, audit.to_json_value(expires_at)]})
    return token, plaintext


def revoke_token(token: ApiToken, *, actor: Actor) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(token, actor=actor, action="revoke", changes={"revoked_at": [None, token.revoked_at]})
    return token


def authenticate_token(raw: str) -> ApiToken | None:
    """The active token for a presented `odt_<key id>_<secret>` string, or None."""
    try:
        prefix, key_id, secret = raw.split("_", 2)
    except ValueError:
        return None
    if prefix != TOKEN_PREFIX:
        return None
    token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
    if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(secret)):
        return None
    if not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > datetime.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- login throttling --------------------------------------------------------------------------------
def login_throttled(username: str, ip: str | None) -> bool:
    """Refuse after N failures for this user from this address (guessing), or 4N for this user from
    anywhere (distributed guessing), or 4N from this address (spraying). Per (user, address) first,
    so a stranger's failures do not lock a user out from their own desk."""
    since = timezone.now() - datetime.timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    failures = LoginAttempt.objects.filter(at__gte=since, success=False)
    limit = settings.LOGIN_THROTTLE_FAILURES
    for_user = failures.filter(username__iexact=username)
    if for_user.filter(ip=ip).count() >= limit or for_user.count() >= limit * 4:
        return True
    return bool(ip) and failures.filter(ip=ip).count() >= limit * 4


def record_login_attempt(username: str, ip: str | None, *, success: bool) -> None:
    LoginAttempt.objects.create(username=username[:150], ip=ip or None, success=success)
    if success:
        LoginAttempt.objects.filter(username__iexact=username, success=False).delete()
