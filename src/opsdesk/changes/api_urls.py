"""The changes API, under /api/v1/changes/."""

from rest_framework.routers import DefaultRouter

from . import api, approval_api, cab_api, calendar_views, review_api, risk_api

router = DefaultRouter()
router.include_root_view = False
for module in (api, risk_api, approval_api, cab_api, review_api):
    module.register_routes(router)

# Explicit routes first: changes/<pk>/... would otherwise be tried against the router.
urlpatterns = [*api.urlpatterns, *risk_api.urlpatterns, *approval_api.urlpatterns, *cab_api.urlpatterns,
               *review_api.urlpatterns, *calendar_views.api_urlpatterns, *router.urls]
