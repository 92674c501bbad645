"""Article forms: Markdown text with a preview, related records typed as numbers or keys, reviewers
as user names. Forms never save: the service does."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from opsdesk.core.forms import CommaListField, RecordForm
from opsdesk.incidents.forms import CIsField
from opsdesk.incidents.models import Incident
from opsdesk.problems.models import KnownError
from opsdesk.services.models import Service

from .models import Article, ArticleCategory, ArticleReview

MAX_ITEMS = 50


class KeysField(CommaListField):
    """Records typed as their keys ("INC-12, INC-40"; "online-shop"): one query however many."""

    def __init__(self, *, model, key: str, noun, upper: bool = False, **kwargs):
        self.model, self.key, self.noun, self.upper = model, key, noun, upper
        super().__init__(**kwargs)

    def shown(self, item) -> str:
        return str(getattr(item, self.key, item))

    def convert(self, items):
        if len(items) > MAX_ITEMS:
            raise ValidationError(_("At most %(n)s.") % {"n": MAX_ITEMS})
        keys = [item.upper() if self.upper else item for item in items]
        found = {getattr(obj, self.key): obj for obj in self.model.objects.filter(**{f"{self.key}__in": keys})}
        missing = [key for key in keys if key not in found]
        if missing:
            raise ValidationError(_("No %(noun)s called %(items)s.") % {"noun": self.noun, "items": ", ".join(missing)})
        return list({found[key].pk: found[key] for key in keys}.values())


class ArticleForm(RecordForm):
    services = KeysField(model=Service, key="slug", noun=_("service"), label=_("Related services"),
                         help_text=_("Service keys, comma separated, e.g. online-shop"))
    cis = CIsField(label=_("Related CIs"), help_text=_("Numbers or names, comma separated, e.g. CI-12, shop-frontend"))
    known_errors = KeysField(model=KnownError, key="number", noun=_("known error"), upper=True,
                             label=_("Related known errors"), help_text=_("Numbers, e.g. KE-3"))
    incidents = KeysField(model=Incident, key="number", noun=_("incident"), upper=True, label=_("Related incidents"),
                          help_text=_("Numbers, e.g. INC-120, INC-133"))
    reviewers = KeysField(model=get_user_model(), key="username", noun=_("user"), label=_("Reviewers"),
                          help_text=_("User names, comma separated. Submitting for review needs at least one."))
    note = forms.CharField(label=_("What changed"), required=False, max_length=300,
                           help_text=_("Kept with the new version (shown in the version history)."))

    class Meta:
        model = Article
        fields = ["title", "summary", "body", "category", "tags", "services", "cis", "known_errors", "incidents",
                  "owner_team", "reviewers", "review_by"]
        widgets = {"body": forms.Textarea(attrs={"rows": 16, "class": "form-control font-monospace"}),
                   "review_by": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, prefill: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Where a new article is written from (?incident= or ?known_error=, kept in the form's address).
        self.prefill = prefill or {}
        self.fields["category"].queryset = ArticleCategory.objects.all()
        self.fields["body"].widget.attrs.update({
            "hx-post": reverse_lazy("knowledge:preview"), "hx-trigger": "keyup changed delay:600ms, load",
            "hx-target": "#body-preview", "hx-swap": "innerHTML"})
        self.fields["body"].help_text = format_html(
            '{}<div class="article-preview article-text border rounded p-3 mt-2" id="body-preview" '
            'aria-live="polite"></div>', _("Markdown. Preview:"))
        if self.instance.pk:
            for name in ("services", "cis", "known_errors", "incidents", "reviewers"):
                self.initial[name] = getattr(self.instance, name).all()
        else:
            del self.fields["note"]
            self.fields["title"].widget.attrs.update({  # refreshes the "similar articles exist" warning
                "hx-get": reverse_lazy("knowledge:similar"), "hx-trigger": "keyup changed delay:600ms",
                "hx-target": "#similar-articles", "hx-swap": "outerHTML"})
            for name, value in self.prefill.items():
                if name in self.fields:
                    self.initial[name] = value

    def service_data(self) -> dict:
        data = super().service_data()
        if not self.instance.pk:
            for name in ("source_incident", "source_known_error"):
                if self.prefill.get(name) is not None:
                    data[name] = self.prefill[name]
        if self.instance.pk and "note" in data:
            data["note"] = data["note"] or ""
        return data


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=ArticleReview.DECISIONS, label=_("Decision"))
    comment = forms.CharField(label=_("Comment"), required=False, max_length=5000,
                              widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}))


class CategoryForm(RecordForm):
    class Meta:
        model = ArticleCategory
        fields = ["name", "slug", "description", "order"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
