"""The oncall API, under /api/v1/oncall/."""

urlpatterns: list = []

from . import schedule_api  # noqa: E402  (schedules, layers, overrides, swaps, who is on call)

urlpatterns += schedule_api.urlpatterns

from . import policy_api  # noqa: E402  (escalation policies, runs, contact methods, notification rules)

urlpatterns += policy_api.urlpatterns
