"""Ship the default classes, attributes and relationship types (opsdesk.cmdb.defaults)."""

from django.db import migrations


def load(apps, schema_editor):
    from opsdesk.cmdb.defaults import install

    install(apps)


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
