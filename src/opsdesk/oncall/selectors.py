"""Reads of the on-call schedules: who is on call at an instant, the final shifts of a period."""

from __future__ import annotations


def on_call_at(schedule, at) -> list:
    """The users on call in `schedule` at the aware datetime `at` (overrides, then the top layer that
    has someone then), in a stable order."""
    raise NotImplementedError
