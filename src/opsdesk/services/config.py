"""The service catalog's section of the configuration file."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from opsdesk.accounts.models import Team
from opsdesk.core import weekly_hours
from opsdesk.core.actors import Actor
from opsdesk.core.config_as_code import Change, Section

from . import services
from .models import Service

LINKS = {"runbook": "runbook_url", "dashboard": "dashboard_url", "repository": "repository_url"}
STATUS_PATH = {("planned", "active"): ["activate"], ("planned", "retired"): ["retire"],
               ("active", "retired"): ["retire"], ("retired", "active"): ["reinstate"]}


class ServiceSection(Section):
    key = "services"
    order = 20
    item_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["slug", "name", "owner_team"],
        "properties": {
            "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
            "name": {"type": "string", "minLength": 1, "maxLength": 150},
            "kind": {"enum": ["business", "technical"]},
            "description": {"type": "string"},
            "owner_team": {"type": "string"},
            "tier": {"type": "integer", "minimum": 1, "maximum": 4},
            "criticality": {"enum": ["critical", "high", "medium", "low"]},
            "status": {"enum": ["planned", "active", "retired"]},
            "support_hours": {"type": "string"},
            "support_time_zone": {"type": "string"},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "links": {"type": "object", "additionalProperties": False,
                      "properties": {k: {"type": "string"} for k in LINKS}},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }

    def export(self) -> list[dict]:
        items = []
        for s in Service.objects.select_related("owner_team").prefetch_related("depends_on", "tags").order_by("slug"):
            item = {
                "slug": s.slug, "name": s.name, "kind": s.kind, "description": s.description,
                "owner_team": s.owner_team.slug, "tier": s.tier, "criticality": s.criticality, "status": s.status,
                "support_hours": weekly_hours.format_hours(s.support_hours),
                "support_time_zone": s.support_time_zone,
                "depends_on": sorted(d.slug for d in s.depends_on.all()),
                "links": {k: getattr(s, f) for k, f in LINKS.items() if getattr(s, f)},
                "tags": sorted(t.name for t in s.tags.all()),
            }
            items.append(item)
        return items

    def _fields(self, item: dict, teams: dict) -> dict:
        team = teams.get(item["owner_team"])
        if team is None:
            raise ValidationError({f"services/{item['slug']}/owner_team": f"no team with key {item['owner_team']!r}"})
        fields = {"name": item["name"], "owner_team": team}
        for name in ("kind", "description", "tier", "criticality", "support_time_zone"):
            if name in item:
                fields[name] = item[name]
        if "support_hours" in item:
            fields["support_hours"] = weekly_hours.parse(item["support_hours"])
        if "links" in item:
            for key, field_name in LINKS.items():
                fields[field_name] = item["links"].get(key, "")
        if "tags" in item:
            fields["tags"] = sorted(item["tags"])
        return fields

    @staticmethod
    def _current(service: Service, fields: dict) -> dict:
        current = {}
        for name in fields:
            if name == "tags":
                current[name] = sorted(t.name for t in service.tags.all())
            else:
                current[name] = getattr(service, name)
        return current

    def apply(self, items: list[dict], *, actor: Actor) -> list[Change]:
        changes: list[Change] = []
        by_slug: dict[str, Service] = {}
        # Read what the file names in two queries, not a few per item.
        teams = {t.slug: t for t in Team.objects.filter(slug__in={i["owner_team"] for i in items})}
        existing = {s.slug: s for s in Service.objects.filter(slug__in=[i["slug"] for i in items])
                    .select_related("owner_team").prefetch_related("tags", "depends_on")}
        for item in items:
            slug = item["slug"]
            try:
                fields = self._fields(item, teams)
            except ValidationError as exc:
                raise ValidationError({f"services/{slug}": exc.messages})
            wanted = item.get("status")
            service = existing.get(slug)
            if service is None:
                before_status = None
                service = services.create_service(actor=actor, data={"slug": slug, **fields})
                change = Change(self.key, slug, "create",
                                {k: [None, str(v)] for k, v in sorted(fields.items()) if v not in ("", [], None)})
            else:
                before_status = service.status
                if wanted and wanted != before_status and (before_status, wanted) not in STATUS_PATH:
                    raise ValidationError({f"services/{slug}/status": f"cannot go from {before_status} to {wanted}"})
                current = self._current(service, fields)
                diff = {k: [str(current[k]), str(v)] for k, v in fields.items() if current[k] != v}
                if diff:
                    if service.status == "retired":
                        if (wanted or "retired") == "retired":
                            raise ValidationError({f"services/{slug}": "is retired and read-only; set "
                                                   "status: active to change it"})
                        service = services.transition_service(service, "reinstate", actor=actor,
                                                              data={"reason": "configuration file"})
                    service = services.update_service(service, actor=actor, data=fields)
                change = Change(self.key, slug, "update" if diff else "unchanged", diff)
            if wanted and wanted != service.status:
                for step in STATUS_PATH.get((service.status, wanted), []):
                    service = services.transition_service(service, step, actor=actor,
                                                          data={"reason": "configuration file"})
            if wanted and before_status is not None and wanted != before_status:
                change.fields["status"] = [before_status, wanted]
                change.action = "update"
            by_slug[slug] = service
            changes.append(change)
        # Dependencies last, so a service may depend on one defined further down the file.
        for item, change in zip(items, changes, strict=True):
            if "depends_on" not in item:
                continue
            service = by_slug[item["slug"]]
            wanted = sorted(set(item["depends_on"]))
            current = sorted(d.slug for d in service.depends_on.all())
            if wanted == current:
                continue
            if service.status == "retired":
                raise ValidationError({f"services/{item['slug']}/depends_on": "a retired service is read-only"})
            targets = list(Service.objects.filter(slug__in=wanted))
            missing = sorted(set(wanted) - {t.slug for t in targets})
            if missing:
                raise ValidationError({f"services/{item['slug']}/depends_on": f"unknown services {missing}"})
            services.update_service(service, actor=actor, data={"depends_on": targets})
            change.fields["depends_on"] = [current, wanted]
            if change.action == "unchanged":
                change.action = "update"
        return changes
