"""Alertmanager's alert fingerprint, so an alert posted by another tool dedups the way Alertmanager's own do.

Prometheus' `model.LabelSet.Fingerprint` (prometheus/common `model/labelset.go` -> `labelSetToFingerprint`
in `model/signature.go`): FNV-1a 64 over the label names sorted by name, each name and each value
followed by the separator byte 0xff, printed as 16 lowercase hex digits (`Fingerprint.String`, "%016x").
The empty label set gives the FNV-1a offset basis, cbf29ce484222325. Names sort by bytes (Go's
sort.Strings); for UTF-8 text that is the code point order Python's sort uses.

A label whose value is "" is left out, as Alertmanager leaves it out: its API drops empty-valued labels
(`removeEmptyLabels`) before the fingerprint is computed, so `{"a": "", "b": "x"}` is `{"b": "x"}`.
"""

from __future__ import annotations

from collections.abc import Mapping

OFFSET64 = 14695981039346656037
PRIME64 = 1099511628211
SEPARATOR = 0xFF
_MASK = (1 << 64) - 1


def _add(value: int, data: bytes) -> int:
    for byte in data:
        value = ((value ^ byte) * PRIME64) & _MASK
    return value


def fingerprint_int(labels: Mapping[str, str]) -> int:
    value = OFFSET64
    separator = bytes([SEPARATOR])
    for name in sorted(labels):
        text = str(labels[name])
        if text == "":
            continue
        value = _add(value, name.encode("utf-8") + separator + text.encode("utf-8") + separator)
    return value


def fingerprint(labels: Mapping[str, str]) -> str:
    """`{"alertname": "Up"}` -> 16 lowercase hex digits, as Alertmanager prints an alert's fingerprint."""
    return f"{fingerprint_int(labels):016x}"
