"""Promotion gates (stub: filled in by its owner).

Contract:
- check(release, environment) -> GateAnswer(allowed: bool, reasons: list[str])
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GateAnswer:
    allowed: bool
    reasons: list[str] = field(default_factory=list)


def check(release, environment) -> GateAnswer:
    return GateAnswer(allowed=True)
