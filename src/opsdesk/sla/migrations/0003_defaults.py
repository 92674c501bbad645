"""The shipped calendars and incident SLA policies (see opsdesk.sla.defaults)."""

from django.db import migrations


def install(apps, schema_editor):
    from opsdesk.sla import defaults

    defaults.install(apps)


class Migration(migrations.Migration):
    dependencies = [("sla", "0002_target_timer_names_warn_default")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
