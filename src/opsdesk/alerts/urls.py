"""The alerts pages, under /alerts/ (namespace "alerts")."""

app_name = "alerts"
urlpatterns: list = []
