"""Import runs: stored upload files, the run's options, creating and applying runs, the Celery job
that executes a run through the reconciliation engine (`imports.Reconciler`) and the sweeper.

A file that cannot be read at all (not CSV, broken XML, an XLSX that is not a zip, JSON that is not
Ansible facts) is refused when it is uploaded: no run is created and the file is not kept. A problem
found only while the job reads the whole file fails the run, with the error on the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import events, records
from opsdesk.core.actors import Actor, reset_request_id, set_request_id
from opsdesk.core.workflow import TransitionNotAllowed

from . import import_parsers as parsers
from .imports import DISCOVERY_KINDS, FIELD_TARGETS, MATCH_FIELDS, Reconciler
from .models import AttributeDefinition, CIClass, ConfigurationItem, ImportRun

TASK = "opsdesk.cmdb.tasks.run_import"
ALIASES = {"class": "ci_class", "type": "ci_class", "hostname": "hostnames", "host": "hostnames", "fqdn": "hostnames",
           "ip": "ip_addresses", "ip_address": "ip_addresses", "address": "ip_addresses", "addresses": "ip_addresses",
           "serial": "serial_number", "model": "model_name", "manufacturer": "vendor", "team": "owner_team",
           "owner": "owner_team", "env": "environment", "tag": "tags", "service": "services"}
DEFAULTS = {"nmap": {"source": "nmap", "match_keys": ["hostname", "ip"], "default_class": "server"},
            "ansible": {"source": "ansible", "match_keys": ["serial_number", "hostname", "ip"],
                        "default_class": "server"}}
RUN_AUDITED = ["name", "kind", "source", "file_name", "default_class", "mapping", "match_keys", "on_no_match",
               "on_one_match", "on_many_matches", "on_unseen", "dry_run"]
QUEUED_GRACE_SECONDS = 120
RUNNING_TIMEOUT_SECONDS = 3600


# --- files --------------------------------------------------------------------------------------------

def max_upload_bytes() -> int:
    configured = getattr(settings, "CMDB_IMPORT_MAX_BYTES", None)
    if configured:
        return int(configured)
    return int(float(os.environ.get("OPSDESK_IMPORT_MAX_MB", "20")) * 1024 * 1024)


def import_dir() -> Path:
    path = Path(getattr(settings, "CMDB_IMPORT_DIR", None) or settings.DATA_DIR / "imports")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def too_large_error() -> ValidationError:
    from django.template.defaultfilters import filesizeformat

    message = _("The file is larger than the import limit of %(size)s.") % {"size": filesizeformat(max_upload_bytes())}
    return ValidationError({"file": ValidationError(message, code="too_large")})


class StagedFile:
    """An uploaded file stored under the import directory, read far enough to know its columns."""

    def __init__(self, path: str, sha256: str, file_name: str, kind: str):
        self.path, self.sha256, self.file_name, self.kind = path, sha256, file_name, kind
        self.preview = parsers.parse(kind, self.full_path, limit=parsers.SAMPLE_ROWS)

    @property
    def full_path(self) -> Path:
        return import_dir() / self.path

    def sign(self) -> str:
        return signing.dumps({"path": self.path, "sha256": self.sha256, "name": self.file_name, "kind": self.kind},
                             salt="cmdb.import")

    @classmethod
    def from_token(cls, token: str) -> StagedFile:
        try:
            data = signing.loads(token, salt="cmdb.import", max_age=86400)
            return cls(data["path"], data["sha256"], data["name"], data["kind"])
        except (signing.BadSignature, KeyError, OSError, parsers.ImportFileError):
            raise ValidationError({"file": _("The uploaded file is no longer available; upload it again.")}) from None


def _store(chunks, suffix: str) -> tuple[str, str]:
    name = f"{uuid.uuid4().hex}{suffix}"
    digest, size, limit = hashlib.sha256(), 0, max_upload_bytes()
    target = import_dir() / name
    with open(target, "xb") as handle:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                handle.close()
                target.unlink(missing_ok=True)
                raise too_large_error()
            digest.update(chunk)
            handle.write(chunk)
    os.chmod(target, 0o600)
    return name, digest.hexdigest()


def stage_upload(upload, kind: str | None = None) -> StagedFile:
    """Store an uploaded file and read its header. A file that cannot be read as `kind` (or, without a
    kind, as what its name and first bytes say) is refused with a ValidationError and not kept."""
    if upload is None:
        raise ValidationError({"file": _("Choose a file to import.")})
    if upload.size is not None and upload.size > max_upload_bytes():
        raise too_large_error()
    upload.seek(0)
    head = upload.read(512)
    upload.seek(0)
    kind = kind or parsers.detect_kind(upload.name, head)
    if kind not in {"csv", "xlsx", "nmap", "ansible"}:
        raise ValidationError({"kind": _("Cannot tell what kind of file this is; choose CSV, Excel, nmap XML or "
                                         "Ansible facts.")})
    suffix = re.sub(r"[^a-z0-9.]", "", Path(upload.name or "").suffix.lower())[:8]
    path, sha256 = _store(upload.chunks(), suffix)
    return _staged(path, sha256, upload.name or "", kind)


def stage_rows(rows) -> StagedFile:
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValidationError({"rows": _("A non-empty list of objects, one per CI.")})
    data = json.dumps(rows, default=str).encode()
    path, sha256 = _store([data], ".json")
    return _staged(path, sha256, "", "rows")


def _staged(path: str, sha256: str, file_name: str, kind: str) -> StagedFile:
    try:
        return StagedFile(path, sha256, file_name, kind)
    except parsers.ImportFileError as exc:
        (import_dir() / path).unlink(missing_ok=True)
        raise ValidationError({"file": str(exc)}) from None


# --- options ------------------------------------------------------------------------------------------

def attribute_targets() -> dict[str, str]:
    """attr.<key> -> label, for every attribute any class (or every class) has."""
    targets = {}
    for key, label, class_name in AttributeDefinition.objects.values_list("key", "label", "ci_class__name"):
        targets.setdefault(f"attr.{key}", f"{_(label)} ({class_name or _('every class')})")
    return dict(sorted(targets.items()))


def suggest_mapping(columns: list[str]) -> dict[str, str]:
    labels = {str(ConfigurationItem._meta.get_field(f).verbose_name).lower(): f for f in FIELD_TARGETS}
    attributes = {}
    for key, label in AttributeDefinition.objects.values_list("key", "label"):
        attributes.setdefault(key.lower(), key)
        attributes.setdefault(label.lower(), key)
    mapping = {}
    for column in columns:
        text = column.strip().lower()
        slug = text.replace(" ", "_").replace("-", "_")
        if text.startswith("attr."):
            mapping[column] = text
        elif slug in FIELD_TARGETS:
            mapping[column] = slug
        elif slug in ALIASES or text in labels:
            mapping[column] = ALIASES.get(slug) or labels[text]
        elif slug in attributes or text in attributes:
            mapping[column] = f"attr.{attributes.get(slug) or attributes[text]}"
        else:
            mapping[column] = ""
    return mapping


def _target_provides(mapping: dict, key: str) -> bool:
    return (MATCH_FIELDS.get(key) or key) in set(mapping.values())


def clean_options(data: dict, kind: str, columns: list[str]) -> dict:
    """The run's settings from user input; ValidationError names each field that is wrong."""
    defaults = DEFAULTS.get(kind, {"source": "import", "match_keys": ["name"], "default_class": None})
    errors: dict[str, str] = {}
    options = {"name": str(data.get("name") or "").strip()[:200], "kind": kind}
    source = str(data.get("source") or defaults["source"]).strip()
    if not source or len(source) > 64:
        errors["source"] = _("A name of at most 64 characters.")
    options["source"] = source
    class_key = data.get("default_class", defaults["default_class"])
    options["default_class"] = None
    if class_key:
        found = CIClass.objects.filter(slug=str(class_key)).first()
        if found is None:
            errors["default_class"] = _("No class “%(key)s”.") % {"key": class_key}
        options["default_class"] = found
    mapping = data.get("mapping") or suggest_mapping(columns)
    if not isinstance(mapping, dict):
        errors["mapping"] = _('An object {"column": "field or attr.<key>"}.')
        mapping = {}
    mapping = {str(k): str(v or "").strip() for k, v in mapping.items()}
    valid_attrs = set(attribute_targets())
    for column, target in mapping.items():
        if column not in columns:
            errors["mapping"] = _("The file has no column “%(column)s”.") % {"column": column}
        elif target and target not in FIELD_TARGETS and not target.startswith("attr."):
            errors["mapping"] = _("“%(target)s” is not a CI field (use a field name, attr.<key> or nothing to "
                                  "ignore the column).") % {"target": target}
        elif target.startswith("attr.") and kind not in DISCOVERY_KINDS and target not in valid_attrs:
            errors["mapping"] = _("No class has an attribute “%(key)s”.") % {"key": target[5:]}
    used = [t for t in mapping.values() if t]
    if len(used) != len(set(used)):
        errors["mapping"] = _("Two columns are mapped to the same field.")
    options["mapping"] = mapping
    keys = data.get("match_keys") or defaults["match_keys"]
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not isinstance(keys, list) or not keys:
        errors["match_keys"] = _("At least one match key, e.g. serial_number, name, hostname or ip.")
        keys = []
    for key in keys:
        if key not in MATCH_FIELDS and not (isinstance(key, str) and key.startswith("attr.") and len(key) > 5):
            errors["match_keys"] = _("“%(key)s” is not a match key (name, serial_number, asset_tag, hostname, ip or "
                                     "attr.<key>).") % {"key": key}
    if keys and "match_keys" not in errors and not any(_target_provides(mapping, k) for k in keys):
        errors["match_keys"] = _("No column is mapped to any of the match keys, so no row could be matched.")
    options["match_keys"] = keys
    for name, choices in (("on_no_match", ImportRun.ON_NONE), ("on_one_match", ImportRun.ON_ONE),
                          ("on_many_matches", ImportRun.ON_MANY), ("on_unseen", ImportRun.UNSEEN)):
        value = data.get(name) or ImportRun._meta.get_field(name).default
        if value not in dict(choices):
            errors[name] = _("One of: %(choices)s.") % {"choices": ", ".join(dict(choices))}
        options[name] = value
    dry_run = data.get("dry_run", True)
    options["dry_run"] = dry_run if isinstance(dry_run, bool) else str(dry_run).lower() in parsers.TRUE_WORDS
    if errors:
        raise ValidationError(errors)
    return options


