"""The change catalog: the shipped categories and templates, config-as-code (export, apply, dry run,
errors named by their place in the file), and the catalog pages (list, detail with "Use this template",
the template form for managers)."""

import copy

import pytest
from django.urls import reverse

from opsdesk.changes.defaults import install_catalog
from opsdesk.changes.models import ChangeCategory, ChangeTemplate
from opsdesk.core import config_as_code
from opsdesk.core.actors import Actor

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def apply(document: dict, dry_run=False):
    return config_as_code.apply_document(config_as_code.load(config_as_code.dump(document)), actor=ACTOR,
                                         dry_run=dry_run)


def test_the_catalog_is_shipped_with_a_plan_template_per_category_and_is_installed_once():
    categories = set(ChangeCategory.objects.values_list("slug", flat=True))
    assert {"database", "network", "application-deployment", "infrastructure", "security", "access"} <= categories
    for category in ChangeCategory.objects.all():
        plan = ChangeTemplate.objects.filter(category=category).exclude(change_type="standard").first()
        assert plan is not None and plan.plan_steps and plan.backout_steps, category.slug
    standard = ChangeTemplate.objects.filter(change_type="standard")
    assert {"restart-application-pod", "rotate-tls-certificate", "add-dns-record"} <= set(
        standard.values_list("slug", flat=True))
    assert all(t.risk_level == "low" and t.plan_steps and t.backout_steps for t in standard)
    count = ChangeTemplate.objects.count()
    install_catalog(__import__("django.apps").apps.apps)
    assert ChangeTemplate.objects.count() == count


def test_export_and_apply_with_a_dry_run_first():
    document = {"version": 1, "change_categories": config_as_code.SECTIONS["change_categories"].export(),
                "change_templates": config_as_code.SECTIONS["change_templates"].export()}
    # The exported catalog applies unchanged.
    assert {c.action for c in apply(copy.deepcopy(document))} == {"unchanged"}
    document["change_categories"].append({"slug": "storage", "name": "Storage"})
    dns = next(t for t in document["change_templates"] if t["slug"] == "add-dns-record")
    dns["plan_steps"].append({"who": "Network engineer", "action": "Lower the TTL back", "minutes": 5})
    document["change_templates"].append({"slug": "expand-volume", "name": "Expand a volume", "category": "storage",
                                         "change_type": "standard", "plan_steps": [{"action": "Grow the LUN"}],
                                         "backout_steps": [{"action": "Nothing to undo"}]})
    preview = apply(copy.deepcopy(document), dry_run=True)
    lines = {(c.section, c.key, c.action) for c in preview}
    assert ("change_categories", "storage", "create") in lines
    assert ("change_templates", "add-dns-record", "update") in lines
    assert ("change_templates", "expand-volume", "create") in lines
    assert not ChangeCategory.objects.filter(slug="storage").exists()
    apply(document)
    assert ChangeTemplate.objects.get(slug="expand-volume").category.slug == "storage"
    assert ChangeTemplate.objects.get(slug="add-dns-record").plan_steps[-1]["action"] == "Lower the TTL back"


def test_errors_name_their_place_in_the_file_and_nothing_is_applied():
    document = {"version": 1, "change_templates": [
        {"slug": "new-one", "name": "New one", "category": "nowhere"}]}
    with pytest.raises(config_as_code.ConfigError) as error:
        apply(document)
    assert "change_templates/new-one/category" in str(error.value)
    document = {"version": 1, "change_categories": [{"slug": "storage", "name": "Storage"}],
                "change_templates": [{"slug": "std", "name": "Std", "change_type": "standard"}]}
    with pytest.raises(config_as_code.ConfigError) as error:
        apply(document)
    assert "change_templates/std/plan_steps" in str(error.value)
    assert not ChangeCategory.objects.filter(slug="storage").exists()
    with pytest.raises(config_as_code.ConfigError) as error:
        config_as_code.load("version: 1\nchange_templates:\n- slug: x\n  name: X\n  risk_level: extreme\n")
    assert "change_templates/0/risk_level" in str(error.value)


# --- pages ------------------------------------------------------------------------------------------------

def test_the_template_list_and_its_query_count(client, users, django_assert_max_num_queries):
    client.force_login(users["viewer"])
    with django_assert_max_num_queries(12) as many:
        response = client.get(reverse("changes:template_list"))
    assert response.status_code == 200
    assert b"Restart an application pod" in response.content
    ChangeTemplate.objects.exclude(slug="add-dns-record").delete()
    with django_assert_max_num_queries(len(many.captured_queries)):
        assert client.get(reverse("changes:template_list")).status_code == 200


