"""Acceptance 2 of the platform issue, in one path, as an API client would walk it."""

import pytest

pytestmark = pytest.mark.django_db


def test_service_through_the_api_with_a_token(api, users, team):
    client = api(users["manager"])
    created = client.post("/api/v1/services/", {"name": "Billing", "slug": "billing", "owner_team": team.slug,
                                                "tier": 2, "criticality": "high"}, format="json")
    assert created.status_code == 201
    url = f"/api/v1/services/{created.json()['id']}/"

    read = client.get(url)
    assert read.status_code == 200 and read["ETag"]

    updated = client.patch(url, {"tier": 1}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert updated.status_code == 200 and updated.json()["tier"] == 1

    assert client.post(f"{url}activate/", {}, format="json").status_code == 200
    retired = client.post(f"{url}retire/", {"reason": "Merged into Payments"}, format="json")
    assert retired.status_code == 200 and retired.json()["status"] == "retired"

    refused = client.patch(url, {"status": "active"}, format="json")
    assert refused.status_code == 400 and "status" in refused.json()["error"]["fields"]

    history = client.get(f"{url}history/").json()["results"]
    assert [h["action"] for h in history] == ["retire", "activate", "update", "create"]
    for entry in history:
        assert entry["actor_kind"] == "token" and entry["actor_label"].startswith("manager (token ")
    assert history[2]["changes"]["tier"] == [2, 1]
    assert history[0]["changes"]["status"] == ["active", "retired"]

    viewer = api(users["viewer"])
    assert viewer.patch(url, {"tier": 3}, format="json").status_code == 403
    assert viewer.post(f"{url}reinstate/", {"reason": "x"}, format="json").status_code == 403

    assert api().get(url).status_code == 401

    malformed = client.generic("PATCH", url, "{tier: 1", content_type="application/json")
    assert malformed.status_code == 400
    assert set(malformed.json()["error"]) == {"code", "message", "fields"}

    assert client.get("/api/v1/services/987654/").status_code == 404
