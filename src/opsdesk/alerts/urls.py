"""The alerts pages, under /alerts/ (namespace "alerts")."""

from .views import IntegrationUI, MaintenanceWindowUI, RouteUI, SilenceUI, alert_urls

app_name = "alerts"
urlpatterns = [
    *alert_urls(),  # alerts and groups (read-only), route delete, silence expire, maintenance cancel
    *IntegrationUI.urls(),  # integrations/ (+ rotate-key/, test/)
    *RouteUI.urls(),  # routes/
    *SilenceUI.urls(),  # silences/
    *MaintenanceWindowUI.urls(),  # maintenance/
]
