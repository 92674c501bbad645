"""Forms of the CMDB pages. The CI form grows one field per typed attribute of the chosen class
(`attr_<key>`); forms never save, they hand their values to cmdb/services.py."""

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.utils.translation import gettext_lazy as _

from opsdesk.accounts.models import Team
from opsdesk.core.forms import CommaListField, RecordForm, TagsField
from opsdesk.services.forms import ServiceKeysField
from opsdesk.services.models import Service

from .attributes import definitions_for
from .models import AttributeDefinition, CIClass, ConfigurationItem, RelationshipType

ATTR_PREFIX = "attr_"


class SupportedServicesField(ServiceKeysField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", _("Keys of the services this CI supports, comma separated, e.g. payments"))
        super().__init__(**kwargs)


class AddressesField(CommaListField):
    def convert(self, items):
        for item in items:
            validate_ipv46_address(item)
        return items


def attribute_field(definition: AttributeDefinition) -> forms.Field:
    common = {"label": definition.label, "required": False, "help_text": definition.help_text}
    kind = definition.type
    if kind == "integer":
        return forms.IntegerField(**common)
    if kind == "decimal":
        return forms.DecimalField(**common)
    if kind == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == "boolean":
        return forms.NullBooleanField(widget=forms.Select(choices=[("unknown", "—"), ("true", _("Yes")),
                                                                   ("false", _("No"))]), **common)
    if kind == "choice":
        return forms.ChoiceField(choices=[("", "—"), *((c, c) for c in definition.choices)], **common)
    if kind == "ip":
        return forms.GenericIPAddressField(**common)
    if kind == "reference":
        common["help_text"] = definition.help_text or _("The number of a CI, e.g. CI-12")
        return forms.CharField(max_length=32, **common)
    return forms.CharField(max_length=1000, **common)


class CIForm(RecordForm):
    services = SupportedServicesField(label=_("Supports services"))
    ip_addresses = AddressesField(label=_("IP addresses"), help_text=_("Comma separated"))
    hostnames = CommaListField(label=_("Host names"), help_text=_("Comma separated"))

    class Meta:
        model = ConfigurationItem
        fields = ["name", "ci_class", "environment", "owner_team", "services", "location", "ip_addresses", "hostnames",
                  "description", "tags", "serial_number", "asset_tag", "vendor", "model_name", "purchase_date",
                  "purchase_cost", "warranty_end", "expires_on", "redundancy_min", "redundancy_mode"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3}),
                   "purchase_date": forms.DateInput(attrs={"type": "date"}),
                   "warranty_end": forms.DateInput(attrs={"type": "date"}),
                   "expires_on": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, ci_class=None, **kwargs):
        super().__init__(*args, **kwargs)
        chosen = self._chosen_class(ci_class)
        if chosen is not None and not self.instance.pk:
            self.initial.setdefault("ci_class", chosen.pk)
        # On a new CI, changing the class reloads the form with that class's attributes (app.js).
        self.fields["ci_class"].widget.attrs["data-reload-param"] = "ci_class"
        if self.instance.pk:
            self.initial["services"] = self.instance.services.only("slug")
        self.attribute_definitions = definitions_for(chosen)
        for key, definition in self.attribute_definitions.items():
            field = attribute_field(definition)
            field.widget.attrs.setdefault("class", "form-select" if isinstance(field.widget, forms.Select)
                                          else "form-control")
            self.fields[ATTR_PREFIX + key] = field
            value = (self.instance.attributes or {}).get(key) if self.instance.pk else None
            if definition.type == "reference" and value:
                value = ConfigurationItem.objects.filter(pk=value).values_list("number", flat=True).first() or value
            if definition.type == "boolean":
                value = {True: "true", False: "false"}.get(value, "unknown")
            if value is not None:
                self.initial[ATTR_PREFIX + key] = value
        # The class's attributes right after the identity fields: they are what differs between classes.
        head = ["name", "ci_class", "environment", "owner_team", "services", "location", "ip_addresses", "hostnames"]
        self.order_fields([*head, *(ATTR_PREFIX + key for key in self.attribute_definitions)])

    def _chosen_class(self, hint):
        raw = self.data.get("ci_class") if self.is_bound else hint
        if raw:
            found = CIClass.objects.filter(pk=raw).first() if str(raw).isdigit() else \
                CIClass.objects.filter(slug=raw).first()
            if found is not None:
                return found
        if self.instance.pk:
            return self.instance.ci_class
        return None

    def service_data(self) -> dict:
        data = {}
        attributes = {}
        for name, value in self.cleaned_data.items():
            if name.startswith(ATTR_PREFIX):
                attributes[name[len(ATTR_PREFIX):]] = None if value in ("", None) else value
            elif name in self.fields:
                data[name] = value
        if attributes:
            data["attributes"] = attributes
        return data


