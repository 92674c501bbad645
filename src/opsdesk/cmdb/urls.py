"""The CMDB pages, under /cmdb/ (namespace "cmdb")."""

from django.urls import path

from . import audit_views, impact_views, import_views
from .views import CIUI, AttributeUI, CIClassUI, RelateView, RelationshipTypeUI, UnrelateView

app_name = "cmdb"
urlpatterns = [
    *CIUI.urls(),
    path("<int:pk>/relationships/", RelateView.as_view(), name="relate"),
    path("<int:pk>/relationships/<int:rel>/end/", UnrelateView.as_view(), name="unrelate"),
    *CIClassUI.urls(),
    *AttributeUI.urls(),
    *RelationshipTypeUI.urls(),
    *audit_views.urlpatterns,  # /cmdb/audits/...
    *import_views.urlpatterns,  # /cmdb/imports/...
    *impact_views.urlpatterns,  # /cmdb/<pk>/map/, /cmdb/map/
]
