from django.db import migrations


def install(apps, schema_editor):
    from opsdesk.releases import defaults

    defaults.install(apps)


class Migration(migrations.Migration):
    dependencies = [("releases", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
