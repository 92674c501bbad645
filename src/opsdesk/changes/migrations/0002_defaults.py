from django.db import migrations


def install(apps, schema_editor):
    from opsdesk.changes import defaults

    defaults.install(apps)


class Migration(migrations.Migration):
    dependencies = [("changes", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
