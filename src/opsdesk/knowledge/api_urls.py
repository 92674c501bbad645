"""The knowledge API, under /api/v1/knowledge/."""

from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.include_root_view = False
api.register_routes(router)
urlpatterns = [*api.urlpatterns, *router.urls]
