"""Approval policies, stages, quorum, delegation and reminders (stub: filled in by its owner).

Contract:
- open_approvals(change, *, actor) -> None: called by services.transition_change inside its transaction when a
  change enters "approval": picks the policy, opens the first stage's Approval rows.
- decide(approval, *, actor, decision, comment="") -> Approval: "approved" | "rejected"; at quorum the last stage
  takes the change on (transition "grant_approval"); a rejection takes "refuse_approval".
"""

from __future__ import annotations


def open_approvals(change, *, actor) -> None:
    return None
