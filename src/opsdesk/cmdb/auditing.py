"""Configuration audits: the write path for audit rules, runs and exceptions, and the evaluation of
the rules (CONVENTIONS §1).

A run evaluates every enabled rule in ONE transaction: it records each finding and the compliance
per rule and class, or, if any rule fails, nothing but the run's status `failed` and an error naming
the rule (a half-evaluated run would show a compliance figure nobody can trust). Runs are started on
demand (`start_audit`, handed to a worker) or by beat (`run_scheduled_audit`); `run_audit(now=...)`
does both steps in the caller's process and lets tests move the clock.

Compliance of a rule for a class: checked = subjects in scope, failing = findings not covered by an
active exception, excepted = findings covered by one, and
compliance % = (checked - excepted - failing) / (checked - excepted) * 100 (100 when that is 0), so an
accepted finding leaves the figure until its exception expires or is revoked.
"""

from __future__ import annotations

import datetime
import decimal
import logging
from collections import Counter

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from opsdesk.core import audit, events, records
from opsdesk.core.actors import Actor
from opsdesk.core.permissions import can, has_role
from opsdesk.core.workflow import TransitionNotAllowed

from . import audit_conditions as conditions_language
from .models import (
    AuditException,
    AuditFinding,
    AuditResult,
    AuditRule,
    AuditRun,
    ConfigurationItem,
    DiscoveredHost,
    UnauthorisedChange,
)

log = logging.getLogger(__name__)

RULE_AUDITED = ["slug", "name", "description", "kind", "scope", "conditions", "severity", "enabled"]
RUN_AUDITED = ["trigger", "status", "started_at"]
EXCEPTION_AUDITED = ["rule", "ci", "key", "reason", "expires_at", "revoked_at"]
# The subjects of a rule's scope and conditions, per kind (None: the rule takes none).
KIND_SUBJECTS = {"filter": ("ci", "ci"), "drift": ("ci", None), "unregistered": (None, "host"),
                 "unauthorised": ("ci", "change")}
CI_SCOPED_KINDS = ("filter", "drift")  # results per CI class; the others count with class null
MAX_EXCEPTION_DAYS = 366
RUNNING_GUARD = datetime.timedelta(minutes=15)  # a newer run still running refuses another
STALE_AFTER = datetime.timedelta(hours=6)  # a run still "running" after this lost its worker
SCHEDULE_INTERVAL = datetime.timedelta(days=1)
SCHEDULE_SLACK = datetime.timedelta(minutes=30)  # so hourly ticks do not push the daily run an hour later each day
SYSTEM = Actor.system("cmdb-audit")
# CI fields discovery may report (besides "attributes") that the drift rule compares.
DRIFT_FIELDS = ("name", "ip_addresses", "hostnames", "location", "serial_number", "asset_tag", "vendor", "model_name",
                "environment")


class AuditRunFailed(Exception):
    pass


# --- rules -------------------------------------------------------------------------------------------

def validate_definition(kind: str, scope, conditions) -> tuple[list, list]:
    """The normalised (scope, conditions) of a rule of `kind`, or ValidationError naming each bad entry."""
    if kind not in KIND_SUBJECTS:
        raise ValidationError({"kind": _("One of: %(kinds)s.") % {"kinds": ", ".join(KIND_SUBJECTS)}})
    errors: dict[str, list[str]] = {}
    result = {}
    for key, subject, value in (("scope", KIND_SUBJECTS[kind][0], scope),
                                ("conditions", KIND_SUBJECTS[kind][1], conditions)):
        if subject is None:
            if value:
                errors[key] = [_("A rule of this kind takes no %(key)s.") % {"key": key}]
            result[key] = []
            continue
        try:
            result[key] = conditions_language.normalise(subject, value, key=key)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if kind == "filter" and "conditions" not in errors and not result["conditions"]:
        errors["conditions"] = [_("A filter rule needs at least one condition: the CIs in scope that match "
                                  "all of them break the rule.")]
    if errors:
        raise ValidationError(errors)
    return result["scope"], result["conditions"]


