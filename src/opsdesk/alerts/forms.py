"""Forms of the alerts pages. They only parse and check the fields; the services validate the rules
(matchers, periods, keys) and write. Secrets are never shown again: their fields are empty and
"leave empty to keep"."""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from opsdesk.core.forms import CommaListField, RecordForm
from opsdesk.incidents.forms import CIsField, ServiceKeyField
from opsdesk.services.forms import ServiceKeysField
from opsdesk.services.models import Service

from . import matching
from .models import SEVERITIES, Integration, MaintenanceWindow, Route, Silence

OPERATORS = [("=", "="), ("!=", "!="), ("=~", "=~"), ("!~", "!~")]
PRIORITY_CHOICES = [("", "—"), *((p, p) for p in ("P1", "P2", "P3", "P4", "P5"))]
EXTRA_MATCHER_ROWS = 3
MAX_MATCHER_ROWS = 50


class MatchersWidget(forms.Widget):
    """Rows of label / operator / value inputs (`<name>-label`, `<name>-op`, `<name>-value`, repeated);
    the "Add a row" button of alerts.js copies the last row."""

    def value_from_datadict(self, data, files, name):
        labels, ops, values = (data.getlist(f"{name}-{part}") if hasattr(data, "getlist") else data.get(
            f"{name}-{part}", []) for part in ("label", "op", "value"))
        rows = []
        for index, label in enumerate(labels[:MAX_MATCHER_ROWS]):
            op = ops[index] if index < len(ops) else "="
            value = values[index] if index < len(values) else ""
            if str(label).strip() or str(value).strip():
                rows.append({"label": str(label).strip(), "op": op, "value": value})
        return rows

    def value_omitted_from_data(self, data, files, name):
        return f"{name}-label" not in data

    def render(self, name, value, attrs=None, renderer=None):
        filled = list(value or [])
        rows = filled + [{"label": "", "op": "=", "value": ""}] * EXTRA_MATCHER_ROWS
        invalid = " is-invalid" if "is-invalid" in self.attrs.get("class", "") else ""
        # on an error, mark the rows that were given (the blank spare rows only when none was)
        marks = [invalid if index < len(filled) or not filled else "" for index in range(len(rows))]

        def options(selected):
            return format_html_join("", '<option value="{}"{}>{}</option>',
                                    ((op, " selected" if op == selected else "", label) for op, label in OPERATORS))

        body = format_html_join("", (
            '<div class="row g-2 mb-2 matcher-row">'
            '<div class="col-5"><input class="form-control form-control-sm font-monospace{}" name="{}-label" '
            'value="{}" placeholder="{}" aria-label="{}" maxlength="200"></div>'
            '<div class="col-2"><select class="form-select form-select-sm" name="{}-op" aria-label="{}">{}</select>'
            '</div><div class="col-5"><input class="form-control form-control-sm font-monospace{}" name="{}-value" '
            'value="{}" placeholder="{}" aria-label="{}" maxlength="2000"></div></div>'),
            ((mark, name, row.get("label", ""), _("label"), _("Label name"), name, _("Operator"),
              options(row.get("op", "=")), mark, name, row.get("value", ""), _("value"), _("Value"))
             for row, mark in zip(rows, marks, strict=True)))
        return format_html('<div class="matchers-editor" id="{}">{}<button type="button" '
                           'class="btn btn-sm btn-outline-secondary" data-add-matcher>'
                           '<i class="bi bi-plus-lg me-1" aria-hidden="true"></i>{}</button></div>',
                           (attrs or {}).get("id", name), body, _("Add a row"))


class MatchersField(forms.Field):
    widget = MatchersWidget
    default_help_text = _("= equals, != differs, =~ matches the regular expression (whole value), !~ does not. "
                          "An alert must match every row.")

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", self.default_help_text)
        super().__init__(**kwargs)

    def clean(self, value):
        value = value or []
        for row in value:
            if not row["label"]:
                raise ValidationError(_("Every row with a value needs a label name."))
            if row["op"] not in dict(OPERATORS):
                raise ValidationError(_("Unknown operator “%(op)s”.") % {"op": row["op"]})
        if self.required and not value:
            raise ValidationError(_("Give at least one label matcher."))
        return matching.validate_matchers(value)  # a bad regex is marked here, at its field


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class LabelsField(CommaListField):
    def convert(self, items):
        return items


