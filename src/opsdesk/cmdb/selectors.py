"""Reads of the CMDB that are more than a queryset: the "as of" view of a CI."""

from __future__ import annotations

import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from opsdesk.core import audit
from opsdesk.core.models import AuditEntry

from .models import ConfigurationItem, Relationship
from .services import CI_AUDITED


def parse_moment(text: str) -> datetime.datetime | None:
    """A date means the end of that day in the current time zone; a date-time without a zone is in it."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        # A plain date first: parse_datetime would read "2026-03-01" as its midnight.
        day = parse_date(text) if len(text) == 10 else None
        moment = datetime.datetime.combine(day, datetime.time.max) if day else parse_datetime(text)
    except ValueError:
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def ci_as_of(ci: ConfigurationItem, when: datetime.datetime) -> dict | None:
    """The CI's audited fields and its relationships as they were at `when`.

    Fields: start from today's values and undo, newest first, every change-log row written after
    `when` (each row keeps the before value). Relationships: those that had begun by `when` and had
    not ended. None when the CI did not exist yet."""
    if ci.created_at > when:
        return None
    fields = audit.snapshot(ci, CI_AUDITED)
    content_type = ContentType.objects.get_for_model(ConfigurationItem)
    later = AuditEntry.objects.filter(content_type=content_type, object_id=ci.pk, timestamp__gt=when) \
        .order_by("-id").values_list("changes", flat=True)
    for changes in later:
        for name, pair in (changes or {}).items():
            if name in fields and isinstance(pair, list) and len(pair) == 2:
                fields[name] = pair[0]
    relationships = []
    current = Relationship.objects.filter(Q(source=ci) | Q(target=ci), created_at__lte=when) \
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=when)) \
        .select_related("type", "source", "target", "target_service").order_by("id")
    for rel in current:
        outgoing = rel.source_id == ci.pk
        other = rel.target_object if outgoing else rel.source
        relationships.append({
            "id": rel.pk,
            "direction": "outgoing" if outgoing else "incoming",
            "type": rel.type.slug,
            "label": rel.type.name if outgoing else rel.type.reverse_name,
            "other": str(other),
            "other_url": other.get_absolute_url(),
            "since": rel.created_at.isoformat(),
            "ended_at": rel.ended_at.isoformat() if rel.ended_at else None,
        })
    return {"id": ci.pk, "number": ci.number, "at": when.isoformat(), "fields": fields,
            "relationships": relationships}
