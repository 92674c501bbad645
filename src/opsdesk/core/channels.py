"""Notification channels (email, signed webhook, Apprise URL): the admin's writes, their pages and
API, and a test send that goes through the normal outbox path."""

from __future__ import annotations

import apprise
from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from rest_framework import serializers

from . import audit, events, records
from .actors import Actor
from .api import RecordViewSet
from .forms import CommaListField, RecordForm
from .models import NotificationChannel
from .permissions import has_role
from .views import Column, RecordUI

AUDITED = ["name", "kind", "target", "event_types", "enabled"]


def target_fingerprint(target: str) -> str:
    """What the change log keeps of a target: enough to see that it changed, not the credential."""
    import hashlib
    from urllib.parse import urlsplit

    if "@" in target and "://" not in target:
        return target  # email addresses are not secrets
    scheme = urlsplit(target).scheme or "?"
    return f"{scheme}://… (sha256 {hashlib.sha256(target.encode()).hexdigest()[:10]})"


def _masked(snapshot: dict) -> dict:
    if snapshot.get("target"):
        snapshot["target"] = target_fingerprint(snapshot["target"])
    return snapshot


def _validate(kind: str, target: str, event_types) -> None:
    errors = {}
    if kind == "email":
        for address in [a.strip() for a in target.split(",") if a.strip()] or [""]:
            try:
                validate_email(address)
            except ValidationError:
                errors["target"] = _("“%(a)s” is not an email address.") % {"a": address}
    elif kind == "webhook":
        try:
            URLValidator(schemes=["http", "https"])(target)
        except ValidationError:
            errors["target"] = _("A webhook needs an http or https URL.")
    elif kind == "apprise":
        if not apprise.Apprise().add(target):
            errors["target"] = _("Apprise does not understand this URL (see the Apprise documentation).")
    if not isinstance(event_types, list) or not all(isinstance(e, str) and e.strip() for e in event_types):
        errors["event_types"] = _("Give a list of event type patterns, such as service.*")
    if errors:
        raise ValidationError(errors)


def _with_secret_change(fields: dict) -> dict:
    # The secret is write-only: never in the change log, only the fact that it changed.
    return {k: v for k, v in fields.items() if k != "secret"}


def create_channel(*, actor: Actor, data: dict) -> NotificationChannel:
    _validate(data.get("kind", ""), data.get("target", ""), data.get("event_types", ["*"]))
    with transaction.atomic():
        channel = NotificationChannel(**data)
        channel.full_clean()
        channel.save()
        changes = audit.diff({}, _masked(audit.snapshot(channel, AUDITED)))
        if channel.secret:
            changes["secret"] = [None, "(set)"]
        audit.record(channel, actor=actor, action="create", changes=changes)
    return channel


def update_channel(channel: NotificationChannel, *, actor: Actor, data: dict) -> NotificationChannel:
    merged = {"kind": channel.kind, "target": channel.target, "event_types": channel.event_types, **data}
    _validate(merged["kind"], merged["target"], merged["event_types"])
    secret = data.pop("secret", None)
    with transaction.atomic():
        channel = records.update_record(channel, actor=actor, fields=_with_secret_change(data), audited=AUDITED,
                                        mask=_masked)
        if secret:
            NotificationChannel.objects.filter(pk=channel.pk).update(secret=secret)
            audit.record(channel, actor=actor, action="update", changes={"secret": ["(hidden)", "(changed)"]})
            channel.refresh_from_db()
    return channel


def send_test(channel: NotificationChannel, *, actor: Actor):
    """A `channel.test` event that only this channel receives, delivered like any other."""
    with transaction.atomic():
        event = events.emit("channel.test", channel, actor=actor, payload={"message": "Test from Opsdesk"})
        from .models import Delivery

        Delivery.objects.create(event=event, destination=f"channel:{channel.pk}", channel=channel)
    return event


class ChannelForm(RecordForm):
    event_types = CommaListField(label=gettext_lazy("Event types"), initial="*", required=True,
                                  help_text=gettext_lazy("Comma separated patterns, e.g. service.*, team.created"))
    secret = forms.CharField(label=gettext_lazy("Signing secret"), required=False,
                             widget=forms.PasswordInput(render_value=False),
                             help_text=gettext_lazy("Webhooks: HMAC-SHA256 key for X-Opsdesk-Signature. "
                                                    "Leave empty to keep the current one."))

    class Meta:
        model = NotificationChannel
        fields = ["name", "kind", "target", "secret", "event_types", "enabled"]

    def service_data(self):
        data = super().service_data()
        if not data.get("secret"):
            data.pop("secret", None)
        return data


class ChannelUI(RecordUI):
    model = NotificationChannel
    namespace = "channels"
    form_class = ChannelForm
    search_fields = ("name", "target")
    default_sort = "name"
    view_role = "admin"  # targets are credentials (webhook keys, chat tokens)
    create_role = "admin"
    edit_role = "admin"
    comment_role = "admin"
    detail_template = "core/channel_detail.html"
    columns = [
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("kind", gettext_lazy("Kind"), sort="kind"),
        Column("target", gettext_lazy("Target")),
        Column("event_types", gettext_lazy("Event types")),
        Column("enabled", gettext_lazy("Enabled"), sort="enabled"),
    ]
    detail_fields = ["kind", "target", "event_types", "enabled", "recent"]
    create_service = staticmethod(create_channel)
    update_service = staticmethod(update_channel)

    def render_event_types(self, channel):
        return ", ".join(channel.event_types)

    def render_recent(self, channel):
        from django.utils.html import format_html_join

        rows = channel.delivery_set.select_related("event").order_by("-id")[:10]
        return format_html_join("", "<div class=\"small\">{} · {} · {} {}</div>",
                                ((d.created_at.strftime("%Y-%m-%d %H:%M"), d.event.event_type, d.get_status_display(),
                                  d.last_error[:80]) for d in rows)) or "—"

    render_recent.label = gettext_lazy("Recent deliveries")


class ChannelTestView(LoginRequiredMixin, View):
    def post(self, request, pk):
        if not has_role(request.user, "admin"):
            raise PermissionDenied
        channel = get_object_or_404(NotificationChannel, pk=pk)
        send_test(channel, actor=Actor.for_user(request.user))
        messages.success(request, _("A test notification is on its way; its delivery is listed below."))
        return redirect("channels:detail", pk=channel.pk)


class ChannelSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True)

    class Meta:
        model = NotificationChannel
        fields = ["id", "name", "kind", "target", "secret", "event_types", "enabled", "created_at"]
        read_only_fields = ["created_at"]


class ChannelViewSet(RecordViewSet):
    """Notification channels (admins only)."""

    queryset = NotificationChannel.objects.all()
    serializer_class = ChannelSerializer
    search_fields = ["name", "target"]
    ordering = ["name"]
    filterset_fields = ["kind", "enabled"]
    action_roles = {"list": "admin", "retrieve": "admin", "create": "admin", "update": "admin",
                    "partial_update": "admin", "history": "admin", "comments": "admin"}
    create_service = staticmethod(create_channel)
    update_service = staticmethod(update_channel)
