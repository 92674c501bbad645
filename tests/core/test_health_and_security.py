import pytest
import yaml
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_healthz(client):
    assert client.get("/healthz").json()["status"] == "ok"


def test_readyz_reports_database_and_broker(client, settings):
    body = client.get("/readyz").json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    from opsdesk.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_metrics_is_prometheus_text(client, team):
    from tests.services.factories import ServiceFactory

    ServiceFactory(owner_team=team)
    response = client.get("/metrics")
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    assert 'opsdesk_records{type="services.service"} 1' in text
    assert "# TYPE opsdesk_outbox_undispatched gauge" in text


def test_openapi_schema_is_valid_and_lists_transitions(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/services/{id}/retire/" in schema["paths"]
    assert "/api/v1/services/{id}/history/" in schema["paths"]


def test_api_docs_page_loads_without_inline_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "<script>" not in response.content.decode().replace(" ", "")


def test_security_headers_on_pages(client):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]


def test_secure_cookies_by_default_behind_https():
    import importlib
    import os

    os.environ["OPSDESK_BASE_URL"] = "https://ops.example.com"
    try:
        from opsdesk import settings as production

        importlib.reload(production)
        assert production.SESSION_COOKIE_SECURE and production.CSRF_COOKIE_SECURE
        assert production.DEBUG is False
    finally:
        del os.environ["OPSDESK_BASE_URL"]
        importlib.reload(production)


def test_csrf_is_enforced_on_forms(users, team):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["manager"])
    response = client.post("/services/new/", {"name": "X"})
    assert response.status_code == 403


def test_api_404_and_unknown_path_use_the_error_format(client):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("url, least", [("/api/v1/audit/", "manager"), ("/api/v1/jobs/", "manager"),
                                        ("/api/v1/channels/", "admin"), ("/api/v1/services/", "viewer"),
                                        ("/api/v1/users/", "viewer"), ("/api/v1/notifications/", "viewer")])
def test_read_endpoints_per_role(api, users, url, least):
    order = ["viewer", "responder", "manager", "admin"]
    for role in order:
        expected = 200 if order.index(role) >= order.index(least) else 403
        assert api(users[role]).get(url).status_code == expected, (url, role)


def test_oversized_api_body_is_413_in_the_error_format(api, users, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api(users["admin"]).generic("POST", "/api/v1/services/", '{"name": "' + "x" * 2000 + '"}',
                                           content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_metrics_token(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_team_roles_do_not_open_non_team_endpoints(api, users):
    client = api(users["team_manager"])
    assert client.get("/api/v1/audit/").status_code == 403
    assert client.get("/api/v1/jobs/").status_code == 403
    assert client.get("/api/v1/services/").status_code == 200
