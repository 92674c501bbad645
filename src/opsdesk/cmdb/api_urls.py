"""The CMDB API, under /api/v1/cmdb/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import audit_api, impact_api
from .api import AttributeDefinitionViewSet, CIClassViewSet, CIViewSet, RelationshipTypeViewSet, RelationshipViewSet
from .import_api import ImportRunViewSet

router = DefaultRouter()
router.include_root_view = False
router.register("cis", CIViewSet, basename="ci")
router.register("classes", CIClassViewSet, basename="ciclass")
router.register("attributes", AttributeDefinitionViewSet, basename="attribute")
router.register("relationship-types", RelationshipTypeViewSet, basename="relationshiptype")
router.register("relationships", RelationshipViewSet, basename="relationship")
audit_api.register(router)  # audit-rules, audit-runs, audit-findings, audit-exceptions
router.register("imports", ImportRunViewSet, basename="cmdb-import")

urlpatterns = [
    # Before the router, whose cis/<pk>/ routes would otherwise be tried first.
    path("cis/<int:pk>/impact/", impact_api.CIImpactView.as_view(), name="ci-impact"),
    path("impact/", impact_api.MultiImpactView.as_view(), name="impact"),
    *router.urls,
]