# --- runs ---------------------------------------------------------------------------------------------

def create_import(*, actor: Actor, staged: StagedFile, options: dict) -> ImportRun:
    """Create a queued run for a staged file and hand it to the worker after commit."""
    try:
        fields = clean_options(options, staged.kind, staged.preview.columns)
    except ValidationError:
        staged.full_path.unlink(missing_ok=True)
        raise
    fields.update(file_name=staged.file_name[:255], file_path=staged.path, file_sha256=staged.sha256)
    with transaction.atomic():
        run = records.create_record(ImportRun, actor=actor, fields=fields, audited=RUN_AUDITED)
        transaction.on_commit(lambda: events.enqueue(TASK, run.pk))
    return run


def apply_import(run: ImportRun, *, actor: Actor) -> ImportRun:
    """Run a finished dry run for real: a new run with the same file and settings."""
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        if not run.dry_run or run.status != "done":
            raise TransitionNotAllowed(_("Only a finished dry run can be applied; %(run)s is %(status)s.")
                                       % {"run": run.number, "status": _("applied") if not run.dry_run
                                          else run.get_status_display().lower()})
        if not (import_dir() / run.file_path).exists():
            raise TransitionNotAllowed(_("The file of %(run)s is no longer stored; upload it again.")
                                       % {"run": run.number})
        fields = {name: getattr(run, name) for name in RUN_AUDITED}
        fields.update(dry_run=False, file_path=run.file_path, file_sha256=run.file_sha256,
                      name=run.name or _("Apply %(run)s") % {"run": run.number})
        new = records.create_record(ImportRun, actor=actor, fields=fields, audited=RUN_AUDITED)
        transaction.on_commit(lambda: events.enqueue(TASK, new.pk))
    return new


