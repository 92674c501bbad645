"""The change calendar: changes, freeze windows and maintenance windows in a period (stub)."""
