"""The one write path for releases and deployments (stub: filled in by its owner).

Contract:
- create_release(*, actor, data) -> Release; update_release(release, *, actor, data); transition_release(...)
- record_deployment(release, environment, *, actor, data) -> Deployment   (checks the gate; 409 with the reason)
- rollback(release, environment, *, actor, data) -> Deployment
"""
