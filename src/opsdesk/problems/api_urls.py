"""The problems API, under /api/v1/problems/."""

from rest_framework.routers import DefaultRouter

from . import api, candidate_api, kedb_api, rca_api

router = DefaultRouter()
router.include_root_view = False
for module in (api, rca_api, candidate_api, kedb_api):
    module.register_routes(router)

# Explicit routes first: problems/<pk>/analyses/... would otherwise be tried against the router.
urlpatterns = [*api.urlpatterns, *rca_api.urlpatterns, *candidate_api.urlpatterns, *kedb_api.urlpatterns,
               *router.urls]
