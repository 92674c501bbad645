import datetime

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from opsdesk.core.forms import RecordForm
from opsdesk.core.models import Subscription
from opsdesk.core.permissions import ROLES

from . import services
from .models import ApiToken, Team, User


def client_ip(request) -> str | None:
    """The client's address; behind the TLS proxy (OPSDESK_BEHIND_TLS_PROXY) the one it appended."""
    from django.conf import settings

    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class ThrottledLoginForm(AuthenticationForm):
    """Refuses further attempts after repeated failures for a user name (or from one address)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": _("Too many failed attempts. Wait a few minutes and try again."),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request) if self.request else None
        if services.login_throttled(username, ip):
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            services.record_login_attempt(username, ip, success=False)
            raise
        services.record_login_attempt(username, ip, success=True)
        return cleaned


class TeamForm(RecordForm):
    class Meta:
        model = Team
        fields = ["name", "slug", "description", "email", "lead"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class MembershipForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True), label=_("User"),
                                  widget=forms.Select(attrs={"class": "form-select"}))
    role = forms.ChoiceField(choices=[("", _("remove from team")), *ROLES], required=False, label=_("Role"),
                             widget=forms.Select(attrs={"class": "form-select"}))


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"), widget=forms.TextInput(attrs={"class": "form-control"}))
    scope = forms.ChoiceField(choices=ApiToken.SCOPES, label=_("Scope"),
                              widget=forms.Select(attrs={"class": "form-select"}))
    expires_in_days = forms.IntegerField(label=_("Expires in (days)"), min_value=1, max_value=3650, initial=90,
                                         required=False, help_text=_("Empty: never expires."),
                                         widget=forms.NumberInput(attrs={"class": "form-control"}))

    def expires_at(self):
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + datetime.timedelta(days=days) if days else None


class SubscriptionForm(forms.ModelForm):
    class Meta:
        model = Subscription
        fields = ["event_type", "in_app", "email"]
        widgets = {"event_type": forms.TextInput(attrs={"class": "form-control", "placeholder": "service.*"}),
                   "in_app": forms.CheckboxInput(attrs={"class": "form-check-input"}),
                   "email": forms.CheckboxInput(attrs={"class": "form-check-input"})}
