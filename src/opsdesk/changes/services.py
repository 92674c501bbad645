"""The one write path for change requests (stub: filled in by its owner).

Contract (other parts call these):
- create_change(*, actor, data) -> ChangeRequest
- update_change(change, *, actor, data) -> ChangeRequest
- transition_change(change, name, *, actor, data=None) -> ChangeRequest
"""

from __future__ import annotations

from opsdesk.core import records
from opsdesk.core.actors import Actor

from .models import ChangeRequest
from .workflows import CHANGE_WORKFLOW


def create_change(*, actor: Actor, data: dict) -> ChangeRequest:
    return records.create_record(ChangeRequest, actor=actor, fields=dict(data), workflow=CHANGE_WORKFLOW)


def update_change(change: ChangeRequest, *, actor: Actor, data: dict) -> ChangeRequest:
    return records.update_record(change, actor=actor, fields=dict(data))


def transition_change(change: ChangeRequest, name: str, *, actor: Actor, data: dict | None = None) -> ChangeRequest:
    return records.transition_record(change, name, actor=actor, workflow=CHANGE_WORKFLOW, data=data or {})
