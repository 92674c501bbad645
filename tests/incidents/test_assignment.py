"""Assignment rules: the first matching rule picks the team, round-robin and least-loaded pick the
person, no match leaves the incident unassigned, reassignments are counted and listed; and the rule
pages (admins edit rules with conditions as fields)."""

import pytest
from django.core.exceptions import ValidationError

from opsdesk.accounts.services import set_membership
from opsdesk.core.actors import Actor
from opsdesk.incidents import assignment, services
from opsdesk.incidents.models import AssignmentRule, Category, EscalationRule
from tests.accounts.factories import TeamFactory, UserFactory
from tests.cmdb.factories import CIFactory, cls
from tests.incidents.factories import FACTORY_ACTOR, category, make_incident
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def rule(name, team, order=100, method="team", **conditions):
    return services.create_rule(AssignmentRule, actor=ACTOR, data={
        "name": name, "team": team, "order": order, "method": method, "conditions": conditions})


def team_with(*usernames, role="responder"):
    team = TeamFactory()
    for username in usernames:
        set_membership(team, UserFactory(username=username, role="viewer"), actor=ACTOR, role=role)
    return team


def test_first_matching_rule_by_order_wins():
    network, fallback, dba = TeamFactory(name="Network"), TeamFactory(name="Service desk"), TeamFactory(name="DBA")
    rule("Everything else", fallback, order=90)
    rule("Network", network, order=10, category=["network"])
    rule("Databases", dba, order=10, category=["database"])

    assert make_incident(category=category("network")).assignment_group == network
    assert make_incident(category=category("database")).assignment_group == dba
    assert make_incident(category=category("hardware")).assignment_group == fallback
    assert make_incident().assignment_group == fallback  # an empty mapping matches everything


def test_conditions_on_subcategory_service_ci_class_and_priority_must_all_match():
    dns, payments_p1, storage = TeamFactory(), TeamFactory(), TeamFactory()
    payments = ServiceFactory(slug="payments")
    rule("DNS", dns, order=1, category=["network-dns"])
    rule("Payments P1", payments_p1, order=2, service=["payments"], priority=["P1"])
    rule("Storage", storage, order=3, ci_class=["storage"])

    assert make_incident(category=category("network"), subcategory=category("network-dns")).assignment_group == dns
    assert make_incident(service=payments, impact=1, urgency=1).assignment_group == payments_p1
    assert make_incident(service=payments, impact=3, urgency=3).assignment_group is None  # P5: not all match
    array = CIFactory(ci_class=cls("storage"))
    assert make_incident(cis=[CIFactory(), array]).assignment_group == storage  # any of the CIs


def test_no_matching_rule_leaves_the_incident_unassigned_and_inactive_rules_are_skipped():
    team = TeamFactory()
    services.update_rule(rule("Network", team, category=["network"]), actor=ACTOR, data={"active": False})
    incident = make_incident(category=category("network"))
    assert incident.assignment_group is None and incident.assignee is None


def test_a_team_given_by_hand_is_kept():
    mine, ruled = TeamFactory(), TeamFactory()
    rule("All", ruled)
    assert make_incident(assignment_group=mine).assignment_group == mine


def test_round_robin_cycles_through_the_responders_by_username():
    team = team_with("carol", "alice", "bob")
    set_membership(team, UserFactory(username="aaron-viewer"), actor=ACTOR, role="viewer")  # not given incidents
    rule("Round", team, method="round_robin")

    picked = [make_incident().assignee.username for _ in range(4)]

    assert picked == ["alice", "bob", "carol", "alice"]
    assert AssignmentRule.objects.get().last_assignee.username == "alice"


def test_round_robin_continues_after_a_member_who_left():
    team = team_with("alice", "bob", "carol")
    found = rule("Round", team, method="round_robin")
    assert make_incident().assignee.username == "alice"
    assert make_incident().assignee.username == "bob"
    set_membership(team, found.team.members.get(username="bob"), actor=ACTOR, role=None)
    assert make_incident().assignee.username == "carol"


def test_least_loaded_picks_the_member_with_fewest_open_incidents_ties_by_username():
    team = team_with("alice", "bob", "carol")
    people = {u.username: u for u in team.members.all()}
    for name, count in (("alice", 2), ("bob", 1), ("carol", 1)):
        for _ in range(count):
            make_incident(assignment_group=team, assignee=people[name])
    rule("Least", team, method="least_loaded")

    assert make_incident().assignee.username == "bob"  # bob and carol have one each: by username
    # Resolved incidents are not load.
    for incident in people["alice"].assigned_incidents.all():
        services.resolve_incident(incident, actor=FACTORY_ACTOR, code="fixed", notes="done")
    assert make_incident().assignee.username == "alice"


