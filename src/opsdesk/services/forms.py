from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from opsdesk.core import weekly_hours
from opsdesk.core.forms import RecordForm

from .models import Service


class ServiceForm(RecordForm):
    support_hours = forms.CharField(
        label=_("Support hours"), required=False,
        help_text=_("For example “mon-fri 08:00-18:00; sat 09:00-13:00” or “24x7”. Empty: no support hours."),
    )

    class Meta:
        model = Service
        fields = ["name", "slug", "kind", "owner_team", "tier", "criticality", "description", "support_hours",
                  "support_time_zone", "depends_on", "runbook_url", "dashboard_url", "repository_url", "tags"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4}),
                   "depends_on": forms.SelectMultiple(attrs={"size": 6})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["support_hours"] = self.instance.support_hours_text
            self.fields["depends_on"].queryset = Service.objects.exclude(pk=self.instance.pk).exclude(status="retired")
        else:
            self.fields["depends_on"].queryset = Service.objects.exclude(status="retired")
        self.fields["support_time_zone"].validators = [weekly_hours.validate_time_zone]

    def clean_support_hours(self):
        try:
            return weekly_hours.parse(self.cleaned_data.get("support_hours", ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages)
