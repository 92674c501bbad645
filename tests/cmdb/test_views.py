import datetime

import pytest
from django.utils import timezone

from opsdesk.cmdb.models import CIClass, ConfigurationItem, Relationship
from opsdesk.core.testing import PageRecordTests
from tests.cmdb.factories import CIClassFactory, CIFactory, cls, relate
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


class TestCIPages(PageRecordTests):
    list_url = "/cmdb/"
    factory = CIFactory
    team_field = "owner_team"

    def form_data(self, team):
        return {"name": "web-77", "ci_class": cls("server").pk, "environment": "production", "owner_team": team.pk,
                "ip_addresses": "10.7.7.7", "hostnames": "web-77.example.net", "redundancy_mode": "count",
                "attr_cpu_count": "4", "attr_virtualised": "true"}


class TestClassPages(PageRecordTests):
    list_url = "/cmdb/classes/"
    factory = CIClassFactory

    def form_data(self, team):
        return {"name": "PDU", "slug": "pdu", "icon": "plug", "expiry_reminder_days": "30, 7"}

    def test_csv_export_has_header_and_rows(self, client, users, team):
        made = [self.make(), self.make()]
        client.force_login(users["viewer"])
        response = client.get(self.list_url, {"export": "csv"})
        lines = b"".join(response.streaming_content).decode().strip().splitlines()
        assert lines[0].startswith("Name,Key") and len(lines) == 1 + CIClass.objects.count()
        assert all(any(c.slug in line for line in lines) for c in made)

    def test_create_form_permission_and_inline_errors(self, client, users, team):
        client.force_login(users["manager"])
        assert client.get(f"{self.list_url}new/").status_code == 403  # classes are for admins
        client.force_login(users["admin"])
        assert client.post(f"{self.list_url}new/", {}).status_code == 422
        assert client.post(f"{self.list_url}new/", self.form_data(team)).status_code == 302
        assert CIClass.objects.get(slug="pdu").expiry_reminder_days == [30, 7]


def test_new_ci_form_shows_the_chosen_class_attributes(client, users):
    client.force_login(users["manager"])
    page = client.get("/cmdb/new/", {"ci_class": "database"}).content.decode()
    assert 'name="attr_engine"' in page and 'name="attr_cpu_count"' not in page
    page = client.get("/cmdb/new/", {"ci_class": cls("server").pk}).content.decode()
    assert 'name="attr_cpu_count"' in page and 'data-reload-param="ci_class"' in page


def test_form_rejects_a_bad_attribute_inline_and_stores_nothing(client, users, team):
    client.force_login(users["manager"])
    response = client.post("/cmdb/new/", {"name": "db-9", "ci_class": cls("database").pk, "environment": "dev",
                                          "owner_team": team.pk, "redundancy_mode": "count", "attr_engine": "db2"})
    assert response.status_code == 422
    assert "is not one of" in response.content.decode() or "Select a valid choice" in response.content.decode()
    assert not ConfigurationItem.objects.filter(name="db-9").exists()


def test_edit_keeps_attributes_and_blank_removes_one(client, users, team):
    ci = CIFactory(owner_team=team, attributes={"os": "Debian", "cpu_count": 2})
    client.force_login(users["manager"])
    form = client.get(f"/cmdb/{ci.pk}/edit/").content.decode()
    assert 'value="Debian"' in form
    response = client.post(f"/cmdb/{ci.pk}/edit/", {"name": ci.name, "ci_class": ci.ci_class_id,
                                                     "environment": "production", "owner_team": team.pk,
                                                     "redundancy_mode": "count", "attr_os": "Debian",
                                                     "attr_cpu_count": "", "attr_virtualised": "unknown"})
    assert response.status_code == 302
    ci.refresh_from_db()
    assert ci.attributes == {"os": "Debian"}


def test_detail_shows_attributes_and_relationships_tab(client, users, team):
    svc = ServiceFactory(status="active", name="Payments")
    app = CIFactory(name="pay-app", ci_class=cls("application"), attributes={"version": "4.2"}, services=[svc])
    host = CIFactory(name="pay-vm-01", owner_team=team)
    relate(app, "runs-on", host)
    client.force_login(users["viewer"])
    details = client.get(app.get_absolute_url()).content.decode()
    assert "4.2" in details and "Payments" in details
    tab = client.get(f"{host.get_absolute_url()}?tab=relationships").content.decode()
    assert "runs" in tab and "pay-app" in tab
    assert 'id="relate-form"' not in tab  # viewers cannot relate


