"""CAB meetings: the agenda from the changes awaiting the CAB with their summary, decisions that are the member's
own approval, minutes, pages and API with per-role permissions."""

import datetime

import pytest
from django.utils import timezone

from opsdesk.changes import approvals, cab
from opsdesk.changes.models import CABAgendaItem, CABMeeting, ChangeRequest, PlanStep
from opsdesk.core.actors import Actor
from opsdesk.core.workflow import TransitionNotAllowed
from tests.accounts.factories import TeamFactory, UserFactory
from tests.changes.approval_factories import change_in, member, to_approval
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/changes"


def act(user):
    return Actor.for_user(user)


@pytest.fixture
def board(db):
    team = TeamFactory(slug="dba", name="DBA")
    lead = member(team, "lead")
    gm1, gm2 = UserFactory(username="gm1", role="manager"), UserFactory(username="gm2", role="manager")
    requester = member(team, "req", "responder")
    service = ServiceFactory(name="Billing")
    high = change_in(team, requester=requester, risk_level="high", title="Migrate billing DB")
    ChangeRequest.objects.filter(pk=high.pk).update(
        risk_score=62, risk_factors=[{"key": "impact", "label": "Tier-1 service reached", "points": 30,
                                      "explanation": "Billing"}],
        collisions=[{"kind": "ci", "message": "CHG-9 works on db-01 at the same time"}])
    high.services.set([service])
    PlanStep.objects.create(change=high, kind="implementation", order=1, action="Stop writes")
    PlanStep.objects.create(change=high, kind="implementation", order=2, action="Switch over")
    PlanStep.objects.create(change=high, kind="backout", order=1, action="Switch back")
    high = to_approval(high)
    approvals.decide_for_change(high, actor=act(lead), decision="approved")  # now at the CAB stage
    low = to_approval(change_in(team, title="Small tweak"))  # team lead stage only: not for the CAB
    meeting = cab.create_meeting(actor=act(gm1), data={
        "title": "Weekly CAB", "starts_at": timezone.now() + datetime.timedelta(hours=2), "attendees": [gm1, gm2]})
    return {"team": team, "lead": lead, "gm1": gm1, "gm2": gm2, "requester": requester, "high": high, "low": low,
            "meeting": meeting}


def test_the_agenda_holds_the_changes_awaiting_the_cab_with_their_summary(board):
    high = ChangeRequest.objects.get(pk=board["high"].pk)
    assert high.approval_stage == 2
    items = cab.generate_agenda(board["meeting"], actor=act(board["gm1"]))
    assert [item.change.number for item in items] == [high.number]
    summary = items[0].summary
    assert summary["risk_level"] == "high" and summary["risk_score"] == 62
    assert summary["risk_factors"] == ["Tier-1 service reached"]
    assert summary["collision_count"] == 1 and "db-01" in summary["collisions"][0]
    assert summary["plan_steps"] == 2 and summary["backout_steps"] == 1
    assert summary["services"] == ["Billing"] and summary["planned_start"]


def test_regenerating_keeps_decided_items_and_adds_new_ones(board):
    cab.generate_agenda(board["meeting"], actor=act(board["gm1"]))
    item = CABAgendaItem.objects.get()
    cab.record_decision(item, actor=act(board["gm1"]), decision="deferred", notes="Needs a DBA present")
    other = change_in(board["team"], risk_level="very_high", title="Re-index everything")
    to_approval(other)  # high risk, still at the team lead stage: it is on the agenda too
    items = cab.generate_agenda(board["meeting"], actor=act(board["gm1"]))
    assert {i.change_id for i in items} == {board["high"].pk, other.pk}
    assert CABAgendaItem.objects.get(change=board["high"]).decision == "deferred"


def test_a_member_who_is_an_approver_records_their_own_approval(board):
    cab.generate_agenda(board["meeting"], actor=act(board["gm1"]))
    item = CABAgendaItem.objects.get()
    item = cab.record_decision(item, actor=act(board["gm1"]), decision="approved", notes="Go")
    assert item.decision == ""  # 2 of M are needed: not settled yet
    assert "Approved by gm1" in item.notes
    assert ChangeRequest.objects.get(pk=board["high"].pk).status == "approval"
    item = cab.record_decision(item, actor=act(board["gm2"]), decision="approved")
    assert item.decision == "approved"
    assert ChangeRequest.objects.get(pk=board["high"].pk).status == "scheduled"
    decided = board["high"].approvals.filter(stage_order=2, status="approved")
    assert set(decided.values_list("decided_by__username", flat=True)) == {"gm1", "gm2"}