def test_the_template_page_shows_its_plan_and_use_this_template(client, users):
    template = ChangeTemplate.objects.get(slug="rotate-tls-certificate")
    client.force_login(users["responder"])
    content = client.get(reverse("changes:template_detail", args=[template.pk])).content.decode()
    assert "Install the certificate" in content and "Put the previous certificate back" in content
    assert f'{reverse("changes:create")}?template={template.pk}' in content
    client.force_login(users["viewer"])
    content = client.get(reverse("changes:template_detail", args=[template.pk])).content.decode()
    assert 'id="use-template"' not in content


def test_a_manager_creates_and_edits_a_template_with_its_plan(client, users):
    client.force_login(users["manager"])
    category = ChangeCategory.objects.get(slug="network")
    data = {"slug": "open-firewall-port", "name": "Open a firewall port", "change_type": "standard",
            "category": category.pk, "title": "Open a firewall port", "risk_level": "low", "active": "on",
            "steps-present": "1", "steps-0-kind": "implementation", "steps-0-action": "Add the rule",
            "steps-0-minutes": "10", "steps-1-kind": "backout", "steps-1-action": "Remove the rule"}
    response = client.post(reverse("changes:template_create"), data)
    assert response.status_code == 302, response.content.decode()[:1500]
    template = ChangeTemplate.objects.get(slug="open-firewall-port")
    assert template.plan_steps == [{"who": "", "action": "Add the rule", "minutes": 10, "verification": ""}]
    assert template.backout_steps[0]["action"] == "Remove the rule"
    data["steps-0-action"] = "Add the rule on both firewalls"
    response = client.post(reverse("changes:template_edit", args=[template.pk]), data)
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.plan_steps[0]["action"] == "Add the rule on both firewalls"


def test_a_standard_template_without_steps_is_refused(client, users):
    client.force_login(users["manager"])
    data = {"slug": "empty", "name": "Empty", "change_type": "standard", "risk_level": "low", "steps-present": "1"}
    response = client.post(reverse("changes:template_create"), data)
    assert response.status_code == 422
    assert not ChangeTemplate.objects.filter(slug="empty").exists()


def test_responders_and_viewers_cannot_change_the_catalog(client, users):
    template = ChangeTemplate.objects.get(slug="add-dns-record")
    for role in ("viewer", "responder"):
        client.force_login(users[role])
        assert client.get(reverse("changes:template_create")).status_code == 403
        assert client.post(reverse("changes:template_edit", args=[template.pk]), {"name": "x"}).status_code == 403
    client.logout()
    assert client.get(reverse("changes:template_list")).status_code == 302
    template.refresh_from_db()
    assert template.name == "Add a DNS record"


def test_the_template_list_names_types_as_the_filter_does_and_says_yes_or_no(client, users):
    """Walk-through e05: the Type column used "Plan template" while the filter offers Standard / Normal /
    Emergency, and the Active column read "True"."""
    ChangeTemplate.objects.filter(slug="add-dns-record").update(active=False)
    client.force_login(users["viewer"])
    content = client.get(reverse("changes:template_list")).content.decode()
    table = content[content.index("<table"):]
    assert "True" not in table and "False" not in table
    assert ">Yes</span>" in table and ">No</span>" in table
    assert ">Standard</span>" in table and ">Normal</span>" in table
    assert "Plan template" not in table
    filtered = client.get(reverse("changes:template_list"), {"change_type": "normal"}).content.decode()
    filtered = filtered[filtered.index("<table"):]
    assert ">Normal</span>" in filtered and ">Standard</span>" not in filtered


def test_the_change_and_template_forms_are_headed_by_what_they_edit(client, users, team):
    from opsdesk.changes.models import ChangeTemplate
    from tests.changes.factories import make_change

    change = make_change(owner_team=team)
    template = ChangeTemplate.objects.filter(active=True).first()
    client.force_login(users["admin"])
    assert '<h1 class="h3 mb-3">New change</h1>' in client.get("/changes/new/").content.decode()
    html = client.get(f"/changes/{change.pk}/edit/").content.decode()
    assert f'<h1 class="h3 mb-3">Edit {change.number}</h1>' in html and f">{change.number}</a></li>" in html
    assert '<h1 class="h3 mb-3">New change template</h1>' in client.get("/changes/templates/new/").content.decode()
    html = client.get(f"/changes/templates/{template.pk}/edit/").content.decode()
    assert f'<h1 class="h3 mb-3">Edit {template.name}</h1>' in html and f"<title>Edit {template.name}" in html
    assert "A standard change template needs its implementation steps" in html
