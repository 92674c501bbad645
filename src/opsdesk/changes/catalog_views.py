"""The change catalog pages: the template list (standard changes and the plan templates of the categories),
a template's page with its plan and "Use this template", and the template form for managers (the same
plan editor as a change's). Writes go through changes/catalog.py."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.permissions import can
from opsdesk.core.views import Column, RecordFormView, RecordUI, badge

from . import catalog
from .filters import ChangeTemplateFilterSet
from .forms import TemplateForm, step_rows_from, template_rows
from .models import ChangeTemplate


class TemplateFormView(RecordFormView):
    """Create and edit a template; the plan rows are added and removed by a round trip, as on a change."""

    def render_form(self, form, status=200, rows=None):
        urls = self.ui.record_urls(self.record) if self.record else self.ui.list_urls()
        if rows is None:
            rows = [{**r, "kind": r["kind"] or "implementation"} for r in step_rows_from(form.data) or []] \
                if form.is_bound else template_rows(self.record)
        if not rows:
            rows = [{"kind": "implementation", "who": "", "action": "", "minutes": "", "verification": ""}]
        return render(self.request, "changes/catalog_form.html",
                      {"ui": self.ui, "urls": urls, "form": form, "record": self.record, "rows": list(enumerate(rows)),
                       "step_errors": getattr(form, "step_errors", [])}, status=status)

    def post(self, request, **kwargs):
        add, remove = request.POST.get("add_step"), request.POST.get("remove_step")
        if add or remove:
            form = self.ui.form_class(request.POST, instance=self.record)
            rows = [{**r, "kind": r["kind"] or "implementation"} for r in step_rows_from(request.POST) or []]
            if remove and remove.isdigit() and int(remove) < len(rows):
                rows.pop(int(remove))
            if add in ("implementation", "backout"):
                rows.append({"kind": add, "who": "", "action": "", "minutes": "", "verification": ""})
                rows.sort(key=lambda r: 0 if r["kind"] == "implementation" else 1)
            form.is_valid()
            form._errors = type(form.errors)()
            return self.render_form(form, rows=rows)
        return super().post(request, **kwargs)


class TemplateUI(RecordUI):
    model = ChangeTemplate
    namespace = "changes"
    path_prefix = "templates/"
    url_prefix = "template_"
    filterset_class = ChangeTemplateFilterSet
    form_class = TemplateForm
    search_fields = ("name", "slug")
    select_related = ("category",)
    default_sort = "name"
    create_role = "manager"
    edit_role = "manager"
    comment_role = "manager"
    detail_template = "changes/catalog_detail.html"
    create_service = staticmethod(catalog.create_template)
    update_service = staticmethod(catalog.update_template)
    columns = [
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("change_type", gettext_lazy("Type"), sort="change_type"),
        Column("category", gettext_lazy("Category"), sort="category__name"),
        Column("risk_level", gettext_lazy("Risk"), sort="risk_level"),
        Column("steps", gettext_lazy("Steps")),
        Column("active", gettext_lazy("Active"), sort="active"),
    ]
    detail_fields = ["slug", "description", "change_type", "category", "title", "test_plan", "communication_plan",
                     "expected_minutes", "risk_level", "active"]

    @classmethod
    def urls(cls):
        patterns = [p for p in super().urls() if p.name not in ("template_create", "template_edit")]
        return [
            path("templates/new/", TemplateFormView.as_view(ui=cls), name="template_create"),
            path("templates/<int:pk>/edit/", TemplateFormView.as_view(ui=cls), name="template_edit"),
            *patterns,
        ]

    def render_name(self, template):
        return format_html('<a class="fw-semibold" href="{}">{}</a>', template.get_absolute_url(), template.name)

    def text_name(self, template):
        return template.name

    def render_change_type(self, template):
        """The type as the Type filter names it (Standard / Normal / Emergency); a standard change is
        pre-approved, the others are the plan templates of their category."""
        style = {"standard": "success", "emergency": "danger"}.get(template.change_type, "secondary")
        note = _("pre-approved") if template.change_type == "standard" else _("plan template")
        return format_html('{} <span class="small text-body-secondary">{}</span>',
                           badge(template.get_change_type_display(), style), note)

    def text_change_type(self, template):
        return template.change_type

    def render_active(self, template):
        return badge(_("Yes"), "success") if template.active else badge(_("No"))

    def text_active(self, template):
        return "yes" if template.active else "no"

    def render_category(self, template):
        return template.category.name if template.category_id else ""

    def render_steps(self, template):
        return f"{len(template.plan_steps or [])} + {len(template.backout_steps or [])}"

    def extra_context(self, record, user) -> dict:
        return {"plan_steps": record.plan_steps or [], "backout_steps": record.backout_steps or [],
                "use_url": f"{reverse('changes:create')}?template={record.pk}" if record.active else "",
                "may_use": can(user, "responder") or _has_any_responder_role(user)}


def _has_any_responder_role(user) -> bool:
    from opsdesk.core.permissions import RANK, best_role

    role = best_role(user)
    return role is not None and RANK[role] >= RANK["responder"]


urlpatterns = TemplateUI.urls()