def create_rule(*, actor: Actor, data: dict) -> AuditRule:
    data = {k: v for k, v in data.items() if k != "builtin"}

    def check(fields):
        fields["scope"], fields["conditions"] = validate_definition(
            fields.get("kind", "filter"), fields.get("scope"), fields.get("conditions"))

    return records.create_record(AuditRule, actor=actor, fields=data, audited=RULE_AUDITED, check=check)


def update_rule(rule: AuditRule, *, actor: Actor, data: dict) -> AuditRule:
    """The key and kind of a rule never change; a builtin rule keeps its scope and conditions."""
    data = {k: v for k, v in data.items() if k != "builtin"}

    def check(locked, fields):
        errors = {}
        for name in ("slug", "kind"):
            if name in fields and fields[name] != getattr(locked, name):
                errors[name] = [_("The %(name)s of a rule cannot change; add a new rule instead.") % {"name": name}]
        if errors:
            raise ValidationError(errors)
        if "scope" in fields or "conditions" in fields:
            scope, conditions = validate_definition(locked.kind, fields.get("scope", locked.scope),
                                                    fields.get("conditions", locked.conditions))
            if locked.builtin and (scope != locked.scope or conditions != locked.conditions):
                key = "scope" if scope != locked.scope else "conditions"
                raise ValidationError({key: _("A rule shipped with Opsdesk keeps its definition; disable it and "
                                              "add a rule of your own instead.")})
            fields["scope"], fields["conditions"] = scope, conditions

    return records.update_record(rule, actor=actor, fields=data, audited=RULE_AUDITED, check=check)


def delete_rule(rule: AuditRule, *, actor: Actor) -> None:
    """Only a custom rule that never produced a result: past runs keep what they found."""
    with transaction.atomic():
        locked = AuditRule.objects.select_for_update().get(pk=rule.pk)
        if locked.builtin:
            raise TransitionNotAllowed(_("“%(rule)s” is shipped with Opsdesk; disable it instead.") % {"rule": locked})
        if locked.results.exists() or locked.exceptions.exists():
            raise TransitionNotAllowed(_("“%(rule)s” has results in past audit runs, which deleting it would lose; "
                                         "disable it instead.") % {"rule": locked})
        audit.record(locked, actor=actor, action="delete", changes=audit.diff(audit.snapshot(locked, RULE_AUDITED), {}))
        events.emit("auditrule.deleted", locked, actor=actor, payload={"slug": locked.slug})
        locked.delete()


# --- evaluation --------------------------------------------------------------------------------------

def _ci_scope(rule: AuditRule, now):
    return conditions_language.matching(ConfigurationItem.objects.order_by(), "ci", rule.scope, now=now)


def _checked_by_class(queryset) -> dict:
    return dict(queryset.order_by().values_list("ci_class_id").annotate(n=Count("id")))


def shown(value) -> str:
    """A value as people read it: lists joined, empty as a dash."""
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def field_value(ci: ConfigurationItem, name: str):
    """The CI's value of a conditions-language field, as JSON."""
    if name.startswith("attr."):
        return (ci.attributes or {}).get(name[5:])
    if name in ("ci_class", "owner_team"):
        related = getattr(ci, name)
        return related.slug if related is not None else None
    if name == "tags":
        return sorted(t.name for t in ci.tags.all())
    if name == "services":
        return sorted(s.slug for s in ci.services.all())
    return audit.to_json_value(getattr(ci, name))


def _evaluate_filter(rule: AuditRule, now):
    scope = _ci_scope(rule, now)
    checked = _checked_by_class(scope)
    names = list(dict.fromkeys(entry["field"] for entry in rule.conditions))
    failing = conditions_language.matching(scope, "ci", rule.conditions, now=now).select_related(
        "ci_class", "owner_team").order_by("id")
    failing = failing.prefetch_related(*[n for n in ("tags", "services") if n in names])
    findings = []
    for ci in failing.iterator(chunk_size=2000):
        values = {name: field_value(ci, name) for name in names}
        text = "; ".join(f"{name.replace('_', ' ')}: {shown(value)}" for name, value in values.items())
        findings.append(AuditFinding(rule=rule, ci=ci, message=f"{ci} — {text}"[:1000], details={"values": values}))
    return checked, findings


