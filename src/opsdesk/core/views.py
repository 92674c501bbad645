"""Generic UI views: list (filters, sort, pagination, saved filters, CSV), detail (fields, timeline,
comments, attachments, history, transitions) and create/edit forms, driven by a `RecordUI` a module
declares (NetBox-style). Views are thin: parse, authorize, call the module's service."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views import View

from . import audit, personal, registry
from .actors import Actor
from .comments import add_attachment, add_comment, attachments_for, timeline_for
from .models import Attachment, SavedFilter
from .permissions import can, has_role
from .workflow import TransitionNotAllowed, Workflow

PER_PAGE_DEFAULT = 50
PER_PAGE_MAX = 500


@dataclass
class Column:
    key: str  # attribute path (a__b) or a method of the RecordUI taking the record
    label: str
    sort: str | None = None
    link: bool = False

    def value(self, ui, record):
        method = getattr(ui, f"render_{self.key}", None)
        if method is not None:
            return method(record)
        value: Any = record
        for part in self.key.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return ""
        display = getattr(record, f"get_{self.key}_display", None)
        if display is not None:
            return display()
        return value

    def text(self, ui, record) -> str:
        method = getattr(ui, f"text_{self.key}", None)
        if method is not None:
            return method(record)
        value = self.value(ui, record)
        return "" if value is None else str(value)


UI_BY_MODEL: dict[type, type] = {}  # filled by RecordUI.urls(): who may see which record type


class RecordUI:
    """What a module declares to get list, detail, create, edit, CSV export, history and transitions."""

    model = None
    namespace = ""
    filterset_class = None
    form_class = None
    columns: list[Column] = []
    detail_fields: list[str] = []
    search_fields: tuple[str, ...] = ()
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()
    default_sort = "-id"
    workflow: Workflow | None = None
    distinct_filters: tuple[str, ...] = ()  # filters over to-many relations (they need DISTINCT)
    view_role = "viewer"
    create_role = "manager"
    edit_role = "manager"
    comment_role = "responder"
    create_service = None
    update_service = None
    transition_service = None
    detail_template = "core/detail.html"
    list_template = "core/list.html"
    table_template = "core/_table.html"  # the list's table, also answered alone to htmx (filters, pages)
    # More detail tabs: [(key, label)]; each renders "<app_label>/_tab_<key>.html" with the context of
    # `tab_context(key, record, request)`.
    extra_tabs: list[tuple[str, str]] = []
    # Bulk edit: a form whose filled-in fields are applied to every selected record through
    # `bulk_update_service(records, actor=, data=)` in one transaction.
    bulk_form_class = None
    bulk_update_service = None
    # States in which the record is read-only (no Edit button; the service refuses edits anyway).
    read_only_states: tuple[str, ...] = ()
    # Filters shown in the list's side panel (all of the filter set's when empty); the API takes all.
    panel_filters: tuple[str, ...] = ()

    def tab_context(self, key, record, request) -> dict:
        return {}

    def list_context(self, request, page) -> dict:
        """More context for the list page (and its htmx table), before the rows are rendered: a module
        may load what its cells need for the whole page at once."""
        return {}

    def transition_hints(self, record) -> dict[str, list[str]]:
        """Suggested values for fields transitions ask for ({field: [value, ...]}), offered as a datalist."""
        return {}

    def form_kwargs(self, request, record) -> dict:
        """Extra keyword arguments for the form (e.g. what the page's query string chose)."""
        return {}

    @classmethod
    def label_plural(cls) -> str:
        return capfirst(str(cls.model._meta.verbose_name_plural))

    @classmethod
    def label(cls) -> str:
        return capfirst(str(cls.model._meta.verbose_name))

    @classmethod
    def list_key(cls) -> str:
        return f"{cls.model._meta.app_label}.{cls.model._meta.model_name}"

    @classmethod
    def queryset(cls):
        return cls.model.objects.select_related(*cls.select_related).prefetch_related(*cls.prefetch_related)

    def extra_context(self, record, user) -> dict:
        return {}

    def detail_rows(self, record) -> list[tuple[str, Any]]:
        rows = []
        for name in self.detail_fields:
            method = getattr(self, f"render_{name}", None)
            field = record._meta.get_field(name) if not method else None
            label = capfirst(str(field.verbose_name)) if field else name.replace("_", " ").capitalize()
            if method:
                label = getattr(method, "label", label)
                value = method(record)
            elif field.many_to_many:
                value = ", ".join(str(v) for v in getattr(record, name).all())
            elif field.choices:
                value = getattr(record, f"get_{name}_display")()
            else:
                value = getattr(record, name)
            if isinstance(value, bool):
                value = _("Yes") if value else _("No")
            rows.append((label, value))
        return rows

    path_prefix = ""  # e.g. "teams/" when the module's URLs hold more than one record type
    url_prefix = ""  # e.g. "team_" for names such as accounts:team_list

    @classmethod
    def url_name(cls, action: str) -> str:
        return f"{cls.namespace}:{cls.url_prefix}{action}"

    @classmethod
    def list_urls(cls) -> dict:
        urls = {"list": reverse(cls.url_name("list"))}
        if cls.create_service is not None:
            urls["create"] = reverse(cls.url_name("create"))
        if cls.bulk_update_service is not None:
            urls["bulk_edit"] = reverse(cls.url_name("bulk_edit"))
        return urls

    @classmethod
    def record_urls(cls, record) -> dict:
        urls = {"detail": reverse(cls.url_name("detail"), args=[record.pk]), **cls.list_urls()}
        if cls.update_service is not None:
            urls["edit"] = reverse(cls.url_name("edit"), args=[record.pk])
        urls["comment"] = reverse(cls.url_name("comment"), args=[record.pk])
        urls["attach"] = reverse(cls.url_name("attach"), args=[record.pk])
        if cls.workflow is not None:
            urls["transitions"] = {t.name: reverse(cls.url_name("transition"), args=[record.pk, t.name])
                                   for t in cls.workflow.transitions}
        return urls

    @classmethod
    def urls(cls):
        UI_BY_MODEL[cls.model] = cls
        ui, p, n = cls, cls.path_prefix, cls.url_prefix
        patterns = [
            path(f"{p}", RecordListView.as_view(ui=ui), name=f"{n}list"),
            path(f"{p}<int:pk>/", RecordDetailView.as_view(ui=ui), name=f"{n}detail"),
            path(f"{p}<int:pk>/comments/", CommentView.as_view(ui=ui), name=f"{n}comment"),
            path(f"{p}<int:pk>/attachments/", AttachmentUploadView.as_view(ui=ui), name=f"{n}attach"),
        ]
        if cls.create_service is not None:
            patterns.append(path(f"{p}new/", RecordFormView.as_view(ui=ui), name=f"{n}create"))
        if cls.update_service is not None:
            patterns.append(path(f"{p}<int:pk>/edit/", RecordFormView.as_view(ui=ui), name=f"{n}edit"))
        if cls.workflow is not None:
            patterns.append(path(f"{p}<int:pk>/transition/<slug:name>/", TransitionView.as_view(ui=ui),
                                 name=f"{n}transition"))
        if cls.bulk_update_service is not None:
            patterns.append(path(f"{p}bulk-edit/", BulkEditView.as_view(ui=ui), name=f"{n}bulk_edit"))
        return patterns


class RoleView(LoginRequiredMixin, View):
    """A page for logged-in users holding at least `role` (globally or in a team); `actor()` for writes."""

    role = "viewer"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not has_role(request.user, self.role):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def actor(self) -> Actor:
        return Actor.for_user(self.request.user)


class UIView(LoginRequiredMixin, View):
    ui: type[RecordUI] = None

    def get_record(self, pk):
        return get_object_or_404(self.ui.queryset(), pk=pk)

    def actor(self) -> Actor:
        return Actor.for_user(self.request.user)


def safe_next(request, fallback: str) -> str:
    """The posted `next` when it is a path on this site (never another host or scheme), else `fallback`:
    where a form posted from one page sends the user back to it."""
    target = request.POST.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                                  require_https=request.is_secure()):
        return target
    return fallback


