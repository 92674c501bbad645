"""Test mixins every module uses for its API and pages (CONVENTIONS §8, after NetBox's
utilities/testing). A module's test class names its endpoint, factory and payloads and gets the
CRUD, permission (role x action -> status), error-format, ETag, change-log and query-count tests.

Fixtures `users`, `team`, `other_team` and `api` come from tests/conftest.py.
"""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.core.audit import history_for

ROLES = ("viewer", "responder", "manager", "admin")


class APIRecordTests:
    endpoint = ""  # "/api/v1/services/"
    factory = None
    team_field = None  # the model's TEAM_FIELD, if records belong to teams
    create_status = {"viewer": 403, "responder": 403, "manager": 201, "admin": 201}
    update_status = {"viewer": 403, "responder": 403, "manager": 200, "admin": 200}
    list_queries: int | None = None  # pinned query count of a list page (any number of rows)
    transition: tuple[str, dict] | None = None  # WorkflowAPITests: a legal transition from the initial state
    writer_role = "manager"  # the role that creates and edits in the life-cycle test

    def create_payload(self, team) -> dict:
        raise NotImplementedError

    def update_payload(self) -> dict:
        raise NotImplementedError

    def make(self, team=None, **kwargs):
        if self.team_field and team is not None:
            kwargs[self.team_field] = team
        return self.factory(**kwargs)

    def url(self, record=None, action=None) -> str:
        url = self.endpoint if record is None else f"{self.endpoint}{record.pk}/"
        return f"{url}{action}/" if action else url

    # --- authentication and errors --------------------------------------------------------------------
    def test_without_credentials_is_401_in_error_format(self, api, db):
        response = api().get(self.endpoint)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"

    def test_invalid_token_is_401(self, api, db):
        client = api()
        client.credentials(HTTP_AUTHORIZATION="Bearer odt_nope_nope")
        assert client.get(self.endpoint).status_code == 401

    def test_unknown_id_is_404(self, api, users):
        response = api(users["viewer"]).get(f"{self.endpoint}999999/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_malformed_json_is_400_and_writes_nothing(self, api, users):
        model = self.factory._meta.model
        before = model.objects.count()
        response = api(users["admin"]).generic("POST", self.endpoint, "{not json", content_type="application/json")
        assert response.status_code == 400
        body = response.json()
        assert body["error"]["code"] == "malformed_request"
        assert body["error"]["message"]
        assert model.objects.count() == before

    def test_invalid_fields_are_400_with_field_errors(self, api, users, team):
        response = api(users["admin"]).post(self.endpoint, {}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["fields"], "the error names the fields that are wrong"

    def test_read_only_token_cannot_write(self, api, users, team):
        client = api(users["admin"], scope="read")
        assert client.get(self.endpoint).status_code == 200
        response = client.post(self.endpoint, self.create_payload(team), format="json")
        assert response.status_code == 403

    # --- permissions per role -------------------------------------------------------------------------
    def test_create_permission_per_role(self, api, users, team):
        for role in ROLES:
            payload = self.create_payload(team)
            response = api(users[role]).post(self.endpoint, payload, format="json")
            assert response.status_code == self.create_status[role], (role, response.content)

    def test_update_permission_per_role(self, api, users, team):
        record = self.make(team)
        for role in ROLES:
            response = api(users[role]).patch(self.url(record), self.update_payload(), format="json")
            assert response.status_code == self.update_status[role], (role, response.content)

    # --- the record's life: create, read with ETag, update, history -------------------------------------
    def test_create_read_update_is_logged_with_actor_and_values(self, api, users, team):
        client = api(users[self.writer_role])
        created = client.post(self.endpoint, self.create_payload(team), format="json")
        assert created.status_code == 201, created.content
        record_id = created.json()["id"]
        read = client.get(f"{self.endpoint}{record_id}/")
        assert read.status_code == 200
        etag = read["ETag"]
        assert etag
        assert client.get(f"{self.endpoint}{record_id}/", HTTP_IF_NONE_MATCH=etag).status_code == 304
        changes = self.update_payload()
        updated = client.patch(f"{self.endpoint}{record_id}/", changes, format="json", HTTP_IF_MATCH=etag)
        assert updated.status_code == 200, updated.content
        assert updated["ETag"] != etag
        stale = client.patch(f"{self.endpoint}{record_id}/", changes, format="json", HTTP_IF_MATCH=etag)
        assert stale.status_code == 412
        history = client.get(f"{self.endpoint}{record_id}/history/").json()["results"]
        # Other rows may sit between (an SLA clock started with the record): the edit and the creation count.
        history = [entry for entry in history if entry["action"] in ("update", "create")]
        actions = [entry["action"] for entry in history]
        assert actions[:2] == ["update", "create"]
        update = history[0]
        assert update["actor_kind"] == "token"
        assert update["actor_label"].startswith(self.writer_role)
        for field, value in changes.items():
            assert field in update["changes"]
            assert update["changes"][field][1] == value

    # --- bounded reads ---------------------------------------------------------------------------------
    def test_list_query_count_does_not_grow_with_rows(self, api, users, team):
        client = api(users["viewer"])
        self.make(team)
        client.get(self.endpoint)  # warm caches (content types, token last-used)
        with CaptureQueriesContext(connection) as one:
            assert client.get(self.endpoint).status_code == 200
        for _ in range(15):
            self.make(team)
        with CaptureQueriesContext(connection) as many:
            response = client.get(self.endpoint)
        assert response.status_code == 200
        assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
        if self.list_queries is not None:
            assert len(many) == self.list_queries, [q["sql"] for q in many.captured_queries]


class TeamScopedAPITests:
    """For record types that belong to a team (TEAM_FIELD): a team role counts for that team only.
    Combine with APIRecordTests and set `team_field`."""

    def test_team_role_applies_only_to_that_teams_records(self, api, users, team, other_team):
        own, foreign = self.make(team), self.make(other_team)
        client = api(users["team_manager"])
        assert client.patch(self.url(own), self.update_payload(), format="json").status_code == 200
        assert client.patch(self.url(foreign), self.update_payload(), format="json").status_code == 403
        assert client.post(self.endpoint, self.create_payload(team), format="json").status_code == 201
        assert client.post(self.endpoint, self.create_payload(other_team), format="json").status_code == 403


class WorkflowAPITests:
    """For record types with a declared workflow: the status is read-only and transitions are
    checked. Combine with APIRecordTests and set `transition`."""

    def test_status_cannot_be_patched(self, api, users, team):
        record = self.make(team)
        before = record.status
        response = api(users["admin"]).patch(self.url(record), {"status": "retired"}, format="json")
        assert response.status_code == 400
        assert "status" in response.json()["error"]["fields"]
        record.refresh_from_db()
        assert record.status == before

    def test_transition_and_illegal_transition(self, api, users, team):
        name, data = self.transition
        record = self.make(team)
        client = api(users["admin"])
        response = client.post(self.url(record, name.replace("_", "-")), data, format="json")
        assert response.status_code == 200, response.content
        assert history_for(record).first().action == name
        again = client.post(self.url(record, name.replace("_", "-")), data, format="json")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "conflict"
        assert again.json()["error"]["message"]


class PageRecordTests:
    """The UI pages of a record type: list, detail tabs, CSV, forms and their permissions."""

    list_url = ""
    factory = None
    team_field = None
    list_queries: int | None = None

    def form_data(self, team) -> dict:
        raise NotImplementedError

    def make(self, team=None, **kwargs):
        if self.team_field and team is not None:
            kwargs[self.team_field] = team
        return self.factory(**kwargs)

    def test_anonymous_is_sent_to_login(self, client, db):
        response = client.get(self.list_url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]

    def test_list_detail_and_tabs_render(self, client, users, team):
        record = self.make(team)
        client.force_login(users["viewer"])
        listing = client.get(self.list_url)
        assert listing.status_code == 200
        assert str(record.number if hasattr(record, "number") else record) in listing.content.decode()
        for tab in ("details", "timeline", "history", "attachments"):
            page = client.get(f"{record.get_absolute_url()}?tab={tab}")
            assert page.status_code == 200, tab

    def test_csv_export_has_header_and_rows(self, client, users, team):
        self.make(team)
        self.make(team)
        client.force_login(users["viewer"])
        response = client.get(self.list_url, {"export": "csv"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        lines = b"".join(response.streaming_content).decode().strip().splitlines()
        assert len(lines) == 3

    def test_list_query_count_does_not_grow_with_rows(self, client, users, team):
        client.force_login(users["viewer"])
        self.make(team)
        client.get(self.list_url)
        with CaptureQueriesContext(connection) as one:
            client.get(self.list_url)
        for _ in range(15):
            self.make(team)
        with CaptureQueriesContext(connection) as many:
            assert client.get(self.list_url).status_code == 200
        assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
        if self.list_queries is not None:
            assert len(many) == self.list_queries

    def test_create_form_permission_and_inline_errors(self, client, users, team):
        client.force_login(users["viewer"])
        assert client.get(f"{self.list_url}new/").status_code == 403
        client.force_login(users["manager"])
        invalid = client.post(f"{self.list_url}new/", {})
        assert invalid.status_code == 422
        assert "is-invalid" in invalid.content.decode()
        response = client.post(f"{self.list_url}new/", self.form_data(team))
        assert response.status_code == 302, response.content.decode()[:3000]