def test_others_get_403_and_the_requester_too(board, users):
    cab.generate_agenda(board["meeting"], actor=act(board["gm1"]))
    item = CABAgendaItem.objects.get()
    from django.core.exceptions import PermissionDenied

    for user in (users["responder"], board["requester"]):
        with pytest.raises(PermissionDenied):
            cab.record_decision(item, actor=act(user), decision="approved")
    assert CABAgendaItem.objects.get().decided_by is None
    assert not board["high"].approvals.filter(stage_order=2).exclude(status="pending").exists()


def test_a_rejection_in_the_cab_rejects_the_change(board):
    cab.generate_agenda(board["meeting"], actor=act(board["gm1"]))
    item = CABAgendaItem.objects.get()
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        cab.record_decision(item, actor=act(board["gm2"]), decision="rejected", notes="")
    item = cab.record_decision(item, actor=act(board["gm2"]), decision="rejected", notes="Too close to month end")
    assert item.decision == "rejected"
    assert ChangeRequest.objects.get(pk=board["high"].pk).status == "rejected"
    with pytest.raises(TransitionNotAllowed):
        cab.record_decision(item, actor=act(board["gm1"]), decision="approved")


def test_minutes_hold_attendees_changes_summaries_and_decisions(board):
    cab.generate_agenda(board["meeting"], actor=act(board["gm1"]))
    item = CABAgendaItem.objects.get()
    cab.record_decision(item, actor=act(board["gm1"]), decision="approved", notes="Go")
    cab.record_decision(item, actor=act(board["gm2"]), decision="approved")
    text = cab.generate_minutes(CABMeeting.objects.get(pk=board["meeting"].pk))
    assert "gm1" in text and "gm2" in text
    assert board["high"].number in text and "Tier-1 service reached" in text and "db-01" in text
    assert "**Decision: Approved**" in text and "Approved by gm1: Go" in text
    meeting = cab.save_minutes(board["meeting"], actor=act(board["gm1"]), text=text + "\nAOB: none\n")
    assert meeting.minutes.endswith("AOB: none\n")


def test_meeting_transitions(board):
    meeting = cab.transition_meeting(board["meeting"], "hold", actor=act(board["gm1"]))
    assert meeting.status == "held" and meeting.ends_at is not None
    with pytest.raises(TransitionNotAllowed):
        cab.generate_agenda(meeting, actor=act(board["gm1"]))


# --- pages ---------------------------------------------------------------------------------------------------

def test_pages_list_detail_agenda_and_minutes(client, board):
    client.force_login(board["gm1"])
    assert board["meeting"].number in client.get("/changes/cab/").content.decode()
    meeting = board["meeting"]
    assert client.post(f"/changes/cab/{meeting.pk}/agenda/").status_code == 302
    page = client.get(f"/changes/cab/{meeting.pk}/").content.decode()
    assert board["high"].number in page and "Tier-1 service reached" in page
    item = CABAgendaItem.objects.get()
    bad = client.post(f"/changes/cab/{meeting.pk}/items/{item.pk}/decide/", {"decision": "rejected", "notes": ""})
    assert bad.status_code == 422 and "Say why" in bad.content.decode()
    ok = client.post(f"/changes/cab/{meeting.pk}/items/{item.pk}/decide/", {"decision": "approved", "notes": "Go"})
    assert ok.status_code == 302
    minutes = client.get(f"/changes/cab/{meeting.pk}/minutes/")
    assert minutes.status_code == 200 and "Approved by gm1" in minutes.content.decode()
    md = client.get(f"/changes/cab/{meeting.pk}/minutes.md")
    assert md["Content-Type"].startswith("text/markdown") and b"Weekly CAB" in md.content
    printable = client.get(f"/changes/cab/{meeting.pk}/minutes/print/").content.decode()
    assert "<h1>" in printable and "<script" not in printable
    saved = client.post(f"/changes/cab/{meeting.pk}/minutes/", {"minutes": "# Edited"})
    assert saved.status_code == 302 and CABMeeting.objects.get(pk=meeting.pk).minutes == "# Edited"


