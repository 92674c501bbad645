"""The oncall API, under /api/v1/oncall/."""

urlpatterns: list = []
