"""The import API: who may import (global managers), what a discovery tool pushes and gets back (202,
the run, its report), bad and oversized files, applying a dry run, and the list's query count."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.cmdb.models import ConfigurationItem, ImportRun

URL = "/api/v1/cmdb/imports/"
CSV = b"name,serial,ip,os\nweb01,S1,10.0.0.1,Debian\nweb02,S2,10.0.0.2,Ubuntu\n"


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.CMDB_IMPORT_DIR = tmp_path / "imports"


def upload(client, content=CSV, name="cis.csv", **options):
    data = {"file": SimpleUploadedFile(name, content), "match_keys": "serial_number", "default_class": "server",
            **options}
    return client.post(URL, data, format="multipart")


def stored_files(settings):
    return sorted(p.name for p in settings.CMDB_IMPORT_DIR.iterdir()) if settings.CMDB_IMPORT_DIR.exists() else []


def test_without_credentials_is_401(api, db):
    response = api().post(URL, {}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("role,expected", [("viewer", 403), ("responder", 403), ("team_manager", 403),
                                           ("manager", 202), ("admin", 202)])
def test_only_global_managers_import(api, users, role, expected):
    response = upload(api(users[role]))
    assert response.status_code == expected, response.content
    assert ImportRun.objects.count() == (1 if expected == 202 else 0)


def test_read_only_token_cannot_import(api, users):
    assert upload(api(users["admin"], scope="read")).status_code == 403


def test_upload_is_202_with_the_queued_run_then_the_job_leaves_its_report(api, users,
                                                                         django_capture_on_commit_callbacks):
    client = api(users["manager"])
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, name="servers.csv")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["dry_run"] is True and body["file_name"] == "servers.csv"
    assert body["mapping"] == {"name": "name", "serial": "serial_number", "ip": "ip_addresses", "os": "attr.os"}
    assert response["Location"] == f"{URL}{body['id']}/"
    detail = client.get(f"{URL}{body['id']}/").json()
    assert detail["status"] == "done" and detail["created_count"] == 2 and len(detail["file_sha256"]) == 64
    assert detail["report"][0] == {"row": 2, "action": "create", "ci": None, "message": "", "changes": {
        "name": [None, "web01"], "serial_number": [None, "S1"], "ip_addresses": [None, ["10.0.0.1"]],
        "ci_class": [None, "Server"], "attributes.os": [None, "Debian"]}}
    assert not ConfigurationItem.objects.exists(), "a dry run by default"


def test_a_discovery_tool_pushes_rows_as_json(api, users, django_capture_on_commit_callbacks):
    rows = [{"name": "sw01", "hostnames": ["sw01.example.net"], "ip_addresses": ["10.9.0.1"], "class": "network-device",
             "attr.firmware": "17.9.4", "attr.port_count": 48}]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["manager"]).post(URL, {"kind": "rows", "rows": rows, "source": "netscan",
                                                    "match_keys": ["hostname"], "dry_run": False}, format="json")
    assert response.status_code == 202, response.content
    ci = ConfigurationItem.objects.get()
    assert (ci.name, ci.ci_class.slug, ci.discovery_source) == ("sw01", "network-device", "netscan")
    assert ci.attributes == {"firmware": "17.9.4", "port_count": 48}


def test_a_file_that_cannot_be_read_is_400_and_leaves_nothing(api, users, settings):
    response = upload(api(users["manager"]), content=b"name,ip\nnot,excel\n", name="cis.xlsx")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["fields"]["file"] == "This is not an Excel (XLSX) file."
    assert not ImportRun.objects.exists() and stored_files(settings) == []


def test_a_file_of_unknown_kind_is_400(api, users, settings):
    response = upload(api(users["manager"]), content=b"hello", name="notes.doc")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["kind"].startswith("Cannot tell what kind of file this is")
    assert stored_files(settings) == []


def test_bad_options_are_400_naming_the_fields(api, users, settings):
    response = upload(api(users["manager"]), match_keys="colour", default_class="toaster")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"match_keys", "default_class"}
    response = upload(api(users["manager"]), on_unseen="burn")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"on_unseen"}
    response = api(users["manager"]).post(URL, {"kind": "rows"}, format="json")
    assert response.status_code == 400 and "file" in response.json()["error"]["fields"]
    assert not ImportRun.objects.exists() and stored_files(settings) == []


def test_too_large_is_413(api, users, settings):
    settings.CMDB_IMPORT_MAX_BYTES = 50
    client = api(users["manager"])
    response = upload(client)
    assert response.status_code == 413
    assert response.json()["error"] == {"code": "payload_too_large", "fields": {},
                                        "message": "The file is larger than the import limit of 50\xa0bytes."}
    rows = [{"name": f"host{i}", "serial_number": f"S{i}"} for i in range(10)]
    response = client.post(URL, {"kind": "rows", "rows": rows, "match_keys": ["serial_number"]}, format="json")
    assert response.status_code == 413
    assert not ImportRun.objects.exists() and stored_files(settings) == []


def test_apply_a_dry_run(api, users, django_capture_on_commit_callbacks):
    manager = api(users["manager"])
    with django_capture_on_commit_callbacks(execute=True):
        dry = upload(manager).json()
    assert api(users["viewer"]).post(f"{URL}{dry['id']}/apply/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(f"{URL}{dry['id']}/apply/")
    assert response.status_code == 202
    applied = response.json()
    assert applied["dry_run"] is False and applied["id"] != dry["id"]
    assert ConfigurationItem.objects.count() == 2
    again = manager.post(f"{URL}{applied['id']}/apply/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert manager.post(f"{URL}999999/apply/").status_code == 404


def test_viewers_read_runs_and_reports(api, users, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run_id = upload(api(users["manager"])).json()["id"]
    viewer = api(users["viewer"])
    listed = viewer.get(URL).json()
    assert listed["count"] == 1 and "report" not in listed["results"][0]
    assert len(viewer.get(f"{URL}{run_id}/").json()["report"]) == 2
    assert viewer.get(f"{URL}?status=done&kind=csv").json()["count"] == 1
    assert viewer.get(f"{URL}?status=failed").json()["count"] == 0
    assert viewer.get(f"{URL}999999/").status_code == 404


def test_list_query_count_is_pinned(api, users):
    manager, viewer = api(users["manager"]), api(users["viewer"])
    upload(manager)
    viewer.get(URL)  # warm caches (content types, token last used)
    with CaptureQueriesContext(connection) as one:
        assert viewer.get(URL).status_code == 200
    for _ in range(5):
        upload(manager)
    with CaptureQueriesContext(connection) as many:
        assert viewer.get(URL).json()["count"] == 6
    assert len(many) == len(one) == 3, [q["sql"] for q in many.captured_queries]  # token, count, page


def test_openapi_schema_documents_the_import_endpoints(db):
    from django.urls import include, path
    from drf_spectacular.generators import SchemaGenerator
    from openapi_spec_validator import validate
    from rest_framework.routers import DefaultRouter

    from opsdesk.cmdb.import_api import ImportRunViewSet

    router = DefaultRouter()
    router.register("imports", ImportRunViewSet, basename="cmdb-import")
    schema = SchemaGenerator(patterns=[path("api/v1/cmdb/", include(router.urls))]).get_schema(public=True)
    validate(json.loads(json.dumps(schema, default=str)))
    create = schema["paths"]["/api/v1/cmdb/imports/"]["post"]
    assert {"multipart/form-data", "application/json"} <= set(create["requestBody"]["content"])
    assert {"202", "400", "413"} <= set(create["responses"])
    assert "202" in schema["paths"]["/api/v1/cmdb/imports/{id}/apply/"]["post"]["responses"]
