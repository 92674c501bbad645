"""The release management pages, under /releases/ (namespace "releases")."""

from . import dora_views, views

app_name = "releases"
urlpatterns = [
    *dora_views.urlpatterns,  # DORA figures, post-release watch, environments
    *views.urlpatterns,       # board, releases, deployments, rollback
]
