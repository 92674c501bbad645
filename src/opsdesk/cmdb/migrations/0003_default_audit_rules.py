"""Ship the default audit rules (opsdesk.cmdb.audit_defaults) with builtin=True. A rule whose key
already exists is left as an admin may have changed it."""

from django.db import migrations


def load(apps, schema_editor):
    from opsdesk.cmdb.audit_defaults import install

    install(apps)


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0002_defaults")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
