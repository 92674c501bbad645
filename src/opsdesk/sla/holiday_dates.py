"""Public holidays of a country (and region) for business calendars, from the `holidays` package.

The package takes tens of milliseconds for a few years of one country, and a calendar needs the same
dates for every due date it computes, so results are cached per (country, region, years). The cache
holds immutable frozensets, one per distinct request; new package data arrives with a process restart.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable

import holidays
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


@functools.cache
def _supported() -> dict[str, dict[str, str]]:
    """Country code -> {region code in capitals: region code as the package spells it}."""
    supported = holidays.list_supported_countries()
    return {country: {sub.upper(): sub for sub in subs} for country, subs in supported.items()}


def _resolve(country: str, subdivision: str) -> tuple[str, str]:
    """The codes as the package spells them; country and region are read case-insensitively."""
    country, subdivision = (country or "").strip().upper(), (subdivision or "").strip()
    if not country:
        if subdivision:
            raise ValidationError(_("A region (“%(subdivision)s”) needs a country; pick the country first.")
                                  % {"subdivision": subdivision})
        return "", ""
    supported = _supported()
    if country not in supported:
        raise ValidationError(
            _("“%(country)s” is not a country with known public holidays; use an ISO 3166 code such as DE, US "
              "or JP.") % {"country": country})
    regions = supported[country]
    if subdivision and subdivision.upper() not in regions:
        known = ", ".join(regions.values())
        if known:
            message = _("“%(subdivision)s” is not a region of %(country)s; known regions: %(known)s.")
        else:
            message = _("%(country)s has no regions with their own public holidays; leave the region empty.")
        raise ValidationError(message % {"subdivision": subdivision, "country": country, "known": known})
    return country, regions.get(subdivision.upper(), "")


def holiday_dates(country: str, subdivision: str = "", years: Iterable[int] | None = None) -> frozenset[datetime.date]:
    """The public holiday dates of `country` (ISO 3166 code, e.g. "DE") and optionally one of its
    subdivisions ("BY" for Bavaria) in `years` (a range; default: last year to five years ahead, the
    span the longest SLA goal can reach). An empty country has no holidays. Raises ValidationError
    for a country or region the package does not know (see validate_country)."""
    country, subdivision = _resolve(country, subdivision)
    if not country:
        return frozenset()
    if years is None:
        this_year = datetime.date.today().year
        years = range(this_year - 1, this_year + 6)
    return _holiday_dates(country, subdivision, tuple(sorted(set(years))))


@functools.lru_cache(maxsize=64)
def _holiday_dates(country: str, subdivision: str, years: tuple[int, ...]) -> frozenset[datetime.date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=years).keys())


def validate_country(country: str, subdivision: str = "") -> None:
    """Raise ValidationError (with a sentence a person can act on) unless the holidays package knows
    `country` and, if given, its `subdivision` (both read case-insensitively)."""
    _resolve(country, subdivision)


def holiday_names(country: str, subdivision: str = "", years: Iterable[int] | None = None) -> dict[datetime.date, str]:
    """The same dates as holiday_dates with their names (in the package's language for the country),
    for pages that list them. Raises ValidationError like holiday_dates."""
    country, subdivision = _resolve(country, subdivision)
    if not country:
        return {}
    if years is None:
        this_year = datetime.date.today().year
        years = range(this_year - 1, this_year + 6)
    return dict(_holiday_names(country, subdivision, tuple(sorted(set(years)))))


@functools.lru_cache(maxsize=16)
def _holiday_names(country: str, subdivision: str, years: tuple[int, ...]) -> tuple[tuple[datetime.date, str], ...]:
    return tuple(sorted(holidays.country_holidays(country, subdiv=subdivision or None, years=years).items()))
