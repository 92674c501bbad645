"""Pages of the risk part: the risk and collision panels, the questionnaire, re-assess, freeze windows and
the change settings; per-role access, bad input and pinned query counts."""

import datetime
import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from opsdesk.changes import freezes, risk
from opsdesk.changes.models import ChangeRequest, ChangeSettings, FreezeWindow
from opsdesk.core import registry
from tests.changes.factories import FACTORY_ACTOR, make_change
from tests.cmdb.factories import CIFactory, relate
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


def login(client, user):
    client.force_login(user)
    return client


def panel_html(change, user, key):
    for panel, context in registry.record_panels(change, user):
        if panel.key == key:
            return render_to_string(panel.template, {"panel": context, "user": user})
    raise AssertionError(f"no panel {key}")


@pytest.fixture
def tier1_change(team):
    payments = ServiceFactory(name="Payments", tier=1)
    db = CIFactory(name="db-01")
    app = CIFactory(name="app-01", services=[payments])
    relate(app, "runs-on", db)
    return make_change(owner_team=team, cis=[db])


# --- the panels ------------------------------------------------------------------------------------------

def test_the_risk_panel_shows_level_score_and_why_after_assessment(tier1_change, users):
    change = risk.reassess(tier1_change, actor=FACTORY_ACTOR)
    html = panel_html(change, users["responder"], "risk")
    assert 'data-level="high"' in html
    assert "Payments (tier 1)" in html and "db-01" in html
    assert "Answer the risk questionnaire" in html and "Re-assess" in html
    assert reverse("changes:risk_questionnaire", args=[change.pk]) in html
    viewer_html = panel_html(change, users["viewer"], "risk")
    assert "Answer the risk questionnaire" not in viewer_html and "Re-assess" not in viewer_html


def test_the_risk_panel_before_assessment_and_past_assessment(team, users):
    change = make_change(owner_team=team)
    assert "Not assessed yet" in panel_html(change, users["responder"], "risk")
    ChangeRequest.objects.filter(pk=change.pk).update(status="scheduled")
    change.refresh_from_db()
    html = panel_html(change, users["responder"], "risk")
    assert "Answer the risk questionnaire" not in html and "Re-assess" in html


