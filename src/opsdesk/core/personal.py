"""A person's own settings: event subscriptions, saved list filters and the read state of their
notifications. The one write path for them (views and API call these). They change nothing anyone
else sees, so they are not change-log rows."""

from __future__ import annotations

from django.utils import timezone

from .models import Notification, SavedFilter, Subscription


def subscribe(user, *, event_type: str, in_app: bool = True, email: bool = False) -> Subscription:
    subscription, _created = Subscription.objects.update_or_create(
        user=user, event_type=event_type.strip(), defaults={"in_app": in_app, "email": email})
    return subscription


def _id(value) -> int | None:
    return int(value) if str(value or "").isdigit() else None


def unsubscribe(user, subscription_id) -> int:
    deleted, _ = Subscription.objects.filter(user=user, pk=_id(subscription_id)).delete()
    return deleted


def save_filter(user, *, list_key: str, name: str, query: str) -> SavedFilter:
    saved, _created = SavedFilter.objects.update_or_create(
        user=user, list_key=list_key[:100], name=name.strip()[:100], defaults={"query": query[:1000]})
    return saved


def delete_filter(user, filter_id) -> int:
    deleted, _ = SavedFilter.objects.filter(user=user, pk=_id(filter_id)).delete()
    return deleted


def mark_read(user, notification_id=None) -> int:
    """Mark one notification (or all unread ones) of `user` as read; returns how many changed."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=_id(notification_id))
    return unread.update(read_at=timezone.now())
