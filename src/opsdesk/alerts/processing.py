"""From a stored payload to alerts, groups and incidents: the heart of the alerts app.

`process_payload` takes one RawPayload in one transaction: it locks the row (a payload another worker
holds, or one already processed, is left alone), applies its normalised events and marks it processed.
Per event: the alert is upserted by (integration, fingerprint) (repeats counted, never duplicated), its
state changes recorded (flapping), its CI looked up in the CMDB, silences and maintenance windows
checked, and it joins the open group of its grouping key; a new unsuppressed group opens an incident
through the incidents service and starts its escalation; when every alert of a group is resolved the
group closes and, when the integration says so, its incident is resolved; a re-firing within the
reopen window reopens both.

Locks are always taken in one order, so two workers never deadlock each other: the payload, the alerts
(by fingerprint), the groups (by id, then new keys by hash), and only then incidents and the change log
(whose chain head every audited write locks). Two workers that meet on a new alert or a new group both
try to insert it; the unique constraints let one win and the other takes the winner's row.

The events of a payload are applied together (a handful of queries for ten alerts of one group); when
that fails on bad data or a bug, they are applied one by one so that one bad event does not lose the
others, and the errors are recorded on the payload. A database lock error (a deadlock, a timeout) rolls
the whole payload back instead: it stays unprocessed and is taken again later, so nothing is lost.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.core import audit
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.sla.services import memo_scope as sla_memo_scope

from .intake import AlertEvent
from .matching import render_group_key, route_for
from .models import Alert, AlertGroup, RawPayload
from .selectors import MaintenanceSet, SilenceSet

logger = logging.getLogger(__name__)

ACTOR_NAME = "alerts"
DEFAULT_PRIORITIES = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}
FALLBACK_PRIORITY = "P3"
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
SEVERITY_RANK = {"": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
DEFAULT_CI_LABELS = ["instance", "host", "hostname", "ci"]
STATE_CHANGES_KEPT = 50
MAX_ERROR_TEXT = 20000
ALERT_COLUMNS = ["status", "summary", "severity", "source", "labels", "annotations", "generator_url", "starts_at",
                 "ends_at", "last_seen_at", "repeat_count", "state_changes", "flapping", "suppressed", "silence_id",
                 "maintenance_id", "ci_id", "group_id", "last_payload_id", "last_received_at"]
# Column values that several alerts can share in one UPDATE (not the JSON columns).
SCALARS = (str, int, float, bool, datetime.datetime, type(None))
GROUP_FIELDS = ["is_open", "status", "title", "severity", "incident", "suppressed", "alert_count", "firing_count",
                "last_alert_at", "resolved_at", "paged_at"]


def actor() -> Actor:
    return Actor.system(ACTOR_NAME)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def strip_port(value: str) -> str:
    """"web01:9100" -> "web01", "[2001:db8::1]:9100" -> "2001:db8::1"; a bare IPv6 address stays."""
    value = value.strip()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        host, port = value.split(":")
        if port.isdigit():
            return host
    return value


def _severity(value: str) -> str:
    return value if value in SEVERITY_RANK else ""


def _higher(a: str, b: str) -> str:
    return a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b


def _describe_alert(alert: Alert) -> str:
    name = alert.labels.get("alertname") or alert.summary or alert.fingerprint
    where = alert.labels.get("instance") or alert.labels.get("host") or alert.source
    return f"{name} ({where})" if where and where != name else str(name)


def group_title(alert: Alert) -> str:
    name = str(alert.labels.get("alertname") or "")
    summary = alert.summary or ""
    title = f"{name}: {summary}" if name and summary and name not in summary else (summary or name)
    if not title:
        title = _("Alert %(fp)s") % {"fp": alert.fingerprint}
    return title[:300]


def incident_description(alert: Alert, integration, reason: str) -> str:
    lines = [alert.summary or group_title(alert), ""]
    lines.append(_("Alert from %(integration)s (%(kind)s).") % {"integration": integration.name,
                                                              "kind": integration.get_kind_display()})
    if alert.severity:
        lines.append(_("Severity: %(s)s. %(reason)s") % {"s": alert.severity, "reason": reason})
    if alert.source:
        lines.append(_("Source: %(s)s") % {"s": alert.source})
    if alert.starts_at:
        lines.append(_("Started: %(t)s") % {"t": alert.starts_at.isoformat()})
    if alert.annotations:
        lines += ["", _("Annotations:")]
        lines += [f"- {name}: {value}" for name, value in sorted(alert.annotations.items())]
    if alert.labels:
        lines += ["", _("Labels:")]
        lines += [f"- {name}={value}" for name, value in sorted(alert.labels.items())]
    if alert.generator_url:
        lines += ["", _("Source link: %(url)s") % {"url": alert.generator_url}]
    return "\n".join(lines)[:20000]


@dataclass
class _Step:
    """One event applied to one alert: what the alert was before and what happens to it."""

    index: int
    event: AlertEvent
    alert: Alert
    created: bool
    status: str = ""
    ack: bool = False
    old_group_id: int | None = None
    old_firing: bool = False
    became_flapping: bool = False
    target_hash: str = ""
    target_key: str = ""
    evaluate: bool = False  # CI, route and suppression to be (re)computed
    ignored: bool = False   # an older payload's change of state: the alert already holds a newer one
    before: dict = field(default_factory=dict)  # the alert's columns as locked, to write only what changed


@dataclass
class _GroupWork:
    group: AlertGroup
    mode: str = "open"           # "open" | "new" | "reopen" | "reopen_incident" | "reopen_incident_quiet"
    touched: list = field(default_factory=list)    # the steps whose alert is (or was) in this group
    joined: list = field(default_factory=list)     # the steps whose alert joined it now
    new_ci_ids: set = field(default_factory=set)
    unsuppressed_firing: bool = False
    resolved_events: int = 0


class _Run:
    """The processing of one payload: what it reads once (silences, maintenance, CI lookups, settings)."""

    def __init__(self, payload: RawPayload, now: datetime.datetime):
        self.payload = payload
        self.integration = payload.integration
        self.now = now
        self.actor = actor()
        self._silences: SilenceSet | None = None
        self._maintenance: MaintenanceSet | None = None
        self._ci_memo: dict[str, int | None] = {}
        self._incident_settings = None
        self.notes: list[str] = []  # problems that did not stop an event, recorded on the payload

    # --- reads done once per payload ------------------------------------------------------------------
    @property
    def silences(self) -> SilenceSet:
        if self._silences is None:
            self._silences = SilenceSet.at(self.now)
        return self._silences

    @property
    def maintenance(self) -> MaintenanceSet:
        if self._maintenance is None:
            self._maintenance = MaintenanceSet.at(self.now)
        return self._maintenance

    @property
    def incident_reopen_window(self) -> datetime.timedelta:
        if self._incident_settings is None:
            from opsdesk.incidents.services import incident_settings

            self._incident_settings = incident_settings()
        return datetime.timedelta(days=self._incident_settings.reopen_window_days)

    def _ci_hosts(self, labels: dict) -> list[str]:
        hosts = []
        for name in self.integration.ci_labels or DEFAULT_CI_LABELS:
            value = labels.get(name)
            host = strip_port(str(value)).lower() if value else ""
            if host and " " not in host and len(host) <= 253:
                hosts.append(host)
        return hosts

    def prefetch_cis(self, label_sets: list[dict]) -> None:
        """Look up the CIs of many alerts at once (one query over names, host names and IP addresses),
        remembered for the payload. A CI named so wins over one that has it as host name or IP address;
        among several, the oldest."""
        from opsdesk.cmdb.models import ConfigurationItem

        wanted = sorted({host for labels in label_sets for host in self._ci_hosts(labels)} - set(self._ci_memo))
        if not wanted:
            return
        query = Q(lname__in=wanted)
        for host in wanted:
            query |= Q(identifiers__contains=f" {host} ")
        rows = list(ConfigurationItem.objects.exclude(status="disposed").annotate(lname=Lower("name"))
                    .filter(query).order_by("-pk").values_list("lname", "identifiers", "pk"))
        by_name: dict[str, int] = {}
        by_identifier: dict[str, int] = {}
        wanted_set = set(wanted)
        for lname, identifiers, pk in rows:  # newest first: the oldest CI is written last and wins
            if lname in wanted_set:
                by_name[lname] = pk
            for token in identifiers.split():
                if token in wanted_set:
                    by_identifier[token] = pk
        for host in wanted:
            self._ci_memo[host] = by_name.get(host, by_identifier.get(host))

    def ci_for(self, labels: dict) -> int | None:
        """The CI named by the first of the integration's CI labels that the CMDB knows, by name, host
        name or IP address (a `:port` is ignored)."""
        hosts = self._ci_hosts(labels)
        self.prefetch_cis([labels])
        for host in hosts:
            if self._ci_memo.get(host) is not None:
                return self._ci_memo[host]
        return None

    # --- one round: at most one event per fingerprint -------------------------------------------------
    def apply(self, batch: list[tuple[int, AlertEvent]]) -> int:
        steps = self._lock_alerts(batch)  # new alerts come back with their state applied
        handled = len(steps)
        for step in steps:
            if not step.created:
                self._apply_state(step)
        steps = [step for step in steps if not step.ignored]
        works = self._lock_groups(steps)
        firing = [step for step in steps if step.status == "firing" and not step.ack]
        self.prefetch_cis([step.alert.labels for step in firing if step.evaluate and not step.created])
        for step in firing:
            if step.evaluate and not step.created:
                self._evaluate(step)
        # Groups to open or reopen are claimed in key order: two workers never wait on each other's.
        for step in sorted(firing, key=lambda step: step.target_hash):
            self._target(step, works)
        for step in steps:
            self._place(step, works)
        for work in sorted(works.values(), key=lambda w: w.group.pk):
            if work.touched:
                self._settle_group(work)
        for step in steps:
            if step.ack:
                self._acknowledge(step, works)
        self._write(steps, works)
        return handled

    def _lock_alerts(self, batch) -> list[_Step]:
        integration, payload = self.integration, self.payload
        fingerprints = sorted({event.fingerprint for _index, event in batch})
        alerts = {alert.fingerprint: alert for alert in Alert.objects.select_for_update().filter(
            integration=integration, fingerprint__in=fingerprints).order_by("fingerprint")}
        created: set[str] = set()
        missing = [(index, event) for index, event in sorted(batch, key=lambda item: item[1].fingerprint)
                   if event.fingerprint not in alerts and event.action != "acknowledge"]
        fresh: dict[str, _Step] = {}
        if missing:
            # New alerts are inserted as the event leaves them (state, CI, suppression), so the write at
            # the end only sets their group. A row another worker inserted first is taken as it is, and
            # the event applies to it as to any existing alert.
            for index, event in missing:
                step = fresh[event.fingerprint] = _Step(index=index, event=event, created=True, alert=Alert(
                    integration=integration, fingerprint=event.fingerprint, labels=event.labels,
                    first_seen_at=self.now, last_seen_at=self.now, last_payload=payload,
                    last_received_at=payload.received_at))
                self._apply_state(step)
            firing = [step for step in fresh.values() if step.status == "firing"]
            self.prefetch_cis([step.alert.labels for step in firing])
            for step in firing:
                self._evaluate(step)
            Alert.objects.bulk_create([step.alert for step in fresh.values()], ignore_conflicts=True)
            for alert in Alert.objects.select_for_update().filter(
                    integration=integration, fingerprint__in=list(fresh)).order_by("fingerprint"):
                alerts[alert.fingerprint] = alert
                if alert.last_payload_id == payload.pk:
                    created.add(alert.fingerprint)
        steps = []
        for index, event in batch:
            alert = alerts.get(event.fingerprint)
            if alert is None:  # an acknowledgement of an alert never seen: nothing to acknowledge
                continue
            before = {name: getattr(alert, name) for name in ALERT_COLUMNS}
            if event.fingerprint in created:
                step = fresh[event.fingerprint]
                step.alert, step.before = alert, before
            else:
                step = _Step(index=index, event=event, alert=alert, created=False, before=before,
                             old_group_id=alert.group_id,
                             old_firing=alert.group_id is not None and alert.status == "firing")
            steps.append(step)
        return steps

    def _apply_state(self, step: _Step) -> None:
        """Status, repeats, state changes and flapping of the alert, in memory.

        Payloads are compared by their receipt time, not by when they are processed: a payload older than
        the newest one applied to the alert (a retried or backlogged one, processed late) changes nothing
        but the repeat count of a firing alert, so a resolution is never undone by an older trigger; and
        state changes are recorded at receipt time, so a drained backlog does not look like flapping."""
        event, alert, now = step.event, step.alert, self.now
        integration = self.integration
        received = self.payload.received_at
        stale = not step.created and alert.last_received_at is not None and received < alert.last_received_at
        if not stale:
            alert.last_seen_at = now
            alert.last_payload = self.payload
            alert.last_received_at = received
        if event.action == "acknowledge":
            step.ack, step.status = True, alert.status
            return
        status = "resolved" if event.action == "resolve" else event.status
        if status not in ("firing", "resolved"):
            raise ValidationError(_("Unknown status %(s)r.") % {"s": status})
        if stale:
            step.status = alert.status
            if status != alert.status:
                step.ignored = True  # the alert holds a newer state already
            elif status == "firing":
                alert.repeat_count += 1
                step.evaluate = bool(alert.suppressed) or alert.group_id is None
            return
        step.status = status
        # What the source says now (the labels are the alert's identity; they do not change)
        if event.summary:
            alert.summary = event.summary[:500]
        if event.severity:
            alert.severity = _severity(event.severity)
        if event.source:
            alert.source = event.source[:200]
        if event.annotations:
            alert.annotations = event.annotations
        if event.labels and step.created:
            alert.labels = event.labels
        if event.generator_url:
            alert.generator_url = event.generator_url[:1000]
        if event.starts_at and (alert.starts_at is None or status == "firing" and alert.status == "resolved"
                                or step.created):
            alert.starts_at = event.starts_at
        if step.created:
            alert.status = status
            if status == "resolved":
                alert.ends_at = event.ends_at or received
            else:
                step.evaluate = True
            return
        if status == alert.status:
            if status == "firing":
                alert.repeat_count += 1
                # A suppressed alert is checked again: its silence may have ended; one without a CI may
                # name one the CMDB has learnt since.
                step.evaluate = bool(alert.suppressed) or alert.group_id is None
            return
        # A change of state: recorded for flapping, at the payload's receipt time.
        changes = [*alert.state_changes, received.isoformat()][-STATE_CHANGES_KEPT:]
        alert.state_changes = changes
        since = received - datetime.timedelta(minutes=integration.flapping_window_minutes)
        recent = 0
        for text in changes:
            try:
                if datetime.datetime.fromisoformat(text) >= since:
                    recent += 1
            except (TypeError, ValueError):
                continue
        flapping = recent > integration.flapping_changes
        step.became_flapping = flapping and not alert.flapping
        alert.flapping = flapping
        alert.status = status
        if status == "resolved":
            alert.ends_at = event.ends_at or received
        else:
            alert.ends_at = None
            step.evaluate = True

    def _evaluate(self, step: _Step):
        """CI, route and suppression of a firing alert. Returns its route."""
        alert, integration = step.alert, self.integration
        if step.created or alert.ci_id is None or alert.status == "firing" and step.evaluate:
            ci_id = self.ci_for(alert.labels)
            if ci_id is not None:
                alert.ci_id = ci_id
        route = route_for(alert.labels, alert.severity, alert.source, integration)
        silence = self.silences.match(alert.labels, integration)
        window = None
        if silence is None:
            service_id = route.service_id if route is not None and route.service_id else integration.service_id
            window = self.maintenance.match([alert.ci_id], [service_id])
        alert.silence, alert.maintenance = silence, window
        alert.suppressed = "silence" if silence else ("maintenance" if window else "")
        return route

    def _lock_groups(self, steps: list[_Step]) -> dict[int, _GroupWork]:
        integration = self.integration
        self._open_by_hash: dict[str, _GroupWork] = {}
        self._hashes_locked: set[str] = set()
        firing = [step for step in steps if step.status == "firing" and not step.ack]
        for step in firing:
            template = integration.grouping_template
            key = render_group_key(template, step.alert.labels) if template else ""
            key = key or step.event.group_key or step.alert.fingerprint
            step.target_key, step.target_hash = key, key_hash(key)
        group_ids = {step.alert.group_id for step in steps if step.alert.group_id}
        hashes = {step.target_hash for step in firing}
        if not group_ids and not hashes:
            return {}
        query = Q(pk__in=group_ids) if group_ids else Q(pk__in=[])
        if hashes:
            query |= Q(integration=integration, key_hash__in=hashes, is_open=True)
        works = {group.pk: _GroupWork(group) for group in AlertGroup.objects.select_for_update().filter(query)
                 .order_by("pk")}
        self._hashes_locked = hashes  # their open groups, if any, are in `works` now
        self._open_by_hash = {work.group.key_hash: work for work in works.values()
                              if work.group.is_open and work.group.integration_id == integration.pk}
        return works

    def _target(self, step: _Step, works: dict[int, _GroupWork]) -> _GroupWork:
        """The group a firing alert belongs to: its own while open, else the open one of its key, else a
        reopened or a new one."""
        current = works.get(step.alert.group_id)
        if current is not None and current.group.is_open:
            return current
        work = self._open_by_hash.get(step.target_hash)
        if work is None:
            group, mode = self._claim_group(step)
            work = works.get(group.pk)
            if work is None:
                work = works[group.pk] = _GroupWork(group)
            else:  # the alert's own closed group, locked already: one object per row
                work.group.is_open = group.is_open
            work.mode = mode
            self._open_by_hash[step.target_hash] = work
        return work

    def _claim_group(self, step: _Step) -> tuple[AlertGroup, str]:
        """The open group of the step's key (locked), or the last one reopened, or a new one. Two workers
        claiming one key: the partial unique constraint lets one insert (or reopen) and the other, after
        the first commits, takes that group."""
        integration, now = self.integration, self.now
        window = datetime.timedelta(minutes=integration.reopen_window_minutes)
        for attempt in range(5):
            # The first time, the round's lock of the groups has just looked for an open group of this key
            # and found none: one opened since then makes the insert (or the reopening) below fail on the
            # partial unique constraint, and the next attempt takes it here.
            if attempt or step.target_hash not in self._hashes_locked:
                group = AlertGroup.objects.select_for_update().filter(
                    integration=integration, key_hash=step.target_hash, is_open=True).first()
                if group is not None:
                    return group, "open"
            last = (AlertGroup.objects.filter(integration=integration, key_hash=step.target_hash, is_open=False,
                                              resolved_at__isnull=False)
                    .select_related("incident").order_by("-resolved_at", "-pk").first())
            mode = self._reopen_mode(last, step.alert) if last is not None and now - last.resolved_at <= window \
                else "new"
            try:
                with transaction.atomic():
                    if mode != "new":
                        if not AlertGroup.objects.filter(pk=last.pk, is_open=False).update(is_open=True):
                            raise IntegrityError("reopened by another worker")
                        group = AlertGroup.objects.select_for_update().get(pk=last.pk)
                    else:
                        route = route_for(step.alert.labels, step.alert.severity, step.alert.source, integration)
                        group = AlertGroup.objects.create(
                            integration=integration, key_hash=step.target_hash, group_key=step.target_key,
                            title=group_title(step.alert), severity=step.alert.severity, route=route,
                            suppressed=step.alert.suppressed or "", first_alert_at=now, last_alert_at=now)
                return group, mode
            except IntegrityError:
                continue  # another worker opened a group for this key meanwhile: take theirs
        raise RuntimeError(f"no group could be claimed for key {step.target_key!r}")

    def paged_recently(self, group: AlertGroup) -> bool:
        """Whether the group's incident was paged within the integration's flapping window before this
        payload (both by receipt time): a re-firing then reopens it without paging again, so an alert
        that starts to flap pages once, before it is marked flapping."""
        if group.paged_at is None:
            return False
        window = datetime.timedelta(minutes=self.integration.flapping_window_minutes)
        return self.payload.received_at - group.paged_at <= window

    def _reopen_mode(self, last: AlertGroup, alert: Alert) -> str:
        """How a re-firing within the integration's reopen window treats the last group of its key: the
        group is reopened; its incident too when it is resolved (recently enough to reopen), quietly
        (nobody paged again) when the alert is flapping or the incident was paged within the flapping
        window. A closed or cancelled incident gets a new group and incident, unless the alert flaps:
        then it stays with its group and pages no one."""
        incident = last.incident
        if incident is None or incident.is_open:
            return "reopen"
        reopenable = incident.status == "resolved" and incident.resolved_at is not None \
            and self.now - incident.resolved_at <= self.incident_reopen_window
        if alert.flapping:
            return "reopen_incident_quiet" if reopenable else "reopen"
        if not reopenable:
            return "new"
        return "reopen_incident_quiet" if self.paged_recently(last) else "reopen_incident"

    def _place(self, step: _Step, works: dict[int, _GroupWork]) -> None:
        """Move the alert into its group and keep both groups' counters right."""
        alert = step.alert
        if step.ack:
            return
        old = works.get(step.old_group_id)
        new = self._target(step, works) if step.status == "firing" else old
        if old is not None:
            old.group.alert_count = max(0, old.group.alert_count - 1)
            old.group.firing_count = max(0, old.group.firing_count - int(step.old_firing))
            old.touched.append(step)
        if new is not None:
            new.group.alert_count += 1
            new.group.firing_count += int(step.status == "firing")
            new.group.last_alert_at = self.now
            if step.status == "firing":
                new.group.severity = _higher(new.group.severity, alert.severity)
                new.unsuppressed_firing = new.unsuppressed_firing or not alert.suppressed
            else:
                new.resolved_events += 1
            if new is not old:
                new.touched.append(step)
                new.joined.append(step)
                if alert.ci_id:
                    new.new_ci_ids.add(alert.ci_id)
        alert.group = new.group if new is not None else None

    # --- groups and their incidents -------------------------------------------------------------------
    def _settle_group(self, work: _GroupWork) -> None:
        group = work.group
        if group.firing_count > 0:
            if group.status != "firing" or not group.is_open:
                group.status, group.resolved_at, group.is_open = "firing", None, True
            if group.suppressed and work.unsuppressed_firing:
                group.suppressed = ""
            if group.suppressed:
                return
            if group.incident_id is None:
                self._open_incident(work)
            elif work.mode in ("reopen_incident", "reopen_incident_quiet"):
                self._reopen_incident(work, group.incident, page=work.mode == "reopen_incident")
            elif work.joined or any(step.became_flapping for step in work.touched):
                self._note_on_incident(work, group.incident)
            return
        if group.status == "firing" and (work.resolved_events or group.alert_count == 0):
            group.status, group.resolved_at, group.is_open = "resolved", self.now, False
            self._group_resolved(work)

    def _firing_alert_of(self, work: _GroupWork) -> Alert | None:
        """The alert that describes the group's incident: the most severe firing one of this payload."""
        firing = [step.alert for step in work.touched if step.alert.status == "firing"
                  and step.alert.group_id == work.group.pk]
        if firing:
            return max(firing, key=lambda alert: SEVERITY_RANK.get(alert.severity, 0))
        return Alert.objects.filter(group=work.group, status="firing").order_by("first_seen_at", "pk").first()

    def _priority(self, route, severity: str) -> tuple[str, str]:
        if route is not None and route.priority in PRIORITIES:
            return route.priority, _("From the route %(route)s.") % {"route": route.name}
        mapped = (self.integration.severity_map or {}).get(severity)
        if mapped in PRIORITIES:
            return mapped, _("From alert severity %(s)s.") % {"s": severity}
        return DEFAULT_PRIORITIES.get(severity, FALLBACK_PRIORITY), _("From alert severity %(s)s.") % {
            "s": severity or _("(none)")}

    def _open_incident(self, work: _GroupWork) -> None:
        from opsdesk.incidents import services as incidents

        group, integration = work.group, self.integration
        alert = self._firing_alert_of(work)
        if alert is None:
            return
        route = group.route
        service = route.service if route is not None and route.service_id else integration.service
        team = route.team if route is not None and route.team_id else integration.team
        severity = group.severity or alert.severity
        priority, reason = self._priority(route, severity)
        data = {"title": group.title or group_title(alert), "source": "alert",
                "description": incident_description(alert, integration, reason),
                "service": service, "assignment_group": team}
        ci_ids = sorted(work.new_ci_ids | ({alert.ci_id} if alert.ci_id else set()))
        if ci_ids:
            from opsdesk.cmdb.models import ConfigurationItem

            data["cis"] = list(ConfigurationItem.objects.filter(pk__in=ci_ids))
        if alert.starts_at and alert.starts_at <= self.now:
            data["detected_at"] = alert.starts_at
        data.update(self._impact_urgency(priority, reason))
        incident = incidents.create_incident(actor=self.actor, data=data)
        group.incident = incident
        self._page(group, incident, route, service)

    def _impact_urgency(self, priority: str, reason: str) -> dict:
        """Impact and urgency the matrix maps to `priority` (the most urgent, least extensive pair), so the
        priority follows the matrix; set by hand with the reason when the matrix has no such pair."""
        from opsdesk.incidents.services import incident_settings

        matrix = incident_settings().matrix or {}
        pairs = [(int(urgency), -int(impact)) for impact, row in matrix.items() for urgency, value in row.items()
                 if value == priority and str(impact).isdigit() and str(urgency).isdigit()]
        if pairs:
            urgency, impact = min(pairs)
            return {"impact": -impact, "urgency": urgency, "priority": priority}
        return {"priority": priority, "priority_reason": reason}

    def _page(self, group: AlertGroup, incident, route, service) -> None:
        policy = route.escalation_policy if route is not None and route.escalation_policy_id else None
        if policy is None and service is None:
            return
        from opsdesk.oncall.escalation import start_for_incident

        try:
            with transaction.atomic():
                start_for_incident(incident, policy=policy, actor=self.actor)
            group.paged_at = self.payload.received_at
        except TransitionNotAllowed:  # the incident was closed meanwhile: nobody to page
            pass
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001  (the incident stands; the failure is recorded on the payload)
            logger.exception("incident %s: the escalation did not start", incident.pk)
            self.notes.append(_("%(inc)s: the escalation did not start: %(type)s: %(error)s") % {
                "inc": incident, "type": type(exc).__name__, "error": exc})

    def _reopen_incident(self, work: _GroupWork, incident, *, page: bool) -> None:
        from opsdesk.incidents import services as incidents

        alert = self._firing_alert_of(work)
        reason = _("Alert %(alert)s fired again at the source (%(integration)s).") % {
            "alert": _describe_alert(alert) if alert else work.group.title, "integration": self.integration.name}
        if not page:
            flapping = any(step.alert.flapping for step in work.touched)
            reason += " " + (_("Nobody is paged again: the alert is flapping.") if flapping else _(
                "Nobody is paged again: the incident was paged less than %(n)s minutes before (the flapping "
                "window).") % {"n": self.integration.flapping_window_minutes})
        try:
            with transaction.atomic():
                incident = incidents.transition_incident(incident, "reopen", actor=self.actor,
                                                         data={"reason": reason[:500]})
        except (TransitionNotAllowed, ValidationError):
            # A person closed it meanwhile: the group gets a new incident.
            work.group.incident = None
            self._open_incident(work)
            return
        if page:
            self._page(work.group, incident, work.group.route, incident.service)
        if any(step.became_flapping for step in work.touched):
            self._note_on_incident(work, incident)

    def _note_on_incident(self, work: _GroupWork, incident) -> None:
        """One change-log row on the incident per payload for the alerts that joined, one for those that
        began to flap; new CIs are added to the incident's CIs while it is open."""
        joined = sorted({_describe_alert(step.alert) for step in work.joined if step.alert.status == "firing"})
        flapping = sorted({_describe_alert(step.alert) for step in work.touched if step.became_flapping})
        if joined:
            audit.record(incident, actor=self.actor, action="alert_added", changes={"alerts": [None, joined[:50]]})
        if flapping:
            audit.record(incident, actor=self.actor, action="alert_flapping",
                         changes={"alerts": [None, flapping[:50]]})
        if work.new_ci_ids and incident.is_open:
            self._add_cis(incident, work.new_ci_ids)

    def _add_cis(self, incident, ci_ids: set[int]) -> None:
        from opsdesk.cmdb.models import ConfigurationItem
        from opsdesk.incidents import services as incidents

        present = set(incident.cis.values_list("pk", flat=True))
        if ci_ids <= present:
            return
        wanted = list(ConfigurationItem.objects.filter(pk__in=present | ci_ids))
        try:
            with transaction.atomic():
                incidents.update_incident(incident, actor=self.actor, data={"cis": wanted})
        except (TransitionNotAllowed, ValidationError):
            pass  # read-only by now: the alert still lists its CI

    def _group_resolved(self, work: _GroupWork) -> None:
        """Every alert of the group is resolved: resolve its incident when the integration says so."""
        group, integration = work.group, self.integration
        incident = group.incident if group.incident_id else None
        if incident is None or not incident.is_open:
            return  # no incident, or a person resolved it already
        touched = {step.alert.pk: step.alert for step in work.touched}
        flapping = any(alert.flapping for alert in touched.values()) or Alert.objects.filter(
            group=group, flapping=True).exclude(pk__in=list(touched)).exists()
        if not integration.auto_resolve or flapping:
            audit.record(incident, actor=self.actor, action="alerts_resolved",
                         changes={"alerts": [None, _("All alerts of the group resolved at the source.")]})
            return
        from opsdesk.incidents import services as incidents

        notes = _("All alerts of the group resolved at the source (%(integration)s).") % {
            "integration": integration.name}
        try:
            with transaction.atomic():
                incidents.transition_incident(incident, "resolve", actor=self.actor,
                                              data={"resolution_code": "restarted", "resolution_notes": notes})
        except (TransitionNotAllowed, ValidationError) as exc:
            logger.info("alert group %s: incident %s not resolved: %s", group.pk, incident.pk, exc)

    def _acknowledge(self, step: _Step, works: dict[int, _GroupWork]) -> None:
        work = works.get(step.alert.group_id)
        incident = work.group.incident if work is not None and work.group.incident_id else None
        if incident is None or incident.status != "new":
            return
        from opsdesk.incidents import services as incidents

        try:
            with transaction.atomic():
                incidents.transition_incident(incident, "acknowledge", actor=self.actor)
        except (TransitionNotAllowed, ValidationError):
            pass  # acknowledged or closed meanwhile

    # --- writes ---------------------------------------------------------------------------------------
    def _write(self, steps: list[_Step], works: dict[int, _GroupWork]) -> None:
        """Alerts whose changed columns hold the same plain values (plain repeats, the most common event
        by far; new alerts of one group) are written by one UPDATE each; an alert whose labels,
        annotations or state changes changed gets its own."""
        shared: dict[tuple, list[int]] = {}
        for step in steps:
            alert = step.alert
            changed = {name: getattr(alert, name) for name in ALERT_COLUMNS
                       if getattr(alert, name) != step.before[name]}
            if not changed:
                continue
            delta = changed.pop("repeat_count", step.before["repeat_count"]) - step.before["repeat_count"]
            if all(isinstance(value, SCALARS) for value in changed.values()):
                shared.setdefault((tuple(sorted(changed.items())), delta), []).append(alert.pk)
            else:
                if delta:
                    changed["repeat_count"] = F("repeat_count") + delta
                Alert.objects.filter(pk=alert.pk).update(**changed)
        for (values, delta), ids in shared.items():
            values = dict(values)
            if delta:
                values["repeat_count"] = F("repeat_count") + delta
            Alert.objects.filter(pk__in=ids).update(**values)
        for work in sorted(works.values(), key=lambda w: w.group.pk):
            if work.touched:
                work.group.save(update_fields=GROUP_FIELDS)


