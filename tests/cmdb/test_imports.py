"""The reconciliation engine: every branch of the policy (0 / 1 / many matches, CIs not seen), bad rows,
idempotence (acceptance 3), dry runs that write nothing, and the bulk create path with its change log."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile

from opsdesk.cmdb import import_runs, imports, services
from opsdesk.cmdb.models import ConfigurationItem, DiscoveredHost, ImportRun
from opsdesk.core.actors import Actor
from opsdesk.core.audit import history_for, verify_chain
from opsdesk.core.models import AuditEntry, OutboxEvent
from tests.cmdb.factories import CIFactory, cls

ACTOR = Actor.system("test")
SERVERS = "name,serial,ip,os,cpus\nweb01,S1,10.0.0.1,Debian,4\nweb02,S2,10.0.0.2,Ubuntu,8\n"


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.CMDB_IMPORT_DIR = tmp_path / "imports"


def run_file(text, name="cis.csv", kind="csv", actor=ACTOR, **options):
    """Upload, create the run and execute it as the worker would (tests run without a broker)."""
    data = text if isinstance(text, bytes) else text.encode()
    staged = import_runs.stage_upload(SimpleUploadedFile(name, data), kind)
    options.setdefault("default_class", "server")
    run = import_runs.create_import(actor=actor, staged=staged, options=options)
    return import_runs.execute(run.pk)


def run_csv(text, **options):
    options.setdefault("match_keys", ["serial_number"])
    return run_file(text, **options)


def lines(run, action=None):
    return [line for line in run.report if action is None or line["action"] == action]


def ci_log_count():
    return AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(ConfigurationItem)).count()


def state():
    """What an import may change, for "nothing was written" checks."""
    return (ci_log_count(), list(ConfigurationItem.objects.order_by("pk").values_list(
        "pk", "name", "status", "attributes", "ip_addresses", "last_seen_at", "missing_from_discovery", "discovered")),
        list(DiscoveredHost.objects.values_list("key", "last_seen_at")),
        OutboxEvent.objects.filter(event_type__startswith="configurationitem").count())


# --- no match ----------------------------------------------------------------------------------------

def test_no_match_create_makes_cis_with_numbers_attributes_and_discovery_bookkeeping(db):
    CIFactory(name="older")  # numbers continue after existing CIs
    run = run_csv(SERVERS, dry_run=False, source="inventory")
    assert (run.status, run.created_count, run.error_count) == ("done", 2, 0)
    web01 = ConfigurationItem.objects.get(serial_number="S1")
    assert web01.number == "CI-2" and web01.ci_class == cls("server") and web01.status == "planned"
    assert web01.attributes == {"cpu_count": 4, "os": "Debian"}
    assert web01.ip_addresses == ["10.0.0.1"] and web01.identifiers == " 10.0.0.1 "
    assert web01.discovery_source == "inventory" and web01.last_seen_at is not None
    assert web01.discovered["attributes"] == {"cpu_count": 4, "os": "Debian"}
    assert lines(run)[0] == {"row": 2, "action": "create", "ci": "CI-2", "message": "", "changes": {
        "name": [None, "web01"], "serial_number": [None, "S1"], "ip_addresses": [None, ["10.0.0.1"]],
        "ci_class": [None, "Server"], "attributes.cpu_count": [None, 4], "attributes.os": [None, "Debian"]}}


def test_bulk_created_ci_has_the_same_change_log_row_as_create_ci(db, team):
    text = "name,serial,ip,host,team,environment,tags,purchase cost,warranty end\n" \
           f"db01,S9,10.0.0.9,DB01.example.net.,{team.slug},Staging,\"blue, Green\",1200.50,2031-01-31\n"
    run = run_csv(text, dry_run=False)
    bulk = ConfigurationItem.objects.get(serial_number="S9")
    assert run.created_count == 1
    assert bulk.owner_team == team and bulk.environment == "staging" and bulk.hostnames == ["db01.example.net"]
    assert sorted(t.name for t in bulk.tags.all()) == ["blue", "green"]
    single = services.create_ci(actor=ACTOR, data={
        "name": "db01", "serial_number": "S9", "ip_addresses": ["10.0.0.9"], "hostnames": ["db01.example.net"],
        "owner_team": team, "environment": "staging", "tags": ["blue", "green"], "purchase_cost": "1200.50",
        "warranty_end": bulk.warranty_end, "ci_class": cls("server"), "attributes": {},
        "discovery_source": "import"})
    bulk_changes = history_for(bulk).get().changes
    single_changes = history_for(single).get().changes
    for bookkeeping in ("discovery_source",):  # both set it; last_seen_at and discovered are not audited
        assert bulk_changes[bookkeeping] == single_changes[bookkeeping]
    assert bulk_changes == single_changes
    assert history_for(bulk).get().request_id == run.number, "the change log names the import"
    assert verify_chain().ok


def test_bulk_path_emits_one_summary_event_per_batch_and_keeps_the_chain_verifiable(db, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 3)
    rows = "\n".join(f"host{i},SN{i},10.1.0.{i}" for i in range(1, 8))
    run = run_csv(f"name,serial,ip\n{rows}\n", dry_run=False)
    assert run.created_count == 7
    assert not OutboxEvent.objects.filter(event_type="configurationitem.created").exists()
    summaries = OutboxEvent.objects.filter(event_type="configurationitem.bulk_created").order_by("id")
    assert [e.payload["count"] for e in summaries] == [3, 3, 1]
    assert summaries[0].payload["numbers"] == ["CI-1", "CI-2", "CI-3"]
    assert summaries[0].object_id == run.pk, "the summary event is about the import run"
    assert ci_log_count() == 7
    result = verify_chain()
    assert result.ok and result.checked == AuditEntry.objects.count()
    # The bulk rows are really chained: editing one is found.
    tampered = history_for(ConfigurationItem.objects.get(serial_number="SN4")).get()
    AuditEntry.objects.filter(pk=tampered.pk).update(changes={"name": [None, "evil"]})
    assert verify_chain().bad_entry_id == tampered.pk


def test_bulk_create_records_refuses_the_whole_batch_naming_the_bad_item_unless_told_to_skip(db):
    from opsdesk.core import numbering, records

    good = {"name": "ok", "ci_class": cls("server")}
    bad = {"name": "", "ci_class": cls("server")}
    with pytest.raises(services.ValidationError) as caught:
        records.bulk_create_records(ConfigurationItem, [good, bad], actor=ACTOR, audited=services.CI_AUDITED)
    assert list(caught.value.message_dict) == ["items[1].name"]
    assert not ConfigurationItem.objects.exists() and ci_log_count() == 0
    result = records.bulk_create_records(ConfigurationItem, [bad, good, good], actor=ACTOR, skip_invalid=True,
                                         audited=services.CI_AUDITED, workflow=services.CI_WORKFLOW)
    assert list(result.errors) == [0] and [ci.number for ci in result.records] == ["CI-1", "CI-2"]
    assert [ci.status for ci in ConfigurationItem.objects.all()] == ["planned", "planned"]
    assert numbering.reserve_numbers("CI", 3) == ["CI-3", "CI-4", "CI-5"]
    assert numbering.next_number("CI") == "CI-6", "a reserved block is never handed out again"


def test_no_match_skip_records_a_discovered_host_until_a_ci_claims_it(db):
    run = run_csv("name,serial\nghost,G1\n", on_no_match="skip", source="scan")
    assert lines(run, "skip")[0]["message"].endswith("(g1).") and run.dry_run
    assert not DiscoveredHost.objects.exists(), "a dry run records nothing"
    run_csv("name,serial\nghost,G1\n", on_no_match="skip", source="scan", dry_run=False)
    host = DiscoveredHost.objects.get(source="scan", key="g1")
    first_seen = host.last_seen_at
    assert host.data["name"] == "ghost" and ConfigurationItem.objects.count() == 0
    run_csv("name,serial\nghost,G1\n", on_no_match="skip", source="scan", dry_run=False)
    host.refresh_from_db()
    assert DiscoveredHost.objects.count() == 1 and host.last_seen_at > first_seen
    CIFactory(name="ghost", serial_number="G1")
    run = run_csv("name,serial\nghost,G1\n", on_no_match="skip", source="scan", dry_run=False)
    assert lines(run)[0]["action"] == "unchanged"
    assert not DiscoveredHost.objects.exists(), "a host matched by a CI leaves the discovered list"


def test_no_match_error_reports_and_creates_nothing(db):
    run = run_csv(SERVERS, on_no_match="error", dry_run=False)
    assert run.error_count == 2 and run.created_count == 0
    assert lines(run)[0]["message"] == "No CI matches this row."
    assert not ConfigurationItem.objects.exists()


# --- one match ---------------------------------------------------------------------------------------

def test_one_match_update_changes_only_what_differs_through_update_ci(db):
    ci = CIFactory(name="web01", serial_number="S1", ip_addresses=["10.9.9.9"], attributes={"os": "Debian"},
                   description="kept")
    run = run_csv("name,serial,ip,os,description\nweb01,S1,10.0.0.1,Debian 12,\n", dry_run=False)
    assert run.updated_count == 1
    line = lines(run)[0]
    assert line["ci"] == ci.number and line["message"] == f"Matches {ci.number} by serial_number."
    assert line["changes"] == {"ip_addresses": [["10.9.9.9"], ["10.9.9.9", "10.0.0.1"]],
                               "attributes.os": ["Debian", "Debian 12"]}
    ci.refresh_from_db()
    assert ci.ip_addresses == ["10.9.9.9", "10.0.0.1"], "addresses are added, never removed"
    assert ci.attributes["os"] == "Debian 12" and ci.description == "kept", "an empty cell clears nothing"
    entry = history_for(ci).order_by("-id").first()
    assert entry.action == "update" and set(entry.changes) == {"attributes", "ip_addresses"}
    assert OutboxEvent.objects.filter(event_type="configurationitem.updated", object_id=ci.pk).exists()


def test_one_match_skip_leaves_the_ci_but_records_that_it_was_seen(db):
    ci = CIFactory(name="web01", serial_number="S1", attributes={"os": "Debian"})
    logged = ci_log_count()
    run = run_csv("name,serial,os\nweb01,S1,Windows\n", on_one_match="skip", dry_run=False)
    assert lines(run)[0]["action"] == "skip" and run.skipped_count == 1
    ci.refresh_from_db()
    assert ci.attributes == {"os": "Debian"}
    assert ci.last_seen_at is not None and ci.discovery_source == "import"
    assert ci.discovered == {"name": "web01", "serial_number": "S1", "attributes": {"os": "Windows"}}, \
        "what discovery saw, for the drift audit"
    assert ci_log_count() == logged, "bookkeeping writes no change-log row"


def test_matching_by_host_name_ip_name_and_attribute_in_key_order(db):
    by_host = CIFactory(name="a", hostnames=["app01.example.net"], ip_addresses=["10.2.0.9"])
    by_ip = CIFactory(name="b", ip_addresses=["10.2.0.1", "10.2.0.2"])
    by_name = CIFactory(name="Mail Server")
    by_attr = CIFactory(name="d", ci_class=cls("cloud-resource"), attributes={"resource_id": "i-0abc"})
    text = "name,host,ip,resource\nx1,APP01.example.net.,10.2.0.1,\nx2,nohost,10.2.0.2,\nmail server,,,\nx4,,,i-0abc\n"
    run = run_file(text, match_keys=["hostname", "ip", "name", "attr.resource_id"], on_one_match="skip",
                   mapping={"name": "name", "host": "hostnames", "ip": "ip_addresses", "resource": "attr.resource_id"})
    assert [(line["ci"], line["message"].split(" by ")[1]) for line in lines(run)] == [
        (by_host.number, "hostname; left as it is."),  # the first key with a value and a match decides
        (by_ip.number, "ip; left as it is."),  # a host name that finds nothing falls back to the next key
        (by_name.number, "name; left as it is."),  # names match whatever their case
        (by_attr.number, "attr.resource_id; left as it is.")]


# --- many matches ------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy,action", [("error", "error"), ("skip", "skip")])
def test_many_matches_follow_the_policy_and_write_nothing(db, policy, action):
    first, second = CIFactory(name="twin", serial_number="T"), CIFactory(name="twin2", serial_number="T")
    before = state()
    run = run_csv("name,serial,os\ntwin,T,Debian\n", on_many_matches=policy, dry_run=False)
    line = lines(run)[0]
    assert line["action"] == action
    assert line["message"] == f"Matches 2 CIs by serial_number: {first.number}, {second.number}."
    assert state() == before


# --- CIs not seen ------------------------------------------------------------------------------------

def unseen_setup():
    """Three CIs of source "inv" (two servers, one database), one server of another source."""
    seen = CIFactory(name="seen", serial_number="S1", discovery_source="inv", status="in_production")
    gone = CIFactory(name="gone", serial_number="S2", discovery_source="inv", status="in_production")
    other_class = CIFactory(name="db", serial_number="S3", discovery_source="inv", ci_class=cls("database"))
    other_source = CIFactory(name="manual", serial_number="S4", discovery_source="")
    return seen, gone, other_class, other_source


def test_unseen_ignore_touches_nothing(db):
    seen, gone, *_ = unseen_setup()
    run = run_csv("name,serial\nseen,S1\n", source="inv", on_unseen="ignore", dry_run=False)
    assert run.unseen_count == 0 and not lines(run, "unseen")
    gone.refresh_from_db()
    assert gone.status == "in_production" and not gone.missing_from_discovery


def test_unseen_mark_flags_cis_of_the_source_and_classes_touched_and_seeing_clears_it(db):
    seen, gone, other_class, other_source = unseen_setup()
    logged = ci_log_count()
    dry = run_csv("name,serial\nseen,S1\n", source="inv", on_unseen="mark")
    assert [(line["ci"], line["message"]) for line in lines(dry, "unseen")] == [
        (gone.number, "Not seen; would be marked as missing.")]
    gone.refresh_from_db()
    assert not gone.missing_from_discovery
    run = run_csv("name,serial\nseen,S1\n", source="inv", on_unseen="mark", dry_run=False)
    assert run.unseen_count == 1
    for ci in (seen, gone, other_class, other_source):
        ci.refresh_from_db()
    assert gone.missing_from_discovery and gone.status == "in_production"
    assert not other_class.missing_from_discovery, "only the classes this import touched"
    assert not other_source.missing_from_discovery, "only CIs of this discovery source"
    assert ci_log_count() == logged, "marking is bookkeeping"
    run_csv("name,serial\nseen,S1\ngone,S2\n", source="inv", on_unseen="mark", dry_run=False)
    gone.refresh_from_db()
    assert not gone.missing_from_discovery, "seen again: no longer missing"


def test_unseen_retire_takes_the_retire_transition_naming_the_import(db):
    seen, gone, other_class, _other = unseen_setup()
    run = run_csv("name,serial\nseen,S1\n", source="inv", on_unseen="retire", dry_run=False)
    gone.refresh_from_db()
    other_class.refresh_from_db()
    assert gone.status == "retired" and other_class.status == "planned"
    assert gone.status_reason == f"Not seen by {run.number} (source inv)."
    assert history_for(gone).order_by("-id").first().action == "retire"
    expected = {"row": None, "action": "unseen", "ci": gone.number, "message": "Not seen; retired.",
                "changes": {"status": ["in_production", "retired"]}}
    assert lines(run, "unseen") == [expected]


def test_unseen_is_left_alone_when_the_import_has_errors(db):
    _seen, gone, *_ = unseen_setup()
    run = run_csv("name,serial,cpus\nseen,S1,4\ngone,S2,many\n", source="inv", on_unseen="retire", dry_run=False)
    assert run.error_count == 1 and run.unseen_count == 0
    assert "left alone because the import has errors" in lines(run)[-1]["message"]
    gone.refresh_from_db()
    assert gone.status == "in_production"


# --- bad rows, idempotence, dry runs -----------------------------------------------------------------

def test_bad_rows_get_a_report_line_and_abort_nothing_else(db):
    text = ("name,serial,ip,class,os,cpus,warranty end\n"
            "ok1,S1,10.0.0.1,server,Debian,2,\n"
            "badattr,S2,10.0.0.2,server,Debian,two,\n"
            "badclass,S3,,toaster,,,\n"
            "badip,S4,10.0.0.999,,,,\n"
            ",S5,10.0.0.5,,,,\n"
            "baddate,S6,,,,,next year\n"
            "wrongattr,S7,,database,Debian,,\n"
            "ok2,S8,10.0.0.8,Virtual machine,Alpine,1,\n"
            "extra,S9,,,,,,surplus\n")
    run = run_csv(text, dry_run=False)
    messages = {line["row"]: line["message"] for line in lines(run, "error")}
    assert messages == {
        3: "attributes.cpu_count: Expected a whole number, got “two”.",
        4: "ci_class: No class “toaster”.",
        5: "ip_addresses: “10.0.0.999” is not an IP address.",
        6: "A new CI needs a name.",
        7: "warranty_end: Expected a date (YYYY-MM-DD), got “next year”.",
        8: "attributes.os: Database CIs have no attribute “os”.",
        10: "The row has 1 more cells than the header has columns.",
    }
    assert run.created_count == 2 and run.status == "done"
    assert set(ConfigurationItem.objects.values_list("name", "ci_class__slug")) == {
        ("ok1", "server"), ("ok2", "virtual-machine")}


def test_same_csv_twice_second_dry_run_reports_no_creates_and_no_updates(db, team):
    """Acceptance 3."""
    text = ("name,serial,ip,host,os,memory,purchase date,cost,tags,team,environment\n"
            f"web01,S1,10.0.0.1,web01.example.net,Debian,15.50,2024-03-01,999.9,\"a,b\",{team.slug},test\n"
            f"web02,S2,\"10.0.0.2, 2001:DB8::2\",,Ubuntu,8,,,,{team.name},production\n")
    mapping = {"name": "name", "serial": "serial_number", "ip": "ip_addresses", "host": "hostnames", "os": "attr.os",
               "memory": "attr.memory_gb", "purchase date": "purchase_date", "cost": "purchase_cost", "tags": "tags",
               "team": "owner_team", "environment": "environment"}
    first = run_csv(text, mapping=mapping, dry_run=False)
    assert first.created_count == 2 and first.error_count == 0, first.report
    logged = ci_log_count()
    second = run_csv(text, mapping=mapping)
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 2), second.report
    applied = run_csv(text, mapping=mapping, dry_run=False)
    assert (applied.created_count, applied.updated_count) == (0, 0)
    assert ci_log_count() == logged, "running the same file again writes no change-log row"


def test_a_dry_run_writes_nothing_whatever_the_policy(db):
    CIFactory(name="web01", serial_number="S1", attributes={"os": "Old"}, discovery_source="inv")
    CIFactory(name="gone", serial_number="S3", discovery_source="inv", status="in_production")
    before = state()
    for policy in ({"on_unseen": "retire"}, {"on_unseen": "mark", "on_no_match": "skip"}):
        run = run_csv("name,serial,os\nweb01,S1,New\nweb02,S2,New\n", source="inv", **policy)
        assert run.dry_run and run.status == "done" and run.unseen_count == 1
    assert run.report[0]["changes"] == {"attributes.os": ["Old", "New"]}
    assert state() == before


def test_two_rows_for_one_ci_are_reported_not_applied_twice(db):
    CIFactory(name="web01", serial_number="S1")
    run = run_csv("name,serial,ip\nnew,S9,10.0.0.9\nnew-again,S9,10.0.0.8\nweb01,S1,\nweb01b,S1,\n", dry_run=False)
    assert [line["action"] for line in lines(run)] == ["create", "error", "unchanged", "error"]
    assert lines(run)[1]["message"] == "Row 2 already creates a CI with the same match key."
    assert lines(run)[3]["message"].endswith("was already matched by row 4.")
    assert ConfigurationItem.objects.filter(serial_number="S9").count() == 1


def test_a_row_without_any_match_key_value_is_an_error(db):
    run = run_csv("name,serial\nnoserial,\n", dry_run=False)
    assert lines(run)[0]["message"] == "The row has no value for any match key (serial_number)."
    assert not ConfigurationItem.objects.exists()


def test_a_disposed_ci_is_never_matched_nor_updated(db):
    CIFactory(name="old", serial_number="S1", status="disposed")
    run = run_csv("name,serial\nold,S1\n", dry_run=False)
    assert lines(run)[0]["action"] == "create"
    assert ConfigurationItem.objects.filter(serial_number="S1").count() == 2


def test_an_import_works_as_the_user_who_started_it(db, users):
    run = run_csv(SERVERS, dry_run=False, actor=Actor.for_user(users["manager"]))
    entry = history_for(ConfigurationItem.objects.get(serial_number="S1")).get()
    assert entry.actor_user == users["manager"] and entry.request_id == run.number


# --- discovery kinds ---------------------------------------------------------------------------------

DATA = __import__("pathlib").Path(__file__).parent / "data"


def test_nmap_creates_then_never_renames_or_reclassifies(db):
    xml = (DATA / "nmap_localhost_os.xml").read_bytes()
    run = run_file(xml, name="scan.xml", kind="nmap", dry_run=False)
    assert (run.source, run.match_keys, run.created_count) == ("nmap", ["hostname", "ip"], 1)
    ci = ConfigurationItem.objects.get()
    assert (ci.name, ci.ci_class.slug, ci.hostnames, ci.ip_addresses) == ("localhost", "server", ["localhost"],
                                                                        ["127.0.0.1"])
    assert ci.attributes == {"open_ports": "18089/tcp", "os": "Linux 5.0 - 5.2"}
    services.update_ci(ci, actor=ACTOR, data={"name": "Loopback host", "ci_class": cls("virtual-machine")})
    again = run_file(xml, name="scan.xml", kind="nmap", dry_run=False)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 1), again.report
    ci.refresh_from_db()
    assert ci.name == "Loopback host" and ci.ci_class.slug == "virtual-machine"


def test_ansible_facts_choose_the_class_and_keep_only_attributes_the_class_defines(db):
    facts = (DATA / "ansible_setup_localhost.txt").read_bytes()
    run = run_file(facts, name="facts.txt", kind="ansible", dry_run=False)
    assert run.created_count == 1, run.report
    vm = ConfigurationItem.objects.get()
    assert vm.ci_class.slug == "virtual-machine" and vm.name == "vm" and vm.serial_number == ""
    assert vm.attributes == {"cpu_count": 2, "disk_gb": 256, "memory_gb": 23.5, "os": "Debian",
                             "os_version": "12.11"}, "no 'interfaces': virtual machines do not define it"
    services.create_attribute(actor=ACTOR, data={"key": "interfaces", "label": "Interfaces", "type": "string"})
    again = run_file(facts, name="facts.txt", kind="ansible", dry_run=False)
    assert again.updated_count == 1 and again.report[0]["changes"] == {
        "attributes.interfaces": [None, "eth0 192.0.2.2, ifb0, ifb1"]}


def test_csv_class_column_reclassifies_a_matched_ci(db):
    ci = CIFactory(name="box", serial_number="S1")
    run = run_csv("name,serial,class\nbox,S1,virtual-machine\n", dry_run=False)
    assert run.report[0]["changes"] == {"ci_class": ["Server", "Virtual machine"]}
    ci.refresh_from_db()
    assert ci.ci_class.slug == "virtual-machine"


# --- runs --------------------------------------------------------------------------------------------

def test_a_run_is_executed_once_even_if_enqueued_twice(db):
    run = run_csv(SERVERS, dry_run=False)
    assert import_runs.execute(run.pk) is None
    assert ConfigurationItem.objects.count() == 2


def test_a_file_gone_before_the_job_fails_the_run_with_the_error(db):
    staged = import_runs.stage_upload(SimpleUploadedFile("cis.csv", SERVERS.encode()), "csv")
    run = import_runs.create_import(actor=ACTOR, staged=staged, options={"match_keys": ["serial_number"]})
    staged.full_path.unlink()
    run = import_runs.execute(run.pk)
    assert run.status == "failed" and "No such file" in run.error
    assert OutboxEvent.objects.get(event_type="importrun.finished").payload["status"] == "failed"


def test_apply_runs_a_finished_dry_run_for_real_with_the_same_settings(db):
    dry = run_csv(SERVERS, name="Servers", on_unseen="mark")
    new = import_runs.apply_import(dry, actor=ACTOR)
    assert (new.dry_run, new.status, new.file_path, new.on_unseen, new.match_keys) == (
        False, "queued", dry.file_path, "mark", ["serial_number"])
    assert import_runs.execute(new.pk).created_count == 2
    with pytest.raises(services.TransitionNotAllowed, match="Only a finished dry run can be applied"):
        import_runs.apply_import(new, actor=ACTOR)


def test_options_are_validated_before_a_run_exists(db):
    staged = import_runs.stage_upload(SimpleUploadedFile("cis.csv", SERVERS.encode()), "csv")
    with pytest.raises(services.ValidationError) as caught:
        import_runs.create_import(actor=ACTOR, staged=staged, options={
            "match_keys": ["colour"], "default_class": "toaster", "mapping": {"nope": "name"}, "on_unseen": "burn"})
    assert set(caught.value.message_dict) == {"match_keys", "default_class", "mapping", "on_unseen"}
    assert not ImportRun.objects.exists() and not staged.full_path.exists()
    staged = import_runs.stage_upload(SimpleUploadedFile("cis.csv", SERVERS.encode()), "csv")
    with pytest.raises(services.ValidationError, match="No column is mapped to any of the match keys"):
        import_runs.create_import(actor=ACTOR, staged=staged, options={"match_keys": ["asset_tag"]})


def test_sweeper_requeues_forgotten_runs_fails_stuck_ones_and_removes_stray_files(db, settings):
    from django.utils import timezone

    staged = import_runs.stage_upload(SimpleUploadedFile("cis.csv", SERVERS.encode()), "csv")
    queued = import_runs.create_import(actor=ACTOR, staged=staged, options={"match_keys": ["serial_number"]})
    stuck = run_csv(SERVERS)
    ImportRun.objects.filter(pk=stuck.pk).update(status="running", started_at=timezone.now() - timezone.timedelta(
        hours=2))
    stray = import_runs.import_dir() / "leftover.csv"
    stray.write_text("x")
    import os
    os.utime(stray, (0, 0))
    later = timezone.now() + timezone.timedelta(minutes=5)
    assert import_runs.sweep(now=later) == {"requeued": 1, "failed": 1, "files_removed": 1}
    queued.refresh_from_db()
    stuck.refresh_from_db()
    assert queued.status == "done", "requeued and run (tasks are eager in tests)"
    assert stuck.status == "failed" and "worker stopped" in stuck.error
    assert not stray.exists() and (import_runs.import_dir() / queued.file_path).exists()
