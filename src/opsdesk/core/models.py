"""The machinery every record type shares: numbers, change log, comments, attachments, tags,
outbox events and their deliveries, timers, job runs and saved filters."""

import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

USER = settings.AUTH_USER_MODEL


class BaseModel(models.Model):
    """Timestamps and the users who created and last changed a record.

    `save()` stays free of side effects: change log, events and numbering are the service layer's job.
    """

    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    created_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        abstract = True


class NumberedModel(BaseModel):
    """A record with a human number such as SVC-7, unique and never reused (see core.numbering)."""

    NUMBER_PREFIX = ""
    number = models.CharField(_("number"), max_length=32, unique=True, editable=False)

    class Meta:
        abstract = True

    def __str__(self):
        title = getattr(self, "name", None) or getattr(self, "title", None) or ""
        return f"{self.number} {title}".strip()


class NumberSequence(models.Model):
    prefix = models.CharField(max_length=16, primary_key=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.prefix}: {self.last_value}"


class Tag(models.Model):
    name = models.SlugField(_("name"), max_length=64, unique=True)
    color = models.CharField(_("colour"), max_length=16, default="secondary")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RecordRef(models.Model):
    """A generic pointer to any record (by content type and primary key)."""

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.BigIntegerField()
    record = GenericForeignKey("content_type", "object_id")

    class Meta:
        abstract = True