def test_page_permissions(client, board, users):
    meeting = board["meeting"]
    assert client.get("/changes/cab/").status_code == 302  # anonymous: login
    client.force_login(users["viewer"])
    assert client.get(f"/changes/cab/{meeting.pk}/").status_code == 200
    assert client.get("/changes/cab/new/").status_code == 403
    assert client.post(f"/changes/cab/{meeting.pk}/agenda/").status_code == 403
    assert client.post(f"/changes/cab/{meeting.pk}/minutes/", {"minutes": "x"}).status_code == 403
    assert client.post(f"/changes/cab/{meeting.pk}/transition/hold/").status_code == 403
    client.force_login(users["manager"])
    response = client.post("/changes/cab/new/", {"title": "", "starts_at": ""})
    assert response.status_code == 422 and CABMeeting.objects.count() == 1
    response = client.post("/changes/cab/new/", {"title": "ECAB", "starts_at": "2030-01-01T10:00", "emergency": "on"})
    assert response.status_code == 302 and CABMeeting.objects.get(title="ECAB").emergency


@pytest.mark.parametrize("count", [1, 6])
def test_list_page_query_count(client, users, count, django_assert_max_num_queries):
    for n in range(count):
        cab.create_meeting(actor=act(users["manager"]), data={"title": f"CAB {n}", "starts_at": timezone.now()})
    client.force_login(users["viewer"])
    with django_assert_max_num_queries(10):
        response = client.get("/changes/cab/")
    assert response.content.decode().count('class="cab-meeting"') == count


# --- API -----------------------------------------------------------------------------------------------------

def test_api_meeting_agenda_decision_and_minutes(api, board):
    client = api(board["gm2"])
    meeting = board["meeting"]
    response = client.post(f"{BASE}/cab-meetings/{meeting.pk}/generate-agenda/", format="json")
    assert response.status_code == 200 and response.json()[0]["change"] == board["high"].number
    item_id = response.json()[0]["id"]
    decided = client.post(f"{BASE}/cab-meetings/{meeting.pk}/items/{item_id}/decide/",
                          {"decision": "approved", "notes": "ok"}, format="json")
    assert decided.status_code == 200, decided.content
    detail = client.get(f"{BASE}/cab-meetings/{meeting.pk}/").json()
    assert detail["items"][0]["notes"].startswith("- Approved by gm2")
    md = client.get(f"{BASE}/cab-meetings/{meeting.pk}/minutes.md")
    assert md.status_code == 200 and board["high"].number.encode() in md.content
    assert client.put(f"{BASE}/cab-meetings/{meeting.pk}/minutes/", {"minutes": "# M"}, format="json").json() == {
        "minutes": "# M"}


def test_api_permissions_and_bad_input(api, board, users):
    meeting = board["meeting"]
    assert api().get(f"{BASE}/cab-meetings/").status_code in (401, 403)
    viewer = api(users["viewer"])
    assert viewer.get(f"{BASE}/cab-meetings/").status_code == 200
    assert viewer.post(f"{BASE}/cab-meetings/", {"title": "X", "starts_at": "2030-01-01T10:00:00Z"},
                       format="json").status_code == 403
    assert viewer.post(f"{BASE}/cab-meetings/{meeting.pk}/generate-agenda/").status_code == 403
    cab.generate_agenda(meeting, actor=act(board["gm1"]))
    item = CABAgendaItem.objects.get()
    refused = api(users["responder"]).post(f"{BASE}/cab-meetings/{meeting.pk}/items/{item.pk}/decide/",
                                           {"decision": "approved"}, format="json")
    assert refused.status_code == 403
    bad = api(board["gm1"]).post(f"{BASE}/cab-meetings/{meeting.pk}/items/{item.pk}/decide/",
                                 {"decision": "maybe"}, format="json")
    assert bad.status_code == 400 and "decision" in bad.json()["error"]["fields"]
    manager = api(users["manager"])
    bad = manager.post(f"{BASE}/cab-meetings/", {"title": "X", "starts_at": "2030-01-01T10:00:00Z",
                                                 "ends_at": "2029-01-01T10:00:00Z"}, format="json")
    assert bad.status_code == 400 and "ends_at" in bad.json()["error"]["fields"]
    made = manager.post(f"{BASE}/cab-meetings/", {"title": "Monthly", "starts_at": "2030-01-01T10:00:00Z",
                                                  "attendees": ["gm1"]}, format="json")
    assert made.status_code == 201 and made.json()["number"].startswith("CAB-")
    cancel = manager.post(f"{BASE}/cab-meetings/{made.json()['id']}/cancel/", {}, format="json")
    assert cancel.status_code == 400
    cancel = manager.post(f"{BASE}/cab-meetings/{made.json()['id']}/cancel/", {"reason": "Holiday"}, format="json")
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"


