import pytest

from opsdesk.core.models import SavedFilter
from opsdesk.core.testing import PageRecordTests
from opsdesk.services.models import Service
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db


class TestServicePages(PageRecordTests):
    list_url = "/services/"
    factory = ServiceFactory
    team_field = "owner_team"

    def form_data(self, team):
        return {"name": "Checkout", "slug": "checkout", "kind": "technical", "owner_team": team.pk, "tier": 1,
                "criticality": "critical", "support_hours": "mon-fri 09:00-17:00", "support_time_zone": "UTC",
                "tags": "payments, pci"}


def test_form_creates_a_service_with_parsed_hours_and_tags(client, users, team):
    client.force_login(users["manager"])
    response = client.post("/services/new/", TestServicePages().form_data(team))
    service = Service.objects.get(slug="checkout")
    assert response["Location"] == service.get_absolute_url()
    assert service.support_hours["fri"] == [["09:00", "17:00"]] and "sat" not in service.support_hours
    assert sorted(t.name for t in service.tags.all()) == ["payments", "pci"]
    page = client.get(service.get_absolute_url()).content.decode()
    assert "mon-fri 09:00-17:00" in page and "Activate" in page


def test_form_errors_are_shown_next_to_the_field_and_nothing_is_created(client, users, team):
    client.force_login(users["manager"])
    data = {**TestServicePages().form_data(team), "support_hours": "someday 9-5", "support_time_zone": "Nowhere"}
    response = client.post("/services/new/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Could not read" in html and "not a known time zone" in html
    assert not Service.objects.exists()


def test_edit_keeps_status_out_of_the_form(client, users, team):
    service = ServiceFactory(owner_team=team)
    client.force_login(users["manager"])
    form = client.get(f"/services/{service.pk}/edit/").content.decode()
    assert 'name="status"' not in form
    data = {**TestServicePages().form_data(team), "name": "Renamed", "slug": service.slug, "status": "retired"}
    client.post(f"/services/{service.pk}/edit/", data)
    service.refresh_from_db()
    assert service.name == "Renamed" and service.status == "planned"


def test_team_scoped_manager_can_edit_only_own_teams_services(client, users, team, other_team):
    own, foreign = ServiceFactory(owner_team=team), ServiceFactory(owner_team=other_team)
    client.force_login(users["team_manager"])
    assert client.get(f"/services/{own.pk}/edit/").status_code == 200
    assert client.get(f"/services/{foreign.pk}/edit/").status_code == 403
    response = client.post("/services/new/", TestServicePages().form_data(other_team))
    assert response.status_code == 403
    assert not Service.objects.filter(slug="checkout").exists()


def test_transitions_from_the_page(client, users, team):
    service = ServiceFactory(owner_team=team, status="active")
    client.force_login(users["responder"])
    page = client.get(service.get_absolute_url()).content.decode()
    assert "transition/retire" not in page, "a responder is not offered transitions they may not take"
    assert client.post(f"/services/{service.pk}/transition/retire/", {"reason": "x"}).status_code == 403
    client.force_login(users["manager"])
    page = client.post(f"/services/{service.pk}/transition/retire/", {"reason": ""}, follow=True)
    assert "required" in page.content.decode()
    service.refresh_from_db()
    assert service.status == "active"
    client.post(f"/services/{service.pk}/transition/retire/", {"reason": "Moved to SaaS"})
    service.refresh_from_db()
    assert service.status == "retired" and service.status_reason == "Moved to SaaS"
    page = client.get(f"{service.get_absolute_url()}?tab=history").content.decode()
    assert "retire" in page and "Moved to SaaS" in page and "manager" in page


def test_filters_sort_and_htmx_partial(client, users, team):
    ServiceFactory(owner_team=team, name="Alpha", tier=1, status="active")
    ServiceFactory(owner_team=team, name="Bravo", tier=4)
    client.force_login(users["viewer"])
    html = client.get("/services/", {"tier": 1}).content.decode()
    assert "Alpha" in html and "Bravo" not in html
    html = client.get("/services/", {"q": "brav"}).content.decode()
    assert "Bravo" in html and "Alpha" not in html
    html = client.get("/services/", {"sort": "-name"}).content.decode()
    assert html.index("Bravo") < html.index("Alpha")
    partial = client.get("/services/", {"tier": 4}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="record-table")
    assert "<html" not in partial.content.decode() and "Bravo" in partial.content.decode()
    assert client.get("/services/", {"sort": "password"}).status_code == 200, "unknown sort keys are ignored"


def test_saved_filters_are_per_user(client, users, team):
    client.force_login(users["viewer"])
    client.post("/saved-filters/", {"list_key": "services.service", "name": "My critical view", "query": "tier=1",
                                    "next": "/services/"})
    assert SavedFilter.objects.get(user=users["viewer"]).query == "tier=1"
    assert "My critical view" in client.get("/services/").content.decode()
    client.force_login(users["manager"])
    assert "My critical view" not in client.get("/services/").content.decode()
    response = client.post("/saved-filters/", {"name": "x", "next": "https://evil.example.com/"})
    assert response["Location"] == "/"


def test_comment_via_htmx_returns_the_timeline(client, users, team):
    service = ServiceFactory(owner_team=team)
    client.force_login(users["responder"])
    response = client.post(f"/services/{service.pk}/comments/", {"body": "Checked **failover**"},
                           HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<strong>failover</strong>" in html and "<html" not in html
    empty = client.post(f"/services/{service.pk}/comments/", {"body": " "}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422 and "cannot be empty" in empty.content.decode()


def test_global_search_finds_and_jumps_by_number(client, users, team):
    service = ServiceFactory(owner_team=team, name="Kafka Brokers")
    client.force_login(users["viewer"])
    assert "Kafka Brokers" in client.get("/search/", {"q": "kafka"}).content.decode()
    response = client.get("/search/", {"q": service.number.lower()})
    assert response.status_code == 302 and response["Location"] == service.get_absolute_url()


def test_dashboard_and_navigation(client, users, team):
    ServiceFactory(owner_team=team, tier=1, status="active", name="Core Network")
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    assert "Core Network" in html and 'id="chart-data"' in html and 'href="/services/"' in html


def test_jobs_page_is_for_managers(client, users):
    client.force_login(users["responder"])
    assert client.get("/jobs/").status_code == 403
    client.force_login(users["manager"])
    assert client.get("/jobs/").status_code == 200


def test_notifications_page_marks_read(client, users, team, django_capture_on_commit_callbacks):
    from opsdesk.core.models import Notification, Subscription

    Subscription.objects.create(user=users["viewer"], event_type="service.*")
    with django_capture_on_commit_callbacks(execute=True):
        service = ServiceFactory(owner_team=team)
    client.force_login(users["viewer"])
    assert str(service) in client.get("/notifications/").content.decode()
    note = Notification.objects.get(user=users["viewer"])
    response = client.post("/notifications/", {"id": note.pk})
    assert response["Location"] == service.get_absolute_url()
    note.refresh_from_db()
    assert note.read_at is not None


def test_dependencies_are_typed_as_keys(client, users, team):
    ServiceFactory(owner_team=team, slug="postgres", name="PostgreSQL")
    ServiceFactory(owner_team=team, slug="kafka", name="Kafka")
    client.force_login(users["manager"])
    data = {**TestServicePages().form_data(team), "depends_on": "postgres, nope"}
    response = client.post("/services/new/", data)
    assert response.status_code == 422 and "No service with the key nope" in response.content.decode()
    data["depends_on"] = "kafka, postgres"
    client.post("/services/new/", data)
    service = Service.objects.get(slug="checkout")
    assert sorted(s.slug for s in service.depends_on.all()) == ["kafka", "postgres"]
    form = client.get(f"/services/{service.pk}/edit/").content.decode()
    assert 'value="kafka, postgres"' in form and "<option" not in form.split('name="depends_on"')[1][:200]


def test_a_hub_lists_a_bounded_number_of_dependents(client, users, team, settings):
    from opsdesk.services.views import ServiceUI

    hub = ServiceFactory(owner_team=team, name="Hub", status="active")
    for _ in range(ServiceUI.LINKS_SHOWN + 3):
        ServiceFactory(owner_team=team, depends_on=[hub])
    client.force_login(users["viewer"])
    page = client.get(hub.get_absolute_url()).content.decode()
    assert "and 3 more" in page


def test_tag_filter_lists_each_service_once(client, users, team):
    ServiceFactory(owner_team=team, name="Both", tags=["a", "b"])
    client.force_login(users["viewer"])
    page = client.get("/services/", {"tag": ["a", "b"]}).content.decode()
    assert page.count(">Both<") == 1


def test_every_form_field_is_styled(client, users, team):
    client.force_login(users["manager"])
    service = ServiceFactory(owner_team=team)
    form = client.get(f"/services/{service.pk}/edit/").context["form"]
    unstyled = [name for name, field in form.fields.items() if "form-" not in field.widget.attrs.get("class", "")]
    assert unstyled == []
