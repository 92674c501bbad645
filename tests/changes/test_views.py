"""The change pages: list with filters and a pinned query count, detail with the plan, the transitions the
type allows and the submit dialog's warnings, the form with its plan editor, ticking steps, permissions."""

import pytest
from django.urls import reverse

from opsdesk.accounts.services import set_membership
from opsdesk.changes import services
from opsdesk.changes.models import ChangeCategory, ChangeRequest, ChangeTemplate
from opsdesk.core.actors import Actor
from tests.accounts.factories import TeamFactory, UserFactory
from tests.changes.factories import FACTORY_ACTOR, make_change, window
from tests.changes.test_services import planned, submit
from tests.cmdb.factories import CIFactory

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def form_data(team, **extra):
    start, end = window()
    data = {"change_type": "normal", "title": "Patch the web servers", "owner_team": team.pk,
            "planned_start": start.strftime("%Y-%m-%dT%H:%M"), "planned_end": end.strftime("%Y-%m-%dT%H:%M"),
            "steps-present": "1",
            "steps-0-kind": "implementation", "steps-0-who": "Ops", "steps-0-action": "Apply the patches",
            "steps-0-minutes": "20", "steps-0-verification": "uname -r",
            "steps-1-kind": "backout", "steps-1-who": "Ops", "steps-1-action": "Revert the snapshot",
            "steps-1-minutes": "15", "steps-1-verification": ""}
    data.update(extra)
    return data


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("changes:list"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_list_shows_the_columns_and_its_query_count_does_not_grow(client, users, team,
                                                                     django_assert_max_num_queries):
    login(client, users["viewer"])
    implementer = UserFactory()
    make_change(owner_team=team, implementer=implementer, title="First change")
    with django_assert_max_num_queries(12) as one:
        response = client.get(reverse("changes:list"))
    assert response.status_code == 200
    assert b"First change" in response.content
    for _ in range(15):
        make_change(owner_team=team, implementer=UserFactory())
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("changes:list"))
    assert response.status_code == 200


def test_the_list_filters_by_type_status_team_and_window(client, users, team):
    login(client, users["viewer"])
    other_team = TeamFactory()
    start, end = window(start_in_hours=24 * 30)
    make_change(owner_team=team, title="Far away change", planned_start=start, planned_end=end)
    make_change(owner_team=other_team, title="Soon change", change_type="emergency")
    content = client.get(reverse("changes:list"), {"change_type": "emergency"}).content
    assert b"Soon change" in content and b"Far away change" not in content
    content = client.get(reverse("changes:list"), {"team": team.slug}).content
    assert b"Far away change" in content and b"Soon change" not in content
    day = start.date().isoformat()
    content = client.get(reverse("changes:list"), {"planned_from": day, "planned_to": day}).content
    assert b"Far away change" in content and b"Soon change" not in content
    content = client.get(reverse("changes:list"), {"status": "draft", "q": "soon"}).content
    assert b"Soon change" in content and b"Far away change" not in content


def test_csv_export(client, users, team):
    login(client, users["viewer"])
    change = make_change(owner_team=team)
    response = client.get(reverse("changes:list"), {"export": "csv"})
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("Number,Title,Type,Risk,Status,Planned start,Owner team,Implementer")
    assert change.number in body


