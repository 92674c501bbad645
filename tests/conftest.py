import os

import pytest
from rest_framework.test import APIClient

from opsdesk.accounts.services import create_token
from opsdesk.core.actors import Actor
from tests.accounts.factories import TeamFactory, UserFactory

REQUIRE_ALL = os.environ.get("OPSDESK_REQUIRE_ALL") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With OPSDESK_REQUIRE_ALL=1 (CI), a skipped test is a failed test: nothing may quietly not run."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped, but OPSDESK_REQUIRE_ALL=1 requires every test to run: {reason}"


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgresql` (row locks, SKIP LOCKED) run in the PostgreSQL pass only: on SQLite they
    are deselected, not skipped, so a SQLite run under OPSDESK_REQUIRE_ALL=1 still passes and CI's
    PostgreSQL pass runs them."""
    if os.environ.get("OPSDESK_TEST_DATABASE_URL", "").startswith("postgres"):
        return
    selected = [item for item in items if item.get_closest_marker("postgresql") is None]
    if len(selected) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in selected])
        items[:] = selected


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "attachments"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: cached figures (the queue's view counts) name rows by id,
    and ids come round again after a test's rollback."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def system_actor():
    return Actor.system("test")


@pytest.fixture
def team(db):
    return TeamFactory()


@pytest.fixture
def other_team(db):
    return TeamFactory()


@pytest.fixture
def users(db, team):
    """One user per global role, plus a viewer who manages `team` through a membership."""
    from opsdesk.accounts.services import set_membership

    made = {role: UserFactory(username=role, role=role) for role in ("viewer", "responder", "manager", "admin")}
    made["team_manager"] = UserFactory(username="team_manager", role="viewer")
    set_membership(team, made["team_manager"], actor=Actor.system("test"), role="manager")
    return made


@pytest.fixture
def api(db):
    """`api(user, scope="write")` -> an APIClient authenticated with a real bearer token."""

    def make(user=None, scope="write"):
        client = APIClient()
        if user is not None:
            _token, plaintext = create_token(user, actor=Actor.system("test"), name="test", scope=scope)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        return client

    return make