@pytest.mark.parametrize("count", [1, 6])
def test_api_list_query_count(api, users, count, django_assert_max_num_queries):
    for n in range(count):
        cab.create_meeting(actor=act(users["manager"]), data={"title": f"CAB {n}", "starts_at": timezone.now(),
                                                              "attendees": [users["manager"], users["admin"]]})
    client = api(users["viewer"])
    with django_assert_max_num_queries(8):
        response = client.get(f"{BASE}/cab-meetings/")
    assert response.json()["count"] == count


# --- review finding: minutes are edited by a manager or an attendee, with a trace -------------------------

def test_minutes_edits_keep_before_and_after_in_the_change_log(board):
    from opsdesk.core.models import AuditEntry

    meeting = cab.save_minutes(board["meeting"], actor=act(board["gm1"]), text="# First version")
    cab.save_minutes(meeting, actor=act(board["gm2"]), text="# Rewritten")
    entries = list(AuditEntry.objects.filter(object_id=str(meeting.pk), action="minutes").order_by("id"))
    assert [e.changes["minutes"] for e in entries] == [["", "# First version"], ["# First version", "# Rewritten"]]


def test_only_a_manager_or_an_attendee_edits_the_minutes(client, api, board, users):
    from django.core.exceptions import PermissionDenied

    from opsdesk.core.models import AuditEntry

    meeting = board["meeting"]
    attendee = UserFactory(username="scribe", role="viewer")
    meeting.attendees.add(attendee)
    outsider = users["responder"]  # neither a manager nor an attendee
    minutes_rows = AuditEntry.objects.filter(object_id=str(meeting.pk), action="minutes")
    with pytest.raises(PermissionDenied):
        cab.save_minutes(meeting, actor=act(outsider), text="# Mine now")
    client.force_login(outsider)
    assert client.post(f"/changes/cab/{meeting.pk}/minutes/", {"minutes": "# Mine now"}).status_code == 403
    assert "<fieldset disabled>" in client.get(f"/changes/cab/{meeting.pk}/minutes/").content.decode()
    refused = api(outsider).put(f"{BASE}/cab-meetings/{meeting.pk}/minutes/", {"minutes": "# Mine"}, format="json")
    assert refused.status_code == 403
    assert CABMeeting.objects.get(pk=meeting.pk).minutes == "" and not minutes_rows.exists()
    client.force_login(attendee)
    assert client.post(f"/changes/cab/{meeting.pk}/minutes/", {"minutes": "# Taken by the scribe"}).status_code == 302
    assert CABMeeting.objects.get(pk=meeting.pk).minutes == "# Taken by the scribe"
    saved = api(users["manager"]).put(f"{BASE}/cab-meetings/{meeting.pk}/minutes/", {"minutes": "# M"},
                                      format="json")
    assert saved.status_code == 200 and saved.json() == {"minutes": "# M"}


# --- walk-through findings (e02, e04, e06, e07) -------------------------------------------------------------

def _set_window(change):
    start = datetime.datetime(2026, 11, 30, 22, 0, tzinfo=datetime.UTC)
    ChangeRequest.objects.filter(pk=change.pk).update(planned_start=start,
                                                      planned_end=start + datetime.timedelta(hours=2))


def test_agenda_and_minutes_show_the_risk_label_points_and_a_readable_window(client, board):
    board["gm1"].time_zone = "Europe/Berlin"  # the viewer's zone: UTC+1 in winter
    board["gm1"].save(update_fields=["time_zone"])
    _set_window(board["high"])
    meeting = board["meeting"]
    cab.generate_agenda(meeting, actor=act(board["gm1"]))
    client.force_login(board["gm1"])
    page = client.get(f"/changes/cab/{meeting.pk}/").content.decode()
    assert "High, 62 points" in page and "high (62)" not in page
    assert "Tier-1 service reached (+30)" in page
    assert "2026-11-30 23:00" in page and "2026-12-01 01:00" in page and "T22:00:00+00:00" not in page
    minutes = client.get(f"/changes/cab/{meeting.pk}/minutes/").content.decode()
    assert "Risk: High, 62 points" in minutes and "Tier-1 service reached (+30)" in minutes
    assert "2026-11-30 23:00 – 2026-12-01 01:00 CET" in minutes and "+00:00" not in minutes
    md = client.get(f"/changes/cab/{meeting.pk}/minutes.md").content.decode()
    assert "- Planned window: 2026-11-30 22:00 – 2026-12-01 00:00 UTC" in md
    assert "- Risk: High, 62 points" in md and "T22:00" not in md
    assert " UTC" in md.split("- When: ")[1].splitlines()[0]


