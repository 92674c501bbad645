"""What the alerts app registers at start-up: navigation, config sections, timer handlers, demo data."""

from __future__ import annotations


def register() -> None:
    pass