def test_the_detail_page_shows_the_plan_and_only_the_types_transitions(client, users, team):
    login(client, users["manager"])
    change = planned(owner_team=team)
    ChangeRequest.objects.filter(pk=change.pk).update(status="submitted")
    response = client.get(reverse("changes:detail", args=[change.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Upgrade the cluster" in content and "Restore the snapshot" in content
    assert 'id="action-start_assessment"' in content
    assert 'id="action-schedule_standard"' not in content
    assert 'id="action-request_emergency_approval"' not in content


def test_the_submit_dialog_lists_collisions_with_a_required_checkbox(client, users, team):
    login(client, users["manager"])
    ci = CIFactory()
    start, end = window()
    other = submit(planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end))
    change = planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end)
    content = client.get(reverse("changes:detail", args=[change.pk])).content.decode()
    assert 'id="submit-collisions"' in content and other.number in content
    assert 'name="acknowledge_collisions"' in content and "I have read these warnings" in content
    url = reverse("changes:transition", args=[change.pk, "submit"])
    client.post(url)
    change.refresh_from_db()
    assert change.status == "draft"
    client.post(url, {"acknowledge_collisions": "1"})
    change.refresh_from_db()
    assert change.status == "submitted" and change.collisions_acknowledged_by == users["manager"]


def test_a_transition_of_another_type_is_refused_by_the_page(client, users, team):
    login(client, users["manager"])
    change = planned(owner_team=team)
    ChangeRequest.objects.filter(pk=change.pk).update(status="submitted")
    response = client.post(reverse("changes:transition", args=[change.pk, "schedule_standard"]), follow=True)
    assert "cannot" in response.content.decode()
    change.refresh_from_db()
    assert change.status == "submitted"


def test_a_viewer_cannot_take_transitions_or_open_the_form(client, users, team):
    login(client, users["viewer"])
    change = planned(owner_team=team)
    assert client.post(reverse("changes:transition", args=[change.pk, "submit"])).status_code == 403
    assert client.get(reverse("changes:create")).status_code == 403
    assert client.get(reverse("changes:edit", args=[change.pk])).status_code == 403
    change.refresh_from_db()
    assert change.status == "draft"


def test_a_team_responder_creates_a_change_with_its_plan(client, team):
    user = UserFactory(role="viewer")
    set_membership(team, user, actor=Actor.system("test"), role="responder")
    login(client, user)
    assert client.get(reverse("changes:create")).status_code == 200
    response = client.post(reverse("changes:create"), form_data(team))
    assert response.status_code == 302, response.content.decode()[:2000]
    change = ChangeRequest.objects.get()
    assert change.requester == user
    assert [(s.kind, s.action) for s in change.steps.order_by("kind", "order")] == [
        ("backout", "Revert the snapshot"), ("implementation", "Apply the patches")]
    response = client.post(reverse("changes:transition", args=[change.pk, "submit"]))
    change.refresh_from_db()
    assert change.status == "submitted"


def test_another_teams_responder_may_not_edit(client, team):
    change = planned(owner_team=team)
    user = UserFactory(role="viewer")
    set_membership(TeamFactory(), user, actor=Actor.system("test"), role="responder")
    login(client, user)
    assert client.get(reverse("changes:edit", args=[change.pk])).status_code == 403
    response = client.post(reverse("changes:edit", args=[change.pk]), form_data(team, title="Hijacked"))
    assert response.status_code == 403
    response = client.post(reverse("changes:create"), form_data(team))
    assert response.status_code == 403
    change.refresh_from_db()
    assert change.title != "Hijacked" and ChangeRequest.objects.count() == 1


def test_bad_input_shows_errors_next_to_the_fields_and_saves_nothing(client, users, team):
    login(client, users["responder"])
    start, end = window()
    data = form_data(team, planned_start=end.strftime("%Y-%m-%dT%H:%M"), planned_end=start.strftime("%Y-%m-%dT%H:%M"),
                     **{"steps-0-minutes": "lots"})
    response = client.post(reverse("changes:create"), data)
    assert response.status_code == 422
    assert 'id="step-errors"' in response.content.decode()
    data = form_data(team, planned_start=end.strftime("%Y-%m-%dT%H:%M"), planned_end=start.strftime("%Y-%m-%dT%H:%M"))
    response = client.post(reverse("changes:create"), data)
    assert response.status_code == 422
    assert 'id="id_planned_end_error"' in response.content.decode()
    assert ChangeRequest.objects.count() == 0


def test_add_and_remove_step_rows_by_round_trip_without_saving(client, users, team):
    login(client, users["responder"])
    response = client.post(reverse("changes:create"), form_data(team, add_step="backout"))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="steps-2-action"' in content and ChangeRequest.objects.count() == 0
    response = client.post(reverse("changes:create"), form_data(team, remove_step="0"))
    content = response.content.decode()
    assert "Apply the patches" not in content and "Revert the snapshot" in content
    assert ChangeRequest.objects.count() == 0


def test_choosing_a_category_or_template_loads_its_plan_rows(client, users):
    login(client, users["responder"])
    category = ChangeCategory.objects.get(slug="database")
    response = client.get(reverse("changes:plan_rows"), {"category": category.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Take a fresh backup" in response.content.decode()
    template = ChangeTemplate.objects.get(slug="add-dns-record")
    content = client.get(reverse("changes:plan_rows"), {"template": template.pk}).content.decode()
    assert "Add the record to the zone" in content and 'value="backout" selected' in content


def test_use_this_template_prefills_the_form(client, users):
    login(client, users["responder"])
    template = ChangeTemplate.objects.get(slug="rotate-tls-certificate")
    content = client.get(reverse("changes:create"), {"template": template.pk}).content.decode()
    assert "Issue the new certificate" in content
    assert f'<option value="{template.pk}" selected>' in content


def test_ticking_a_step_on_the_page(client, users, team):
    implementer = UserFactory(role="viewer")
    template = ChangeTemplate.objects.get(slug="add-dns-record")
    change = submit(make_change(owner_team=team, change_type="standard", template=template, implementer=implementer))
    step = change.steps.get(kind="implementation", order=1)
    login(client, implementer)
    content = client.get(reverse("changes:detail", args=[change.pk])).content.decode()
    assert f'id="tick-{step.pk}"' not in content  # scheduled: not yet
    client.post(reverse("changes:step_tick", args=[step.pk, "tick"]))
    step.refresh_from_db()
    assert step.done_at is None
    services.transition_change(change, "start_implementation", actor=FACTORY_ACTOR)
    content = client.get(reverse("changes:detail", args=[change.pk])).content.decode()
    assert f'id="tick-{step.pk}"' in content
    client.post(reverse("changes:step_tick", args=[step.pk, "tick"]), {"note": "done by hand"})
    step.refresh_from_db()
    assert step.done_by == implementer and step.note == "done by hand"
    stranger = UserFactory(role="viewer")
    login(client, stranger)
    assert client.post(reverse("changes:step_tick", args=[step.pk, "untick"])).status_code == 403


def test_the_complete_dialog_offers_the_outcomes(client, users, team):
    login(client, users["manager"])
    template = ChangeTemplate.objects.get(slug="add-dns-record")
    change = submit(make_change(owner_team=team, change_type="standard", template=template))
    services.transition_change(change, "start_implementation", actor=FACTORY_ACTOR)
    content = client.get(reverse("changes:detail", args=[change.pk])).content.decode()
    assert 'id="t-complete-outcome"' in content and 'value="backed_out"' in content
    client.post(reverse("changes:transition", args=[change.pk, "complete"]),
                {"outcome": "successful", "outcome_notes": "Went well"})
    change.refresh_from_db()
    assert change.status == "review" and change.outcome_notes == "Went well"


def test_the_request_approval_dialog_lists_new_collisions_with_a_required_checkbox(client, users, team):
    from tests.changes.approval_factories import member

    member(team, "lead")
    login(client, users["manager"])
    ci = CIFactory()
    start, end = window()
    change = submit(planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end))
    change = services.transition_change(change, "start_assessment", actor=FACTORY_ACTOR)
    page = reverse("changes:detail", args=[change.pk])
    assert 'id="approval-collisions"' not in client.get(page).content.decode()
    other = submit(planned(owner_team=team, cis=[ci], planned_start=start, planned_end=end),
                   acknowledge_collisions=True)
    content = client.get(page).content.decode()
    assert 'id="approval-collisions"' in content and other.number in content
    assert 'id="acknowledge-approval-collisions"' in content
    assert 'data-bs-target="#transition-request_approval"' in content
    url = reverse("changes:transition", args=[change.pk, "request_approval"])
    client.post(url)
    change.refresh_from_db()
    assert change.status == "assessment"
    client.post(url, {"acknowledge_collisions": "1"})
    change.refresh_from_db()
    assert change.status == "approval" and change.collisions_acknowledged_by == users["manager"]


# --- walk-through fixes ---------------------------------------------------------------------------------------

def detail_value(content, label):
    """The text of the Details row `label` (the <dd> after its <dt>)."""
    import re

    match = re.search(rf"<dt[^>]*>{re.escape(label)}</dt>\s*<dd[^>]*>(.*?)</dd>", content, re.S)
    assert match, f"no row {label}"
    return match.group(1).strip()


def test_review_required_in_the_details_follows_the_same_rule_as_the_review_panel(client, users, team):
    from tests.changes.factories import put_in_state

    login(client, users["viewer"])
    change = put_in_state(planned(owner_team=team), "scheduled", risk_level="very_high", review_required=False)
    content = client.get(change.get_absolute_url()).content.decode()
    assert detail_value(content, "Review required") == "Yes"
    assert 'id="review-required"' in content  # the panel says required too
    low = put_in_state(planned(owner_team=team), "scheduled", risk_level="low", review_required=False)
    content = client.get(low.get_absolute_url()).content.decode()
    assert detail_value(content, "Review required") == "No" and 'id="review-required"' not in content
    flagged = put_in_state(planned(owner_team=team), "scheduled", risk_level="low", review_required=True)
    content = client.get(flagged.get_absolute_url()).content.decode()
    assert detail_value(content, "Review required") == "Yes" and 'id="review-required"' in content


def test_plan_progress_counts_implementation_steps_and_backout_steps_apart(client, users, team):
    from tests.changes.factories import put_in_state

    login(client, users["viewer"])
    change = put_in_state(planned(owner_team=team), "implementing")  # 2 implementation steps, 1 backout
    content = client.get(change.get_absolute_url()).content.decode()
    assert "0 of 2 implementation steps done" in content and 'id="backout-progress"' not in content
    first = change.steps.get(kind="implementation", order=1)
    services.tick_step(first, actor=FACTORY_ACTOR)
    services.tick_step(change.steps.get(kind="backout"), actor=FACTORY_ACTOR)
    content = client.get(change.get_absolute_url()).content.decode()
    assert "1 of 2 implementation steps done" in content
    assert "1 of 1 backout steps done" in content


def test_the_list_fits_narrow_screens_type_under_title_implementer_under_team(client, users, team):
    login(client, users["viewer"])
    implementer = UserFactory(first_name="Alice", last_name="Nakamura")
    make_change(owner_team=team, implementer=implementer, title="Patch the hosts", change_type="emergency")
    content = client.get(reverse("changes:list")).content.decode()
    import re

    thead = content[content.index("<thead"):content.index("</thead>")]
    headers = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", thead, re.S)]
    assert headers == ["Number", "Title", "Risk", "Status", "Planned start", "Team · implementer"]
    title_cell = content[content.index("Patch the hosts"):]
    assert title_cell.index("Emergency") < title_cell.index("</td>")
    team_cell = content[content.index('<td class="col-team">'):]
    assert team.name in team_cell[:team_cell.index("</td>")]
    assert implementer.display_name in team_cell[:team_cell.index("</td>")]


def test_a_window_filter_whose_from_is_after_its_to_answers_400_with_the_error(client, users, team):
    login(client, users["viewer"])
    make_change(owner_team=team, title="Listed change")
    response = client.get(reverse("changes:list"), {"planned_from": "2026-12-20", "planned_to": "2026-12-01"})
    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="filter-errors"' in content
    assert "“To” (2026-12-01) is before “from” (2026-12-20)." in content
    assert 'for="id_planned_to"' in content and "Listed change" not in content
    response = client.get(reverse("changes:list"), {"planned_from": "2026-12-20", "planned_to": "2026-12-01"},
                          HTTP_HX_REQUEST="true", HTTP_HX_TARGET="record-table")
    assert response.status_code == 422 and "is before “from”" in response.content.decode()
    assert client.get(reverse("changes:list")).status_code == 200


def test_choosing_a_template_also_fills_the_category_out_of_band(client, users):
    login(client, users["responder"])
    template = ChangeTemplate.objects.filter(category__isnull=False).select_related("category").first()
    response = client.get(reverse("changes:plan_rows"), {"template": template.pk}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TRIGGER_NAME="template")
    content = response.content.decode()
    assert 'id="id_category"' in content and 'hx-swap-oob="true"' in content
    assert f'<option value="{template.category_id}" selected>{template.category.name}</option>' in content
    category = ChangeCategory.objects.get(slug="database")
    content = client.get(reverse("changes:plan_rows"), {"category": category.pk}, HTTP_HX_REQUEST="true",
                         HTTP_HX_TRIGGER_NAME="category").content.decode()
    assert 'hx-swap-oob' not in content  # choosing the category itself leaves its select alone


def test_end_before_start_shows_with_the_other_field_errors(client, users, team):
    login(client, users["responder"])
    start, end = window()
    data = form_data(team, planned_start=end.strftime("%Y-%m-%dT%H:%M"), planned_end=start.strftime("%Y-%m-%dT%H:%M"),
                     title="", owner_team="", **{"steps-0-minutes": "lots"})
    response = client.post(reverse("changes:create"), data)
    assert response.status_code == 422
    content = response.content.decode()
    assert 'id="id_planned_end_error"' in content and "The planned end must be after the planned start." in content
    assert 'id="id_owner_team_error"' in content and 'id="id_title_error"' in content
    assert 'id="step-errors"' in content
    assert ChangeRequest.objects.count() == 0


def test_starting_weeks_before_the_window_asks_first_and_not_within_it(client, users, team):
    from django.utils import timezone

    from tests.changes.factories import put_in_state

    login(client, users["manager"])
    start, end = window(start_in_hours=24 * 22 + 1)
    early = put_in_state(planned(owner_team=team, planned_start=start, planned_end=end), "scheduled")
    content = client.get(early.get_absolute_url()).content.decode()
    local = timezone.localtime(start)
    expected = f"The planned window starts on {local.day} {local:%b %H:%M}, in 22 days. Start now?"
    assert expected in content and 'id="early-start-warning"' in content
    assert 'data-bs-target="#transition-start_implementation"' in content
    assert 'id="confirm-start_implementation"' in content
    client.post(reverse("changes:transition", args=[early.pk, "start_implementation"]))
    early.refresh_from_db()
    assert early.status == "implementing"  # the dialog's button takes the transition
    start, end = window(start_in_hours=-0.5)
    due = put_in_state(planned(owner_team=team), "scheduled", planned_start=start, planned_end=end)
    content = client.get(due.get_absolute_url()).content.decode()
    assert 'id="early-start-warning"' not in content and "Start now?" not in content
    assert 'data-bs-target="#transition-start_implementation"' not in content
    assert 'id="action-start_implementation"' in content
