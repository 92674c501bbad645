"""The escalation and paging API: policies with nested steps, runs (read, start, stop), contact methods
(with test) and notification rules; per role, bad input 400 that writes nothing, pinned query counts;
and the escalation_policies section of the configuration file."""

from __future__ import annotations

import pytest
from django.core import mail

from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor
from opsdesk.core.models import AuditEntry
from opsdesk.oncall import escalation
from opsdesk.oncall.models import ContactMethod, EscalationPolicy, EscalationRun, NotificationRule
from tests.accounts.factories import UserFactory
from tests.incidents.factories import make_incident
from tests.oncall.factories import ScheduleFactory
from tests.oncall.paging_factories import contact, make_policy
from tests.services.factories import ServiceFactory

pytestmark = pytest.mark.django_db
POLICIES = "/api/v1/oncall/escalation-policies/"
RUNS = "/api/v1/oncall/runs/"
METHODS = "/api/v1/oncall/contact-methods/"
RULES = "/api/v1/oncall/notification-rules/"


@pytest.fixture
def schedule(db):
    return ScheduleFactory(name="Primary", slug="primary")


def payload(users, schedule, **extra):
    return {"name": "Web", "repeat_count": 1, "steps": [
        {"kind": "notify_schedule", "schedule": schedule.pk, "urgency": "high"},
        {"kind": "wait", "wait_minutes": 5},
        {"kind": "notify_users", "users": [users["manager"].pk], "urgency": "low"}], **extra}


# --- policies -----------------------------------------------------------------------------------------------

