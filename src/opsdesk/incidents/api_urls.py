"""The incidents API, under /api/v1/incidents/."""

from rest_framework.routers import DefaultRouter

from . import report_api
from .api import CategoryViewSet, IncidentViewSet

router = DefaultRouter()
router.include_root_view = False
router.register("incidents", IncidentViewSet, basename="incident")
router.register("categories", CategoryViewSet, basename="incident-category")

# The report routes first: incidents/<pk>/report/... would otherwise be tried against the router.
urlpatterns = [*report_api.urlpatterns, *router.urls]
