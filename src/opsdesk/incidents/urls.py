"""The incident pages, under /incidents/ (namespace "incidents")."""

from . import queue_views, report_views, rule_views
from .views import IncidentUI

app_name = "incidents"
urlpatterns = [
    *IncidentUI.urls(),
    *queue_views.urlpatterns,  # htmx: quick actions, news, saved-view counts, form helpers
    *report_views.urlpatterns,  # /incidents/<pk>/report/...
    *rule_views.urlpatterns,  # categories, assignment and escalation rules, major-incident actions
]
