"""`opsdesk demo`: realistic demo data from every module, created once (safe to run again)."""

from django.db import transaction

from .actors import Actor
from .registry import DEMO_LOADERS


def load_demo() -> int:
    actor = Actor.system("demo")
    created = 0
    with transaction.atomic():
        for _order, loader in DEMO_LOADERS:
            created += loader(actor)
    return created
