"""The CMDB pages: configuration items (with relationships, "as of" and bulk edit), classes and their
attributes, relationship types."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opsdesk.core.markup import render_safe
from opsdesk.core.permissions import can
from opsdesk.core.views import Column, RecordUI, UIView, badge
from opsdesk.core.workflow import TransitionNotAllowed

from . import selectors, services
from .attributes import definitions_for
from .attributes import display as attribute_display
from .filters import AttributeFilterSet, CIClassFilterSet, CIFilterSet, RelationshipTypeFilterSet
from .forms import AttributeForm, CIBulkForm, CIClassForm, CIForm, RelateForm, RelationshipTypeForm
from .models import AttributeDefinition, CIClass, ConfigurationItem, Relationship, RelationshipType
from .workflows import CI_WORKFLOW

STATUS_STYLES = {"planned": "info", "ordered": "info", "in_stock": "secondary", "in_production": "success",
                 "maintenance": "warning", "retired": "secondary", "disposed": "dark"}
ENVIRONMENT_STYLES = {"production": "danger", "staging": "warning", "test": "info", "dev": "secondary"}
RELATIONSHIPS_SHOWN = 200


def _link(obj):
    return format_html('<a href="{}">{}</a>', obj.get_absolute_url(), obj) if obj is not None else "—"


class CIUI(RecordUI):
    model = ConfigurationItem
    namespace = "cmdb"
    filterset_class = CIFilterSet
    form_class = CIForm
    workflow = CI_WORKFLOW
    search_fields = ("name", "serial_number", "asset_tag", "identifiers")
    select_related = ("ci_class", "owner_team")
    prefetch_related = ("tags",)
    default_sort = "name"
    distinct_filters = ("tag", "service")
    panel_filters = ("status", "ci_class", "environment", "owner_team", "no_owner", "service", "tag", "location",
                     "ip")
    columns = [
        Column("number", gettext_lazy("Number"), sort="id", link=True),
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("ci_class__name", gettext_lazy("Class"), sort="ci_class__name"),
        Column("status", gettext_lazy("Status"), sort="status"),
        Column("environment", gettext_lazy("Environment"), sort="environment"),
        Column("owner_team__name", gettext_lazy("Owner team"), sort="owner_team__name"),
        Column("location", gettext_lazy("Location"), sort="location"),
        Column("addresses", gettext_lazy("Addresses")),
        Column("tags", gettext_lazy("Tags")),
    ]
    detail_fields = ["ci_class", "environment", "owner_team", "services", "location", "addresses", "description",
                     "attributes", "asset", "redundancy", "discovery", "tags", "status_reason", "disposal"]
    extra_tabs = [("relationships", gettext_lazy("Relationships")), ("as_of", gettext_lazy("As of"))]
    read_only_states = ("disposed",)
    create_role = "manager"
    edit_role = "manager"
    create_service = staticmethod(services.create_ci)
    update_service = staticmethod(services.update_ci)
    transition_service = staticmethod(services.transition_ci)
    bulk_form_class = CIBulkForm
    bulk_update_service = staticmethod(services.bulk_update_cis)

    def form_kwargs(self, request, record) -> dict:
        return {"ci_class": request.GET.get("ci_class")}

    def transition_hints(self, record):
        if record.status != "retired":
            return {}
        from django.contrib.auth import get_user_model

        managers = get_user_model().objects.filter(is_active=True, role__in=("manager", "admin")) \
            .order_by("username").values_list("username", flat=True)[:200]
        return {"disposal_method": [value for value, _label in ConfigurationItem.DISPOSAL_METHODS],
                "approved_by": list(managers)}

    OPTIONAL_ROWS = {"asset", "redundancy", "discovery", "disposal", "status_reason"}

    def detail_rows(self, record):
        """Rows that only some CIs have (asset, redundancy, discovery, disposal) are left out when empty."""
        rows = super().detail_rows(record)
        return [row for name, row in zip(self.detail_fields, rows, strict=True)
                if not (name in self.OPTIONAL_ROWS and row[1] in ("—", "", None))]

    # --- cells ---
    def render_status(self, ci):
        return badge(ci.get_status_display(), STATUS_STYLES.get(ci.status, "secondary"))

    def text_status(self, ci):
        return ci.status

    def render_environment(self, ci):
        return badge(ci.get_environment_display(), ENVIRONMENT_STYLES.get(ci.environment, "secondary"))

    render_environment.label = gettext_lazy("Environment")

    def text_environment(self, ci):
        return ci.environment

    def render_addresses(self, ci):
        values = [*ci.ip_addresses, *ci.hostnames]
        return format_html_join(" ", '<code class="small">{}</code>', ((v,) for v in values[:4])) or "—"

    render_addresses.label = gettext_lazy("Addresses")

    def text_addresses(self, ci):
        return " ".join([*ci.ip_addresses, *ci.hostnames])

    def render_tags(self, ci):
        return format_html_join(" ", '<span class="badge rounded-pill text-bg-light border">{}</span>',
                                ((t.name,) for t in ci.tags.all()))

    render_tags.label = gettext_lazy("Tags")

    def text_tags(self, ci):
        return " ".join(t.name for t in ci.tags.all())

    # --- detail rows ---
    def render_ci_class(self, ci):
        return format_html('<i class="bi bi-{} me-1" aria-hidden="true"></i>{}', ci.ci_class.icon,
                           _link(ci.ci_class))

    render_ci_class.label = gettext_lazy("Class")

    def render_owner_team(self, ci):
        if ci.owner_team is None:
            return format_html('<span class="text-warning-emphasis">{}</span>', _("No owner team"))
        return _link(ci.owner_team)

    render_owner_team.label = gettext_lazy("Owner team")

    def render_services(self, ci):
        return format_html_join(", ", '<a href="{}">{}</a>', ((s.get_absolute_url(), s) for s in ci.services.all())) \
            or "—"

    render_services.label = gettext_lazy("Supports services")

    def render_description(self, ci):
        return render_safe(ci.description)

    render_description.label = gettext_lazy("Description")

    def render_attributes(self, ci):
        definitions = definitions_for(ci.ci_class)
        rows = []
        references = {v for k, v in ci.attributes.items() if getattr(definitions.get(k), "type", "") == "reference"}
        referenced = {c.pk: c for c in ConfigurationItem.objects.filter(pk__in=references).only("id", "number",
                                                                                                 "name")}
        for key, definition in definitions.items():
            value = ci.attributes.get(key)
            if value is None:
                continue
            shown = _link(referenced.get(value)) if definition.type == "reference" else \
                attribute_display(definition, value)
            rows.append((definition.label, shown))
        unknown = sorted(set(ci.attributes) - set(definitions))
        rows += [(key, str(ci.attributes[key])) for key in unknown]
        if not rows:
            return "—"
        return format_html('<table class="table table-sm mb-0 attributes-table"><tbody>{}</tbody></table>',
                           format_html_join("", '<tr><th class="fw-normal text-body-secondary w-25">{}</th>'
                                                '<td>{}</td></tr>', rows))

    render_attributes.label = gettext_lazy("Attributes")

    def render_asset(self, ci):
        values = [(label, value) for label, value in (
            (_("Serial number"), ci.serial_number), (_("Asset tag"), ci.asset_tag), (_("Vendor"), ci.vendor),
            (_("Model"), ci.model_name), (_("Purchased"), ci.purchase_date), (_("Cost"), ci.purchase_cost),
            (_("Warranty ends"), ci.warranty_end), (_("Expires"), ci.expires_on)) if value not in ("", None)]
        return format_html_join(" · ", '<span class="text-body-secondary">{}:</span> {}', values) or "—"

    render_asset.label = gettext_lazy("Asset")

    def render_redundancy(self, ci):
        if ci.redundancy_min is None:
            return "—"
        if ci.redundancy_mode == "percent":
            return _("Stays up while at least %(n)s%% of its members are up") % {"n": ci.redundancy_min}
        return _("Stays up while at least %(n)s of its members are up") % {"n": ci.redundancy_min}

    render_redundancy.label = gettext_lazy("Redundancy")

    def render_discovery(self, ci):
        if not ci.discovery_source:
            return "—"
        seen = ci.last_seen_at.strftime("%Y-%m-%d %H:%M") if ci.last_seen_at else _("never")
        text = _("%(source)s, last seen %(seen)s") % {"source": ci.discovery_source, "seen": seen}
        if ci.missing_from_discovery:
            return format_html('{} <span class="badge text-bg-warning">{}</span>', text,
                               _("missing from the last discovery"))
        return text

    render_discovery.label = gettext_lazy("Discovery")

    def render_disposal(self, ci):
        if ci.status != "disposed":
            return "—"
        return format_html("{} · {} · {} · {}", ci.disposed_on, ci.get_disposal_method_display(),
                           ci.disposal_reference,
                           _("approved by %(user)s") % {"user": ci.disposal_approved_by})

    render_disposal.label = gettext_lazy("Disposal")

    # --- tabs ---
    def tab_context(self, key, record, request) -> dict:
        if key == "relationships":
            current = Relationship.objects.filter(Q(source=record) | Q(target=record), ended_at__isnull=True) \
                .select_related("type", "source__ci_class", "target__ci_class", "target_service").order_by("type__name",
                                                                                                        "id")
            rows = list(current[:RELATIONSHIPS_SHOWN + 1])
            return {"relationships": rows[:RELATIONSHIPS_SHOWN], "more_relationships": len(rows) > RELATIONSHIPS_SHOWN,
                    "relate_form": RelateForm(), "can_relate": can(request.user, "manager", record)
                    and record.status != "disposed"}
        if key == "as_of":
            at = request.GET.get("at", "")
            moment = selectors.parse_moment(at)
            view = selectors.ci_as_of(record, moment) if moment else None
            labels = {f.name: str(f.verbose_name).capitalize() for f in ConfigurationItem._meta.get_fields()
                      if hasattr(f, "verbose_name")}
            fields = [(labels.get(k, k), _shown(v)) for k, v in (view or {}).get("fields", {}).items()
                      if v not in (None, "", [], {})]
            return {"at": at, "moment": moment, "as_of": view, "as_of_fields": fields,
                    "today": timezone.localdate().isoformat()}
        return {}


def _shown(value):
    """A change-log value as text: lists joined, attribute dicts as key: value lines."""
    if isinstance(value, dict):
        return format_html_join("", "<div><code>{}</code> {}</div>", sorted(value.items()))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return str(value)


class RelateView(UIView):
    ui = CIUI

    def post(self, request, pk):
        ci = self.get_record(pk)
        if not can(request.user, "manager", ci):
            raise PermissionDenied
        form = RelateForm(request.POST)
        if form.is_valid():
            target = form.cleaned_data["target"]
            is_ci = isinstance(target, ConfigurationItem)
            try:
                services.relate(ci, form.cleaned_data["type"], actor=self.actor(), target=target if is_ci else None,
                                target_service=None if is_ci else target, note=form.cleaned_data["note"])
                messages.success(request, _("Relationship added."))
            except (ValidationError, TransitionNotAllowed) as exc:
                messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.error(request, " ".join(" ".join(errors) for errors in form.errors.values()))
        return HttpResponseRedirect(ci.get_absolute_url() + "?tab=relationships")


class UnrelateView(UIView):
    ui = CIUI

    def post(self, request, pk, rel):
        ci = self.get_record(pk)
        relationship = get_object_or_404(Relationship, Q(source=ci) | Q(target=ci), pk=rel)
        if not can(request.user, "manager", relationship.source):
            raise PermissionDenied
        try:
            services.unrelate(relationship, actor=self.actor())
            messages.success(request, _("Relationship ended."))
        except TransitionNotAllowed as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(ci.get_absolute_url() + "?tab=relationships")


class CIClassUI(RecordUI):
    model = CIClass
    namespace = "cmdb"
    path_prefix = "classes/"
    url_prefix = "class_"
    filterset_class = CIClassFilterSet
    form_class = CIClassForm
    search_fields = ("name", "slug", "description")
    default_sort = "name"
    create_role = "admin"
    edit_role = "admin"
    columns = [
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("slug", gettext_lazy("Key"), sort="slug"),
        Column("attribute_count", gettext_lazy("Attributes"), sort="attribute_count"),
        Column("ci_count", gettext_lazy("CIs"), sort="ci_count"),
        Column("is_asset", gettext_lazy("Asset")),
        Column("builtin", gettext_lazy("Shipped")),
    ]
    detail_fields = ["slug", "icon", "is_asset", "expiry_reminder_days", "description", "attribute_list", "builtin"]
    create_service = staticmethod(services.create_class)
    update_service = staticmethod(services.update_class)

    @classmethod
    def queryset(cls):
        return CIClass.objects.annotate(attribute_count=Count("attribute_definitions", distinct=True),
                                        ci_count=Count("cis", distinct=True))

    def render_is_asset(self, ci_class):
        return _("Yes") if ci_class.is_asset else _("No")

    def render_builtin(self, ci_class):
        return _("Yes") if ci_class.builtin else _("No")

    def render_attribute_list(self, ci_class):
        rows = [(d.get_absolute_url(), d.label, d.key, d.get_type_display(),
                 _("required") if d.required else "", _("tracked") if d.tracked else "")
                for d in definitions_for(ci_class).values()]
        table = format_html_join("", '<tr><td><a href="{}">{}</a></td><td><code>{}</code></td><td>{}</td><td>{}</td>'
                                     '<td>{}</td></tr>', rows)
        from django.urls import reverse

        add = format_html('<a class="btn btn-sm btn-outline-primary mt-2" href="{}?ci_class={}">{}</a>',
                          reverse("cmdb:attribute_create"), ci_class.pk, _("Add an attribute"))
        return format_html('<table class="table table-sm mb-0"><tbody>{}</tbody></table>{}', table, add)

    render_attribute_list.label = gettext_lazy("Attributes (with the custom ones of every class)")


class AttributeUI(RecordUI):
    model = AttributeDefinition
    namespace = "cmdb"
    path_prefix = "attributes/"
    url_prefix = "attribute_"
    filterset_class = AttributeFilterSet
    form_class = AttributeForm
    search_fields = ("key", "label")
    select_related = ("ci_class", "reference_class")
    default_sort = "key"
    create_role = "admin"
    edit_role = "admin"
    columns = [
        Column("key", gettext_lazy("Key"), sort="key", link=True),
        Column("label", gettext_lazy("Label"), sort="label"),
        Column("ci_class__name", gettext_lazy("Class"), sort="ci_class__name"),
        Column("type", gettext_lazy("Type"), sort="type"),
        Column("required", gettext_lazy("Required")),
        Column("tracked", gettext_lazy("Tracked")),
    ]
    detail_fields = ["ci_class", "key", "label", "type", "required", "choices", "reference_class", "help_text",
                     "tracked", "order"]
    create_service = staticmethod(services.create_attribute)
    update_service = staticmethod(services.update_attribute)

    def form_kwargs(self, request, record) -> dict:
        return {"ci_class": request.GET.get("ci_class")}


class RelationshipTypeUI(RecordUI):
    model = RelationshipType
    namespace = "cmdb"
    path_prefix = "relationship-types/"
    url_prefix = "reltype_"
    filterset_class = RelationshipTypeFilterSet
    form_class = RelationshipTypeForm
    search_fields = ("name", "slug", "reverse_name")
    default_sort = "name"
    create_role = "admin"
    edit_role = "admin"
    columns = [
        Column("name", gettext_lazy("Name"), sort="name", link=True),
        Column("reverse_name", gettext_lazy("Reverse name"), sort="reverse_name"),
        Column("slug", gettext_lazy("Key"), sort="slug"),
        Column("impact", gettext_lazy("Impact direction"), sort="impact"),
        Column("relationship_count", gettext_lazy("In use"), sort="relationship_count"),
    ]
    detail_fields = ["slug", "name", "reverse_name", "impact", "description", "builtin"]
    create_service = staticmethod(services.create_relationship_type)
    update_service = staticmethod(services.update_relationship_type)

    @classmethod
    def queryset(cls):
        return RelationshipType.objects.annotate(
            relationship_count=Count("relationships", filter=Q(relationships__ended_at__isnull=True)))
