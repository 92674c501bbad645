"""Risk assessment of a change (stub: filled in by its owner).

Contract:
- assess(change, *, answers=None, now=None) -> Assessment   (reads only; answers default to change.risk_answers)
- apply_assessment(change, assessment) -> None               (sets risk_score, risk_level, risk_factors,
                                                              risk_assessed_at on the instance; the caller saves)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Assessment:
    score: int
    level: str  # low | medium | high | very_high
    # [{"key": "cmdb_impact", "label": "...", "points": 30, "explanation": "..."}]
    factors: list[dict] = field(default_factory=list)


def assess(change, *, answers: dict | None = None, now=None) -> Assessment:
    return Assessment(score=0, level="low", factors=[])


def apply_assessment(change, assessment: Assessment) -> None:
    from django.utils import timezone

    change.risk_score = assessment.score
    change.risk_level = assessment.level
    change.risk_factors = assessment.factors
    change.risk_assessed_at = timezone.now()
