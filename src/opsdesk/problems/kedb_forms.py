"""The known error form. It never saves: `service_data()` hands the values to problems/kedb.py, which
validates the error pattern and writes through core.records."""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from opsdesk.cmdb.models import CIClass
from opsdesk.core.forms import CommaListField, RecordForm
from opsdesk.incidents.forms import CIsField
from opsdesk.services.models import Service

from . import kedb
from .models import KnownError, Problem

MAX_ITEMS = 50


class CIClassesField(CommaListField):
    """CI classes typed as keys or names, "database, web-server"."""

    def shown(self, item) -> str:
        return item.slug

    def convert(self, items):
        if len(items) > MAX_ITEMS:
            raise ValidationError(_("At most %(n)s CI classes.") % {"n": MAX_ITEMS})
        found = list(CIClass.objects.filter(Q(slug__in=items) | Q(name__in=items)))
        chosen, missing = {}, []
        for item in items:
            match = next((c for c in found if item in (c.slug, c.name)), None)
            if match is None:
                missing.append(item)
            else:
                chosen[match.pk] = match
        if missing:
            raise ValidationError(_("No CI class with the key or name %(items)s.") % {"items": ", ".join(missing)})
        return list(chosen.values())


class ServicesField(CommaListField):
    """Services typed as keys, numbers or names, "online-shop, SVC-7"."""

    def shown(self, item) -> str:
        return item.slug

    def convert(self, items):
        if len(items) > MAX_ITEMS:
            raise ValidationError(_("At most %(n)s services.") % {"n": MAX_ITEMS})
        numbers = [item.upper() for item in items]
        found = list(Service.objects.filter(Q(slug__in=items) | Q(number__in=numbers) | Q(name__in=items)))
        chosen, missing = {}, []
        for item in items:
            match = next((s for s in found if item in (s.slug, s.name) or s.number == item.upper()), None)
            if match is None:
                missing.append(item)
            else:
                chosen[match.pk] = match
        if missing:
            raise ValidationError(_("No service with the key, number or name %(items)s.")
                                  % {"items": ", ".join(missing)})
        return list(chosen.values())


class ProblemNumberField(forms.CharField):
    """The linked problem as its number, "PRB-12"."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int):
            value = Problem.objects.filter(pk=value).only("number").first()
        return getattr(value, "number", value)

    def clean(self, value):
        number = (super().clean(value) or "").strip().upper()
        if not number:
            return None
        problem = Problem.objects.filter(number=number).first()
        if problem is None:
            raise ValidationError(_("No problem with the number “%(n)s”.") % {"n": number})
        return problem


class KnownErrorForm(RecordForm):
    cis = CIsField(label=_("Affected CIs"), help_text=_("Numbers or names, comma separated, e.g. CI-12, db-orders-1"))
    ci_classes = CIClassesField(label=_("Affected CI classes"), help_text=_("Keys or names, e.g. database, server"))
    services = ServicesField(label=_("Affected services"), help_text=_("Keys, numbers or names, e.g. online-shop"))
    problem = ProblemNumberField(label=_("Problem"), help_text=_("The problem it came from, e.g. PRB-4"))

    class Meta:
        model = KnownError
        fields = ["title", "symptom", "error_pattern", "workaround", "root_cause", "permanent_solution", "cis",
                  "ci_classes", "services", "software_versions", "problem"]
        widgets = {"symptom": forms.Textarea(attrs={"rows": 3}), "workaround": forms.Textarea(attrs={"rows": 4}),
                   "root_cause": forms.Textarea(attrs={"rows": 3}),
                   "permanent_solution": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, prefill: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ("cis", "ci_classes", "services"):
                self.initial[name] = list(getattr(self.instance, name).all())
            self.initial["problem"] = self.instance.problem
        elif prefill:
            self.initial.update(prefill)
        self.fields["error_pattern"].widget.attrs.setdefault("placeholder", "ORA-00600  or  timeout after \\d+ ms")
        self.fields["error_pattern"].widget.attrs["maxlength"] = kedb.MAX_PATTERN

    def clean_error_pattern(self):
        try:
            return kedb.validate_error_pattern(self.cleaned_data.get("error_pattern"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["error_pattern"]) from None
