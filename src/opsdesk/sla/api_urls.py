"""The SLA API, under /api/v1/sla/."""

from rest_framework.routers import DefaultRouter

from .api import CalendarViewSet, PolicyViewSet, TimerViewSet

router = DefaultRouter()
router.include_root_view = False
router.register("calendars", CalendarViewSet, basename="sla-calendar")
router.register("policies", PolicyViewSet, basename="sla-policy")
router.register("timers", TimerViewSet, basename="sla-timer")

urlpatterns = router.urls
