"""The alerts API, under /api/v1/alerts/."""

urlpatterns: list = []