def _comparable(value):
    """A form of a recorded or discovered value in which equal things compare equal: lists as sets,
    numbers as numbers, text without case or surrounding blanks."""
    if isinstance(value, list | tuple | set):
        return tuple(sorted({_comparable(v) for v in value}, key=str))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | decimal.Decimal):
        return decimal.Decimal(str(value)).normalize()
    text = str(value).strip().lower().rstrip(".")
    try:
        return decimal.Decimal(text).normalize()
    except decimal.InvalidOperation:
        return text


def drift(ci: ConfigurationItem) -> list[dict]:
    """What discovery last reported (`ci.discovered`) that differs from the record. A value discovery
    did not report (missing, empty) is not drift; keys that are not compared fields are ignored."""
    differences = []
    seen = ci.discovered or {}
    for key in sorted(seen):
        if key == "attributes" and isinstance(seen[key], dict):
            recorded_attributes = ci.attributes or {}
            for name in sorted(seen[key]):
                found, recorded = seen[key][name], recorded_attributes.get(name)
                if found not in (None, "", []) and _comparable(found) != _comparable(recorded):
                    differences.append({"field": f"attributes.{name}", "recorded": recorded, "discovered": found})
        elif key in DRIFT_FIELDS and seen[key] not in (None, "", []):
            recorded = getattr(ci, key)
            if _comparable(seen[key]) != _comparable(recorded):
                differences.append({"field": key, "recorded": recorded, "discovered": seen[key]})
    return differences


def _evaluate_drift(rule: AuditRule, now):
    checked: Counter = Counter()
    findings = []
    scope = _ci_scope(rule, now).only("id", "number", "name", "ci_class_id", "attributes", "discovered",
                                      "discovery_source", "last_seen_at", *DRIFT_FIELDS).order_by("id")
    for ci in scope.iterator(chunk_size=2000):
        if not ci.discovered:
            continue  # never discovered: nothing to compare
        checked[ci.ci_class_id] += 1
        differences = drift(ci)
        if differences:
            names = ", ".join(d["field"] for d in differences)
            message = _("%(ci)s — differs from discovery in %(fields)s") % {"ci": ci, "fields": names}
            findings.append(AuditFinding(rule=rule, ci=ci, message=message[:1000], details={
                "differences": audit.to_json_value(differences), "source": ci.discovery_source,
                "last_seen_at": audit.to_json_value(ci.last_seen_at)}))
    return dict(checked), findings


def _claimed_identifiers() -> set[str]:
    claimed = set()
    for identifiers, name in ConfigurationItem.objects.values_list("identifiers", "name").iterator(chunk_size=5000):
        claimed.update(identifiers.split())
        claimed.add(name.strip().lower())
    return claimed


def _evaluate_unregistered(rule: AuditRule, now):
    hosts = conditions_language.matching(DiscoveredHost.objects.order_by("source", "key"), "host", rule.conditions,
                                         now=now)
    hosts = list(hosts)
    claimed = _claimed_identifiers() if hosts else set()
    findings = []
    for host in hosts:
        if host.key.strip().lower().rstrip(".") in claimed:
            continue  # a CI carries this address or host name now
        message = _("%(key)s was seen by %(source)s (last on %(date)s) but no CI claims it.") % {
            "key": host.key, "source": host.source, "date": timezone.localtime(host.last_seen_at).date().isoformat()}
        findings.append(AuditFinding(rule=rule, key=f"{host.source}:{host.key}"[:255], message=message[:1000], details={
            "source": host.source, "key": host.key, "first_seen_at": host.first_seen_at.isoformat(),
            "last_seen_at": host.last_seen_at.isoformat(), "data": host.data}))
    return {None: len(hosts)}, findings


def _change_values(entry, fields: list[str]) -> dict:
    changes = (entry.changes or {}) if entry is not None else {}
    values = {}
    for name in fields:
        if name.startswith("attributes."):
            before, after = (changes.get("attributes") or [{}, {}])[:2]
            values[name] = [(before or {}).get(name[11:]), (after or {}).get(name[11:])]
        else:
            values[name] = changes.get(name)
    return values


