"""Teams and their members in the configuration file (users themselves are not configuration)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section

from . import services
from .models import Membership, Team, User

ROLE_NAMES = ["viewer", "responder", "manager", "admin"]


class TeamSection(Section):
    key = "teams"
    order = 10
    item_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["slug", "name"],
        "properties": {
            "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": {"type": "string"},
            "email": {"type": "string"},
            "lead": {"type": ["string", "null"]},
            "members": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": False, "required": ["user", "role"],
                          "properties": {"user": {"type": "string"}, "role": {"enum": ROLE_NAMES}}},
            },
        },
    }

    def export(self) -> list[dict]:
        items = []
        for team in Team.objects.select_related("lead").prefetch_related("memberships__user").order_by("slug"):
            items.append({
                "slug": team.slug, "name": team.name, "description": team.description, "email": team.email,
                "lead": team.lead.username if team.lead else None,
                "members": [{"user": m.user.username, "role": m.role}
                            for m in sorted(team.memberships.all(), key=lambda m: m.user.username)],
            })
        return items

    @staticmethod
    def _user(username: str, where: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise ValidationError({where: f"no user called {username!r}"})
        return user

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        changes = []
        for item in items:
            fields = {k: item[k] for k in ("name", "description", "email") if k in item}
            if "lead" in item:
                fields["lead"] = self._user(item["lead"], f"teams/{item['slug']}/lead") if item["lead"] else None
            team = Team.objects.filter(slug=item["slug"]).first()
            if team is None:
                team = services.create_team(actor=actor, slug=item["slug"], **fields)
                change = Change(self.key, item["slug"], "create", {k: [None, str(v)] for k, v in fields.items()})
            else:
                diff = {k: [str(getattr(team, k)), str(v)] for k, v in fields.items() if getattr(team, k) != v}
                if diff:
                    services.update_team(team, actor=actor, **fields)
                change = Change(self.key, item["slug"], "update" if diff else "unchanged", diff)
            if "members" in item:
                current = dict(Membership.objects.filter(team=team).values_list("user__username", "role"))
                wanted = {m["user"]: m["role"] for m in item["members"]}
                for username in sorted(set(current) | set(wanted)):
                    if current.get(username) != wanted.get(username):
                        user = self._user(username, f"teams/{item['slug']}/members")
                        services.set_membership(team, user, actor=actor, role=wanted.get(username))
                        change.fields[f"member {username}"] = [current.get(username), wanted.get(username)]
                        if change.action == "unchanged":
                            change.action = "update"
            changes.append(change)
        return changes
