"""Form bases: Bootstrap classes on every widget, tags as a comma-separated field, and
`service_data()` that hands the cleaned values to the module's service (forms never save)."""

from django import forms
from django.core.validators import validate_slug
from django.utils.translation import gettext_lazy as _


class CommaListField(forms.CharField):
    """A list typed as "a, b, c": keyboard-friendly, and bounded however large the choice is.
    Subclasses turn the items into values in `convert()`; `shown()` is how a value is written back."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def shown(self, item) -> str:
        return str(item)

    def prepare_value(self, value):
        if hasattr(value, "all"):
            value = value.all()
        if isinstance(value, list | tuple) or hasattr(value, "model"):
            return ", ".join(self.shown(item) for item in value)
        return value

    def convert(self, items: list[str]):
        return items

    def clean(self, value):
        items = [item.strip() for item in (super().clean(value) or "").split(",") if item.strip()]
        return self.convert(items)


class TagsField(CommaListField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", _("Comma separated, e.g. payments, customer-facing"))
        super().__init__(**kwargs)

    def shown(self, item) -> str:
        return getattr(item, "name", str(item))

    def convert(self, items):
        names = [item.lower() for item in items]
        for name in names:
            validate_slug(name)
        return names


class RecordForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "tags" in self.fields:
            self.fields["tags"] = TagsField(label=_("Tags"))
            if self.instance.pk:
                self.initial["tags"] = self.instance.tags.all()
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
