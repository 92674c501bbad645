"""The demo tests' one way of loading demo data: once per test module, inside a transaction that is rolled
back when the module's tests are done, so the data never leaks into other modules' tests."""

from contextlib import contextmanager

from django.db import transaction

from opsdesk.core.demo import load_demo


@contextmanager
def demo_for_module(django_db_blocker, prerequisites: tuple[str, ...], only: tuple[str, ...] | None = None):
    """Load the demo of `prerequisites` (app labels), then of `only` (or nothing more when None); give how
    many records the second load created (the first, when `only` is None)."""
    with django_db_blocker.unblock():
        block = transaction.atomic()
        block.__enter__()
        try:
            created = load_demo(only=prerequisites)
            if only is not None:
                created = load_demo(only=only)
            yield created
        finally:
            transaction.set_rollback(True)
            block.__exit__(None, None, None)
