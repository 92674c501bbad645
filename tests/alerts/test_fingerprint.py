"""Alertmanager's label fingerprint. The vectors below were produced by the real Alertmanager (Debian's
prometheus-alertmanager 0.25: alerts posted to /api/v2/alerts, fingerprints read back from the same API);
the live comparison runs in tests/integration."""

import pytest

from opsdesk.alerts.fingerprint import OFFSET64, PRIME64, fingerprint

ALERTMANAGER_VECTORS = [
    ({}, "cbf29ce484222325"),
    ({"alertname": "Up"}, "57fc0d42e24a6ea7"),
    ({"a": "b", "c": "d"}, "53997eba86e1c7f5"),
    ({"alertname": "HighLatency", "instance": "web-1:9100", "job": "node", "severity": "critical"},
     "c626d2275ab0f610"),
    ({"alertname": "DiskFull", "device": "/dev/sda1", "mountpoint": "/var/lib/postgresql"}, "7c5449a80d40acd6"),
    ({"alertname": "Ünïcode ☃", "zone": "eu-1"}, "3fc05d6792fad677"),
    # Alertmanager drops empty-valued labels before it fingerprints (read back as {"b": "x"} / {"alertname": "Up"}).
    ({"a": "", "b": "x"}, "019d71999ffa1e47"),
    ({"alertname": "Up", "env": "", "instance": ""}, "57fc0d42e24a6ea7"),
]


@pytest.mark.parametrize(("labels", "expected"), ALERTMANAGER_VECTORS)
def test_matches_alertmanager(labels, expected):
    assert fingerprint(labels) == expected


def test_label_order_does_not_matter():
    assert fingerprint({"c": "d", "a": "b"}) == fingerprint({"a": "b", "c": "d"}) == "53997eba86e1c7f5"


def test_separator_keeps_name_and_value_apart():
    # Without the 0xff separators these two would hash the same bytes "ab" + "c".
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


def test_by_hand_for_one_label():
    """FNV-1a 64 worked through byte by byte for {"a": "b"}: a, 0xff, b, 0xff."""
    value = OFFSET64
    for byte in (0x61, 0xFF, 0x62, 0xFF):
        value = ((value ^ byte) * PRIME64) % 2**64
    assert fingerprint({"a": "b"}) == f"{value:016x}"
    assert len(fingerprint({"a": "b"})) == 16


def test_always_sixteen_lowercase_hex_digits():
    for n in range(200):
        value = fingerprint({"n": str(n)})
        assert len(value) == 16 and value == value.lower() and int(value, 16) >= 0


def test_an_empty_value_counts_as_no_label():
    assert fingerprint({"a": "", "b": "x"}) == fingerprint({"b": "x"}) != fingerprint({"a": "y", "b": "x"})
    assert fingerprint({"env": ""}) == fingerprint({}) == "cbf29ce484222325"
