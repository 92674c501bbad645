"""Comments and attachments on any record, and the timeline that merges them with the change log."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from . import audit, events, markup
from .actors import Actor
from .models import Attachment, AuditEntry, Comment

MAX_COMMENT_CHARS = 20000

# Leading bytes of the binary types we accept, so a renamed executable is not taken for a picture.
SIGNATURES = {
    "application/pdf": [b"%PDF-"],
    "image/png": [b"\x89PNG\r\n\x1a\n"],
    "image/jpeg": [b"\xff\xd8\xff"],
    "image/gif": [b"GIF87a", b"GIF89a"],
    "application/zip": [b"PK\x03\x04", b"PK\x05\x06"],
    "application/gzip": [b"\x1f\x8b"],
}
TEXT_TYPES = {"text/plain", "text/csv", "text/markdown", "application/json", "application/x-yaml", "text/x-log"}
EXTRA_TYPES = {".md": "text/markdown", ".log": "text/x-log", ".yaml": "application/x-yaml",
               ".yml": "application/x-yaml"}


def _content_type(obj):
    return ContentType.objects.get_for_model(obj, for_concrete_model=True)


def add_comment(obj, *, actor: Actor, body: str) -> Comment:
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": _("A comment cannot be empty.")})
    if len(body) > MAX_COMMENT_CHARS:
        raise ValidationError({"body": _("A comment is limited to %(n)s characters.") % {"n": MAX_COMMENT_CHARS}})
    with transaction.atomic():
        comment = Comment.objects.create(content_type=_content_type(obj), object_id=obj.pk, author=actor.user,
                                         actor_label=actor.label, body=body, body_html=markup.render(body))
        audit.record(obj, actor=actor, action="comment", changes={"comment": [None, body[:300]]})
        events.emit(f"{obj._meta.model_name}.commented", obj, actor=actor, payload={"comment": body[:500]})
    return comment


def detect_type(name: str, head: bytes) -> str:
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    guessed = EXTRA_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if guessed in SIGNATURES:
        if not any(head.startswith(sig) for sig in SIGNATURES[guessed]):
            raise ValidationError({"file": _("The file's content does not match its type (%(type)s).")
                                   % {"type": guessed}})
    elif guessed in TEXT_TYPES or guessed.startswith("text/"):
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
                raise ValidationError({"file": _("A text file must be UTF-8 text.")})
    return guessed


def add_attachment(obj, *, actor: Actor, upload) -> Attachment:
    if upload is None:
        raise ValidationError({"file": _("Choose a file to attach.")})
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise ValidationError({"file": _("The file is larger than the limit of %(mb)s MB.")
                               % {"mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)}}, code="too_large")
    upload.seek(0)
    head = upload.read(512)
    upload.seek(0)
    mime = detect_type(upload.name, head)
    if mime not in settings.ATTACHMENT_ALLOWED_TYPES:
        raise ValidationError({"file": _("Files of type %(type)s are not accepted.") % {"type": mime}})
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    with transaction.atomic():
        attachment = Attachment(content_type=_content_type(obj), object_id=obj.pk, filename=upload.name[:255],
                                mime_type=mime, size=upload.size, sha256=digest.hexdigest(), uploaded_by=actor.user,
                                actor_label=actor.label)
        attachment.file.save(upload.name, upload, save=False)
        try:
            attachment.save()
            audit.record(obj, actor=actor, action="attach", changes={"attachment": [None, attachment.filename]})
        except Exception:
            attachment.file.delete(save=False)  # the row is rolled back: do not leave its file behind
            raise
    return attachment


def comments_for(obj):
    return Comment.objects.filter(content_type=_content_type(obj), object_id=obj.pk).select_related("author")


def attachments_for(obj):
    return Attachment.objects.filter(content_type=_content_type(obj), object_id=obj.pk)


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # "comment" | "change" | "attachment"
    actor: str
    item: object


def timeline_for(obj, limit: int = 200) -> list[TimelineItem]:
    """Comments and change-log rows of a record, newest first, in three queries."""
    ct = _content_type(obj)
    items = [TimelineItem(c.created_at, "comment", c.actor_label, c)
             for c in Comment.objects.filter(content_type=ct, object_id=obj.pk).order_by("-id")[:limit]]
    items += [TimelineItem(a.timestamp, "change", a.actor_label, a)
              for a in AuditEntry.objects.filter(content_type=ct, object_id=obj.pk).exclude(action="comment")
              .order_by("-id")[:limit]]
    items.sort(key=lambda i: i.at, reverse=True)
    return items[:limit]
