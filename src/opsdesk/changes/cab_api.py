"""API (stub: filled in by its owner)."""

urlpatterns = []


def register_routes(router) -> None:
    pass
