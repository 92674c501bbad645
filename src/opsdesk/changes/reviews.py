"""Post-implementation reviews, incidents caused by changes and the success-rate KPI (stub: filled in by
its owner).

Contract:
- review_required(change) -> bool: failed, backed-out, emergency and high-risk changes need a review.
- missing_review(change) -> str: "" when the change may close, else the sentence saying why not.
"""

from __future__ import annotations


def review_required(change) -> bool:
    return False


def missing_review(change) -> str:
    return ""
