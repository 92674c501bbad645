"""The oncall pages, under /oncall/ (namespace "oncall")."""

app_name = "oncall"
urlpatterns: list = []
