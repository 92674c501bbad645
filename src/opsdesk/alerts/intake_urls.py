"""Integration endpoints, under /api/v1/integrations/ (the secret key in the URL is the credential)."""

urlpatterns: list = []
