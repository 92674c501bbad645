"""The problem management pages, under /problems/ (namespace "problems")."""

from . import candidate_views, kedb_views, rca_views, report_views, views

app_name = "problems"
urlpatterns = [
    *views.urlpatterns,            # problems and countermeasures
    *rca_views.urlpatterns,        # root-cause analyses on a problem
    *report_views.urlpatterns,     # the problem report (Markdown, HTML, PDF)
    *candidate_views.urlpatterns,  # problem candidates (trend detection) and the settings page
    *kedb_views.urlpatterns,       # the known error database
]
