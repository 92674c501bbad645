"""Settings of the Python runtime for the web process, applied once the application is loaded."""

from __future__ import annotations

import gc

# Collect the youngest generation after 10,000 net allocations instead of 700: a 50-row API page
# allocates some 100,000 objects, and the default made several collections per request, a full one
# every few requests.
GC_THRESHOLD = (10_000, 10, 10)


def tune_gc() -> None:
    """Move what start-up built (modules, URL patterns, serializers, the holidays tables ...) out of
    the collector's sight, and collect less often. Measured on the 50-row incident queue at a million
    incidents: p95 126 ms -> 47 ms, p50 unchanged (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
