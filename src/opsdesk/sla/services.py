"""The SLA clocks of any record type: start, pause and resume, stop, reopen, cancel, recalculate, and the
sweeper that announces warnings and breaches (CONVENTIONS §5).

Every function runs inside the caller's transaction and locks the record's timers first. A running
timer keeps the business time counted before `resumed_at` in `elapsed_seconds`; its `due_at` and
`next_check_at` (the next threshold instant) are stored, so the sweeper finds due work with one index
range scan and the queue sorts by the record's denormalised `SLA_DUE_FIELD`.

The write path of calendars and policies (configuration) is in `rules.py`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import logging
from collections.abc import Callable, Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from opsdesk.core import audit, events
from opsdesk.core.actors import Actor

from . import specs
from .business_time import add_business_seconds, business_seconds_between
from .models import SLAPolicy, SLATarget, SLATimer

log = logging.getLogger(__name__)

SYSTEM = Actor.system("sla")
DEFAULT_WARNINGS = [50, 75]
ACTIVE = ("running", "paused")
METRIC_LABELS = dict(SLATarget.METRICS)
SWEEP_BATCH = 500

ThresholdListener = Callable[..., None]
ThresholdProvider = Callable[[object, str], Iterable[int]]
_LISTENERS: dict[type, list[ThresholdListener]] = {}
_PROVIDERS: dict[type, list[ThresholdProvider]] = {}


def register_threshold_listener(model, func: ThresholdListener) -> None:
    """`func(record, timer, percent, *, actor)` runs inside the sweep transaction for each crossing."""
    listeners = _LISTENERS.setdefault(model, [])
    if func not in listeners:
        listeners.append(func)


def register_threshold_provider(model, func: ThresholdProvider) -> None:
    """`func(record, metric) -> [percent, ...]`: more percentages to announce than the policy's warnings."""
    providers = _PROVIDERS.setdefault(model, [])
    if func not in providers:
        providers.append(func)


# --- arithmetic on one timer -----------------------------------------------------------------------------

def _now(at):
    return at or timezone.now()


def elapsed_at(timer: SLATimer, now: datetime.datetime) -> float:
    """Business (or calendar) seconds counted so far."""
    if timer.state == "running" and timer.resumed_at is not None:
        return timer.elapsed_seconds + business_seconds_between(specs.for_timer(timer), timer.resumed_at, now)
    return timer.elapsed_seconds


def _instant(timer: SLATimer, spec, percent: float) -> datetime.datetime:
    """When a running timer reaches `percent` of its goal (its resumed_at if already past)."""
    return add_business_seconds(spec, timer.resumed_at, percent / 100 * timer.goal_seconds - timer.elapsed_seconds)


def _pending(timer: SLATimer) -> list[int]:
    done = set(timer.thresholds_done or [])
    return sorted(p for p in timer.thresholds or [] if p not in done)


def _schedule(timer: SLATimer) -> None:
    """due_at and next_check_at of a running timer; none for any other state."""
    if timer.state != "running":
        timer.due_at = None if timer.state == "paused" else timer.due_at
        timer.next_check_at = None
        return
    spec = specs.for_timer(timer)
    timer.due_at = _instant(timer, spec, 100)
    pending = _pending(timer)
    timer.next_check_at = _instant(timer, spec, pending[0]) if pending else None


def _freeze(timer: SLATimer, at: datetime.datetime) -> None:
    """Move the time counted since resumed_at into elapsed_seconds (the clock keeps running from `at`)."""
    if timer.state == "running" and timer.resumed_at is not None:
        if at > timer.resumed_at:
            timer.elapsed_seconds += business_seconds_between(specs.for_timer(timer), timer.resumed_at, at)
            timer.resumed_at = at


def _note_breach(timer: SLATimer, at: datetime.datetime) -> None:
    """Record a breach the sweeper has not seen yet (the clock stops or pauses past its goal); it is
    announced by the sweeper if the clock runs again, never when it stops."""
    if timer.breached_at is None and timer.elapsed_seconds >= timer.goal_seconds:
        timer.breached_at = timer.due_at if timer.due_at is not None and timer.due_at <= at else at


def _thresholds(record, policy: SLAPolicy, metric: str) -> list[int]:
    warnings = DEFAULT_WARNINGS if policy.warn_percentages is None else policy.warn_percentages
    values = {int(p) for p in warnings} | {100}
    for provider in _PROVIDERS.get(type(record), []):
        values |= {int(p) for p in provider(record, metric) or [] if int(p) > 0}
    return sorted(values)