def test_relate_and_end_from_the_page(client, users, team):
    app = CIFactory(owner_team=team, ci_class=cls("application"))
    db = CIFactory(ci_class=cls("database"), name="orders-db")
    client.force_login(users["viewer"])
    assert client.post(f"/cmdb/{app.pk}/relationships/", {"type": "depends-on", "target": db.number}).status_code \
        == 403
    client.force_login(users["team_manager"])
    response = client.post(f"/cmdb/{app.pk}/relationships/", {"type": "depends-on", "target": db.number}, follow=True)
    assert "Relationship added" in response.content.decode()
    rel = Relationship.objects.get(source=app, target=db)
    bad = client.post(f"/cmdb/{app.pk}/relationships/", {"type": "depends-on", "target": "CI-999999"}, follow=True)
    assert "No CI" in bad.content.decode()
    assert client.post(f"/cmdb/{app.pk}/relationships/{rel.pk}/end/").status_code == 302
    rel.refresh_from_db()
    assert rel.ended_at is not None


def test_as_of_tab_shows_the_past(client, users):
    ci = CIFactory(location="DC1")
    past = timezone.localdate()
    ci.location = "DC2"
    from opsdesk.cmdb import services
    from opsdesk.core.actors import Actor

    services.update_ci(ci, actor=Actor.system("t"), data={"location": "DC2"})
    client.force_login(users["viewer"])
    # The end of today includes the move; the day before the CI existed shows that it did not.
    today = client.get(f"{ci.get_absolute_url()}?tab=as_of&at={past.isoformat()}").content.decode()
    assert "DC2" in today
    before = (past - datetime.timedelta(days=1)).isoformat()
    assert "did not exist" in client.get(f"{ci.get_absolute_url()}?tab=as_of&at={before}").content.decode()


def test_bulk_edit_from_the_list(client, users, team, other_team):
    a, b = CIFactory(owner_team=team), CIFactory(owner_team=team)
    foreign = CIFactory(owner_team=other_team)
    client.force_login(users["team_manager"])
    listing = client.get("/cmdb/").content.decode()
    assert 'form="bulk-form"' in listing
    form = client.get("/cmdb/bulk-edit/", {"pk": [a.pk, b.pk]})
    assert form.status_code == 200 and a.name in form.content.decode()
    assert client.get("/cmdb/bulk-edit/", {"pk": [a.pk, foreign.pk]}).status_code == 403
    empty = client.post("/cmdb/bulk-edit/", {"pk": [a.pk, b.pk]})
    assert empty.status_code == 422
    done = client.post("/cmdb/bulk-edit/", {"pk": [a.pk, b.pk], "location": "DC5", "add_tags": "edge"})
    assert done.status_code == 302
    assert set(ConfigurationItem.objects.filter(pk__in=[a.pk, b.pk]).values_list("location", flat=True)) == {"DC5"}
    foreign.refresh_from_db()
    assert foreign.location == ""
    client.force_login(users["viewer"])
    assert client.get("/cmdb/bulk-edit/", {"pk": [a.pk]}).status_code == 403


def test_attribute_filter_on_the_list_page(client, users):
    CIFactory(name="big", attributes={"cpu_count": 64})
    CIFactory(name="small", attributes={"cpu_count": 2})
    client.force_login(users["viewer"])
    page = client.get("/cmdb/", {"attr.cpu_count__gte": "32"}).content.decode()
    assert "big" in page and ">small<" not in page
    bad = client.get("/cmdb/", {"attr.cpu_count": "lots"})
    assert bad.status_code == 200 and "whole number" in bad.content.decode()


def test_service_and_ci_pages_link_to_the_cmdb(client, users):
    svc = ServiceFactory(status="active", slug="payments")
    ci = CIFactory(services=[svc])
    client.force_login(users["viewer"])
    service_page = client.get(svc.get_absolute_url()).content.decode()
    assert 'href="/cmdb/map/?service=payments"' in service_page
    assert 'href="/cmdb/?service=payments"' in service_page
    assert f'href="/cmdb/{ci.pk}/map/"' in client.get(ci.get_absolute_url()).content.decode()
    listed = client.get("/cmdb/", {"service": "payments"}).content.decode()
    assert ci.number in listed