class IntegrationForm(RecordForm):
    """All settings of an integration. The key is not here (it is made by the service and shown once);
    the HMAC secret, bearer token and IMAP password are written, never shown."""

    severity_fields = {name: f"priority_{name}" for name, _label in SEVERITIES}
    service = ServiceKeyField(label=_("Default service"), help_text=_("Key, number or name; empty: none."))
    ci_labels = LabelsField(label=_("CI labels"), help_text=_("Label names naming the affected CI, tried in order, "
                                                              "e.g. instance, host. Empty: instance, host, "
                                                              "hostname, ci."))
    hmac_secret = forms.CharField(label=_("HMAC secret"), required=False, max_length=200,
                                  widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                                  help_text=_("Requests must then be signed (X-Opsdesk-Signature). "
                                              "Leave empty to keep the current one."))
    clear_hmac_secret = forms.BooleanField(label=_("Remove the HMAC secret"), required=False)
    bearer_token = forms.CharField(label=_("Bearer token"), required=False, max_length=200, min_length=16,
                                   widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                                   help_text=_("Requests must then carry Authorization: Bearer <token> "
                                               "(at least 16 characters). Leave empty to keep the current one."))
    clear_bearer_token = forms.BooleanField(label=_("Remove the bearer token"), required=False)
    imap_password = forms.CharField(label=_("IMAP password"), required=False, max_length=200,
                                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                                    help_text=_("Leave empty to keep the current one."))

    class Meta:
        model = Integration
        fields = ["name", "kind", "enabled", "description", "team", "service", "grouping_template", "ci_labels",
                  "auto_resolve", "reopen_window_minutes", "flapping_changes", "flapping_window_minutes",
                  "payload_retention_days", "heartbeat_interval_minutes", "hmac_secret", "imap_host", "imap_port",
                  "imap_ssl", "imap_username", "imap_password", "imap_folder"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = (self.instance.severity_map or {}) if self.instance.pk else {}
        for severity, label in SEVERITIES:
            name = self.severity_fields[severity]
            self.fields[name] = forms.ChoiceField(
                label=_("Priority for %(severity)s") % {"severity": label}, choices=PRIORITY_CHOICES, required=False,
                help_text=_("Empty: the default (critical P1, error P2, warning P3, info P4)."),
                widget=forms.Select(attrs={"class": "form-select"}))
            self.initial[name] = current.get(severity, "")
        for name in ("hmac_secret", "bearer_token", "imap_password"):
            self.fields[name].widget.attrs.setdefault("class", "form-control")
        for name in ("clear_hmac_secret", "clear_bearer_token"):
            self.fields[name].widget.attrs.setdefault("class", "form-check-input")
        if self.instance.pk:
            self.fields["kind"].disabled = True  # the URL carries the kind; a new kind is a new integration
            self.initial["hmac_secret"] = ""
            if not self.instance.hmac_secret:
                del self.fields["clear_hmac_secret"]
            if not self.instance.bearer_token_hash:
                del self.fields["clear_bearer_token"]
        else:
            del self.fields["clear_hmac_secret"], self.fields["clear_bearer_token"]
            self.fields["hmac_secret"].help_text = _("Requests must then be signed (X-Opsdesk-Signature). "
                                                     "Empty: no signature needed.")
            self.fields["bearer_token"].help_text = _("Requests must then carry Authorization: Bearer <token> "
                                                      "(at least 16 characters). Empty: none needed.")
            self.fields["imap_password"].help_text = ""
        # the request checks together, then the priorities, the mailbox last (alerts.js shows it for email only)
        last = ["hmac_secret", "clear_hmac_secret", "bearer_token", "clear_bearer_token",
                *self.severity_fields.values(), "imap_host", "imap_port", "imap_ssl", "imap_username",
                "imap_password", "imap_folder"]
        self.order_fields([name for name in self.fields if name not in last] + last)

    def clean_grouping_template(self):
        return matching.validate_template(self.cleaned_data.get("grouping_template"))

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind") or self.instance.kind
        if kind == "email":
            for name in ("imap_host", "imap_username"):
                if not cleaned.get(name):
                    self.add_error(name, _("Required for an email integration."))
            if not cleaned.get("imap_password") and not self.instance.imap_password:
                self.add_error("imap_password", _("Required for an email integration."))
        return cleaned

    def service_data(self) -> dict:
        cleaned = self.cleaned_data
        data = {name: cleaned[name] for name in self.Meta.fields if name in cleaned}
        data["severity_map"] = {severity: cleaned[field] for severity, field in self.severity_fields.items()
                                if cleaned.get(field)}
        if self.instance.pk:
            data.pop("kind", None)
        for secret, clear in (("hmac_secret", "clear_hmac_secret"), ("imap_password", None)):
            if not data.get(secret):
                data.pop(secret, None)
            if clear and cleaned.get(clear):
                data[secret] = ""
        return data

    def bearer_token_change(self) -> str | None:
        """The new bearer token, "" to remove it, or None to leave it."""
        if self.cleaned_data.get("clear_bearer_token"):
            return ""
        return self.cleaned_data.get("bearer_token") or None


class RouteForm(RecordForm):
    matchers = MatchersField(label=_("Label matchers"), required=False)
    severities = forms.MultipleChoiceField(
        label=_("Severities"), choices=SEVERITIES, required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        help_text=_("None ticked: any severity."))
    service = ServiceKeyField(label=_("Service"), help_text=_("Key, number or name; empty: the integration's."))
    priority = forms.ChoiceField(label=_("Priority"), choices=PRIORITY_CHOICES, required=False,
                                 help_text=_("Empty: from the integration's severity mapping."))

    class Meta:
        model = Route
        fields = ["name", "order", "enabled", "integration", "matchers", "severities", "source_pattern", "service",
                  "team", "escalation_policy", "priority"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["integration"].queryset = Integration.objects.only("id", "name")
        self.fields["priority"].widget.attrs["class"] = "form-select"


class SilenceForm(RecordForm):
    matchers = MatchersField(label=_("Label matchers"), required=True)

    class Meta:
        model = Silence
        fields = ["matchers", "starts_at", "ends_at", "comment", "integration"]
        widgets = {"starts_at": LocalDateTimeInput(), "ends_at": LocalDateTimeInput(),
                   "comment": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"starts_at": _("Now, or later for planned work."),
                      "integration": _("Empty: alerts of every integration.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["integration"].queryset = Integration.objects.only("id", "name")
        if not self.instance.pk and not self.initial.get("starts_at"):
            now = timezone.localtime().replace(second=0, microsecond=0)
            self.initial.setdefault("starts_at", now)
            self.initial.setdefault("ends_at", now + datetime.timedelta(hours=2))


class ServicesField(ServiceKeysField):
    """Services typed as their keys, numbers or names ("postgres, SVC-7, Online Shop"): one query."""

    def convert(self, items):
        items = sorted(set(items))
        found = list(Service.objects.annotate(lname=Lower("name")).filter(
            Q(slug__in=items) | Q(number__in={item.upper() for item in items})
            | Q(lname__in={item.lower() for item in items})))
        chosen, missing = {}, []
        for item in items:
            matches = ([s for s in found if s.slug == item] or [s for s in found if s.number == item.upper()]
                       or [s for s in found if s.name.lower() == item.lower()])
            if len(matches) == 1:
                chosen[matches[0].pk] = matches[0]
            else:
                missing.append(item)
        if missing:
            raise ValidationError(_("No single service with the key, number or name %(keys)s.")
                                  % {"keys": ", ".join(missing)})
        return list(chosen.values())


class MaintenanceWindowForm(RecordForm):
    services = ServicesField(label=_("Services"),
                             help_text=_("Keys, numbers (SVC-7) or names of the services, comma separated."))
    cis = CIsField(label=_("Configuration items"), help_text=_("CI numbers or names, comma separated."))

    class Meta:
        model = MaintenanceWindow
        fields = ["title", "starts_at", "ends_at", "services", "cis", "description"]
        widgets = {"starts_at": LocalDateTimeInput(), "ends_at": LocalDateTimeInput(),
                   "description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["services"] = list(self.instance.services.all())
            self.initial["cis"] = list(self.instance.cis.all())
