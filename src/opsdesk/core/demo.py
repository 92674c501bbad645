"""`opsdesk demo`: realistic demo data from every module, created once (safe to run again)."""

from django.db import transaction

from .actors import Actor
from .registry import DEMO_LOADERS


def load_demo(only: tuple[str, ...] | None = None) -> int:
    """`only`: app labels whose loaders run (e.g. ("accounts", "services")); all when None."""
    actor = Actor.system("demo")
    created = 0
    with transaction.atomic():
        for _order, loader in DEMO_LOADERS:
            if only is None or loader.__module__.split(".")[1] in only:
                created += loader(actor)
    return created
