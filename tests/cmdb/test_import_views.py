"""The import pages: a manager's path upload -> column mapping -> dry run preview -> apply, what viewers
may see, the errors a user gets for a bad file or bad settings, and the list's query count."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from opsdesk.cmdb import import_runs
from opsdesk.cmdb.models import ConfigurationItem, ImportRun
from opsdesk.core.actors import Actor
from tests.cmdb.factories import CIFactory

CSV = b"Host name,Serial,Operating system,Colour\nweb01,S1,Debian,red\nweb02,S2,Ubuntu,blue\n"


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.CMDB_IMPORT_DIR = tmp_path / "imports"


def login(client, user):
    client.force_login(user)
    return client


def mapping_post(token, **changes):
    data = {"file": token, "name": "Servers", "source": "inventory", "default_class": "server",
            "match_keys": ["serial_number"], "col_0": "name", "col_1": "serial_number", "col_2": "attr.os",
            "col_3": "", "on_no_match": "create", "on_one_match": "update", "on_many_matches": "error",
            "on_unseen": "ignore"}
    data.update(changes)
    return data


def test_upload_map_dry_run_preview_then_apply(client, users, django_capture_on_commit_callbacks):
    login(client, users["manager"])
    CIFactory(name="web01", serial_number="S1", attributes={"os": "Debian 11"})
    assert client.get(reverse("cmdb:import_upload")).status_code == 200
    response = client.post(reverse("cmdb:import_upload"), {"file": SimpleUploadedFile("servers.csv", CSV)})
    assert response.status_code == 302 and response["Location"].startswith(reverse("cmdb:import_map"))
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    for column in ("Host name", "Serial", "Operating system", "Colour"):
        assert f'data-column="{column}"' in html
    token = re.search(r'name="file" value="([^"]+)"', html).group(1)
    assert re.search(r'<option value="attr\.os" selected>', html), "columns named like an attribute are suggested"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("cmdb:import_map"), mapping_post(token))
    dry = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == dry.get_absolute_url()
    assert dry.mapping == {"Host name": "name", "Serial": "serial_number", "Operating system": "attr.os", "Colour": ""}
    preview = client.get(dry.get_absolute_url()).content.decode()
    assert 'id="count-create">1<' in preview and 'id="count-update">1<' in preview
    assert "Dry run: nothing was written" in preview and "Debian 11" in preview
    assert ConfigurationItem.objects.count() == 1
    errors_only = client.get(dry.get_absolute_url() + "?action=error").content.decode()
    assert "report-line" not in errors_only
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("cmdb:import_apply", args=[dry.pk]))
    applied = ImportRun.objects.exclude(pk=dry.pk).get()
    assert response["Location"] == applied.get_absolute_url() and not applied.dry_run
    assert ConfigurationItem.objects.get(serial_number="S1").attributes == {"os": "Debian"}
    assert ConfigurationItem.objects.filter(serial_number="S2").exists()
    assert f"Applied as {applied.number}" in client.get(dry.get_absolute_url()).content.decode()


def test_a_bad_file_is_refused_on_the_upload_page(client, users, settings):
    login(client, users["manager"])
    response = client.post(reverse("cmdb:import_upload"), {"file": SimpleUploadedFile("scan.xml", b"<nmaprun><h")})
    assert response.status_code == 422
    assert "The file is not valid XML" in response.content.decode()
    assert not ImportRun.objects.exists() and not list(settings.CMDB_IMPORT_DIR.iterdir())


def test_bad_mapping_is_shown_next_to_the_fields_and_starts_nothing(client, users):
    login(client, users["manager"])
    staged = import_runs.stage_upload(SimpleUploadedFile("servers.csv", CSV), "csv")
    response = client.post(reverse("cmdb:import_map"), mapping_post(staged.sign(), col_1="", col_0="name",
                                                                     col_2="name"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Two columns are mapped to the same field." in html
    assert not ImportRun.objects.exists()


def test_an_expired_or_forged_file_token_goes_back_to_the_upload(client, users):
    login(client, users["manager"])
    response = client.get(reverse("cmdb:import_map") + "?file=forged")
    assert response.status_code == 302 and response["Location"] == reverse("cmdb:import_upload")


@pytest.mark.parametrize("role,status", [("viewer", 403), ("responder", 403), ("team_manager", 403),
                                         ("manager", 200), ("admin", 200)])
def test_only_global_managers_may_import(client, users, role, status):
    login(client, users[role])
    assert client.get(reverse("cmdb:import_upload")).status_code == status
    assert client.get(reverse("cmdb:import_list")).status_code == 200, "everyone reads the imports"


def test_viewers_see_runs_without_the_apply_button(client, users):
    staged = import_runs.stage_upload(SimpleUploadedFile("servers.csv", CSV), "csv")
    run = import_runs.create_import(actor=Actor.for_user(users["manager"]), staged=staged,
                                    options={"match_keys": ["serial_number"], "default_class": "server"})
    run = import_runs.execute(run.pk)
    login(client, users["viewer"])
    html = client.get(run.get_absolute_url()).content.decode()
    assert run.number in html and 'id="apply-import"' not in html
    assert client.post(reverse("cmdb:import_apply", args=[run.pk])).status_code == 403
    login(client, users["manager"])
    assert 'id="apply-import"' in client.get(run.get_absolute_url()).content.decode()


def test_a_queued_run_page_refreshes_itself(client, users):
    staged = import_runs.stage_upload(SimpleUploadedFile("servers.csv", CSV), "csv")
    run = import_runs.create_import(actor=Actor.for_user(users["manager"]), staged=staged,
                                    options={"match_keys": ["serial_number"]})
    login(client, users["viewer"])
    html = client.get(run.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 2s"' in html
    fragment = client.get(run.get_absolute_url(), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="import-body")
    assert fragment.content.decode().lstrip().startswith('<div id="import-body"')
    assert "<script" not in html.split('<main')[1].split('</main>')[0], "no inline script (CSP)"


def test_anonymous_users_go_to_the_login_page(client, db):
    response = client.get(reverse("cmdb:import_list"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_list_query_count_does_not_grow(client, users):
    def make():
        staged = import_runs.stage_upload(SimpleUploadedFile("servers.csv", CSV), "csv")
        import_runs.create_import(actor=Actor.for_user(users["manager"]), staged=staged,
                                  options={"match_keys": ["serial_number"]})

    login(client, users["viewer"])
    make()
    client.get(reverse("cmdb:import_list"))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("cmdb:import_list"))
    for _ in range(6):
        make()
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("cmdb:import_list"))
    assert response.content.decode().count('data-run="') == 7
    # session, user, count, page; memberships and unread notifications for the navigation
    assert len(many) == len(one) == 6, [q["sql"] for q in many.captured_queries]