def _rounds(events: list[tuple[int, AlertEvent]]) -> list[list[tuple[int, AlertEvent]]]:
    """Events in rounds with at most one event per fingerprint, in order: a payload that fires and
    resolves one alert applies both, one after the other."""
    rounds: list[list] = []
    seen: dict[str, int] = {}
    for index, event in events:
        position = seen.get(event.fingerprint, 0)
        seen[event.fingerprint] = position + 1
        if position == len(rounds):
            rounds.append([])
        rounds[position].append((index, event))
    return rounds


class _CarefulPass(Exception):
    """A round failed in the fast pass: the payload is rolled back and taken again, carefully."""


def process_payload(payload_id: int) -> int:
    """Apply a stored payload's events; returns the number of events applied. A payload another worker
    holds, or one already processed, is left alone (0).

    The fast pass applies the rounds without a savepoint each (two statements fewer per round, and most
    payloads are one round); when a round fails on anything but a lock error, the whole pass is rolled
    back and the careful pass takes the payload again: each round in a savepoint, and a failed round
    one event at a time."""
    now = timezone.now()
    try:
        return _process(payload_id, now, careful=False)
    except _CarefulPass:
        logger.info("payload %s: the fast pass failed; taken again with savepoints", payload_id)
        return _process(payload_id, now, careful=True)