def _evaluate_unauthorised(rule: AuditRule, now):
    changes = UnauthorisedChange.objects.select_related("ci", "audit_entry").order_by("id")
    if rule.scope:
        changes = changes.filter(ci__in=_ci_scope(rule, now).values("pk"))
    changes = list(conditions_language.matching(changes, "change", rule.conditions, now=now))
    findings = []
    for change in changes:
        when = timezone.localtime(change.detected_at).strftime("%Y-%m-%d %H:%M")
        message = _("%(ci)s — %(fields)s changed by %(actor)s on %(when)s without a change request.") % {
            "ci": change.ci, "fields": ", ".join(change.fields), "actor": change.actor_label, "when": when}
        findings.append(AuditFinding(rule=rule, ci=change.ci, key=f"change:{change.pk}", message=message[:1000],
                                     details={"fields": change.fields, "actor": change.actor_label,
                                              "detected_at": change.detected_at.isoformat(),
                                              "audit_entry": change.audit_entry_id,
                                              "changes": audit.to_json_value(_change_values(change.audit_entry,
                                                                                            change.fields))}))
    return {None: len(changes)}, findings


EVALUATORS = {"filter": _evaluate_filter, "drift": _evaluate_drift, "unregistered": _evaluate_unregistered,
              "unauthorised": _evaluate_unauthorised}


def compliance(checked: int, failing: int, excepted: int) -> decimal.Decimal:
    base = checked - excepted
    if base <= 0:
        return decimal.Decimal("100.00")
    return (decimal.Decimal(base - failing) * 100 / decimal.Decimal(base)).quantize(decimal.Decimal("0.01"))


def active_exceptions(now=None):
    return AuditException.objects.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


def _results(run, rule, checked: dict, findings: list, active: set) -> list[AuditResult]:
    failing, excepted = Counter(), Counter()
    for finding in findings:
        finding.run = run
        finding.excepted = (rule.pk, finding.ci_id, finding.key) in active
        class_id = finding.ci.ci_class_id if rule.kind in CI_SCOPED_KINDS else None
        (excepted if finding.excepted else failing)[class_id] += 1
    class_ids = set(checked) | set(failing) | set(excepted)
    if not class_ids:
        class_ids = {None}  # nothing in scope: the rule still shows, at 100 %
    return [AuditResult(run=run, rule=rule, ci_class_id=class_id, checked=checked.get(class_id, 0),
                        failing=failing[class_id], excepted=excepted[class_id],
                        compliance=compliance(checked.get(class_id, 0), failing[class_id], excepted[class_id]))
            for class_id in sorted(class_ids, key=lambda c: (c is not None, c or 0))]


def execute_run(run_id: int, *, now: datetime.datetime | None = None) -> AuditRun:
    """Evaluate every enabled rule for the run `run_id` (status running); `now` moves the clock."""
    began = timezone.now()
    clock = now or began
    current = {"rule": None}
    try:
        with transaction.atomic():
            run = AuditRun.objects.select_for_update().get(pk=run_id)
            if run.status != "running":
                return run  # already evaluated (a repeated task delivery)
            active = set(active_exceptions(clock).values_list("rule_id", "ci_id", "key"))
            all_results, all_findings = [], []
            for rule in AuditRule.objects.filter(enabled=True).order_by("slug"):
                current["rule"] = rule
                checked, findings = EVALUATORS[rule.kind](rule, clock)
                all_results += _results(run, rule, checked, findings, active)
                all_findings += findings
            current["rule"] = None
            AuditFinding.objects.bulk_create(all_findings, batch_size=500)
            AuditResult.objects.bulk_create(all_results, batch_size=500)
            totals = {name: sum(getattr(r, name) for r in all_results) for name in ("checked", "failing", "excepted")}
            run.status = "done"
            run.finished_at = clock + (timezone.now() - began)
            run.checked = totals["checked"]
            run.findings_count = len(all_findings)
            run.excepted_count = totals["excepted"]
            run.compliance = compliance(totals["checked"], totals["failing"], totals["excepted"])
            run.save(update_fields=["status", "finished_at", "checked", "findings_count", "excepted_count",
                                    "compliance", "updated_at"])
            events.emit("auditrun.completed", run, actor=SYSTEM,
                        payload={"compliance": str(run.compliance), "findings": run.findings_count,
                                 "failing": totals["failing"], "excepted": run.excepted_count})
        return run
    except Exception as exc:  # noqa: BLE001  (any error of a rule fails the run, which says so)
        rule = current["rule"]
        log.exception("audit run %s failed", run_id)
        where = _("rule “%(slug)s”") % {"slug": rule.slug} if rule is not None else _("the audit run")
        error = (_("%(where)s failed: %(error)s") % {"where": where, "error": exc})[:4000]
        with transaction.atomic():
            AuditRun.objects.filter(pk=run_id).update(status="failed", finished_at=clock + (timezone.now() - began),
                                                      error=error)
            run = AuditRun.objects.get(pk=run_id)
            events.emit("auditrun.failed", run, actor=SYSTEM, payload={"error": error})
        return run