# --- policy matching -----------------------------------------------------------------------------------------

def _condition_matches(wanted, value) -> bool:
    wanted = wanted if isinstance(wanted, list | tuple) else [wanted]
    if isinstance(value, list | tuple | set | frozenset):
        return any(v in wanted for v in value)
    return value is not None and value in wanted


def policy_matches(policy: SLAPolicy, context: dict) -> bool:
    return all(_condition_matches(wanted, context.get(key)) for key, wanted in (policy.conditions or {}).items())


def match_policy(record_type: str, context: dict) -> SLAPolicy | None:
    """The first active policy of the record type (by order, then name) whose conditions all match."""
    policies = (SLAPolicy.objects.filter(record_type=record_type, active=True).select_related("calendar")
                .prefetch_related("targets").order_by("order", "name"))
    return next((p for p in policies if policy_matches(p, context)), None)


# --- the record's timers --------------------------------------------------------------------------------

def _content_type(record) -> ContentType:
    return ContentType.objects.get_for_model(type(record), for_concrete_model=True)


def _locked_timers(record) -> list[SLATimer]:
    return list(SLATimer.objects.select_for_update(of=("self",))
                .filter(content_type=_content_type(record), object_id=record.pk)
                .select_related("calendar", "policy").order_by("id"))


def _save(timers: list[SLATimer], fields: list[str]) -> None:
    if timers:
        SLATimer.objects.bulk_update(timers, fields)


NO_DUE_DATE = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC)


def _update_due(record) -> None:
    """Keep the record's denormalised earliest due date (the queue sorts by it)."""
    field = getattr(type(record), "SLA_DUE_FIELD", None)
    if not field:
        return
    due = (SLATimer.objects.filter(content_type=_content_type(record), object_id=record.pk, state="running")
           .aggregate(due=Min("due_at"))["due"])
    values = {field: due}
    # The sort key of "time to breach": the due date, or the far future when no clock runs. Never NULL, so
    # one index serves the queue's order on every database (SQLite sorts NULLs first and cannot use an
    # index for NULLS LAST).
    rank_field = getattr(type(record), "SLA_RANK_FIELD", None)
    if rank_field:
        values[rank_field] = record.sla_rank(due) if hasattr(record, "sla_rank") else (due or NO_DUE_DATE)
    type(record).objects.filter(pk=record.pk).update(**values)
    # The caller may save this same instance later in its transaction: it must not write the old value back.
    for name, value in values.items():
        setattr(record, name, value)


STATE_FIELDS = ["state", "resumed_at", "paused_at", "stopped_at", "elapsed_seconds", "due_at", "breached_at",
                "next_check_at", "pause_count"]


def _new_timer(record, policy: SLAPolicy, target: SLATarget, at: datetime.datetime) -> SLATimer:
    timer = SLATimer(content_type=_content_type(record), object_id=record.pk, metric=target.metric, policy=policy,
                     calendar=policy.calendar, goal_seconds=target.goal_minutes * 60,
                     business_time=target.business_time, state="running", started_at=at, resumed_at=at,
                     elapsed_seconds=0, thresholds=_thresholds(record, policy, target.metric), thresholds_done=[])
    _schedule(timer)
    return timer


def start(record, *, record_type: str, context: dict, actor: Actor, at=None) -> list[SLATimer]:
    """Start the clocks of the first matching policy; returns the timers it created. A metric that
    already has a timer is left alone, so starting twice changes nothing."""
    at = _now(at)
    with transaction.atomic():
        existing = {t.metric for t in _locked_timers(record)}
        policy = match_policy(record_type, context)
        if policy is None:
            return []
        created = [_new_timer(record, policy, target, at) for target in policy.targets.all()
                   if target.metric not in existing]
        if created:
            # No change-log row of its own: the record's "create" row is the start, the timers the detail.
            SLATimer.objects.bulk_create(created)
            _update_due(record)
    return created


def stop(record, metric: str, *, actor: Actor, at=None) -> SLATimer | None:
    """Stop one clock (met, unless it breached). Returns the timer, or None if it has none running."""
    at = _now(at)
    with transaction.atomic():
        timer = next((t for t in _locked_timers(record) if t.metric == metric and t.state in ACTIVE), None)
        if timer is None:
            return None
        _stop(timer, at)
        _save([timer], STATE_FIELDS)
        _update_due(record)
    return timer


