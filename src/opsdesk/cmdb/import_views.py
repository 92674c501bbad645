"""The import pages under /cmdb/imports/: the list of runs, upload -> column mapping and policy ->
dry run (the run page shows the preview: counts and report lines) -> apply (a new, real run with the
same file and settings). Global managers import (an import can touch any team's CIs); everyone reads."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from opsdesk.core.permissions import has_role
from opsdesk.core.views import RoleView
from opsdesk.core.workflow import TransitionNotAllowed

from . import import_runs
from .imports import FIELD_TARGETS, MATCH_FIELDS
from .models import CIClass, ConfigurationItem, ImportRun

REPORT_PER_PAGE = 100
FILE_KINDS = [(k, label) for k, label in ImportRun.KINDS if k != "rows"]
REPORT_ACTIONS = [("create", _("Create")), ("update", _("Update")), ("unchanged", _("Unchanged")),
                  ("skip", _("Skip")), ("error", _("Error")), ("unseen", _("Not seen"))]


def _bootstrap(form) -> None:
    for name, field in form.fields.items():
        widget = field.widget
        if isinstance(widget, forms.CheckboxSelectMultiple):
            continue
        css = "form-select" if isinstance(widget, forms.Select) else "form-control"
        if form.is_bound and name in form.errors:
            css += " is-invalid"
        widget.attrs["class"] = f"{css} {widget.attrs.get('class', '')}".strip()


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("CSV, Excel (XLSX), nmap XML (nmap -oX) or Ansible facts "
                                                        "(JSON)."))
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Detect from the file")), *FILE_KINDS])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bootstrap(self)


def target_choices() -> list:
    fields = [(name, ConfigurationItem._meta.get_field(name).verbose_name.capitalize()) for name in FIELD_TARGETS]
    return [("", _("— ignore this column —")), (_("CI fields"), fields),
            (_("Attributes"), list(import_runs.attribute_targets().items()))]


def match_key_choices() -> list:
    keys = [("serial_number", _("Serial number")), ("asset_tag", _("Asset tag")), ("hostname", _("Host name")),
            ("ip", _("IP address")), ("name", _("Name"))]
    return keys + [(key, label) for key, label in import_runs.attribute_targets().items()]


class MappingForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=200)
    source = forms.CharField(label=_("Discovery source"), max_length=64,
                             help_text=_("CIs not seen are looked for among the CIs of this source."))
    default_class = forms.ModelChoiceField(label=_("Class for new CIs"), queryset=CIClass.objects.all(),
                                           to_field_name="slug", required=False,
                                           help_text=_("Used when no column gives the class."))
    match_keys = forms.MultipleChoiceField(label=_("Match keys"), widget=forms.CheckboxSelectMultiple,
                                           help_text=_("Tried in the order shown; the first key the row has a value "
                                                       "for and that finds a CI decides."))
    on_no_match = forms.ChoiceField(label=_("When no CI matches"), choices=ImportRun.ON_NONE)
    on_one_match = forms.ChoiceField(label=_("When one CI matches"), choices=ImportRun.ON_ONE)
    on_many_matches = forms.ChoiceField(label=_("When several CIs match"), choices=ImportRun.ON_MANY)
    on_unseen = forms.ChoiceField(label=_("CIs of this source not in the file"), choices=ImportRun.UNSEEN)

    def __init__(self, *args, staged, **kwargs):
        defaults = import_runs.DEFAULTS.get(staged.kind, {"source": "import", "match_keys": ["name"],
                                                           "default_class": None})
        suggested = import_runs.suggest_mapping(staged.preview.columns)
        initial = {"source": defaults["source"], "default_class": defaults["default_class"],
                   "match_keys": defaults["match_keys"], "on_no_match": "create", "on_one_match": "update",
                   "on_many_matches": "error", "on_unseen": "ignore"}
        super().__init__(*args, initial=initial, **kwargs)
        self.columns = staged.preview.columns
        self.fields["match_keys"].choices = match_key_choices()
        choices = target_choices()
        for index, column in enumerate(self.columns):
            self.fields[f"col_{index}"] = forms.ChoiceField(label=column, choices=choices, required=False,
                                                            initial=suggested.get(column, ""))
        _bootstrap(self)

    def column_fields(self):
        return [self[f"col_{index}"] for index in range(len(self.columns))]

    def options(self) -> dict:
        data = dict(self.cleaned_data)
        ordered = [key for key, _label in match_key_choices() if key in data["match_keys"]]
        return {"name": data["name"], "source": data["source"],
                "default_class": data["default_class"].slug if data["default_class"] else "",
                "mapping": {column: data[f"col_{i}"] for i, column in enumerate(self.columns)},
                "match_keys": ordered, "on_no_match": data["on_no_match"], "on_one_match": data["on_one_match"],
                "on_many_matches": data["on_many_matches"], "on_unseen": data["on_unseen"], "dry_run": True}


def _add_errors(form, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)
    _bootstrap(form)


class ImportListView(RoleView):
    def get(self, request):
        runs = ImportRun.objects.select_related("default_class", "created_by").defer("report").order_by("-id")
        page = Paginator(runs, 50).get_page(request.GET.get("page"))
        return render(request, "cmdb/import_list.html", {"page": page,
                                                         "can_import": has_role(request.user, "manager")})


class ImportUploadView(RoleView):
    role = "manager"

    def get(self, request):
        return render(request, "cmdb/import_upload.html", {"form": UploadForm()})

    def post(self, request):
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                staged = import_runs.stage_upload(form.cleaned_data["file"], form.cleaned_data["kind"] or None)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return redirect(f"{reverse('cmdb:import_map')}?{urlencode({'file': staged.sign()})}")
        return render(request, "cmdb/import_upload.html", {"form": form}, status=422)


class ImportMapView(RoleView):
    role = "manager"

    def staged(self, request):
        try:
            return import_runs.StagedFile.from_token(request.GET.get("file") or request.POST.get("file") or "")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return None

    def render_form(self, form, staged, status=200):
        return render(self.request, "cmdb/import_map.html", {
            "form": form, "staged": staged, "token": staged.sign(), "rows": staged.preview.rows,
        }, status=status)

    def get(self, request):
        staged = self.staged(request)
        if staged is None:
            return redirect("cmdb:import_upload")
        return self.render_form(MappingForm(staged=staged), staged)

    def post(self, request):
        staged = self.staged(request)
        if staged is None:
            return redirect("cmdb:import_upload")
        form = MappingForm(request.POST, staged=staged)
        if form.is_valid():
            try:
                run = import_runs.create_import(actor=self.actor(), staged=staged, options=form.options())
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, _("Dry run %(run)s started: nothing is written until you apply it.")
                                 % {"run": run.number})
                return redirect(run.get_absolute_url())
        return self.render_form(form, staged, status=422)


class ImportDetailView(RoleView):
    def get(self, request, pk):
        run = get_object_or_404(ImportRun.objects.select_related("default_class", "created_by"), pk=pk)
        action = request.GET.get("action", "")
        lines = [line for line in run.report if not action or line.get("action") == action]
        page = Paginator(lines, REPORT_PER_PAGE).get_page(request.GET.get("page"))
        applied = ImportRun.objects.filter(file_path=run.file_path, dry_run=False, id__gt=run.pk).order_by("id")
        context = {
            "run": run, "page": page, "action": action, "actions": REPORT_ACTIONS,
            "finished": run.status in ("done", "failed"),
            "can_apply": run.dry_run and run.status == "done" and has_role(request.user, "manager"),
            "applied_runs": list(applied.only("id", "number", "status")[:5]) if run.dry_run else [],
            "mapping": [(column, target) for column, target in (run.mapping or {}).items()],
            "match_fields": MATCH_FIELDS,
        }
        template = "cmdb/import_body.html" if request.htmx and request.htmx.target == "import-body" \
            else "cmdb/import_detail.html"
        return render(request, template, context)


class ImportApplyView(RoleView):
    role = "manager"

    def post(self, request, pk):
        run = get_object_or_404(ImportRun, pk=pk)
        try:
            new = import_runs.apply_import(run, actor=self.actor())
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect(run.get_absolute_url())
        messages.success(request, _("%(run)s applies %(dry)s.") % {"run": new.number, "dry": run.number})
        return redirect(new.get_absolute_url())


urlpatterns = [
    path("imports/", ImportListView.as_view(), name="import_list"),
    path("imports/new/", ImportUploadView.as_view(), name="import_upload"),
    path("imports/new/columns/", ImportMapView.as_view(), name="import_map"),
    path("imports/<int:pk>/", ImportDetailView.as_view(), name="import_detail"),
    path("imports/<int:pk>/apply/", ImportApplyView.as_view(), name="import_apply"),
]
