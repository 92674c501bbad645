"""Integration endpoints, under /api/v1/integrations/ (the secret key in the URL is the credential)."""

from django.urls import path

from . import intake_views

urlpatterns: list = [
    path("heartbeat/<str:key>/", intake_views.heartbeat, name="alerts_heartbeat"),
    path("<str:kind>/<str:key>/", intake_views.ingest, name="alerts_ingest"),
]
