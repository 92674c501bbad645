"""The releases API, under /api/v1/releases/."""

from rest_framework.routers import DefaultRouter

from . import api, dora_api

router = DefaultRouter()
router.include_root_view = False
for module in (api, dora_api):
    module.register_routes(router)

urlpatterns = [*api.urlpatterns, *dora_api.urlpatterns, *router.urls]
