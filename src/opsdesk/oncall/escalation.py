"""Escalation runs: a policy's steps fired in order for an incident, stopped by acknowledgement."""

from __future__ import annotations


def start_for_incident(incident, *, policy=None, actor):
    """Start `policy` (None: the policy attached to the incident's service, if any) for the incident,
    replacing a run already active for it. Returns the run, or None when there is no policy."""
    raise NotImplementedError


def stop_for_incident(incident, *, status: str, actor) -> int:
    """Stop the incident's active run (status "acknowledged", "resolved" or "cancelled")."""
    raise NotImplementedError
