"""The CMDB API, under /api/v1/cmdb/."""

from django.urls import path  # noqa: F401
from rest_framework.routers import DefaultRouter

router = DefaultRouter()
router.include_root_view = False

urlpatterns = [*router.urls]
