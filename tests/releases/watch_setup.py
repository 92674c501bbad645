"""Set-up for the post-release watch and DORA tests: releases through the releases service (the factory),
deployments as rows with chosen times and results (DORA only reads them; the gate is tested elsewhere)."""

from __future__ import annotations

import datetime

from tests.releases.factories import environment, make_release  # noqa: F401  (re-exported)


def deploy(release, at: datetime.datetime, *, env: str = "production", result: str = "succeeded",
           minutes: int = 10, rollback_of=None, change=None):
    """A deployment row of `release` to `env` started at `at`, finished `minutes` later."""
    from opsdesk.releases.models import Deployment

    return Deployment.objects.create(
        release=release, environment=environment(env), version=release.version, result=result, started_at=at,
        finished_at=at + datetime.timedelta(minutes=minutes), is_rollback=rollback_of is not None,
        rollback_of=rollback_of, change=change, actor_label="test")