def _stop(timer: SLATimer, at: datetime.datetime) -> None:
    _freeze(timer, at)
    _note_breach(timer, at)
    timer.state, timer.stopped_at, timer.resumed_at, timer.paused_at = "stopped", at, None, None
    timer.next_check_at = None


def stop_all(record, *, actor: Actor, at=None) -> None:
    at = _now(at)
    with transaction.atomic():
        timers = [t for t in _locked_timers(record) if t.state in ACTIVE]
        for timer in timers:
            _stop(timer, at)
        _save(timers, STATE_FIELDS)
        _update_due(record)


def cancel_all(record, *, actor: Actor, at=None) -> None:
    """The record was cancelled: its running and paused clocks stop and count neither as met nor as
    breached; a clock already stopped keeps its outcome (an acknowledgement in time stays met)."""
    at = _now(at)
    with transaction.atomic():
        timers = [t for t in _locked_timers(record) if t.state in ("running", "paused")]
        for timer in timers:
            _freeze(timer, at)
            timer.state, timer.stopped_at, timer.resumed_at = "cancelled", timer.stopped_at or at, None
            timer.due_at = timer.next_check_at = None
        _save(timers, STATE_FIELDS)
        _update_due(record)


def reopen(record, metric: str, *, actor: Actor, at=None) -> SLATimer | None:
    """A stopped clock runs again from `at` with the time counted before it stopped."""
    at = _now(at)
    with transaction.atomic():
        timer = next((t for t in _locked_timers(record) if t.metric == metric and t.state == "stopped"), None)
        if timer is None:
            return None
        timer.state, timer.resumed_at, timer.stopped_at, timer.paused_at = "running", at, None, None
        _schedule(timer)
        _save([timer], STATE_FIELDS)
        _update_due(record)
    return timer


def on_state(record, state: str, *, actor: Actor, at=None) -> None:
    """The record entered `state`: clocks whose policy pauses in it pause, paused ones whose policy
    does not resume (with the time counted before the pause kept)."""
    at = _now(at)
    with transaction.atomic():
        changed = []
        for timer in _locked_timers(record):
            pauses = state in (timer.policy.pause_states or [])
            if timer.state == "running" and pauses:
                _freeze(timer, at)
                _note_breach(timer, at)
                timer.state, timer.paused_at, timer.resumed_at = "paused", at, None
                timer.pause_count += 1
                _schedule(timer)
                changed.append(timer)
            elif timer.state == "paused" and not pauses:
                timer.state, timer.resumed_at, timer.paused_at = "running", at, None
                _schedule(timer)
                changed.append(timer)
        if changed:
            _save(changed, STATE_FIELDS)
            _update_due(record)


