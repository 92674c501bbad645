"""Opsdesk: one open-source platform for every process of an IT operations manual."""

__version__ = "0.1.0"
