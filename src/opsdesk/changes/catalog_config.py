"""Config-as-code sections (stub: filled in by its owner)."""

SECTIONS = []
