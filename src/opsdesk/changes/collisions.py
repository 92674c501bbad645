"""Collision detection for a change's planned window (stub: filled in by its owner).

Contract:
- find(change, *, start=None, end=None) -> list[dict]: each {"kind": "ci" | "related_ci" | "implementer" |
  "freeze", "message": str, and "change_id"/"change_number" or "freeze_id"}; empty when the change has no window.
"""

from __future__ import annotations


def find(change, *, start=None, end=None) -> list[dict]:
    return []
