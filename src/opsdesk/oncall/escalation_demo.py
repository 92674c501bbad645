"""Demo escalation policies on the demo schedules: Platform's "primary, then the team's managers", and
Payments' follow-the-sun secondary. Not attached to services, so loading the demo pages nobody; attach one
on its page to see an incident page its on-call. Created through the policy service."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from opsdesk.accounts.models import Team
from opsdesk.core.actors import Actor

from . import policies
from .models import EscalationPolicy, Schedule


def load(actor: Actor) -> int:
    schedules = {s.slug: s for s in Schedule.objects.filter(slug__in=["platform-primary", "payments-secondary"])}
    teams = {t.slug: t for t in Team.objects.filter(slug__in=["platform", "payments"])}
    people = {u.username: u for u in get_user_model().objects.filter(username__in=["alice", "bob"], is_active=True)}
    created = 0
    if "platform-primary" in schedules and not EscalationPolicy.objects.filter(slug="platform-escalation").exists():
        steps = [{"kind": "notify_schedule", "schedule": schedules["platform-primary"]},
                 {"kind": "wait", "wait_minutes": 5}]
        if "platform" in teams:
            steps += [{"kind": "notify_team", "team": teams["platform"], "team_role": "manager"},
                      {"kind": "wait", "wait_minutes": 10}]
        policies.save_policy(actor=actor, data={
            "name": "Platform escalation", "slug": "platform-escalation", "team": teams.get("platform"),
            "repeat_count": 2, "steps": steps,
            "description": "The primary on-call first; the team's managers after 5 minutes; twice more."})
        created += 1
    if "payments-secondary" in schedules and not EscalationPolicy.objects.filter(slug="payments-escalation").exists():
        steps = [{"kind": "notify_schedule", "schedule": schedules["payments-secondary"]},
                 {"kind": "wait", "wait_minutes": 10}]
        if people:
            steps.append({"kind": "notify_users", "users": list(people.values()), "urgency": "low"})
        policies.save_policy(actor=actor, data={
            "name": "Payments escalation", "slug": "payments-escalation", "team": teams.get("payments"),
            "repeat_count": 0, "steps": steps})
        created += 1
    return created