def recalculate(record, *, record_type: str, context: dict, actor: Actor, at=None) -> None:
    """The record's priority, category or service changed: match the policy again. Each metric keeps
    the time counted so far and takes the new goal, calendar and business-time setting; metrics the
    new policy lacks are cancelled, new ones start now. Breaches and announced thresholds stay."""
    at = _now(at)
    with transaction.atomic():
        timers = _locked_timers(record)
        by_metric = {t.metric: t for t in timers}
        policy = match_policy(record_type, context)
        targets = {t.metric: t for t in policy.targets.all()} if policy is not None else {}
        changed, created, before = [], [], {}
        for metric, timer in by_metric.items():
            if timer.state not in ACTIVE:
                continue  # a stopped or cancelled clock is history
            before[metric] = (timer.policy.slug, timer.goal_seconds // 60)
            _freeze(timer, at)
            target = targets.get(metric)
            if target is None:
                timer.state, timer.stopped_at, timer.resumed_at = "cancelled", at, None
                timer.due_at = timer.next_check_at = None
            else:
                timer.policy, timer.calendar = policy, policy.calendar
                timer.goal_seconds, timer.business_time = target.goal_minutes * 60, target.business_time
                timer.thresholds = _thresholds(record, policy, metric)
                # A smaller goal may already be used up: due at once, announced by the next sweep.
                _schedule(timer)
            timer.recalculated_at = at
            changed.append(timer)
        for metric, target in targets.items():
            if metric not in by_metric:
                timer = _new_timer(record, policy, target, at)
                timer.recalculated_at = at
                created.append(timer)
        _save(changed, [*STATE_FIELDS, "policy", "calendar", "goal_seconds", "business_time", "thresholds",
                        "recalculated_at"])
        if created:
            SLATimer.objects.bulk_create(created)
        after = {t.metric: (t.policy.slug, t.goal_seconds // 60) for t in [*changed, *created] if t.state in ACTIVE}
        if before != after:
            goals_before = {metric: goal for metric, (_slug, goal) in before.items()}
            goals_after = {metric: goal for metric, (_slug, goal) in after.items()}
            changes = {f"{metric} goal (minutes)": [goals_before.get(metric), goals_after.get(metric)]
                       for metric in sorted(set(before) | set(after))
                       if goals_before.get(metric) != goals_after.get(metric)}
            old_policies = sorted({slug for slug, _goal in before.values()})
            new_policy = policy.slug if policy is not None else None
            if old_policies != [new_policy]:
                changes["sla_policy"] = [", ".join(old_policies) or None, new_policy]
            audit.record(record, actor=actor, action="sla_recalculated", changes=changes)
        _update_due(record)


# --- reads -------------------------------------------------------------------------------------------------

METRIC_ORDER = {metric: index for index, (metric, _label) in enumerate(SLATarget.METRICS)}


def timers_for(records) -> dict[int, list[SLATimer]]:
    """The timers of a page of records (one model), with calendar and policy, in one query."""
    records = list(records)
    result: dict[int, list[SLATimer]] = {r.pk: [] for r in records}
    if not records:
        return result
    timers = (SLATimer.objects.filter(content_type=_content_type(records[0]), object_id__in=list(result))
              .select_related("calendar", "policy"))
    for timer in timers:
        result[timer.object_id].append(timer)
    for items in result.values():
        items.sort(key=lambda t: (METRIC_ORDER.get(t.metric, 99), t.metric))
    return result


def timer_state(timer: SLATimer, now=None) -> dict:
    """What a countdown shows, computed without queries when calendar and policy are loaded."""
    now = _now(now)
    elapsed = elapsed_at(timer, now)
    goal = timer.goal_seconds or 1
    percent = elapsed / goal * 100
    breached = timer.breached_at is not None or (timer.state == "running" and elapsed >= timer.goal_seconds)
    if timer.state != "running":
        colour = "grey"
    else:
        warnings = sorted(p for p in (timer.policy.warn_percentages or []) if p < 100)
        if breached or (warnings and percent >= warnings[-1]):
            colour = "red"
        elif warnings and percent >= warnings[0]:
            colour = "amber"
        else:
            colour = "green"
    return {
        "metric": timer.metric,
        "label": str(METRIC_LABELS.get(timer.metric, timer.metric.replace("_", " ").capitalize())),
        "state": timer.state,
        "goal_seconds": timer.goal_seconds,
        "elapsed_seconds": round(elapsed, 3),
        "remaining_seconds": round(timer.goal_seconds - elapsed, 3),
        "percent": round(percent, 1),
        "due_at": timer.due_at,
        "breached": breached,
        "breached_at": timer.breached_at or (timer.due_at if breached else None),
        "business_time": timer.business_time,
        "colour": colour,
        "policy": timer.policy.slug,
    }


# --- the sweeper ------------------------------------------------------------------------------------------

def _crossings(timer: SLATimer, now: datetime.datetime) -> list[int]:
    """Thresholds crossed by `now` and not yet announced; the first pending one always (its instant is
    the next_check_at that brought the timer here), so every pass makes progress."""
    pending = _pending(timer)
    if not pending:
        return []
    elapsed = elapsed_at(timer, now)
    # Half a second of slack: the instant and the elapsed time come from two computations.
    crossed = [p for p in pending if p / 100 * timer.goal_seconds <= elapsed + 0.5]
    return crossed or pending[:1]


_SWEEP_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("opsdesk_sla_sweep_memo", default=None)


def sweep_memo() -> dict | None:
    """Inside a sweep: a dict in which threshold listeners keep what they look up once per sweep (the
    escalation rules, say) instead of once per crossing; None outside a sweep."""
    return _SWEEP_MEMO.get()


@contextlib.contextmanager
def memo_scope():
    """The sweep's memo for another unit of work (the processing of one alert payload, in one
    transaction): the same listeners read their configuration once inside the block, not once per use.
    Always a new, empty memo, dropped at the end, so nothing is kept beyond the block."""
    token = _SWEEP_MEMO.set({})
    try:
        yield
    finally:
        _SWEEP_MEMO.reset(token)


def sweep(*, now=None, limit: int = 1000) -> int:
    token = _SWEEP_MEMO.set({})
    try:
        return _sweep(now=now, limit=limit)
    finally:
        _SWEEP_MEMO.reset(token)


def _sweep(*, now=None, limit: int = 1000) -> int:
    """Announce every warning and breach that is due, exactly once, whoever else sweeps at the same
    time: timers are taken in batches with FOR UPDATE SKIP LOCKED (another sweeper takes other rows),
    and their records with SKIP LOCKED too, so a record being written right now waits for the next
    sweep instead of deadlocking against the writer (which locks record, then timers). Returns the
    number of crossings announced."""
    now = _now(now)
    announced = taken = 0
    skipped: set[int] = set()
    while taken < limit:
        with transaction.atomic():
            queryset = (SLATimer.objects.select_for_update(skip_locked=True, of=("self",))
                        .filter(state="running", next_check_at__lte=now)
                        .select_related("calendar", "policy", "content_type").order_by("next_check_at"))
            if skipped:
                queryset = queryset.exclude(pk__in=skipped)
            batch = list(queryset[:min(SWEEP_BATCH, limit - taken)])
            if not batch:
                break
            taken += len(batch)
            announced += _sweep_batch(batch, now, skipped)
    return announced


def _lock_records(batch: list[SLATimer]) -> dict[tuple[int, int], object]:
    by_type: dict[int, tuple[type, set[int]]] = {}
    for timer in batch:
        model = timer.content_type.model_class()
        if model is not None:
            by_type.setdefault(timer.content_type_id, (model, set()))[1].add(timer.object_id)
    records = {}
    for content_type_id, (model, ids) in by_type.items():
        for record in model.objects.select_for_update(skip_locked=True, of=("self",)).filter(pk__in=ids):
            records[(content_type_id, record.pk)] = record
    return records


SWEPT_FIELDS = ("thresholds_done", "breached_at", "next_check_at")


def _save_swept(timers: list[SLATimer]) -> None:
    """One parameterised UPDATE run for many rows: bulk_update's CASE expressions cost more to build
    than to run when every row of a 500-row batch changes."""
    if not timers:
        return
    fields = [SLATimer._meta.get_field(name) for name in SWEPT_FIELDS]
    quote = connection.ops.quote_name
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        quote(SLATimer._meta.db_table), ", ".join(f"{quote(f.column)} = %s" for f in fields),
        quote(SLATimer._meta.pk.column))
    params = [[*(f.get_db_prep_save(getattr(t, f.attname), connection) for f in fields), t.pk] for t in timers]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _crossing_kind(percent: int) -> str:
    # Percentages past 100 (an escalation rule's "150 %") are further warnings: the breach happens once.
    return "sla_breached" if percent == 100 else "sla_warning"


def _sweep_batch(batch: list[SLATimer], now: datetime.datetime, skipped: set[int]) -> int:
    records = _lock_records(batch)
    updated, crossings = [], []
    for timer in batch:
        record = records.get((timer.content_type_id, timer.object_id))
        if record is None:  # locked by a writer right now (or gone): the next sweep takes it
            skipped.add(timer.pk)
            continue
        crossed = _crossings(timer, now)
        spec = specs.for_timer(timer)
        timer.thresholds_done = sorted({*(timer.thresholds_done or []), *crossed})
        if 100 in crossed and timer.breached_at is None:
            timer.breached_at = timer.due_at or now
        pending = _pending(timer)
        timer.next_check_at = _instant(timer, spec, pending[0]) if pending else None
        updated.append(timer)
        crossings.extend((record, timer, percent) for percent in crossed)
    _save_swept(updated)
    if not crossings:
        return 0
    audit.record_many([(record, _crossing_kind(percent),
                        {"metric": [None, timer.metric], "percent": [None, percent]})
                       for record, timer, percent in crossings], actor=SYSTEM)
    events.emit_many([(f"{record._meta.model_name}.{_crossing_kind(percent)}", record,
                       {"metric": timer.metric, "percent": percent, "due_at": timer.due_at,
                        "policy": timer.policy.slug}) for record, timer, percent in crossings], actor=SYSTEM)
    for record, timer, percent in crossings:
        for listener in _LISTENERS.get(type(record), []):
            try:
                with transaction.atomic():  # a failing listener undoes its own writes, not the sweep's
                    listener(record, timer, percent, actor=SYSTEM)
            except Exception:  # noqa: BLE001  (one broken listener must not stop the announcements)
                log.exception("SLA threshold listener %r failed for %s %s", listener, record, timer.metric)
    return len(crossings)