def _create_run(*, actor: Actor, trigger: str, started_at) -> AuditRun:
    return records.create_record(AuditRun, actor=actor, audited=RUN_AUDITED,
                                 fields={"trigger": trigger, "status": "running", "started_at": started_at})


def run_audit(*, actor: Actor, trigger: str = "manual", now: datetime.datetime | None = None) -> AuditRun:
    """Create a run and evaluate it here and now (beat's task, the CLI and tests)."""
    run = _create_run(actor=actor, trigger=trigger, started_at=now or timezone.now())
    return execute_run(run.pk, now=now)


def start_audit(*, actor: Actor) -> AuditRun:
    """Create a run on demand and hand it to a worker once committed."""
    now = timezone.now()
    with transaction.atomic():
        busy = AuditRun.objects.filter(status="running", started_at__gte=now - RUNNING_GUARD).first()
        if busy is not None:
            raise TransitionNotAllowed(_("%(run)s is still running (started at %(time)s); wait for it to finish.")
                                       % {"run": busy, "time": timezone.localtime(busy.started_at).strftime("%H:%M")})
        run = _create_run(actor=actor, trigger="manual", started_at=now)
        transaction.on_commit(lambda: _hand_to_worker(run.pk))
    return run


def _hand_to_worker(run_id: int) -> None:
    from opsdesk.celery import app

    try:
        app.tasks["opsdesk.cmdb.tasks.execute_audit_run"].delay(run_id)
    except Exception as exc:  # noqa: BLE001  (a broker error must not fail the request)
        log.warning("audit run %s: %s", run_id, exc)
        AuditRun.objects.filter(pk=run_id, status="running").update(
            status="failed", finished_at=timezone.now(),
            error=(_("The audit could not be handed to a worker: %(error)s") % {"error": exc})[:4000])


@shared_task(name="opsdesk.cmdb.tasks.execute_audit_run")
def execute_audit_run(run_id: int) -> str:
    run = execute_run(run_id)
    if run.status == "failed":
        raise AuditRunFailed(f"{run.number}: {run.error}")  # so the job run shows the failure too
    return f"{run.number}: {run.compliance} %"


@shared_task(name="opsdesk.cmdb.tasks.run_scheduled_audit")
def run_scheduled_audit(now: datetime.datetime | None = None) -> str:
    """Beat asks every hour; a run starts when the last scheduled one is a day old (a missed tick only
    delays it). Runs whose worker died are closed first, so they neither block nor mislead."""
    clock = now or timezone.now()
    AuditRun.objects.filter(status="running", started_at__lt=clock - STALE_AFTER).update(
        status="failed", finished_at=clock, error=_("The worker running this audit stopped before it finished."))
    last = AuditRun.objects.filter(trigger="schedule").order_by("-started_at").first()
    if last is not None and last.started_at > clock - SCHEDULE_INTERVAL + SCHEDULE_SLACK:
        return "not due"
    run = run_audit(actor=SYSTEM, trigger="schedule", now=now)
    if run.status == "failed":
        raise AuditRunFailed(f"{run.number}: {run.error}")
    return f"{run.number}: {run.compliance} %"


