"""Config-as-code sections of releases: environments and release settings (stub)."""

SECTIONS = []
