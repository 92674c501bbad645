"""Every list endpoint and page makes the same number of queries for 1 row or many (CONVENTIONS §4)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsdesk.accounts.services import create_token
from opsdesk.core.actors import Actor
from opsdesk.core.models import JobRun, Notification, NotificationChannel, OutboxEvent
from tests.accounts.factories import TeamFactory, UserFactory
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def add_rows(kind, user, n):
    for _ in range(n):
        if kind == "audit":
            ServiceFactory()
        elif kind == "users":
            UserFactory()
        elif kind == "tokens":
            create_token(user, actor=ACTOR, name="t")
        elif kind == "notifications":
            event = OutboxEvent.objects.create(event_type="x.y", actor_label="t")
            Notification.objects.create(user=user, event=event, title="x")
        elif kind == "jobs":
            JobRun.objects.create(task_id="t", task_name="x", started_at=timezone.now())
        elif kind == "channels":
            NotificationChannel.objects.create(name=f"c{NotificationChannel.objects.count()}", kind="email",
                                               target="a@example.com")
        elif kind in {"teams", "team-page"}:
            team = TeamFactory(lead=user)
            from opsdesk.accounts.services import set_membership

            set_membership(team, UserFactory(), actor=ACTOR, role="responder")


def assert_queries_do_not_grow(client, url, kind, user, api=True):
    add_rows(kind, user, 1)
    client.get(url)  # warm caches (content types, token last-used)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    add_rows(kind, user, 12)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.status_code == 200
    if api:
        assert response.json()["count"] >= 13
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


@pytest.mark.parametrize("kind, url", [
    ("audit", "/api/v1/audit/"),
    ("users", "/api/v1/users/"),
    ("tokens", "/api/v1/tokens/"),
    ("notifications", "/api/v1/notifications/"),
    ("jobs", "/api/v1/jobs/"),
    ("channels", "/api/v1/channels/"),
    ("teams", "/api/v1/teams/"),
])
def test_api_list_queries_do_not_grow(api, users, kind, url):
    assert_queries_do_not_grow(api(users["admin"]), url, kind, users["admin"])


@pytest.mark.parametrize("kind, url", [("team-page", "/accounts/teams/"), ("channels", "/settings/channels/"),
                                       ("notifications", "/notifications/"), ("jobs", "/jobs/")])
def test_page_list_queries_do_not_grow(client, users, kind, url):
    client.force_login(users["admin"])
    assert_queries_do_not_grow(client, url, kind, users["admin"], api=False)


@pytest.mark.parametrize("action", ["history", "comments"])
def test_history_and_comments_queries_do_not_grow(api, users, action):
    from opsdesk.core.comments import add_comment
    from opsdesk.services import services

    service = ServiceFactory()
    client = api(users["admin"])
    url = f"/api/v1/services/{service.pk}/{action}/"
    add_comment(service, actor=ACTOR, body="first")
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for n in range(12):
        add_comment(service, actor=ACTOR, body=f"note {n}")
        services.update_service(service, actor=ACTOR, data={"description": f"v{n}"})
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.json()["count"] >= 12
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
