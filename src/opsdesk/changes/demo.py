"""Demo data for changes (stub: filled in by its owner)."""


def load(actor) -> int:
    return 0
