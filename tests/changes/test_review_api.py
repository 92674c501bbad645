"""The review API: reading and writing the post-implementation review, marking incidents as caused by a
change and taking the mark away, with roles, read-only tokens, 400s that write nothing and 409s."""

from __future__ import annotations

import pytest

from opsdesk.changes import reviews
from opsdesk.changes.models import CausedIncident, PostImplementationReview
from opsdesk.core.actors import Actor
from tests.changes.factories import make_change, put_in_state
from tests.incidents.factories import make_incident

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")
REVIEW = {"objectives": "met", "summary": "Went to plan.", "lessons": "", "follow_ups": ""}


def in_review(**fields):
    return put_in_state(make_change(change_type=fields.pop("change_type", "normal")), "review",
                        outcome=fields.pop("outcome", "backed_out"), **fields)


def test_get_review_says_required_and_why(api, users):
    change = in_review()
    body = api(users["viewer"], scope="read").get(f"/api/v1/changes/changes/{change.pk}/review/").json()
    assert body["required"] is True and body["reasons"] == ["outcome: backed out"]
    assert body["missing"].startswith("A post-implementation review is required before closing")
    assert body["review"] is None


def test_post_review(api, users):
    change = in_review(change_type="emergency")
    response = api(users["responder"]).post(f"/api/v1/changes/changes/{change.pk}/review/", REVIEW, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["objectives"] == "met" and body["retrospective"] is True and body["reviewer"] == "responder"
    after = api(users["viewer"]).get(f"/api/v1/changes/changes/{change.pk}/review/").json()
    assert after["missing"] == "" and after["review"]["summary"] == "Went to plan."


def test_post_review_bad_input_400_nothing_written(api, users):
    change = in_review()
    response = api(users["responder"]).post(f"/api/v1/changes/changes/{change.pk}/review/",
                                            {"objectives": "somewhat"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"objectives", "summary"}
    assert not PostImplementationReview.objects.exists()


def test_post_review_409_outside_review(api, users):
    change = put_in_state(make_change(), "implementing")
    response = api(users["responder"]).post(f"/api/v1/changes/changes/{change.pk}/review/", REVIEW, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert not PostImplementationReview.objects.exists()


@pytest.mark.parametrize(("role", "scope", "expected"), [
    ("viewer", "write", 403), ("responder", "read", 403), ("responder", "write", 200), ("manager", "write", 200),
    ("admin", "write", 200)])
def test_review_roles(api, users, role, scope, expected):
    change = in_review()
    response = api(users[role], scope=scope).post(f"/api/v1/changes/changes/{change.pk}/review/", REVIEW,
                                                  format="json")
    assert response.status_code == expected
    assert PostImplementationReview.objects.exists() is (expected == 200)


def test_anonymous_gets_401(api):
    change = in_review()
    assert api().get(f"/api/v1/changes/changes/{change.pk}/review/").status_code == 401
    assert api().get(f"/api/v1/changes/changes/{change.pk}/caused-incidents/").status_code == 401
    assert api().get("/api/v1/changes/kpis/").status_code == 401


def test_mark_list_and_unmark(api, users):
    change = put_in_state(make_change(), "closed", outcome="failed")
    incident = make_incident()
    client = api(users["responder"])
    url = f"/api/v1/changes/changes/{change.pk}/caused-incidents/"
    created = client.post(url, {"incident": incident.number, "note": "Config typo"}, format="json")
    assert created.status_code == 201
    assert created.json()["incident"] == incident.number and created.json()["note"] == "Config typo"
    listed = api(users["viewer"], scope="read").get(url).json()
    assert [row["incident"] for row in listed] == [incident.number]
    assert client.delete(f"{url}{incident.number}/").status_code == 204
    assert client.delete(f"{url}{incident.number}/").status_code == 404
    assert not CausedIncident.objects.exists()


def test_mark_bad_incident_400_nothing_written(api, users):
    change = in_review()
    response = api(users["responder"]).post(f"/api/v1/changes/changes/{change.pk}/caused-incidents/",
                                            {"incident": "INC-424242"}, format="json")
    assert response.status_code == 400 and "incident" in response.json()["error"]["fields"]
    assert not CausedIncident.objects.exists()


@pytest.mark.parametrize(("role", "scope", "expected"), [
    ("viewer", "write", 403), ("responder", "read", 403), ("responder", "write", 201), ("manager", "write", 201)])
def test_mark_roles(api, users, role, scope, expected):
    change = in_review()
    incident = make_incident()
    response = api(users[role], scope=scope).post(f"/api/v1/changes/changes/{change.pk}/caused-incidents/",
                                                  {"incident": incident.number}, format="json")
    assert response.status_code == expected
    assert CausedIncident.objects.exists() is (expected == 201)


def test_unmark_refused_to_a_viewer(api, users):
    change = in_review()
    incident = make_incident()
    reviews.mark_caused(change, incident, actor=ACTOR)
    response = api(users["viewer"]).delete(f"/api/v1/changes/changes/{change.pk}/caused-incidents/{incident.number}/")
    assert response.status_code == 403 and CausedIncident.objects.count() == 1


def test_caused_list_queries_do_not_grow(api, users, django_assert_max_num_queries):
    change = in_review()
    client = api(users["viewer"], scope="read")
    url = f"/api/v1/changes/changes/{change.pk}/caused-incidents/"
    reviews.mark_caused(change, make_incident(), actor=ACTOR)
    client.get(url)
    with django_assert_max_num_queries(10) as one:
        client.get(url)
    for _n in range(9):
        reviews.mark_caused(change, make_incident(), actor=ACTOR)
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(client.get(url).json()) == 10
