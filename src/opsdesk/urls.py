from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from opsdesk.accounts.api import TeamViewSet, TokenViewSet, UserViewSet
from opsdesk.core import health
from opsdesk.core.api_views import AuditEntryViewSet, JobRunViewSet, NotificationViewSet
from opsdesk.core.channels import ChannelViewSet
from opsdesk.services.api import ServiceViewSet

router = DefaultRouter()
router.include_root_view = False
router.register("services", ServiceViewSet, basename="service")
router.register("teams", TeamViewSet, basename="team")
router.register("users", UserViewSet, basename="user")
router.register("tokens", TokenViewSet, basename="token")
router.register("audit", AuditEntryViewSet, basename="audit")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("jobs", JobRunViewSet, basename="jobrun")
router.register("channels", ChannelViewSet, basename="channel")

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/v1/cmdb/", include("opsdesk.cmdb.api_urls")),
    path("api/v1/sla/", include("opsdesk.sla.api_urls")),
    path("api/v1/incidents/", include("opsdesk.incidents.api_urls")),
    path("api/v1/integrations/", include("opsdesk.alerts.intake_urls")),
    path("api/v1/alerts/", include("opsdesk.alerts.api_urls")),
    path("api/v1/oncall/", include("opsdesk.oncall.api_urls")),
    path("api/v1/problems/", include("opsdesk.problems.api_urls")),
    path("api/v1/knowledge/", include("opsdesk.knowledge.api_urls")),
    path("api/v1/changes/", include("opsdesk.changes.api_urls")),
    path("api/v1/releases/", include("opsdesk.releases.api_urls")),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("accounts/", include("opsdesk.accounts.urls")),
    path("services/", include("opsdesk.services.urls")),
    path("cmdb/", include("opsdesk.cmdb.urls")),
    path("sla/", include("opsdesk.sla.urls")),
    path("incidents/", include("opsdesk.incidents.urls")),
    path("alerts/", include("opsdesk.alerts.urls")),
    path("oncall/", include("opsdesk.oncall.urls")),
    path("problems/", include("opsdesk.problems.urls")),
    path("knowledge/", include("opsdesk.knowledge.urls")),
    path("changes/", include("opsdesk.changes.urls")),
    path("releases/", include("opsdesk.releases.urls")),
    path("settings/channels/", include("opsdesk.core.channel_urls")),
    path("admin/", admin.site.urls),
    path("", include("opsdesk.core.urls")),
]

handler404 = "opsdesk.core.errors.not_found"
handler403 = "opsdesk.core.errors.forbidden"
handler500 = "opsdesk.core.errors.server_error"
