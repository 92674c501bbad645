from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from opsdesk.core import weekly_hours
from opsdesk.core.forms import CommaListField, RecordForm

from .models import Service


class ServiceKeysField(CommaListField):
    """Services typed as their keys, "postgres, kafka": bounded however large the catalogue is."""

    def shown(self, service) -> str:
        return service.slug

    def convert(self, items):
        keys = sorted(set(items))
        found = list(Service.objects.filter(slug__in=keys))
        missing = sorted(set(keys) - {s.slug for s in found})
        if missing:
            raise ValidationError(_("No service with the key %(keys)s.") % {"keys": ", ".join(missing)})
        return found


class DependsOnField(ServiceKeysField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", _("Keys of the services this one needs, comma separated, e.g. postgres, kafka"))
        super().__init__(**kwargs)


class ServiceForm(RecordForm):
    # Keys, not a <select> of the whole catalogue: that would be megabytes at 20,000 services.
    depends_on = DependsOnField(label=_("Depends on"))
    support_hours = forms.CharField(
        label=_("Support hours"), required=False,
        help_text=_("For example “mon-fri 08:00-18:00; sat 09:00-13:00” or “24x7”. Empty: no support hours."),
    )

    class Meta:
        model = Service
        fields = ["name", "slug", "kind", "owner_team", "tier", "criticality", "description", "support_hours",
                  "support_time_zone", "depends_on", "runbook_url", "dashboard_url", "repository_url", "tags"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["support_hours"] = self.instance.support_hours_text
            self.initial["depends_on"] = self.instance.depends_on.only("slug")
        self.fields["support_time_zone"].validators = [weekly_hours.validate_time_zone]

    def clean_support_hours(self):
        try:
            return weekly_hours.parse(self.cleaned_data.get("support_hours", ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages)