def test_least_loaded_counts_in_one_query(django_assert_max_num_queries):
    team = team_with("alice", "bob", "carol")
    found = rule("Least", team, method="least_loaded")
    with django_assert_max_num_queries(1):
        assert assignment.pick_assignee(found).username == "alice"


def test_reassignment_is_counted_and_listed_from_the_change_log():
    first, second = team_with("alice"), team_with("bob")
    rule("All", first, method="round_robin")
    incident = make_incident()
    assert (incident.assignment_group, incident.assignee.username, incident.reassignment_count) == \
        (first, "alice", 0)

    incident = services.update_incident(incident, actor=FACTORY_ACTOR, data={"assignment_group": second})
    bob = second.members.get()
    incident = services.update_incident(incident, actor=FACTORY_ACTOR, data={"assignee": bob})

    assert incident.reassignment_count == 1  # a move to another team; filling the empty assignee is not one
    history = assignment.reassignment_history(incident)
    assert [(h["from_team"], h["to_team"]) for h in history] == [
        (None, str(first)), (str(first), str(second)), (None, None)]
    assert [(h["from_assignee"], h["to_assignee"]) for h in history] == [
        (None, "alice"), ("alice", None), (None, "bob")]


def test_conditions_are_validated_with_a_sentence_per_problem():
    with pytest.raises(ValidationError) as exc:
        assignment.validate_conditions({"category": ["network", "nope"], "colour": ["red"], "priority": ["P9"]})
    problems = " ".join(exc.value.message_dict["conditions"])
    assert "nope" in problems and "colour" in problems and "P9" in problems
    assert assignment.validate_conditions({"priority": "P1", "category": [], "service": []}) == {"priority": ["P1"]}
    with pytest.raises(ValidationError):
        rule("Bad", TeamFactory(), category=["no-such-category"])
    assert not AssignmentRule.objects.exists()


# --- the rule pages -------------------------------------------------------------------------------------

def test_admin_creates_an_assignment_rule_with_conditions_as_fields(client, users):
    team = TeamFactory(name="Network")
    client.force_login(users["admin"])
    form = client.get("/incidents/assignment-rules/new/")
    assert form.status_code == 200
    ServiceFactory(slug="payments")
    response = client.post("/incidents/assignment-rules/new/", {
        "name": "Network P1", "order": 10, "active": "on", "team": team.pk, "method": "round_robin",
        "categories": [category("network").pk], "services": "payments", "ci_classes": [cls("network-device").pk],
        "priorities": ["P1", "P2"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    created = AssignmentRule.objects.get(name="Network P1")
    assert created.conditions == {"category": ["network"], "service": ["payments"], "ci_class": ["network-device"],
                                  "priority": ["P1", "P2"]}
    listing = client.get("/incidents/assignment-rules/").content.decode()
    assert "Network P1" in listing and "network" in listing
    edit = client.get(f"/incidents/assignment-rules/{created.pk}/edit/").content.decode()
    assert f'value="{category("network").pk}" selected' in edit


def test_only_admins_edit_rules_and_categories(client, users):
    client.force_login(users["manager"])
    for url in ("/incidents/assignment-rules/new/", "/incidents/escalation-rules/new/", "/incidents/categories/new/"):
        assert client.get(url).status_code == 403, url
    assert client.post("/incidents/categories/new/", {"name": "X", "slug": "x"}).status_code == 403
    assert not Category.objects.filter(slug="x").exists()
    assert client.get("/incidents/categories/").status_code == 200  # reading is for everyone


def test_admin_creates_a_subcategory_and_an_escalation_rule(client, users):
    client.force_login(users["admin"])
    response = client.post("/incidents/categories/new/", {"name": "VPN", "slug": "network-vpn", "order": 5,
                                                          "parent": category("network").pk, "active": "on"})
    assert response.status_code == 302
    assert Category.objects.get(slug="network-vpn").parent.slug == "network"

    bad = client.post("/incidents/escalation-rules/new/", {"name": "Page the lead", "order": 1, "active": "on",
                                                           "trigger": "no_ack", "kind": "hierarchical"})
    assert bad.status_code == 422
    assert "minutes" in bad.content.decode().lower()
    response = client.post("/incidents/escalation-rules/new/", {
        "name": "Page the lead", "order": 1, "active": "on", "trigger": "no_ack", "minutes": 15,
        "kind": "hierarchical", "notify": ["lead", "managers"], "priorities": ["P1"]})
    assert response.status_code == 302, response.content.decode()[:3000]
    created = EscalationRule.objects.get()
    assert (created.minutes, created.notify, created.conditions) == (15, ["lead", "managers"], {"priority": ["P1"]})
    assert "Page the lead" in client.get("/incidents/escalation-rules/").content.decode()
