"""Collision detection for a change's planned window.

Contract:
- find(change, *, start=None, end=None) -> list[dict]: each {"kind": "ci" | "related_ci" | "service" |
  "implementer" | "freeze", "message": str, and "change_id"/"change_number" or "freeze_id"}; empty when the
  change has no window.
- find_for(*, cis, services, implementer, start, end, exclude=None) -> list[dict]: the same for a proposed
  window that is not (yet) a change (the collision-check API and the change form).

Other changes collide when they are in a planned state (CHANGE_PLANNED_STATES), other than the change
itself, and their window overlaps (start < other.end and end > other.start). A handful of queries, each
driven by the window index (changes_window) and the CI / service / implementer joins: the answer stays
fast with 50k changes and 100k CIs (benchmarks/changes.py).
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .workflows import CHANGE_PLANNED_STATES


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _ids(items) -> list[int]:
    return sorted({int(getattr(item, "pk", item)) for item in items or []})


def find(change, *, start=None, end=None) -> list[dict]:
    start = start or change.planned_start
    end = end or change.planned_end
    if start is None or end is None or not change.pk:
        return []
    cis = list(change.cis.values_list("pk", flat=True))
    services = list(change.services.values_list("pk", flat=True))
    return find_for(cis=cis, services=services, implementer=change.implementer_id, start=start, end=end,
                    exclude=change.pk)


def find_for(*, cis=(), services=(), implementer=None, start=None, end=None, exclude=None) -> list[dict]:
    from opsdesk.cmdb.models import Relationship

    from .models import ChangeRequest, FreezeWindow

    if start is None or end is None or end <= start:
        return []
    ci_ids, service_ids = _ids(cis), _ids(services)
    implementer_id = getattr(implementer, "pk", implementer)
    exclude_id = getattr(exclude, "pk", exclude)
    others = ChangeRequest.objects.filter(status__in=CHANGE_PLANNED_STATES, planned_start__lt=end,
                                          planned_end__gt=start)
    if exclude_id:
        others = others.exclude(pk=exclude_id)
    found: list[dict] = []
    seen: set[tuple[str, int]] = set()

    def add(kind: str, change_id: int, number: str, message: str) -> None:
        if (kind, change_id) not in seen:
            seen.add((kind, change_id))
            found.append({"kind": kind, "message": message, "change_id": change_id, "change_number": number})

    def window_text(row_start, row_end) -> str:
        return _("%(start)s to %(end)s") % {"start": _when(row_start), "end": _when(row_end)}

    if ci_ids:
        rows = others.filter(cis__in=ci_ids).values_list("id", "number", "title", "planned_start", "planned_end",
                                                         "cis__name").order_by("planned_start", "id")
        for pk, number, title, row_start, row_end, ci_name in rows:
            add("ci", pk, number, _("%(number)s “%(title)s” also works on %(ci)s (%(window)s).") % {
                "number": number, "title": title, "ci": ci_name, "window": window_text(row_start, row_end)})
        # Parents and children: CIs related to ours by a current relationship, in either direction.
        links = (Relationship.objects.filter(ended_at__isnull=True, target__isnull=False)
                 .filter(Q(source_id__in=ci_ids) | Q(target_id__in=ci_ids))
                 .values_list("source_id", "source__name", "type__name", "target_id", "target__name"))
        neighbours: dict[int, list[str]] = {}
        for source_id, source_name, type_name, target_id, target_name in links:
            other = target_id if source_id in ci_ids else source_id
            if other in ci_ids:
                continue
            neighbours.setdefault(other, []).append(f"{source_name} {type_name} {target_name}")
        if neighbours:
            rows = (others.filter(cis__in=list(neighbours)).values_list(
                "id", "number", "title", "planned_start", "planned_end", "cis__id", "cis__name")
                .order_by("planned_start", "id"))
            for pk, number, title, row_start, row_end, ci_id, ci_name in rows:
                if ("ci", pk) in seen:  # already reported: it works on one of our CIs itself
                    continue
                add("related_ci", pk, number, _("%(number)s “%(title)s” works on %(ci)s, related to this change's CIs "
                                                "(%(relation)s), in an overlapping window (%(window)s).") % {
                    "number": number, "title": title, "ci": ci_name, "relation": "; ".join(neighbours[ci_id]),
                    "window": window_text(row_start, row_end)})
    if service_ids:
        rows = others.filter(services__in=service_ids).values_list(
            "id", "number", "title", "planned_start", "planned_end", "services__name").order_by("planned_start", "id")
        for pk, number, title, row_start, row_end, service_name in rows:
            add("service", pk, number, _("%(number)s “%(title)s” also changes the service %(service)s (%(window)s).")
                % {"number": number, "title": title, "service": service_name,
                   "window": window_text(row_start, row_end)})
    if implementer_id:
        rows = others.filter(implementer_id=implementer_id).values_list(
            "id", "number", "title", "planned_start", "planned_end", "implementer__username").order_by(
            "planned_start", "id")
        for pk, number, title, row_start, row_end, username in rows:
            add("implementer", pk, number, _("The implementer %(user)s is also booked on %(number)s “%(title)s” "
                                             "(%(window)s).") % {
                "user": username, "number": number, "title": title, "window": window_text(row_start, row_end)})
    freezes = FreezeWindow.objects.filter(active=True, starts_at__lt=end, ends_at__gt=start)
    freezes = freezes.filter(Q(services__isnull=True) | Q(services__in=service_ids)) if service_ids else \
        freezes.filter(services__isnull=True)
    for pk, name, reason, row_start, row_end in freezes.values_list(
            "id", "name", "reason", "starts_at", "ends_at").distinct().order_by("starts_at", "id"):
        message = _("The window falls in the change freeze “%(name)s” (%(window)s).") % {
            "name": name, "window": window_text(row_start, row_end)}
        if reason:
            message += " " + reason
        found.append({"kind": "freeze", "message": message, "freeze_id": pk})
    return found


# --- the panel on the change page ---------------------------------------------------------------------------

def panel_context(change, user):
    """An open change shows the live check and what was acknowledged at submission; a closed one (its
    window is history) only what was acknowledged."""
    live = change.is_open
    return {
        "change": change,
        "checks_live": live,
        "live": find(change) if live else [],
        "acknowledged": change.collisions or [],
        "acknowledged_by": change.collisions_acknowledged_by,
        "acknowledged_at": change.collisions_acknowledged_at,
        "has_window": bool(change.planned_start and change.planned_end),
    }


def wire() -> None:
    from opsdesk.core import registry

    from .models import ChangeRequest

    registry.register_record_panel(ChangeRequest, registry.RecordPanel("collisions", "changes/risk_collisions.html",
                                                                       panel_context, order=11))
