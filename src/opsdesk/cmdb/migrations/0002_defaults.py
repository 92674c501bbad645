"""Ship the default classes, attributes and relationship types (opsdesk.cmdb.defaults). Existing rows
with the same key are left as an admin may have changed them."""

from django.db import migrations


def load(apps, schema_editor):
    from opsdesk.cmdb.defaults import CLASSES, RELATIONSHIP_TYPES

    CIClass = apps.get_model("cmdb", "CIClass")
    AttributeDefinition = apps.get_model("cmdb", "AttributeDefinition")
    RelationshipType = apps.get_model("cmdb", "RelationshipType")
    for slug, name, icon, is_asset, reminder_days, attributes in CLASSES:
        ci_class, created = CIClass.objects.get_or_create(
            slug=slug, defaults={"name": name, "icon": icon, "is_asset": is_asset,
                                 "expiry_reminder_days": reminder_days, "builtin": True})
        if not created:
            continue
        for order, (key, label, kind, extra) in enumerate(attributes):
            reference_class = None
            if kind == "reference":
                reference_class = CIClass.objects.filter(slug="server").first()
            AttributeDefinition.objects.create(ci_class=ci_class, key=key, label=label, type=kind, order=order * 10,
                                               choices=extra.get("choices", []), tracked=extra.get("tracked", False),
                                               reference_class=reference_class)
    for slug, name, reverse_name, impact in RELATIONSHIP_TYPES:
        RelationshipType.objects.get_or_create(slug=slug, defaults={"name": name, "reverse_name": reverse_name,
                                                                    "impact": impact, "builtin": True})


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
