"""Form bases: Bootstrap classes on every widget, tags as a comma-separated field, and
`service_data()` that hands the cleaned values to the module's service (forms never save)."""

from django import forms
from django.core.validators import validate_slug
from django.utils.translation import gettext_lazy as _


class TagsField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _("Comma separated, e.g. payments, customer-facing"))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if hasattr(value, "all"):
            return ", ".join(t.name for t in value.all())
        if isinstance(value, list | tuple):
            return ", ".join(getattr(t, "name", str(t)) for t in value)
        return value

    def clean(self, value):
        value = super().clean(value)
        names = [n.strip().lower() for n in (value or "").split(",") if n.strip()]
        for name in names:
            validate_slug(name)
        return names


class RecordForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "tags" in self.fields:
            self.fields["tags"] = TagsField(label=_("Tags"))
            if self.instance.pk:
                self.initial["tags"] = ", ".join(t.name for t in self.instance.tags.all())
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = widget.attrs.get("class", "") + " is-invalid"

    def _post_clean(self):
        # Model validation runs in the service (with the full record); here we only check the fields.
        pass

    def service_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields if name in self.cleaned_data}
