"""The SLA pages, under /sla/ (namespace "sla")."""

from .views import CalendarUI, PolicyUI

app_name = "sla"
urlpatterns = [*PolicyUI.urls(), *CalendarUI.urls()]