def execute(run_id: int) -> ImportRun | None:
    """Take a queued run and do it. A run that is not queued (taken by another worker, finished) is left
    alone, so enqueueing twice (the sweeper, a redelivered message) does no harm."""
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != "queued":
            return None
        run.status, run.started_at = "running", timezone.now()
        run.save(update_fields=["status", "started_at"])
    run = ImportRun.objects.select_related("default_class", "created_by").get(pk=run_id)
    actor = Actor.for_user(run.created_by) if run.created_by_id else Actor.system("import")
    token = set_request_id(run.number)  # the change-log rows of this run name it as their origin
    try:
        try:
            parsed = parsers.parse(run.kind, import_dir() / run.file_path)
        except (parsers.ImportFileError, OSError) as exc:
            return _finish(run, actor, error=str(exc))
        reconciler = Reconciler(run, actor)
        reconciler.reconcile(parsed.rows)
        return _finish(run, actor, reconciler=reconciler)
    except Exception as exc:
        _finish(run, actor, error=_("The import stopped: %(error)s") % {"error": exc})
        raise
    finally:
        reset_request_id(token)


def _finish(run: ImportRun, actor: Actor, *, reconciler=None, error: str = "") -> ImportRun:
    run.finished_at = timezone.now()
    run.status = "failed" if error else "done"
    run.error = error[:4000]
    names = ["status", "finished_at", "error"]
    if reconciler is not None:
        for name, value in reconciler.counts().items():
            setattr(run, name, value)
            names.append(name)
        run.report = reconciler.report
        names.append("report")
    run.save(update_fields=names)
    events.emit("importrun.finished", run, actor=actor,
                payload={"status": run.status, "dry_run": run.dry_run, "created": run.created_count,
                         "updated": run.updated_count, "errors": run.error_count, "error": run.error})
    return run