# --- exceptions --------------------------------------------------------------------------------------

def may_accept(user, ci: ConfigurationItem | None) -> bool:
    """Managers, and the managers of the CI's owner team for its findings."""
    return can(user, "manager", ci) if ci is not None else has_role(user, "manager")


def _expiry(value) -> datetime.datetime | None:
    """A date means "through that day" (until its last moment, local time)."""
    if isinstance(value, datetime.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, str):
        parsed = parse_datetime(value.strip()) if "T" in value or " " in value.strip() else None
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
        try:
            value = parse_date(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime.date):
        return timezone.make_aware(datetime.datetime.combine(value, datetime.time.max))
    return None


def accept_finding(finding: AuditFinding, *, actor: Actor, reason: str, expires_at, now=None) -> AuditException:
    """Accept the finding's subject (rule + CI or key) as an exception until `expires_at`."""
    now = now or timezone.now()
    reason = str(reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = [_("Say why this finding is accepted.")]
    elif len(reason) > 2000:
        errors["reason"] = [_("At most 2000 characters.")]
    expiry = _expiry(expires_at)
    if expiry is None:
        errors["expires_at"] = [_("Give the date the exception expires (YYYY-MM-DD).")]
    elif expiry <= now:
        errors["expires_at"] = [_("The expiry must be in the future.")]
    elif expiry > now + datetime.timedelta(days=MAX_EXCEPTION_DAYS):
        errors["expires_at"] = [_("An exception lasts at most %(days)s days; accept the finding again when it "
                                  "expires.") % {"days": MAX_EXCEPTION_DAYS}]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        rule = AuditRule.objects.select_for_update().get(pk=finding.rule_id)  # one acceptance at a time per rule
        current = active_exceptions(now).filter(rule=rule, ci_id=finding.ci_id, key=finding.key).first()
        if current is not None:
            raise TransitionNotAllowed(_("This finding is already accepted until %(date)s.")
                                       % {"date": timezone.localtime(current.expires_at).strftime("%Y-%m-%d %H:%M")})
        exception = AuditException(rule=rule, ci_id=finding.ci_id, key=finding.key, reason=reason, expires_at=expiry,
                                   created_by=actor.user, updated_by=actor.user)
        exception.full_clean()
        exception.save()
        audit.record(exception, actor=actor, action="create",
                     changes=audit.diff({}, {k: v for k, v in audit.snapshot(exception, EXCEPTION_AUDITED).items()
                                             if v not in (None, "")}))
        events.emit("auditexception.created", exception, actor=actor,
                    payload={"rule": rule.slug, "subject": subject_of(finding), "expires_at": expiry.isoformat()})
    return exception


def revoke_exception(exception: AuditException, *, actor: Actor, now=None) -> AuditException:
    now = now or timezone.now()
    with transaction.atomic():
        locked = (AuditException.objects.select_for_update(of=("self",)).select_related("rule", "ci")
                  .get(pk=exception.pk))
        if locked.revoked_at is not None:
            raise TransitionNotAllowed(_("This exception was already revoked."))
        if locked.expires_at <= now:
            raise TransitionNotAllowed(_("This exception has expired; there is nothing to revoke."))
        locked.revoked_at = now
        locked.updated_by = actor.user
        locked.save(update_fields=["revoked_at", "updated_by", "updated_at"])
        audit.record(locked, actor=actor, action="revoke", changes={"revoked_at": [None, now.isoformat()]})
        events.emit("auditexception.revoked", locked, actor=actor, payload={"rule": locked.rule.slug})
    return locked


def exception_state(exception: AuditException, now=None) -> str:
    now = now or timezone.now()
    if exception.revoked_at is not None:
        return "revoked"
    return "active" if exception.expires_at > now else "expired"


def subject_of(item) -> str:
    """What a finding or exception is about: the CI, or the key (host seen, change)."""
    if item.ci_id:
        return f"{item.ci.number} {item.ci.name}" + (f" ({item.key})" if item.key else "")
    return item.key
