"""Demo data for releases (stub)."""


def load(actor) -> int:
    return 0