def sweep(now=None) -> dict:
    """Catch up on what the broker or a worker lost: runs queued for long are enqueued again, runs
    running for far too long are failed, and uploaded files no run refers to are removed after a day."""
    now = now or timezone.now()
    queued = list(ImportRun.objects.filter(status="queued", created_at__lte=now - timezone.timedelta(
        seconds=QUEUED_GRACE_SECONDS)).values_list("pk", flat=True)[:100])
    for run_id in queued:
        events.enqueue(TASK, run_id)
    stuck = ImportRun.objects.filter(status="running", started_at__lte=now - timezone.timedelta(
        seconds=RUNNING_TIMEOUT_SECONDS)).update(status="failed", finished_at=now,
                                                  error=_("The worker stopped during the import; run it again."))
    removed = 0
    cutoff = (now - timezone.timedelta(days=1)).timestamp()
    directory = import_dir()
    referenced = set(ImportRun.objects.values_list("file_path", flat=True))
    for path in directory.iterdir():
        if path.is_file() and path.name not in referenced and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return {"requeued": len(queued), "failed": stuck, "files_removed": removed}


@shared_task(name="opsdesk.cmdb.tasks.run_import")
def run_import(run_id: int) -> str:
    run = execute(run_id)
    return run.status if run is not None else "skipped"


@shared_task(name="opsdesk.cmdb.tasks.sweep_imports")
def sweep_imports() -> dict:
    return sweep()
