"""The CMDB API, under /api/v1/cmdb/."""

from django.urls import path  # noqa: F401
from rest_framework.routers import DefaultRouter

from . import audit_api
from .api import AttributeDefinitionViewSet, CIClassViewSet, CIViewSet, RelationshipTypeViewSet, RelationshipViewSet

router = DefaultRouter()
router.include_root_view = False
router.register("cis", CIViewSet, basename="ci")
router.register("classes", CIClassViewSet, basename="ciclass")
router.register("attributes", AttributeDefinitionViewSet, basename="attribute")
router.register("relationship-types", RelationshipTypeViewSet, basename="relationshiptype")
router.register("relationships", RelationshipViewSet, basename="relationship")
audit_api.register(router)  # audit-rules, audit-runs, audit-findings, audit-exceptions

urlpatterns = [*router.urls]