def _process(payload_id: int, now: datetime.datetime, *, careful: bool) -> int:
    # The configuration the incident services read for every incident (escalation rules) is read once per
    # payload, inside its transaction; nothing is kept beyond it.
    with sla_memo_scope(), transaction.atomic():
        payload = (RawPayload.objects.select_for_update(skip_locked=True, of=("self",))
                   .select_related("integration").filter(pk=payload_id, processed_at__isnull=True).first())
        if payload is None:
            return 0
        errors: list[str] = []
        events: list[tuple[int, AlertEvent]] = []
        for index, data in enumerate(payload.events or []):
            try:
                event = AlertEvent.from_json(data)
                if not event.fingerprint or not isinstance(event.labels, dict):
                    raise ValueError(_("no fingerprint or labels"))
                events.append((index, event))
            except (TypeError, ValueError) as exc:
                errors.append(_("Event %(n)s: %(error)s") % {"n": index, "error": exc})
        run = _Run(payload, now)
        handled = 0
        for batch in _rounds(events):
            noted = len(run.notes)
            if not careful:
                try:
                    handled += run.apply(batch)
                except OperationalError:
                    raise  # a deadlock or lock timeout: the whole payload is taken again later
                except Exception as exc:  # noqa: BLE001  (the careful pass finds and records the bad event)
                    raise _CarefulPass from exc
                continue
            try:
                with transaction.atomic():
                    handled += run.apply(batch)
                continue
            except OperationalError:
                raise  # a deadlock or lock timeout: the whole payload is taken again later
            except Exception:  # noqa: BLE001  (one event at a time below finds and records the bad one)
                del run.notes[noted:]
                logger.info("payload %s: applying %s events together failed; one by one", payload.pk, len(batch))
            for index, event in batch:
                try:
                    with transaction.atomic():
                        handled += run.apply([(index, event)])
                except OperationalError:
                    raise
                except Exception as exc:  # noqa: BLE001  (recorded on the payload; the others go on)
                    logger.exception("payload %s: event %s failed", payload.pk, index)
                    errors.append(_("Event %(n)s (%(fp)s): %(type)s: %(error)s") % {
                        "n": index, "fp": event.fingerprint, "type": type(exc).__name__, "error": exc})
        error = "\n".join(errors + run.notes)[:MAX_ERROR_TEXT]
        RawPayload.objects.filter(pk=payload.pk).update(processed_at=now, error=error)
    return handled