def test_the_change_page_carries_both_panels(client, tier1_change, users):
    risk.reassess(tier1_change, actor=FACTORY_ACTOR)
    response = login(client, users["viewer"]).get(tier1_change.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="risk-panel"' in html and 'id="collisions-panel"' in html
    assert "Payments (tier 1)" in html


def test_the_collisions_panel_shows_live_warnings_and_the_acknowledged_ones(team, users):
    host, vm = CIFactory(name="esx-1"), CIFactory(name="vm-1")
    relate(vm, "hosted-on", host)
    other = make_change(owner_team=team, cis=[host])
    change = make_change(owner_team=team, cis=[vm])
    ChangeRequest.objects.filter(pk__in=[other.pk, change.pk]).update(
        status="submitted", collisions=[{"kind": "ci", "message": "Old warning text."}],
        collisions_acknowledged_by=users["manager"], collisions_acknowledged_at=timezone.now())
    change.refresh_from_db()
    html = panel_html(change, users["viewer"], "collisions")
    assert other.number in html and "esx-1" in html and 'data-kind="related_ci"' in html
    assert "Acknowledged at submission" in html and "Old warning text." in html and "manager" in html


# --- the questionnaire page ------------------------------------------------------------------------------

def test_the_questionnaire_has_one_radio_group_per_question_with_labels(client, team, users):
    change = make_change(owner_team=team, risk_answers={"tested": "no"})
    response = login(client, users["responder"]).get(reverse("changes:risk_questionnaire", args=[change.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="mb-3 risk-question"') == 5
    assert html.count('type="radio"') == 3 + 3 + 4 + 3 + 3
    assert re.search(r'name="tested" value="no"[^>]*checked', html) and html.count("checked") == 1
    assert '<label class="form-check-label" for="risk-tested_0">' in html


def test_a_responder_saves_answers_and_the_change_is_reassessed(client, team, users):
    change = make_change(owner_team=team)
    response = login(client, users["responder"]).post(reverse("changes:risk_questionnaire", args=[change.pk]),
                                                      {"tested": "no", "backout-tested": "none"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.risk_answers == {"tested": "no", "backout-tested": "none"}
    assert change.risk_score >= 35 and change.risk_level in ("medium", "high", "very_high")


def test_a_team_manager_answers_for_a_change_of_their_team(client, team, users):
    change = make_change(owner_team=team)
    response = login(client, users["team_manager"]).post(reverse("changes:risk_questionnaire", args=[change.pk]),
                                                         {"tested": "yes"})
    assert response.status_code == 302


def test_a_viewer_may_read_but_not_answer(client, team, users):
    change = make_change(owner_team=team)
    url = reverse("changes:risk_questionnaire", args=[change.pk])
    login(client, users["viewer"])
    page = client.get(url)
    assert page.status_code == 200 and "<fieldset disabled>" in page.content.decode()
    assert client.post(url, {"tested": "no"}).status_code == 403
    change.refresh_from_db()
    assert change.risk_answers == {}


def test_anonymous_is_sent_to_login(client, team):
    change = make_change(owner_team=team)
    for url in (reverse("changes:risk_questionnaire", args=[change.pk]), reverse("changes:freeze_list"),
                reverse("changes:settings")):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


def test_a_bad_answer_is_shown_next_to_the_question_and_nothing_is_saved(client, team, users):
    change = make_change(owner_team=team)
    response = login(client, users["responder"]).post(reverse("changes:risk_questionnaire", args=[change.pk]),
                                                      {"tested": "perhaps"})
    assert response.status_code == 422
    assert "invalid-feedback" in response.content.decode()
    change.refresh_from_db()
    assert change.risk_answers == {} and change.risk_assessed_at is None


def test_answers_past_the_assessment_answer_409(client, team, users):
    change = make_change(owner_team=team)
    ChangeRequest.objects.filter(pk=change.pk).update(status="approval")
    response = login(client, users["responder"]).post(reverse("changes:risk_questionnaire", args=[change.pk]),
                                                      {"tested": "no"})
    assert response.status_code == 409
    change.refresh_from_db()
    assert change.risk_answers == {}


def test_reassess_needs_a_responder(client, tier1_change, users):
    url = reverse("changes:risk_reassess", args=[tier1_change.pk])
    assert login(client, users["viewer"]).post(url).status_code == 403
    tier1_change.refresh_from_db()
    assert tier1_change.risk_assessed_at is None
    assert login(client, users["responder"]).post(url).status_code == 302
    tier1_change.refresh_from_db()
    assert tier1_change.risk_level == "high"


# --- freeze windows --------------------------------------------------------------------------------------

def make_freeze(name="Year-end", *, hours_from_now=24, hours=48, services=()):
    start = timezone.now().replace(microsecond=0) + datetime.timedelta(hours=hours_from_now)
    return freezes.create_freeze_window(actor=FACTORY_ACTOR, data={
        "name": name, "starts_at": start, "ends_at": start + datetime.timedelta(hours=hours),
        "services": list(services)})


def test_the_freeze_list_shows_current_and_upcoming_first_in_bounded_queries(client, users,
                                                                          django_assert_max_num_queries):
    make_freeze("Past freeze", hours_from_now=-100, hours=10)
    make_freeze("Current freeze", hours_from_now=-1, hours=10, services=[ServiceFactory(name="ERP")])
    login(client, users["viewer"])
    with django_assert_max_num_queries(12) as one:
        response = client.get(reverse("changes:freeze_list"))
    html = response.content.decode()
    assert html.index("Current freeze") < html.index("Past freeze")
    assert "ERP" in html and "In force" in html
    assert "New freeze window" not in html
    for i in range(10):
        make_freeze(f"Upcoming {i}", hours_from_now=48 + i, services=[ServiceFactory(), ServiceFactory()])
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("changes:freeze_list"))
    assert response.content.decode().count('class="freeze-row"') == 12


def test_a_manager_creates_edits_and_cancels_a_freeze(client, users):
    erp = ServiceFactory(name="ERP")
    login(client, users["manager"])
    assert client.get(reverse("changes:freeze_create")).status_code == 200
    response = client.post(reverse("changes:freeze_create"), {
        "name": "Quarter close", "reason": "Finance closes the books.", "starts_at": "2030-03-28T18:00",
        "ends_at": "2030-04-02T08:00", "services": [erp.pk]})
    assert response.status_code == 302
    window = FreezeWindow.objects.get(name="Quarter close")
    assert list(window.services.all()) == [erp]
    response = client.post(reverse("changes:freeze_edit", args=[window.pk]), {
        "name": "Quarter close", "reason": "", "starts_at": "2030-03-29T18:00", "ends_at": "2030-04-02T08:00"})
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.services.count() == 0 and window.reason == ""
    assert client.post(reverse("changes:freeze_cancel", args=[window.pk])).status_code == 302
    window.refresh_from_db()
    assert window.active is False
    # a cancelled window is not edited any more
    response = client.post(reverse("changes:freeze_edit", args=[window.pk]), {
        "name": "Revived", "starts_at": "2030-03-29T18:00", "ends_at": "2030-04-02T08:00"})
    assert response.status_code == 409
    window.refresh_from_db()
    assert window.name == "Quarter close"


@pytest.mark.parametrize("role", ["viewer", "responder", "team_manager"])
def test_only_managers_write_freezes(client, users, role):
    window = make_freeze()
    login(client, users[role])
    assert client.get(reverse("changes:freeze_create")).status_code == 403
    assert client.post(reverse("changes:freeze_create"), {
        "name": "X", "starts_at": "2030-01-01T00:00", "ends_at": "2030-01-02T00:00"}).status_code == 403
    assert client.post(reverse("changes:freeze_cancel", args=[window.pk])).status_code == 403
    assert client.get(reverse("changes:freeze_detail", args=[window.pk])).status_code == 200
    window.refresh_from_db()
    assert window.active and FreezeWindow.objects.count() == 1


def test_a_freeze_ending_before_it_starts_is_refused_next_to_the_field(client, users):
    response = login(client, users["manager"]).post(reverse("changes:freeze_create"), {
        "name": "Backwards", "starts_at": "2030-01-02T00:00", "ends_at": "2030-01-01T00:00"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "The freeze must end after it starts." in html and "field-ends_at" in html
    assert not FreezeWindow.objects.exists()


def test_the_freeze_detail_lists_the_changes_planned_inside(client, team, users, django_assert_max_num_queries):
    erp, web = ServiceFactory(name="ERP"), ServiceFactory(name="Web")
    window = make_freeze(hours_from_now=90, hours=12, services=[erp])
    inside = make_change(owner_team=team, services=[erp], title="Inside ERP")
    make_change(owner_team=team, services=[web], title="Other service")
    draft = make_change(owner_team=team, services=[erp], title="Still a draft")
    ChangeRequest.objects.filter(pk__in=[inside.pk]).update(status="scheduled")
    login(client, users["viewer"])
    with django_assert_max_num_queries(12) as one:
        html = client.get(reverse("changes:freeze_detail", args=[window.pk])).content.decode()
    assert "Inside ERP" in html and "Other service" not in html and draft.title not in html
    more = [make_change(owner_team=team, services=[erp]) for _i in range(5)]
    ChangeRequest.objects.filter(pk__in=[c.pk for c in more]).update(status="approval")
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = client.get(reverse("changes:freeze_detail", args=[window.pk])).content.decode()
    assert html.count('class="freeze-change"') == 6


# --- change settings -------------------------------------------------------------------------------------

SETTINGS_POST = {"risk_medium_from": 20, "risk_high_from": 45, "risk_very_high_from": 80, "min_lead_hours": 48,
                 "history_months": 12, "approval_deadline_hours": 24, "approval_reminder_hours": 4,
                 "review_outcomes": ["failed"], "review_risk_levels": ["very_high"]}


def test_a_manager_changes_the_settings(client, users):
    response = login(client, users["manager"]).post(reverse("changes:settings"), SETTINGS_POST)
    assert response.status_code == 302
    row = ChangeSettings.objects.get(pk=1)
    assert (row.risk_high_from, row.min_lead_hours, row.review_outcomes) == (45, 48, ["failed"])


@pytest.mark.parametrize("role", ["viewer", "responder", "team_manager"])
def test_others_read_the_settings_but_cannot_change_them(client, users, role):
    login(client, users[role])
    page = client.get(reverse("changes:settings"))
    assert page.status_code == 200 and "<fieldset disabled>" in page.content.decode()
    assert client.post(reverse("changes:settings"), SETTINGS_POST).status_code == 403
    assert ChangeSettings.objects.get(pk=1).risk_high_from == 50


def test_thresholds_out_of_order_are_refused_and_nothing_changes(client, users):
    response = login(client, users["manager"]).post(reverse("changes:settings"),
                                                    {**SETTINGS_POST, "risk_high_from": 90})
    assert response.status_code == 422
    assert "The thresholds must rise" in response.content.decode()
    assert ChangeSettings.objects.get(pk=1).risk_high_from == 50


# --- walk-through fixes: impact paths as a list, the collisions of a closed change ----------------------------

def test_the_risk_panel_lists_the_impact_paths_under_the_sentence(tier1_change, users):
    change = risk.reassess(tier1_change, actor=FACTORY_ACTOR)
    html = panel_html(change, users["viewer"], "risk")
    paths = re.search(r'<ul class="[^"]*risk-paths">(.*?)</ul>', html, re.S)
    assert paths is not None
    items = re.findall(r"<li>(.*?)</li>", paths.group(1))
    assert items == ["db-01 -&gt; is needed by -&gt; app-01 -&gt; supports -&gt; Payments (tier 1)"] or (
        len(items) == 1 and items[0].startswith("db-01") and items[0].endswith("Payments (tier 1)"))


def _clashing_pair(team, users, status):
    host, vm = CIFactory(name="esx-9"), CIFactory(name="vm-9")
    relate(vm, "hosted-on", host)
    other = make_change(owner_team=team, cis=[host])
    change = make_change(owner_team=team, cis=[vm])
    ChangeRequest.objects.filter(pk=other.pk).update(status="scheduled")
    ChangeRequest.objects.filter(pk=change.pk).update(
        status=status, collisions=[{"kind": "ci", "message": "Clash acknowledged at submission."}],
        collisions_acknowledged_by=users["manager"], collisions_acknowledged_at=timezone.now())
    change.refresh_from_db()
    return change, other


def test_a_closed_change_shows_only_what_was_acknowledged_at_submission(team, users,
                                                                       django_assert_max_num_queries):
    from opsdesk.changes import collisions

    change, other = _clashing_pair(team, users, "closed")
    with django_assert_max_num_queries(1):  # who acknowledged; no live check for a closed change
        context = collisions.panel_context(change, users["viewer"])
    assert context["live"] == []
    html = render_to_string("changes/risk_collisions.html", {"panel": context})
    assert "Acknowledged at submission" in html and "Clash acknowledged at submission." in html
    assert "collides" not in html and "Checked now" not in html and other.number not in html


def test_an_open_change_shows_the_live_check_and_the_acknowledged_ones_under_their_headings(team, users):
    change, other = _clashing_pair(team, users, "scheduled")
    html = panel_html(change, users["viewer"], "collisions")
    assert html.index("Checked now") < html.index(other.number) < html.index("Acknowledged at submission")
    ChangeRequest.objects.filter(pk=other.pk).update(status="closed")
    html = panel_html(change, users["viewer"], "collisions")
    assert "Checked now" in html and "collides with the planned window now" in html
    assert "Clash acknowledged at submission." in html
