"""Escalation and paging test data, made through the oncall write paths.

`make_policy("Primary", steps=[{"kind": "notify_schedule", "schedule": s}, {"kind": "wait", "wait_minutes": 5}],
repeat_count=1)`; `contact(user, "chat", "json://127.0.0.1:9/hook", rules=[("high", 5)])`.
"""

from __future__ import annotations

from django.utils.text import slugify

from opsdesk.core.actors import Actor
from opsdesk.oncall import paging, policies

ACTOR = Actor.system("factory")


def make_policy(name: str = "Primary escalation", *, steps, repeat_count: int = 0, services=(), team=None):
    return policies.save_policy(actor=ACTOR, data={
        "name": name, "slug": slugify(name), "repeat_count": repeat_count, "steps": steps,
        "services": list(services), "team": team})


def contact(user, kind: str = "email", target: str | None = None, *, rules=(), label: str = ""):
    """A contact method of `user` with notification rules [(urgency, delay minutes), ...]."""
    method = paging.create_contact_method(user=user, actor=ACTOR, data={
        "kind": kind, "target": target or user.email, "label": label, "enabled": True})
    for urgency, delay in rules:
        paging.create_rule(user=user, actor=ACTOR, data={"urgency": urgency, "contact_method": method,
                                                         "delay_minutes": delay})
    return method
