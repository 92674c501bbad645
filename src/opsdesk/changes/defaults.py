"""What a new installation starts with for changes: the settings row, categories and change templates
with their plans, the risk questionnaire and the approval policies. Installed by migration 0002;
config-as-code changes them. Each part owns one function; all are idempotent (get_or_create)."""

from __future__ import annotations


def _apps(apps):
    if apps is None:
        from django.apps import apps as _global

        return _global
    return apps


def install_settings(apps) -> None:
    apps.get_model("changes", "ChangeSettings").objects.get_or_create(pk=1, defaults={
        "review_outcomes": ["failed", "backed_out"], "review_risk_levels": ["high", "very_high"]})


def install_catalog(apps) -> None:
    """Categories and change templates (owner: the catalog part): six categories, one plan template per
    category for normal and emergency changes, and a few standard (pre-approved, low-risk) changes.
    Existing rows (by key) are left as they are: config-as-code or the catalog pages own them then."""
    from .catalog_defaults import CATEGORIES, PLAN_TEMPLATES, STANDARD_TEMPLATES

    Category = apps.get_model("changes", "ChangeCategory")
    Template = apps.get_model("changes", "ChangeTemplate")
    categories = {}
    for item in CATEGORIES:
        categories[item["slug"]], _created = Category.objects.get_or_create(slug=item["slug"], defaults={
            "name": item["name"], "description": item.get("description", "")})
    for change_type, items in (("normal", PLAN_TEMPLATES), ("standard", STANDARD_TEMPLATES)):
        for item in items:
            fields = {k: v for k, v in item.items() if k not in ("slug", "category")}
            fields.setdefault("risk_level", "low")
            Template.objects.get_or_create(slug=item["slug"], defaults={
                **fields, "change_type": change_type, "category": categories[item["category"]]})


def install_risk(apps) -> None:
    """The risk questionnaire (owner: the risk part): five weighted questions. Existing rows (by key) are
    left as they are: config-as-code or the questionnaire page own them then."""
    from .risk_defaults import QUESTIONS

    Question = apps.get_model("changes", "RiskQuestion")
    for item in QUESTIONS:
        Question.objects.get_or_create(slug=item["slug"], defaults={
            "text": item["text"], "help_text": item["help"], "order": item["order"],
            "answers": [dict(answer) for answer in item["answers"]], "active": True})


def install_approvals(apps) -> None:
    """The approval policies and their stages (owner: the approvals part). Stages without a team name the
    change's owner team; a CAB stage without a team adds every user whose global role is at least `min_role`."""
    from .approval_defaults import POLICIES

    Policy = apps.get_model("changes", "ApprovalPolicy")
    Stage = apps.get_model("changes", "ApprovalStage")
    for item in POLICIES:
        fields = {k: v for k, v in item.items() if k not in ("slug", "stages")}
        policy, created = Policy.objects.get_or_create(slug=item["slug"], defaults=fields)
        if created:
            for stage in item["stages"]:
                Stage.objects.create(policy=policy, **stage)


def install(apps=None) -> None:
    apps = _apps(apps)
    install_settings(apps)
    install_catalog(apps)
    install_risk(apps)
    install_approvals(apps)
