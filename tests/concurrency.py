"""Running calls at the same moment on their own database connections, for the PostgreSQL tests of
row locks and SKIP LOCKED (two sweepers, two workers): one mechanism for every app's race tests."""

from __future__ import annotations

import threading

from django.db import connections


def run_together(*calls, timeout: float = 120) -> list:
    """Run the calls in threads released together by a barrier; each thread closes its connections.
    Returns the results in the calls' order; an error in any call fails the test."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def worker(position, call):
        try:
            barrier.wait(timeout=30)
            results[position] = call()
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not errors, errors
    return results
