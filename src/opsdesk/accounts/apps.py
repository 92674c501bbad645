from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "opsdesk.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from opsdesk.core import config_as_code, registry

        from . import demo
        from .config import TeamSection
        from .models import Team

        registry.register_area(registry.Area("teams", _("Teams"), "accounts:team_list", icon="people", order=90))
        registry.register_record_type(registry.RecordType(Team, _("Teams"), ("name", "slug", "description"),
                                                          order=90))
        config_as_code.register(TeamSection())
        registry.register_demo(10, demo.load)
