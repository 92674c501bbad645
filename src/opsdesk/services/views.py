from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from opsdesk.core.markup import render_safe
from opsdesk.core.views import Column, RecordUI, badge

from . import services
from .filters import ServiceFilterSet
from .forms import ServiceForm
from .models import Service
from .workflows import SERVICE_WORKFLOW

STATUS_STYLES = {"planned": "info", "active": "success", "retired": "secondary"}
TIER_STYLES = {1: "danger", 2: "warning", 3: "primary", 4: "secondary"}


class ServiceUI(RecordUI):
    model = Service
    namespace = "services"
    filterset_class = ServiceFilterSet
    form_class = ServiceForm
    workflow = SERVICE_WORKFLOW
    search_fields = ("name", "slug", "description")
    select_related = ("owner_team",)
    prefetch_related = ("tags",)
    default_sort = "name"
    distinct_filters = ("tag",)
    read_only_states = ("retired",)
    columns = [
        Column("number", _("Number"), sort="id", link=True),
        Column("name", _("Name"), sort="name", link=True),
        Column("status", _("Status"), sort="status"),
        Column("tier", _("Tier"), sort="tier"),
        Column("criticality", _("Criticality"), sort="criticality_rank"),
        Column("owner_team__name", _("Owner team"), sort="owner_team__name"),
        Column("kind", _("Kind"), sort="kind"),
        Column("tags", _("Tags")),
    ]
    detail_fields = ["kind", "owner_team", "tier", "criticality", "description", "support", "depends_on",
                     "dependents", "links", "tags", "status_reason", "retired_at"]
    create_service = staticmethod(services.create_service)
    update_service = staticmethod(services.update_service)
    transition_service = staticmethod(services.transition_service)

    @classmethod
    def queryset(cls):
        return super().queryset().with_ranks()

    def render_status(self, service):
        return badge(service.get_status_display(), STATUS_STYLES.get(service.status, "secondary"))

    def text_status(self, service):
        return service.status

    def render_tier(self, service):
        return badge(f"T{service.tier}", TIER_STYLES.get(service.tier, "secondary"))

    def text_tier(self, service):
        return str(service.tier)

    def render_tags(self, service):
        return format_html_join(" ", '<span class="badge rounded-pill text-bg-light border">{}</span>',
                                ((t.name,) for t in service.tags.all()))

    def text_tags(self, service):
        return " ".join(t.name for t in service.tags.all())

    def render_owner_team(self, service):
        return format_html('<a href="{}">{}</a>', service.owner_team.get_absolute_url(), service.owner_team)

    render_owner_team.label = _("Owner team")

    def text_owner_team(self, service):
        return service.owner_team.name

    def render_description(self, service):
        return render_safe(service.description)

    def render_support(self, service):
        if not service.support_hours:
            return _("none")
        return format_html("{} <span class=\"text-body-secondary\">({})</span>", service.support_hours_text,
                           service.support_time_zone)

    render_support.label = _("Support hours")

    LINKS_SHOWN = 50

    def _service_links(self, queryset):
        """At most LINKS_SHOWN links (a hub service can be needed by thousands), then a count."""
        items = list(queryset.only("id", "number", "name").order_by("name")[: self.LINKS_SHOWN + 1])
        links = format_html_join(", ", '<a href="{}">{}</a>',
                                 ((s.get_absolute_url(), str(s)) for s in items[: self.LINKS_SHOWN]))
        if len(items) > self.LINKS_SHOWN:
            more = queryset.count() - self.LINKS_SHOWN
            links = format_html('{} <span class="text-body-secondary">{}</span>', links,
                                _("and %(n)s more") % {"n": more})
        return links or "—"

    def render_depends_on(self, service):
        return self._service_links(service.depends_on.all())

    render_depends_on.label = _("Depends on")

    def render_dependents(self, service):
        return self._service_links(service.dependents.all())

    render_dependents.label = _("Needed by")

    def render_links(self, service):
        links = [(url, label) for url, label in ((service.runbook_url, _("Runbook")),
                                                 (service.dashboard_url, _("Dashboard")),
                                                 (service.repository_url, _("Repository"))) if url]
        return format_html_join(" · ", '<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', links) \
            or "—"

    render_links.label = _("Links")