def _querystring(params, **changes) -> str:
    merged = params.copy()
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return urlencode(merged, doseq=True)


class RecordListView(UIView):
    def filtered(self, request):
        ui = self.ui()
        queryset = ui.queryset()
        filterset = ui.filterset_class(request.GET or None, queryset=queryset, request=request) \
            if ui.filterset_class else None
        if filterset is not None and filterset.is_bound and filterset.is_valid():
            try:
                queryset = filterset.qs
            except ValidationError as exc:  # a filter that checks its value late (e.g. a typed attribute)
                messages.error(request, " ".join(exc.messages))
                queryset = queryset.none()
        q = request.GET.get("q", "").strip()
        if q:
            condition = Q()
            for field in ("number", *ui.search_fields):
                if any(f.name == field.split("__")[0] for f in ui.model._meta.get_fields()):
                    condition |= Q(**{f"{field}__icontains": q})
            queryset = queryset.filter(condition)
        sortable = {c.sort for c in ui.columns if c.sort}
        sort = request.GET.get("sort", ui.default_sort)
        if sort.removeprefix("-") not in sortable:
            sort = ui.default_sort
        queryset = queryset.order_by(sort, "-id" if sort.lstrip("-") != "id" else sort)
        # DISTINCT only where a filter joins a to-many relation: it makes the page's COUNT far dearer.
        needs_distinct = any(request.GET.get(name) for name in ui.distinct_filters)
        return ui, queryset.distinct() if needs_distinct else queryset, \
            filterset, q, sort

    def get(self, request):
        if not has_role(request.user, self.ui.view_role):
            raise PermissionDenied
        ui, queryset, filterset, q, sort = self.filtered(request)
        if request.GET.get("export") == "csv":
            return self.export_csv(ui, queryset)
        try:
            per_page = max(1, min(int(request.GET.get("per_page", PER_PAGE_DEFAULT)), PER_PAGE_MAX))
        except ValueError:
            per_page = PER_PAGE_DEFAULT
        page = Paginator(queryset, per_page).get_page(request.GET.get("page"))
        params = request.GET.copy()
        extra = ui.list_context(request, page)
        rows = [(record, [(c, c.value(ui, record)) for c in ui.columns]) for record in page.object_list]
        headers = []
        for column in ui.columns:
            entry = {"key": column.key, "label": column.label, "url": None, "active": None}
            if column.sort:
                active = sort.lstrip("-") == column.sort
                descending = sort.startswith("-")
                next_sort = f"-{column.sort}" if active and not descending else column.sort
                entry.update(url="?" + _querystring(params, sort=next_sort, page=None),
                             active=("desc" if descending else "asc") if active else None)
            headers.append(entry)
        context = {
            "ui": ui,
            "urls": ui.list_urls(),
            "page": page,
            "rows": rows,
            "headers": headers,
            "filterset": filterset,
            "q": q,
            "query": params.urlencode(),
            "page_query": _querystring(params, page=None),
            "csv_query": _querystring(params, export="csv", page=None),
            "saved_filters": SavedFilter.objects.filter(user=request.user, list_key=ui.list_key()),
            "can_create": ui.create_service is not None and may_create(request.user, ui),
            "can_bulk_edit": ui.bulk_update_service is not None and may_create(request.user, ui),
            "panel_fields": [f for f in filterset.form if not ui.panel_filters or f.name in ui.panel_filters]
            if filterset is not None else [],
            "active_filters": sum(1 for k, v in params.lists() if k not in {"page", "sort", "per_page"} and any(v)),
        }
        context.update(extra)
        template = ui.table_template if request.htmx and request.htmx.target == "record-table" else ui.list_template
        return render(request, template, context)

    def export_csv(self, ui, queryset):
        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())

        def rows():
            yield writer.writerow([c.label for c in ui.columns])
            for record in queryset.iterator(chunk_size=1000):
                yield writer.writerow([csv_safe(c.text(ui, record)) for c in ui.columns])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="{ui.model._meta.model_name}s-{stamp}.csv"'
        return response


