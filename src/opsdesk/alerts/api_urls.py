"""The alerts API, under /api/v1/alerts/."""

from rest_framework.routers import DefaultRouter

from .api import (
    AlertGroupViewSet,
    AlertViewSet,
    IntegrationViewSet,
    MaintenanceWindowViewSet,
    RouteViewSet,
    SilenceViewSet,
)

router = DefaultRouter()
router.include_root_view = False
router.register("alerts", AlertViewSet, basename="alert")
router.register("groups", AlertGroupViewSet, basename="alert-group")
router.register("integrations", IntegrationViewSet, basename="alert-integration")
router.register("routes", RouteViewSet, basename="alert-route")
router.register("silences", SilenceViewSet, basename="alert-silence")
router.register("maintenance-windows", MaintenanceWindowViewSet, basename="alert-maintenance-window")

urlpatterns = router.urls