class AuditEntry(models.Model):
    """One row of the change log. Rows form a hash chain (see core.audit) so tampering is detectable."""

    ACTOR_KINDS = [("user", _("user")), ("token", _("API token")), ("system", _("system job"))]

    timestamp = models.DateTimeField(db_index=True)
    actor_kind = models.CharField(max_length=8, choices=ACTOR_KINDS)
    # PROTECT: deleting a user would rewrite their rows (and break the chain); users are deactivated.
    actor_user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=200)
    token_key_id = models.CharField(max_length=32, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.BigIntegerField()
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(default=dict)  # {field: [before, after]}
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-id"])]

    def __str__(self):
        return f"#{self.pk} {self.action} {self.object_repr} by {self.actor_label}"


class AuditChainHead(models.Model):
    """A single row locked while appending to the chain, so concurrent writers append in order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    last_entry_id = models.BigIntegerField(default=0)


class Comment(RecordRef):
    author = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200)
    body = models.TextField(_("comment"))
    body_html = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self):
        return f"comment by {self.actor_label}"


def attachment_path(instance, filename):
    return f"{instance.content_type.app_label}/{instance.content_type.model}/{instance.object_id}/{uuid.uuid4().hex}"


class Attachment(RecordRef):
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(_("file name"), max_length=255)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self):
        return self.filename


class OutboxEvent(models.Model):
    """An event written in the same transaction as the change it describes; delivered after commit."""

    event_type = models.CharField(max_length=100, db_index=True)
    content_type = models.ForeignKey(ContentType, null=True, on_delete=models.PROTECT, related_name="+")
    object_id = models.BigIntegerField(null=True)
    object_repr = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict)
    actor_label = models.CharField(max_length=200)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.event_type} {self.object_repr}"


class NotificationChannel(models.Model):
    KINDS = [("email", _("Email")), ("webhook", _("Webhook")), ("apprise", _("Apprise URL"))]

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=KINDS)
    target = models.CharField(
        _("target"), max_length=1000, help_text=_("Email addresses (comma separated), webhook URL or Apprise URL")
    )
    secret = models.CharField(_("signing secret"), max_length=200, blank=True)
    event_types = models.JSONField(_("event types"), default=list, help_text=_("Patterns such as service.*"))
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("channels:detail", args=[self.pk])


class Subscription(models.Model):
    """A user's wish to hear about an event type, in the app and optionally by email."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="subscriptions")
    event_type = models.CharField(_("event type"), max_length=100, help_text=_("Pattern such as service.*"))
    in_app = models.BooleanField(_("in the app"), default=True)
    email = models.BooleanField(_("by email"), default=False)

    class Meta:
        unique_together = [("user", "event_type")]
        ordering = ["event_type"]

    def __str__(self):
        return f"{self.user} <- {self.event_type}"


class Delivery(models.Model):
    """One event to one destination. Unique per (event, destination), so redispatch never doubles it."""

    STATUSES = [("pending", _("pending")), ("sent", _("sent")), ("dead", _("gave up")),
                ("cancelled", _("cancelled"))]
    ADDRESS_KINDS = [("email", _("Email")), ("apprise", _("Apprise URL")), ("webhook", _("Webhook"))]

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.CharField(max_length=120)  # "channel:<id>", "email:<user id>", "inapp:<user id>"
    # A delivery to a person's own contact method (a page): sent to `address` as `address_kind`
    # instead of a channel's target or the user's email; empty for channel and subscriber deliveries.
    address_kind = models.CharField(max_length=8, choices=ADDRESS_KINDS, blank=True)
    address = models.CharField(max_length=1000, blank=True)
    channel = models.ForeignKey(NotificationChannel, null=True, blank=True, on_delete=models.SET_NULL)
    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=STATUSES, default="pending", db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = [("event", "destination")]
        ordering = ["-id"]

    def __str__(self):
        return f"{self.event} -> {self.destination}"


class Notification(models.Model):
    """The in-app notification list."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        unique_together = [("user", "event")]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self):
        return self.title


class Timer(models.Model):
    """A piece of work due at a time. Swept by core.tasks.sweep_timers with skip_locked, so any worker
    may take any timer, two workers never run one, and a restart loses none."""

    STATUSES = [("pending", _("pending")), ("done", _("done")), ("cancelled", _("cancelled")), ("failed", _("failed"))]

    kind = models.CharField(max_length=100)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    object_id = models.BigIntegerField(null=True, blank=True)
    due_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self):
        return f"{self.kind} due {self.due_at:%Y-%m-%d %H:%M}"


class JobRun(models.Model):
    STATUSES = [("running", _("running")), ("succeeded", _("succeeded")), ("failed", _("failed")),
                ("retrying", _("retrying"))]

    task_id = models.CharField(max_length=64, db_index=True)
    task_name = models.CharField(max_length=200, db_index=True)
    status = models.CharField(max_length=10, choices=STATUSES, default="running")
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.task_name} {self.status}"


class SavedFilter(models.Model):
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="saved_filters")
    list_key = models.CharField(max_length=100)
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        unique_together = [("user", "list_key", "name")]

    def __str__(self):
        return self.name


class VersionStamp(models.Model):
    """The version of some state that processes derive from the database and keep in memory (see
    core.versions): a random token, replaced in the transaction of every write that changes that state."""

    key = models.CharField(max_length=100, unique=True)
    token = models.CharField(max_length=32)

    def __str__(self):
        return f"{self.key}: {self.token}"


class SearchEntry(models.Model):
    """One searchable record in the full-text index (core.search): its title and text as the module's
    indexer wrote them, inside the record's own write transaction. The text index itself is
    database-specific and lives beside this table (migration 0006): on PostgreSQL a weighted
    `tsvector` column with a GIN index, on SQLite an FTS5 table kept by triggers. Code reads it only
    through `core.search`."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.BigIntegerField()
    kind = models.CharField(max_length=32, db_index=True)  # "incident", "knownerror", "article", ...
    number = models.CharField(max_length=32, blank=True)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    # A short state the searcher filters on ("resolved", "published", "active" ...).
    state = models.CharField(max_length=20, blank=True)
    url = models.CharField(max_length=300)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["content_type", "object_id"],
                                               name="search_entry_one_per_record")]
        indexes = [models.Index(fields=["kind", "state"])]

    def __str__(self):
        return f"{self.number or self.object_id} {self.title}"