def test_create_policy_with_steps_per_role(api, users, schedule):
    assert api().get(POLICIES).status_code == 401
    assert api(users["responder"]).post(POLICIES, payload(users, schedule), format="json").status_code == 403
    response = api(users["manager"]).post(POLICIES, payload(users, schedule), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "web" and [s["kind"] for s in body["steps"]] == ["notify_schedule", "wait", "notify_users"]
    assert body["steps"][0]["description"] == "notify the on-call of Primary"
    assert body["steps"][2]["users"] == [users["manager"].pk]
    entry = AuditEntry.objects.get(action="create", content_type__model="escalationpolicy")
    assert entry.actor_label.startswith("manager") and "steps" in entry.changes
    assert api(users["viewer"]).get(POLICIES + f"{body['id']}/").status_code == 200


def test_team_manager_creates_for_own_team_only(api, users, team, other_team, schedule):
    client = api(users["team_manager"])
    assert client.post(POLICIES, payload(users, schedule, team=other_team.pk), format="json").status_code == 403
    assert client.post(POLICIES, payload(users, schedule), format="json").status_code == 403
    assert client.post(POLICIES, payload(users, schedule, team=team.pk), format="json").status_code == 201


@pytest.mark.parametrize(("step", "field"), [
    ({"kind": "wait"}, "steps.0.wait_minutes"),
    ({"kind": "notify_schedule"}, "steps.0.schedule"),
    ({"kind": "notify_team", "team_role": ""}, "steps.0.team"),
    ({"kind": "notify_users", "users": []}, "steps.0.users"),
])
def test_invalid_steps_are_400_with_the_field_and_write_nothing(api, users, step, field):
    response = api(users["manager"]).post(POLICIES, {"name": "Bad", "steps": [
        step, {"kind": "notify_users", "users": [users["admin"].pk]}]}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not EscalationPolicy.objects.exists()


def test_malformed_and_empty_are_400(api, users):
    client = api(users["manager"])
    bad = client.post(POLICIES, "{not json", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_request"
    empty = client.post(POLICIES, {"name": "Nothing", "steps": []}, format="json")
    assert empty.status_code == 400 and "steps" in empty.json()["error"]["fields"]
    only_wait = client.post(POLICIES, {"name": "Waits", "steps": [{"kind": "wait", "wait_minutes": 1}]},
                            format="json")
    assert only_wait.status_code == 400
    assert client.post(POLICIES, {"name": "R", "repeat_count": 99, "steps": [
        {"kind": "notify_users", "users": [users["admin"].pk]}]}, format="json").status_code == 400
    assert not EscalationPolicy.objects.exists()


def test_patch_replaces_steps_and_services(api, users, schedule):
    policy = make_policy("Web", steps=[{"kind": "notify_users", "users": [users["admin"]]}])
    service = ServiceFactory(slug="checkout")
    response = api(users["manager"]).patch(POLICIES + f"{policy.pk}/", {
        "services": ["checkout"], "steps": [{"kind": "notify_schedule", "schedule": schedule.pk}]}, format="json")
    assert response.status_code == 200, response.json()
    assert [s.kind for s in policy.steps.all()] == ["notify_schedule"]
    assert list(policy.services.all()) == [service]
    assert api(users["manager"]).patch(POLICIES + f"{policy.pk}/", {"services": ["nope"]},
                                       format="json").status_code == 400


def test_attaching_a_service_needs_manager_rights_on_its_owner_team(api, users, team, other_team, schedule):
    ServiceFactory(slug="ours", owner_team=team)
    ServiceFactory(slug="theirs", owner_team=other_team)
    client = api(users["team_manager"])  # a viewer who manages `team`
    refused = client.post(POLICIES, payload(users, schedule, team=team.pk, services=["theirs"]), format="json")
    assert refused.status_code == 403 and "theirs" in refused.json()["error"]["message"]
    assert not EscalationPolicy.objects.exists()
    made = client.post(POLICIES, payload(users, schedule, team=team.pk, services=["ours"]), format="json")
    assert made.status_code == 201, made.json()
    url = POLICIES + f"{made.json()['id']}/"
    assert client.patch(url, {"services": ["ours", "theirs"]}, format="json").status_code == 403
    assert client.patch(url, {"name": "Renamed"}, format="json").status_code == 200  # services untouched
    # a global manager attaches anything; the team manager then may neither detach it nor keep editing it away
    assert api(users["manager"]).patch(url, {"services": ["ours", "theirs"]}, format="json").status_code == 200
    assert client.patch(url, {"services": ["ours"]}, format="json").status_code == 403
    assert client.patch(url, {"services": ["theirs", "ours"], "repeat_count": 2}, format="json").status_code == 200
    policy = EscalationPolicy.objects.get()
    assert sorted(s.slug for s in policy.services.all()) == ["ours", "theirs"] and policy.repeat_count == 2
    assert api(users["responder"]).patch(url, {"services": []}, format="json").status_code == 403


def test_a_service_has_one_policy(api, users, schedule):
    ServiceFactory(slug="checkout", name="Checkout")
    first = api(users["manager"]).post(POLICIES, payload(users, schedule, name="First", services=["checkout"]),
                                       format="json")
    assert first.status_code == 201
    for user in ("manager", "admin"):
        second = api(users[user]).post(POLICIES, payload(users, schedule, name="Second", services=["checkout"]),
                                       format="json")
        assert second.status_code == 400
        assert "First" in str(second.json()["error"]["fields"]["services"])
    assert EscalationPolicy.objects.count() == 1
    other = make_policy("Other", steps=[{"kind": "notify_users", "users": [users["admin"]]}])
    taken = api(users["admin"]).patch(POLICIES + f"{other.pk}/", {"services": ["checkout"]}, format="json")
    assert taken.status_code == 400 and "First" in str(taken.json()["error"]["fields"]["services"])
    assert not other.services.exists()
    # detached from the first, it may go to the other one
    assert api(users["manager"]).patch(POLICIES + f"{first.json()['id']}/", {"services": []},
                                       format="json").status_code == 200
    assert api(users["manager"]).patch(POLICIES + f"{other.pk}/", {"services": ["checkout"]},
                                       format="json").status_code == 200
    assert escalation.policy_for_service(other.services.get()) == other


def test_delete_policy(api, users):
    unused = make_policy("Unused", steps=[{"kind": "notify_users", "users": [users["admin"]]}])
    used = make_policy("Used", steps=[{"kind": "notify_users", "users": [users["admin"]]}])
    escalation.start_for_incident(make_incident(title="x"), policy=used, actor=Actor.system("test"))
    assert api(users["responder"]).delete(POLICIES + f"{unused.pk}/").status_code == 403
    assert api(users["manager"]).delete(POLICIES + f"{unused.pk}/").status_code == 204
    assert api(users["manager"]).delete(POLICIES + f"{used.pk}/").status_code == 409
    assert EscalationPolicy.objects.filter(pk=used.pk).exists()


def test_policy_list_query_count(api, users, schedule, django_assert_max_num_queries):
    client = api(users["viewer"])
    make_policy("P", services=[ServiceFactory()], steps=[{"kind": "notify_users", "users": [users["admin"]]}])
    with django_assert_max_num_queries(20) as one:
        client.get(POLICIES)
    for index in range(5):
        make_policy(f"P{index}", services=[ServiceFactory()], steps=[
            {"kind": "notify_users", "users": [users["admin"], users["manager"]]},
            {"kind": "notify_schedule", "schedule": schedule}, {"kind": "wait", "wait_minutes": 3}])
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(POLICIES)
    assert response.json()["count"] == 6


# --- runs ---------------------------------------------------------------------------------------------------

def test_runs_start_list_and_stop(api, users):
    policy = make_policy("Web", steps=[{"kind": "notify_users", "users": [users["admin"]]},
                                       {"kind": "wait", "wait_minutes": 5}, {"kind": "notify_users",
                                                                             "users": [users["manager"]]}])
    incident = make_incident(title="Disk full")
    assert api(users["viewer"]).post(RUNS + "start/", {"incident": incident.pk, "policy": policy.pk},
                                     format="json").status_code == 403
    response = api(users["responder"]).post(RUNS + "start/", {"incident": incident.pk, "policy": policy.pk},
                                            format="json")
    assert response.status_code == 201 and response.json()["status"] == "active"
    escalation.sweep()
    listed = api(users["viewer"]).get(RUNS, {"incident": incident.pk}).json()
    assert listed["count"] == 1 and listed["results"][0]["pages"][0]["username"] == "admin"
    run_id = listed["results"][0]["id"]
    assert api(users["viewer"]).post(RUNS + f"{run_id}/stop/").status_code == 403
    stopped = api(users["responder"]).post(RUNS + f"{run_id}/stop/")
    assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled"
    assert api(users["responder"]).post(RUNS + f"{run_id}/stop/").status_code == 409


def test_run_start_bad_input(api, users):
    client = api(users["responder"])
    assert client.post(RUNS + "start/", {"incident": 999999}, format="json").status_code == 400
    incident = make_incident(title="No service")
    response = client.post(RUNS + "start/", {"incident": incident.pk}, format="json")
    assert response.status_code == 400 and "policy" in response.json()["error"]["fields"]
    assert client.post(RUNS + "start/", {"incident": "x"}, format="json").status_code == 400
    assert not EscalationRun.objects.exists()


def test_runs_list_query_count(api, users, django_assert_max_num_queries):
    policy = make_policy("Web", steps=[{"kind": "notify_users", "users": [users["admin"], users["manager"]]}])
    client = api(users["viewer"])
    escalation.start_for_incident(make_incident(title="a"), policy=policy, actor=Actor.system("test"))
    escalation.sweep()
    with django_assert_max_num_queries(20) as one:
        client.get(RUNS)
    for index in range(4):
        escalation.start_for_incident(make_incident(title=f"b{index}"), policy=policy, actor=Actor.system("test"))
    escalation.sweep()
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get(RUNS).json()["count"] == 5


# --- contact methods and rules ------------------------------------------------------------------------------

def test_contact_methods_are_own_and_managers_see_all(api, users):
    mine = api(users["viewer"]).post(METHODS, {"kind": "email", "target": "me@example.com"}, format="json")
    assert mine.status_code == 201 and mine.json()["user"] == users["viewer"].pk
    other = contact(UserFactory(username="other"), "email", "other@example.com")
    assert [m["target"] for m in api(users["viewer"]).get(METHODS).json()["results"]] == ["me@example.com"]
    assert api(users["viewer"]).get(METHODS + f"{other.pk}/").status_code == 404
    assert api(users["viewer"]).post(METHODS, {"kind": "email", "target": "x@example.com",
                                               "user": other.user_id}, format="json").status_code == 403
    assert api(users["manager"]).get(METHODS).json()["count"] == 2
    made = api(users["manager"]).post(METHODS, {"kind": "email", "target": "x@example.com", "user": other.user_id},
                                      format="json")
    assert made.status_code == 201 and made.json()["user"] == other.user_id


@pytest.mark.parametrize(("kind", "target"), [("email", "not-an-address"), ("webhook", "ftp://x"),
                                              ("chat", "nonsense"), ("pager", "x")])
def test_bad_contact_methods_are_400(api, users, kind, target):
    response = api(users["responder"]).post(METHODS, {"kind": kind, "target": target}, format="json")
    assert response.status_code == 400 and response.json()["error"]["fields"]
    assert not ContactMethod.objects.exists()


def test_contact_method_test_action_sends(api, users, django_capture_on_commit_callbacks):
    method = contact(users["viewer"], "email", "pager@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["viewer"]).post(METHODS + f"{method.pk}/test/")
    assert response.status_code == 202
    assert [m.to for m in mail.outbox] == [["pager@example.com"]]
    other = contact(UserFactory(username="other"), "email", "o@example.com")
    assert api(users["viewer"]).post(METHODS + f"{other.pk}/test/").status_code == 404


def test_contact_method_secret_url_is_masked_in_the_change_log(api, users):
    response = api(users["responder"]).post(METHODS, {"kind": "webhook", "target": "https://hooks.example.com/s3cr3t"},
                                         format="json")
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="create", content_type__model="contactmethod")
    assert "s3cr3t" not in str(entry.changes)


def test_contact_method_urls_are_shown_in_full_to_their_owner_only(api, users):
    secret = "https://hooks.example.com/services/T000/s3cr3t"
    hook = api(users["responder"]).post(METHODS, {"kind": "webhook", "target": secret}, format="json")
    assert hook.status_code == 201 and hook.json()["target"] == secret  # the owner's own answer
    mail_ = contact(users["responder"], "email", "resp@example.com")
    assert {m["target"] for m in api(users["responder"]).get(METHODS).json()["results"]} == {
        secret, "resp@example.com"}
    manager = api(users["manager"])
    listed = {m["id"]: m["target"] for m in manager.get(METHODS).json()["results"]}
    assert listed[mail_.pk] == "resp@example.com"  # addresses are not secrets
    assert "s3cr3t" not in listed[hook.json()["id"]] and listed[hook.json()["id"]].startswith("https://…")
    one = manager.get(METHODS + f"{hook.json()['id']}/").json()
    assert "s3cr3t" not in one["target"]
    renamed = manager.patch(METHODS + f"{hook.json()['id']}/", {"label": "Ops hook"}, format="json")
    assert renamed.status_code == 200 and "s3cr3t" not in renamed.json()["target"]
    assert ContactMethod.objects.get(pk=hook.json()["id"]).target == secret  # unchanged by the rename


@pytest.mark.parametrize(("kind", "target"), [("webhook", "http://127.0.0.1:8080/admin"),
                                              ("chat", "json://127.0.0.1:9/hook"),
                                              ("sms", "json://10.0.0.1/sms")])
def test_viewers_add_email_contact_methods_only(api, users, kind, target):
    viewer = api(users["viewer"])
    refused = viewer.post(METHODS, {"kind": kind, "target": target}, format="json")
    assert refused.status_code == 403 and "responder" in refused.json()["error"]["message"]
    assert not ContactMethod.objects.exists()
    mine = viewer.post(METHODS, {"kind": "email", "target": "v@example.com"}, format="json")
    assert mine.status_code == 201
    turned = viewer.patch(METHODS + f"{mine.json()['id']}/", {"kind": kind, "target": target}, format="json")
    assert turned.status_code == 403
    assert ContactMethod.objects.get().kind == "email"
    # a manager may set one up for the viewer; the viewer may rename and test it, not point it elsewhere
    made = api(users["manager"]).post(METHODS, {"kind": kind, "target": target, "user": users["viewer"].pk},
                                      format="json")
    assert made.status_code == 201
    assert viewer.patch(METHODS + f"{made.json()['id']}/", {"label": "mine"}, format="json").status_code == 200
    assert viewer.patch(METHODS + f"{made.json()['id']}/", {"target": target + "x"},
                        format="json").status_code == 403
    assert api(users["responder"]).post(METHODS, {"kind": kind, "target": target}, format="json").status_code == 201
    assert api(users["team_manager"]).post(METHODS, {"kind": kind, "target": target},
                                           format="json").status_code == 201  # responds in a team


def test_notification_rules(api, users):
    method = contact(users["viewer"], "email", "pager@example.com")
    other = contact(UserFactory(username="other"), "email", "o@example.com")
    client = api(users["viewer"])
    made = client.post(RULES, {"urgency": "high", "contact_method": method.pk, "delay_minutes": 5}, format="json")
    assert made.status_code == 201 and made.json()["user"] == users["viewer"].pk
    assert client.post(RULES, {"urgency": "high", "contact_method": other.pk}, format="json").status_code == 403
    assert client.post(RULES, {"urgency": "urgent", "contact_method": method.pk}, format="json").status_code == 400
    assert client.post(RULES, {"urgency": "high", "contact_method": method.pk, "delay_minutes": -1},
                       format="json").status_code == 400
    rule_id = made.json()["id"]
    assert client.patch(RULES + f"{rule_id}/", {"delay_minutes": 10}, format="json").status_code == 200
    assert NotificationRule.objects.get(pk=rule_id).delay_minutes == 10
    assert client.delete(RULES + f"{rule_id}/").status_code == 204
    assert NotificationRule.objects.count() == 0


def test_rules_list_query_count(api, users, django_assert_max_num_queries):
    client = api(users["manager"])
    contact(users["viewer"], "email", "a@example.com", rules=[("high", 0)])
    with django_assert_max_num_queries(12) as one:
        client.get(RULES)
        client.get(METHODS)
    for index in range(5):
        contact(UserFactory(username=f"p{index}"), "email", f"p{index}@example.com", rules=[("high", 0), ("low", 3)])
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(RULES)
        client.get(METHODS)


# --- configuration as code ----------------------------------------------------------------------------------

def test_config_export_and_apply_round_trip(users, team, schedule):
    ServiceFactory(slug="checkout")
    document = {"version": 1, "escalation_policies": [{
        "slug": "web", "name": "Web", "team": team.slug, "repeat_count": 2, "services": ["checkout"],
        "steps": [{"kind": "notify_schedule", "schedule": "primary"}, {"kind": "wait", "wait_minutes": 5},
                  {"kind": "notify_team", "team": team.slug, "team_role": "manager", "urgency": "low"},
                  {"kind": "notify_users", "users": ["admin", "manager"]}]}]}
    changes = config_as_code.apply_document(config_as_code.load(config_as_code.dump(document)),
                                            actor=Actor.system("test"))
    assert [(c.key, c.action) for c in changes if c.section == "escalation_policies"] == [("web", "create")]
    policy = EscalationPolicy.objects.get(slug="web")
    assert [s.kind for s in policy.steps.order_by("position")] == ["notify_schedule", "wait", "notify_team",
                                                                   "notify_users"]
    exported = [p for p in config_as_code.export_document()["escalation_policies"] if p["slug"] == "web"][0]
    assert exported["steps"][2] == {"kind": "notify_team", "team": team.slug, "team_role": "manager",
                                    "urgency": "low"}
    again = config_as_code.apply_document(document, actor=Actor.system("test"))
    assert [c.action for c in again if c.section == "escalation_policies"] == ["unchanged"]


def test_config_names_unknown_references(users):
    document = {"version": 1, "escalation_policies": [{
        "slug": "web", "name": "Web", "steps": [{"kind": "notify_schedule", "schedule": "nope"}]}]}
    with pytest.raises(Exception) as error:
        config_as_code.apply_document(document, actor=Actor.system("test"))
    assert "escalation_policies/web/steps/0/schedule" in str(error.value)
    assert not EscalationPolicy.objects.exists()


def test_config_refuses_a_second_policy_for_a_service(users):
    ServiceFactory(slug="checkout", name="Checkout")
    step = [{"kind": "notify_users", "users": ["admin"]}]
    document = {"version": 1, "escalation_policies": [
        {"slug": "first", "name": "First", "services": ["checkout"], "steps": step},
        {"slug": "second", "name": "Second", "services": ["checkout"], "steps": step}]}
    with pytest.raises(Exception) as error:
        config_as_code.apply_document(document, actor=Actor.system("test"))
    assert "escalation_policies/second" in str(error.value) and "already has the escalation policy First" in str(
        error.value)
    assert not EscalationPolicy.objects.exists()
