"""The oncall pages, under /oncall/ (namespace "oncall")."""

app_name = "oncall"
urlpatterns: list = []

from . import schedule_views  # noqa: E402  (schedules, who is on call, swaps, my shifts, iCal feeds)

urlpatterns += schedule_views.urlpatterns

from . import paging_views  # noqa: E402  (escalation and paging pages)

urlpatterns += paging_views.urlpatterns

from . import policy_views  # noqa: E402  (escalation policies)

urlpatterns += policy_views.urlpatterns