class CIBulkForm(forms.Form):
    """What a bulk edit can set on many CIs at once; empty fields are left alone."""

    environment = forms.ChoiceField(label=_("Environment"), required=False,
                                    choices=[("", "—"), *ConfigurationItem.ENVIRONMENTS])
    owner_team = forms.ModelChoiceField(label=_("Owner team"), required=False, queryset=Team.objects.all())
    location = forms.CharField(label=_("Location"), required=False, max_length=200)
    vendor = forms.CharField(label=_("Vendor"), required=False, max_length=100)
    warranty_end = forms.DateField(label=_("Warranty end"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}))
    add_tags = TagsField(label=_("Add tags"))
    change_reference = forms.CharField(label=_("Change request"), required=False, max_length=100,
                                       help_text=_("The change that covers this edit of production CIs."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-select" if isinstance(field.widget, forms.Select)
                                          else "form-control")

    def service_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if v not in ("", None, [])}


class CIClassForm(RecordForm):
    expiry_reminder_days = CommaListField(label=_("Expiry reminders (days before)"),
                                          help_text=_("Comma separated, e.g. 60, 14"))

    class Meta:
        model = CIClass
        fields = ["name", "slug", "icon", "is_asset", "expiry_reminder_days", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def clean_expiry_reminder_days(self):
        days = self.cleaned_data["expiry_reminder_days"]
        try:
            return sorted({int(d) for d in days}, reverse=True)
        except ValueError:
            raise ValidationError(_("Whole numbers of days, comma separated.")) from None


class AttributeForm(RecordForm):
    choices = CommaListField(label=_("Choices"), help_text=_("For the choice type: comma separated"))

    class Meta:
        model = AttributeDefinition
        fields = ["ci_class", "key", "label", "type", "required", "choices", "reference_class", "help_text",
                  "tracked", "order"]

    def __init__(self, *args, ci_class=None, **kwargs):
        super().__init__(*args, **kwargs)
        if ci_class and not self.instance.pk:
            self.initial["ci_class"] = ci_class
        if self.instance.pk:
            for name in ("ci_class", "key", "type"):
                self.fields[name].disabled = True


class RelationshipTypeForm(RecordForm):
    class Meta:
        model = RelationshipType
        fields = ["name", "slug", "reverse_name", "impact", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class RelateForm(forms.Form):
    """Add a relationship from this CI: to another CI (by number) or to a service (by key)."""

    type = forms.ModelChoiceField(label=_("Relationship"), queryset=RelationshipType.objects.all(),
                                  to_field_name="slug")
    target = forms.CharField(label=_("Target"), max_length=200,
                             help_text=_("A CI number (CI-12) or a service key (svc:payments)"))
    note = forms.CharField(label=_("Note"), required=False, max_length=300)

    def clean_target(self):
        value = self.cleaned_data["target"].strip()
        if value.lower().startswith("svc:"):
            service = Service.objects.filter(slug=value[4:].strip()).first()
            if service is None:
                raise ValidationError(_("No service with the key %(key)s.") % {"key": value[4:]})
            return service
        ci = ConfigurationItem.objects.filter(number=value.upper()).first() or \
            ConfigurationItem.objects.filter(name=value).first()
        if ci is None:
            raise ValidationError(_("No CI %(value)s.") % {"value": value})
        return ci