def csv_safe(text: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; a leading ' makes them text."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def may_create(user, ui) -> bool:
    """Team-scoped record types may be created with a team role (the chosen team is checked on
    submit); every other type needs the global role, as in the API."""
    from .permissions import RANK, best_role

    if getattr(ui.model, "TEAM_FIELD", None) in (None, "self"):
        return has_role(user, ui.create_role)
    role = best_role(user)
    return role is not None and RANK[role] >= RANK[ui.create_role]


class RecordDetailView(UIView):
    TABS = ("details", "timeline", "history", "attachments")

    def get(self, request, pk):
        if not has_role(request.user, self.ui.view_role):
            raise PermissionDenied
        ui = self.ui()
        record = self.get_record(pk)
        tab = request.GET.get("tab", "details")
        if tab not in (*self.TABS, *(key for key, _label in ui.extra_tabs)):
            tab = "details"
        context = self.context(ui, record, tab)
        if request.htmx and request.htmx.target == "record-tab":
            return render(request, context["tab_template"], context)
        return render(request, ui.detail_template, context)

    def context(self, ui, record, tab):
        user = self.request.user
        transitions = []
        if ui.workflow is not None:
            for transition in ui.workflow.available(record):
                if can(user, transition.permission, record):
                    transitions.append(transition)
        context = {
            "ui": ui,
            "urls": ui.record_urls(record),
            "record": record,
            "tab": tab,
            "tabs": [("details", _("Details")), *ui.extra_tabs, ("timeline", _("Timeline")),
                     ("history", _("History")), ("attachments", _("Attachments"))],
            "tab_template": f"core/_tab_{tab}.html" if tab in self.TABS
            else f"{ui.model._meta.app_label}/_tab_{tab}.html",
            "rows": ui.detail_rows(record),
            "transitions": transitions,
            "transition_hints": ui.transition_hints(record) if transitions else {},
            "record_links": registry.record_links(record, user),
            "record_panels": registry.record_panels(record, user),
            "status_label": ui.workflow.states.get(ui.workflow.state_of(record)) if ui.workflow else None,
            "can_edit": ui.update_service is not None and can(user, ui.edit_role, record)
            and (ui.workflow is None or ui.workflow.state_of(record) not in ui.read_only_states),
            "can_comment": can(user, ui.comment_role, record),
            "attachment_count": attachments_for(record).count(),
        }
        context.update(ui.extra_context(record, user))
        if tab == "timeline":
            context["timeline"] = timeline_for(record)
        elif tab == "history":
            context["history"] = audit.history_for(record)[:500]
        elif tab == "attachments":
            context["attachments"] = attachments_for(record)
        elif tab not in self.TABS:
            context.update(ui.tab_context(tab, record, self.request))
        return context


class RecordFormView(UIView):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.record = self.get_record(kwargs["pk"]) if "pk" in kwargs else None
        if self.record is not None:
            if not can(request.user, self.ui.edit_role, self.record):
                raise PermissionDenied
        elif not may_create(request.user, self.ui):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def render_form(self, form, status=200):
        urls = self.ui.record_urls(self.record) if self.record else self.ui.list_urls()
        return render(self.request, "core/form.html",
                      {"ui": self.ui, "urls": urls, "form": form, "record": self.record}, status=status)

    def get(self, request, **kwargs):
        return self.render_form(self.ui.form_class(instance=self.record,
                                                   **self.ui().form_kwargs(request, self.record)))

    def post(self, request, **kwargs):
        form = self.ui.form_class(request.POST, instance=self.record, **self.ui().form_kwargs(request, self.record))
        if not form.is_valid():
            return self.render_form(form, status=422)
        data = form.service_data()
        team_field = getattr(self.ui.model, "TEAM_FIELD", None)
        team = data.get(team_field) if team_field and team_field != "self" else None
        if team_field and team is not None and not has_role(request.user, self.ui.create_role, team):
            form.add_error(team_field, _("Your role does not allow this for that team."))
            return self.render_form(form, status=403)
        try:
            if self.record is None:
                record = self.ui.create_service(actor=self.actor(), data=data)
                messages.success(request, _("%(record)s was created.") % {"record": record})
            else:
                record = self.ui.update_service(self.record, actor=self.actor(), data=data)
                messages.success(request, _("%(record)s was saved.") % {"record": record})
        except ValidationError as exc:
            _add_errors(form, exc)
            return self.render_form(form, status=422)
        except TransitionNotAllowed as exc:
            form.add_error(None, str(exc))
            return self.render_form(form, status=409)
        return redirect(record.get_absolute_url())


def _add_errors(form, exc: ValidationError):
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class TransitionView(UIView):
    def post(self, request, pk, name):
        ui = self.ui()
        record = self.get_record(pk)
        if ui.workflow is None:
            raise Http404
        try:
            transition = ui.workflow.get(name)
        except TransitionNotAllowed:
            raise Http404
        if transition.internal:
            raise Http404
        if not can(request.user, transition.permission, record):
            raise PermissionDenied
        data = {key: request.POST.get(key, "") for key in (*transition.requires, "comment")}
        try:
            ui.transition_service(record, name, actor=self.actor(), data=data)
            messages.success(request, _("%(action)s: done.") % {"action": transition.label})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(record.get_absolute_url())


class CommentView(UIView):
    def post(self, request, pk):
        ui = self.ui()
        record = self.get_record(pk)
        if not can(request.user, ui.comment_role, record):
            raise PermissionDenied
        error = None
        try:
            add_comment(record, actor=self.actor(), body=request.POST.get("body", ""))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        if request.htmx:
            context = RecordDetailView(request=request, ui=self.ui).context(ui, record, "timeline")
            context["comment_error"] = error
            return render(request, "core/_tab_timeline.html", context, status=422 if error else 200)
        if error:
            messages.error(request, error)
        return HttpResponseRedirect(record.get_absolute_url() + "?tab=timeline")


class AttachmentUploadView(UIView):
    def post(self, request, pk):
        ui = self.ui()
        record = self.get_record(pk)
        if not can(request.user, ui.comment_role, record):
            raise PermissionDenied
        try:
            with transaction.atomic():
                attachment = add_attachment(record, actor=self.actor(), upload=request.FILES.get("file"))
            messages.success(request, _("%(name)s was attached.") % {"name": attachment.filename})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(record.get_absolute_url() + "?tab=attachments")


class BulkEditView(UIView):
    """GET with `pk` values (the rows ticked in the list): the bulk form. POST: apply the filled-in
    fields to all of them through the module's bulk service, in one transaction, all or none."""

    MAX_RECORDS = PER_PAGE_MAX

    def selected(self, request):
        try:
            ids = sorted({int(v) for v in request.POST.getlist("pk") or request.GET.getlist("pk")})
        except ValueError:
            raise Http404 from None
        records = list(self.ui.queryset().filter(pk__in=ids[: self.MAX_RECORDS]))
        user = request.user
        if not records:
            messages.error(request, _("Tick the records to edit first."))
            return None
        refused = [r for r in records if not can(user, self.ui.edit_role, r)]
        if refused:
            raise PermissionDenied
        return records

    def render_form(self, request, form, records, status=200):
        return render(request, "core/bulk_edit.html", {"ui": self.ui, "urls": self.ui.list_urls(), "form": form,
                                                       "records": records}, status=status)

    def get(self, request):
        if not may_create(request.user, self.ui):
            raise PermissionDenied
        records = self.selected(request)
        if records is None:
            return redirect(self.ui.list_urls()["list"])
        return self.render_form(request, self.ui.bulk_form_class(), records)

    def post(self, request):
        if not may_create(request.user, self.ui):
            raise PermissionDenied
        records = self.selected(request)
        if records is None:
            return redirect(self.ui.list_urls()["list"])
        form = self.ui.bulk_form_class(request.POST)
        if not form.is_valid():
            return self.render_form(request, form, records, status=422)
        data = form.service_data()
        if not data:
            form.add_error(None, _("Fill in at least one field to change."))
            return self.render_form(request, form, records, status=422)
        team_field = getattr(self.ui.model, "TEAM_FIELD", None)
        if team_field and data.get(team_field) is not None and not has_role(request.user, self.ui.edit_role,
                                                                            data[team_field]):
            form.add_error(team_field, _("Your role does not allow this for that team."))
            return self.render_form(request, form, records, status=403)
        try:
            count = self.ui.bulk_update_service(records, actor=self.actor(), data=data)
        except ValidationError as exc:
            _add_errors(form, exc)
            return self.render_form(request, form, records, status=422)
        except TransitionNotAllowed as exc:
            form.add_error(None, str(exc))
            return self.render_form(request, form, records, status=409)
        messages.success(request, _("%(count)s records were changed.") % {"count": count})
        return redirect(self.ui.list_urls()["list"])


class AttachmentDownloadView(LoginRequiredMixin, View):
    def get(self, request, pk):
        attachment = get_object_or_404(Attachment, pk=pk)
        record = attachment.record
        ui = UI_BY_MODEL.get(type(record))
        if record is None or not can(request.user, ui.view_role if ui else "viewer", record):
            raise PermissionDenied
        response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename,
                                content_type=attachment.mime_type)
        response["X-Content-Type-Options"] = "nosniff"
        return response


class SavedFilterView(LoginRequiredMixin, View):
    def post(self, request):
        list_key = request.POST.get("list_key", "")[:100]
        name = request.POST.get("name", "").strip()[:100]
        query = request.POST.get("query", "")[:1000]
        back = request.POST.get("next", "/")
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        if request.POST.get("delete"):
            personal.delete_filter(request.user, request.POST.get("delete"))
            messages.success(request, _("The saved filter was deleted."))
        elif not name:
            messages.error(request, _("Give the filter a name."))
        else:
            personal.save_filter(request.user, list_key=list_key, name=name, query=query)
            messages.success(request, _("Filter “%(name)s” saved.") % {"name": name})
        return HttpResponseRedirect(back)


def badge(text, style="secondary"):
    return format_html('<span class="badge text-bg-{}">{}</span>', style, text)