def test_an_agenda_kept_before_the_points_were_stored_still_shows(client, board):
    cab.generate_agenda(board["meeting"], actor=act(board["gm1"]))
    item = CABAgendaItem.objects.get()
    summary = dict(item.summary)
    summary.pop("factors")
    CABAgendaItem.objects.filter(pk=item.pk).update(summary=summary)
    client.force_login(board["gm1"])
    page = client.get(f"/changes/cab/{board['meeting'].pk}/").content.decode()
    assert "Tier-1 service reached (+30)" in page and "High, 62 points" in page  # points read from the change


def test_the_printable_minutes_have_the_app_icon(client, board):
    client.force_login(board["gm1"])
    printable = client.get(f"/changes/cab/{board['meeting'].pk}/minutes/print/").content.decode()
    assert '<link rel="icon" href="/static/opsdesk/favicon.svg"' in printable


def test_cancel_asks_for_its_reason_in_the_shared_dialog(client, board):
    client.force_login(board["gm1"])
    page = client.get(f"/changes/cab/{board['meeting'].pk}/").content.decode()
    assert 'data-bs-target="#transition-cancel"' in page and 'id="transition-cancel"' in page
    dialog = page[page.index('id="transition-cancel"'):]
    assert f'action="/changes/cab/{board["meeting"].pk}/transition/cancel/"' in dialog
    assert '<textarea class="form-control mb-2" id="t-cancel-reason" name="reason"' in dialog
    assert 'placeholder="Reason"' not in page
    done = client.post(f"/changes/cab/{board['meeting'].pk}/transition/cancel/", {"reason": "Holiday"})
    assert done.status_code == 302 and CABMeeting.objects.get(pk=board["meeting"].pk).status == "cancelled"


def test_the_list_shows_the_board_or_a_dash(client, board, users):
    cab.create_meeting(actor=act(users["manager"]), data={"title": "DBA board", "starts_at": timezone.now(),
                                                          "board": board["team"]})
    client.force_login(users["viewer"])
    content = client.get("/changes/cab/").content.decode()
    boards = [cell.split("</td>")[0] for cell in content.split('class="cab-board">')[1:]]
    assert any("DBA" in cell for cell in boards)
    assert any("—" in cell for cell in boards)


def test_every_item_shows_its_decision_as_a_badge(client, board):
    meeting = board["meeting"]
    cab.generate_agenda(meeting, actor=act(board["gm1"]))
    client.force_login(board["gm1"])
    page = client.get(f"/changes/cab/{meeting.pk}/").content.decode()
    assert 'item-decision">Not decided</span>' in page
    cab.record_decision(CABAgendaItem.objects.get(), actor=act(board["gm1"]), decision="approved", notes="Go")
    page = client.get(f"/changes/cab/{meeting.pk}/").content.decode()
    assert 'item-decision">Awaiting the quorum</span>' in page and "Approved by gm1: Go" in page


def test_deciding_without_being_an_approver_says_so_on_the_meeting_page(client, api, board, users):
    meeting = board["meeting"]
    cab.generate_agenda(meeting, actor=act(board["gm1"]))
    item = CABAgendaItem.objects.get()
    client.force_login(users["responder"])
    response = client.post(f"/changes/cab/{meeting.pk}/items/{item.pk}/decide/", {"decision": "approved"})
    assert response.status_code == 403
    content = response.content.decode()
    assert "cab-agenda" in content and 'class="invalid-feedback d-block item-error" role="alert"' in content
    assert "Go to the dashboard" not in content and meeting.number in content
    assert CABAgendaItem.objects.get().decided_by is None
    refused = api(users["responder"]).post(f"{BASE}/cab-meetings/{meeting.pk}/items/{item.pk}/decide/",
                                           {"decision": "approved"}, format="json")
    assert refused.status_code == 403
