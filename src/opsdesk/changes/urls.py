"""The change management pages, under /changes/ (namespace "changes")."""

from . import approval_views, cab_views, calendar_views, catalog_views, review_views, risk_views, views

app_name = "changes"
urlpatterns = [
    *calendar_views.urlpatterns,  # the change calendar (month, week, list, iCal)
    *approval_views.urlpatterns,  # approval inbox, decisions, delegations, policies
    *cab_views.urlpatterns,       # CAB meetings, agenda, minutes
    *catalog_views.urlpatterns,   # categories and change templates (the standard change catalog)
    *risk_views.urlpatterns,      # risk panel, questionnaire, collisions, freeze windows, settings
    *review_views.urlpatterns,    # post-implementation reviews, caused-by, KPIs
    *views.urlpatterns,           # change requests: list, detail, form, plan steps
]
