"""Roles and permission checks.

Four roles, ordered: viewer < responder < manager < admin. Every user has a global role; a team
membership can grant a higher role for records that belong to that team. Each view and viewset
maps its actions to the least role needed; a read-scoped API token can only read.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

ROLES = [("viewer", _("Viewer")), ("responder", _("Responder")), ("manager", _("Manager")), ("admin", _("Admin"))]
RANK = {name: index for index, (name, _label) in enumerate(ROLES)}

DEFAULT_ACTION_ROLES = {
    "list": "viewer",
    "retrieve": "viewer",
    "history": "viewer",
    "comments": "viewer",  # reading; posting a comment checks "responder" on the record itself
    "create": "manager",
    "update": "manager",
    "partial_update": "manager",
    "destroy": "admin",
}


def _memberships(user) -> dict[int, str]:
    cache = getattr(user, "_opsdesk_team_roles", None)
    if cache is None:
        cache = dict(user.memberships.values_list("team_id", "role")) if user.pk else {}
        user._opsdesk_team_roles = cache
    return cache


def role_for(user, team=None) -> str | None:
    """The effective role of `user` for a record of `team` (or globally when team is None)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return "admin"
    role = getattr(user, "role", "viewer") or "viewer"
    team_id = getattr(team, "pk", team)
    if team_id is not None:
        team_role = _memberships(user).get(team_id)
        if team_role and RANK[team_role] > RANK[role]:
            role = team_role
    return role


def best_role(user) -> str | None:
    """The highest role the user holds anywhere (global or in any team)."""
    role = role_for(user)
    if role is None:
        return None
    for team_role in _memberships(user).values():
        if RANK[team_role] > RANK[role]:
            role = team_role
    return role


def has_role(user, needed: str, team=None) -> bool:
    role = role_for(user, team)
    return role is not None and RANK[role] >= RANK[needed]


def record_team(obj):
    """The team a record belongs to (its TEAM_FIELD), or the record itself when it is a team."""
    field = getattr(obj, "TEAM_FIELD", None)
    if field == "self":
        return obj.pk
    return getattr(obj, f"{field}_id", None) if field else None


def can(user, needed: str, obj=None) -> bool:
    return has_role(user, needed, record_team(obj) if obj is not None else None)


class RolePermission(BasePermission):
    """DRF permission: the viewset's `action_roles` (merged over the defaults) name the least role."""

    message = _("Your role does not allow this.")

    def needed_role(self, request, view) -> str:
        roles = {**DEFAULT_ACTION_ROLES, **getattr(view, "action_roles", {})}
        action = getattr(view, "action", None)
        if action in roles:
            return roles[action]
        workflow = getattr(view, "workflow", None)
        if workflow is not None and action in {t.name for t in workflow.transitions}:
            return workflow.get(action).permission
        transition = getattr(view, "current_transition", None)
        if transition is not None:
            return transition.permission
        return "viewer" if request.method in SAFE_METHODS else "admin"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        token = getattr(request, "auth", None)
        if request.method not in SAFE_METHODS and getattr(token, "scope", "write") == "read":
            self.message = _("This API token is read-only.")
            return False
        # A team role can open the door to a team-scoped record type (the object check then decides);
        # for everything else only the global role counts.
        model = getattr(getattr(view, "queryset", None), "model", None)
        role = best_role(user) if getattr(model, "TEAM_FIELD", None) else role_for(user)
        return role is not None and RANK[role] >= RANK[self.needed_role(request, view)]

    def has_object_permission(self, request, view, obj) -> bool:
        return can(request.user, self.needed_role(request, view), obj)
