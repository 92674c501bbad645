"""Configuration as code for changes: every section of the change process, gathered from its part."""

from . import approval_config, catalog_config, risk_config

# Order matters on apply: categories and templates before the policies that name them.
SECTIONS = [*catalog_config.SECTIONS, *risk_config.SECTIONS, *approval_config.SECTIONS]
