"""The post-release watch (stub: filled in by its owner).

Contract:
- start_watch(release, deployment) -> None: called by services.record_deployment inside its transaction when a
  production deployment succeeds.
"""

from __future__ import annotations


def start_watch(release, deployment) -> None:
    return None
